package clusterquery

import (
	"cmp"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
)

// cond is one "subject operator [argument]" condition, with everything Match
// needs precomputed.
type cond struct {
	subject subjectKind
	op      opKind
	attr    string   // attribute name, for subjAttribute
	vals    []string // values as String prints them

	pats     []pattern           // ==, !=, in, not_in on string subjects
	exact    map[string]struct{} // wildcard-free values of long lists
	re       *anchored           // =~, !~
	boolMask uint8               // agentConnected values: 1 = false, 2 = true
	numeric  bool                // attribute ordering: compare as numbers
	num      float64
	str      string // attribute ordering: compare byte-wise
	count    int64
	ver      version
	when     int64 // registeredAt: Unix seconds, or UTC days when byDay
	byDay    bool
}

// exactSetMin is the number of wildcard-free values from which in/not_in
// use a map rather than a scan.
const exactSetMin = 8

func (n *node) eval(s Subject) bool {
	switch n.kind {
	case nodeCond:
		return n.cond.eval(s)
	case nodeNot:
		return !n.kids[0].eval(s)
	case nodeAnd:
		for _, k := range n.kids {
			if !k.eval(s) {
				return false
			}
		}
		return true
	default: // nodeOr
		for _, k := range n.kids {
			if k.eval(s) {
				return true
			}
		}
		return false
	}
}

// compile checks the values against the subject and precomputes matchers.
func (c *cond) compile(lits []literal) error {
	for _, l := range lits {
		c.vals = append(c.vals, l.text)
	}
	if c.op == opMatches || c.op == opNotMatches {
		re, err := compileRegexp(lits[0])
		c.re = re
		return err
	}
	switch c.subject {
	case subjAgentConnected:
		for i, l := range lits {
			switch {
			case asciiEqualFold(l.text, "false"):
				c.boolMask |= 1
				c.vals[i] = "false"
			case asciiEqualFold(l.text, "true"):
				c.boolMask |= 2
				c.vals[i] = "true"
			default:
				return badValue(c, l, "true or false")
			}
		}
	case subjAgentVersion:
		v, ok := parseVersion(lits[0].text)
		if !ok {
			return badValue(c, lits[0], "a version such as 1.14.5")
		}
		c.ver = v
	case subjRegisteredAt:
		when, byDay, ok := parseDate(lits[0].text)
		if !ok {
			return badValue(c, lits[0], "a date such as 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, "+
				"2018-06-18T22:28:28 or 2018-06-18")
		}
		c.when, c.byDay = when, byDay
	case subjRunningTasksCount:
		text := lits[0].text
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || text[0] < '0' || text[0] > '9' { // no sign
			return badValue(c, lits[0], "a non-negative integer")
		}
		c.count = n
	default: // attribute, ec2InstanceId, task:group
		switch c.op {
		case opEq, opNe, opIn, opNotIn:
			c.compilePatterns()
		case opGt, opGe, opLt, opLe: // attributes only
			c.str = lits[0].text
			c.num, c.numeric = decimal(c.str)
		}
	}
	return nil
}

func badValue(c *cond, l literal, expected string) error {
	return errorf(l.pos, "invalid %s value %s at position %d; expected %s",
		subjectNames[c.subject], quote(l.text), l.pos, expected)
}

func (c *cond) compilePatterns() {
	exact := 0
	for _, v := range c.vals {
		if !strings.Contains(v, "*") {
			exact++
		}
	}
	if exact >= exactSetMin {
		c.exact = make(map[string]struct{}, exact)
	}
	for _, v := range c.vals {
		if c.exact != nil && !strings.Contains(v, "*") {
			c.exact[v] = struct{}{}
			continue
		}
		c.pats = append(c.pats, newPattern(v))
	}
}

// compileRegexp compiles a =~ argument so that it must match the whole value.
func compileRegexp(l literal) (*anchored, error) {
	parsed, err := syntax.Parse(l.text, syntax.Perl)
	if err != nil {
		reason := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			reason = se.Code.String()
			if se.Expr != "" && se.Expr != l.text {
				reason += " in " + quote(se.Expr)
			}
		}
		for _, la := range []string{"(?=", "(?!", "(?<=", "(?<!"} {
			if strings.Contains(l.text, la) {
				reason = "look-ahead and look-behind (" + la + ") are not supported"
				break
			}
		}
		return nil, errorf(l.pos, "invalid regular expression %s at position %d: %s", quote(l.text), l.pos, reason)
	}
	// Wrapping the source text keeps it as written; \Q...  (quote to end)
	// would swallow the closing ")$", so that case goes through the tree.
	src := "^(?:" + l.text + ")$"
	if strings.Contains(l.text, `\Q`) {
		src = (&syntax.Regexp{Op: syntax.OpConcat, Sub: []*syntax.Regexp{
			{Op: syntax.OpBeginText}, parsed, {Op: syntax.OpEndText},
		}}).String()
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, errorf(l.pos, "invalid regular expression %s at position %d: %s", quote(l.text), l.pos, err)
	}
	a := &anchored{re: re}
	a.prefix, a.fast = prefixStar(parsed.Simplify())
	return a, nil
}

// anchored is a regular expression that must match a whole value. The
// common "literal, then .*" form (t2.*) is matched without the regexp
// engine: placement evaluates it over every instance of a cluster.
type anchored struct {
	re     *regexp.Regexp
	prefix string
	fast   bool
}

// MatchString reports whether the whole of v matches.
func (a *anchored) MatchString(v string) bool {
	if a.fast {
		return strings.HasPrefix(v, a.prefix) && strings.IndexByte(v[len(a.prefix):], '\n') < 0
	}
	return a.re.MatchString(v)
}

// prefixStar recognises a case-sensitive literal followed by .* (any
// characters but newline), or .* alone.
func prefixStar(re *syntax.Regexp) (string, bool) {
	isDotStar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && len(r.Sub) == 1 && r.Sub[0].Op == syntax.OpAnyCharNotNL
	}
	switch {
	case isDotStar(re):
		return "", true
	case re.Op == syntax.OpConcat && len(re.Sub) == 2 && re.Sub[0].Op == syntax.OpLiteral &&
		re.Sub[0].Flags&syntax.FoldCase == 0 && isDotStar(re.Sub[1]):
		return string(re.Sub[0].Rune), true
	}
	return "", false
}

func (c *cond) eval(s Subject) bool {
	switch c.subject {
	case subjAttribute:
		v, ok := s.Attribute(c.attr)
		switch c.op {
		case opExists:
			return ok
		case opNotExists:
			return !ok
		}
		return ok && c.evalString(v)
	case subjEC2InstanceID:
		v := s.EC2InstanceID()
		return v != "" && c.evalString(v)
	case subjTaskGroup:
		switch c.op {
		case opEq, opIn, opMatches, opExists:
			return c.anyGroup(s)
		}
		return !c.anyGroup(s)
	case subjAgentConnected:
		b := s.AgentConnected()
		switch c.op {
		case opMatches:
			return c.re.MatchString(strconv.FormatBool(b))
		case opNotMatches:
			return !c.re.MatchString(strconv.FormatBool(b))
		}
		bit := uint8(1)
		if b {
			bit = 2
		}
		return (c.boolMask&bit != 0) == (c.op == opEq || c.op == opIn)
	case subjAgentVersion:
		v, ok := parseVersion(s.AgentVersion())
		return ok && compareOp(c.op, v.compare(c.ver))
	case subjRegisteredAt:
		t := s.RegisteredAt()
		if t.IsZero() {
			return false
		}
		w := t.Unix()
		if c.byDay {
			w = floorDiv(w, secondsPerDay)
		}
		return compareOp(c.op, cmp.Compare(w, c.when))
	default: // subjRunningTasksCount
		return compareOp(c.op, cmp.Compare(int64(s.RunningTasksCount()), c.count))
	}
}

// evalString evaluates a present attribute or EC2 instance ID.
func (c *cond) evalString(v string) bool {
	switch c.op {
	case opEq, opIn:
		return c.matchAny(v)
	case opNe, opNotIn:
		return !c.matchAny(v)
	case opMatches:
		return c.re.MatchString(v)
	case opNotMatches:
		return !c.re.MatchString(v)
	}
	if c.numeric {
		f, ok := decimal(v)
		return ok && compareOp(c.op, cmp.Compare(f, c.num))
	}
	return compareOp(c.op, strings.Compare(v, c.str))
}

func (c *cond) matchAny(v string) bool {
	if c.exact != nil {
		if _, ok := c.exact[v]; ok {
			return true
		}
	}
	for i := range c.pats {
		if c.pats[i].match(v) {
			return true
		}
	}
	return false
}

// groupMatches is the positive form of the condition for one task group.
func (c *cond) groupMatches(g string) bool {
	switch c.op {
	case opMatches, opNotMatches:
		return c.re.MatchString(g)
	case opExists, opNotExists:
		return true
	}
	return c.matchAny(g)
}

// groupScan carries a condition into the TaskGroups iterator. The yield
// function is bound once per pooled scan, so ranging allocates nothing.
type groupScan struct {
	c     *cond
	found bool
	yield func(string) bool
}

func (g *groupScan) visit(name string) bool {
	if g.c.groupMatches(name) {
		g.found = true
		return false
	}
	return true
}

var groupScans = sync.Pool{New: func() any {
	g := new(groupScan)
	g.yield = g.visit
	return g
}}

// anyGroup reports whether any task group on the instance satisfies the
// positive form of the condition.
func (c *cond) anyGroup(s Subject) bool {
	seq := s.TaskGroups()
	if seq == nil {
		return false
	}
	g := groupScans.Get().(*groupScan)
	g.c, g.found = c, false
	seq(g.yield)
	found := g.found
	g.c = nil
	groupScans.Put(g)
	return found
}

func compareOp(op opKind, c int) bool {
	switch op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	}
	return false
}
