package clusterquery

import (
	"strings"
	"unicode/utf8"
)

type subjectKind uint8

const (
	subjAgentConnected subjectKind = iota
	subjAgentVersion
	subjAttribute
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
	numSubjects
)

const attributePrefix = "attribute:"

// subjectNames are the documented spellings; attribute's is a prefix.
var subjectNames = [numSubjects]string{
	subjAgentConnected:    "agentConnected",
	subjAgentVersion:      "agentVersion",
	subjAttribute:         attributePrefix,
	subjEC2InstanceID:     "ec2InstanceId",
	subjRegisteredAt:      "registeredAt",
	subjRunningTasksCount: "runningTasksCount",
	subjTaskGroup:         "task:group",
}

type opKind uint8

const (
	opEq opKind = iota
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatches
	opNotMatches
	numOps
)

// opNames are the canonical spellings String uses.
var opNames = [numOps]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opExists: "exists", opNotExists: "not_exists", opIn: "in", opNotIn: "not_in",
	opMatches: "=~", opNotMatches: "!~",
}

// opSpellings lists every accepted spelling, lower-case.
var opSpellings = []struct {
	text string
	op   opKind
}{
	{"==", opEq}, {"equals", opEq},
	{"!=", opNe}, {"not_equals", opNe},
	{">", opGt}, {"greater_than", opGt},
	{">=", opGe}, {"greater_than_equal", opGe},
	{"<", opLt}, {"less_than", opLt},
	{"<=", opLe}, {"less_than_equal", opLe},
	{"exists", opExists},
	{"!exists", opNotExists}, {"not_exists", opNotExists},
	{"in", opIn},
	{"!in", opNotIn}, {"not_in", opNotIn},
	{"=~", opMatches}, {"matches", opMatches},
	{"!~", opNotMatches}, {"not_matches", opNotMatches},
}

func lookupOp(text string) (opKind, bool) {
	for _, sp := range opSpellings {
		if asciiEqualFold(text, sp.text) {
			return sp.op, true
		}
	}
	return 0, false
}

// isKeyword reports whether an unquoted word would read as a keyword.
func isKeyword(w string) bool {
	if asciiEqualFold(w, "and") || asciiEqualFold(w, "or") || asciiEqualFold(w, "not") {
		return true
	}
	_, ok := lookupOp(w)
	return ok
}

type opSet uint16

func ops(list ...opKind) opSet {
	var s opSet
	for _, op := range list {
		s |= 1 << op
	}
	return s
}

func (s opSet) has(op opKind) bool { return s&(1<<op) != 0 }

func (s opSet) String() string {
	var names []string
	for op := range numOps {
		if s.has(op) {
			names = append(names, opNames[op])
		}
	}
	return strings.Join(names, ", ")
}

// validOps are the operators the ECS developer guide lists per subject.
// It lists none for attribute:<name> and task:group; attributes take them
// all, task groups the ones that make sense for names.
var validOps = [numSubjects]opSet{
	subjAgentConnected:    ops(opEq, opNe, opIn, opNotIn, opMatches, opNotMatches),
	subjAgentVersion:      ops(opEq, opNe, opGt, opGe, opLt, opLe),
	subjAttribute:         1<<numOps - 1,
	subjEC2InstanceID:     ops(opEq, opNe, opIn, opNotIn, opMatches, opNotMatches),
	subjRegisteredAt:      ops(opEq, opNe, opGt, opGe, opLt, opLe),
	subjRunningTasksCount: ops(opEq, opNe, opGt, opGe, opLt, opLe),
	subjTaskGroup:         ops(opEq, opNe, opIn, opNotIn, opMatches, opNotMatches, opExists, opNotExists),
}

type nodeKind uint8

const (
	nodeCond nodeKind = iota
	nodeNot
	nodeAnd
	nodeOr
)

type node struct {
	kind nodeKind
	kids []*node // operands of not (one), and, or (two or more)
	cond *cond   // for nodeCond
}

// add appends an operand, flattening nested operators of the same kind so
// that a and (b and c) and (a and b) and c have one form.
func (n *node) add(k *node) {
	if k.kind == n.kind {
		n.kids = append(n.kids, k.kids...)
		return
	}
	n.kids = append(n.kids, k)
}

// literal is a value as written.
type literal struct {
	text string
	pos  int
}

type parser struct {
	toks       []token
	i          int
	usesGroups bool
}

// parse parses s; limit applies MaxLength (off only to re-parse canonical
// forms, which may be longer than their source).
func parse(s string, limit bool) (*Expr, error) {
	if !utf8.ValidString(s) {
		pos := 0
		for i, r := range s {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
					break
				}
			}
			pos++
		}
		return nil, errorf(pos, "invalid UTF-8 at position %d", pos)
	}
	if n := utf8.RuneCountInString(s); limit && n > MaxLength {
		return nil, errorf(MaxLength, "expression is %d characters long; the maximum is %d", n, MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tokEOF {
		return nil, errorf(0, "empty expression")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tokRParen {
		return nil, errorf(t.pos, `unmatched ")" at position %d`, t.pos)
	} else if t.kind != tokEOF {
		return nil, p.unexpected(t, `"and", "or" or end of expression`)
	}
	return &Expr{root: root, canonical: format(root), usesGroups: p.usesGroups}, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token, expected string) error {
	return errorf(t.pos, "unexpected %s at position %d; expected %s", t.describe(), t.pos, expected)
}

func (p *parser) atKeyword(sym tokKind, kw string) bool {
	t := p.peek()
	return t.kind == sym || t.kind == tokWord && asciiEqualFold(t.text, kw)
}

func (p *parser) parseOr() (*node, error) {
	return p.parseBinary(nodeOr, tokOr, "or", p.parseAnd)
}

func (p *parser) parseAnd() (*node, error) {
	return p.parseBinary(nodeAnd, tokAnd, "and", p.parseUnary)
}

func (p *parser) parseBinary(kind nodeKind, sym tokKind, kw string, operand func() (*node, error)) (*node, error) {
	left, err := operand()
	if err != nil || !p.atKeyword(sym, kw) {
		return left, err
	}
	n := &node{kind: kind}
	n.add(left)
	for p.atKeyword(sym, kw) {
		p.next()
		right, err := operand()
		if err != nil {
			return nil, err
		}
		n.add(right)
	}
	return n, nil
}

func (p *parser) parseUnary() (*node, error) {
	t := p.peek()
	switch {
	case p.atKeyword(tokNot, "not"):
		p.next()
		operand, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &node{kind: nodeNot, kids: []*node{operand}}, nil
	case t.kind == tokLParen:
		p.next()
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tokRParen {
			if c.kind == tokEOF {
				return nil, errorf(c.pos, `missing ")" at position %d to close "(" at position %d`, c.pos, t.pos)
			}
			return nil, p.unexpected(c, `"and", "or" or ")"`)
		}
		p.next()
		return inner, nil
	case t.kind == tokWord && !isKeyword(t.text):
		c, err := p.parseCondition()
		if err != nil {
			return nil, err
		}
		return &node{kind: nodeCond, cond: c}, nil
	}
	return nil, p.unexpected(t, `a condition, "not" or "("`)
}

func (p *parser) parseCondition() (*cond, error) {
	st := p.next()
	c := &cond{}
	switch {
	case strings.HasPrefix(st.text, attributePrefix):
		c.subject, c.attr = subjAttribute, st.text[len(attributePrefix):]
		if c.attr == "" {
			return nil, errorf(st.pos, "missing attribute name after %q at position %d", attributePrefix, st.pos)
		}
	default:
		found := false
		for k, name := range subjectNames {
			if k != int(subjAttribute) && st.text == name {
				c.subject, found = subjectKind(k), true
			}
		}
		if !found {
			return nil, unknownSubject(st)
		}
	}
	if c.subject == subjTaskGroup {
		p.usesGroups = true
	}

	ot := p.peek()
	op, ok := opKind(0), false
	if ot.kind == tokOp || ot.kind == tokWord {
		op, ok = lookupOp(ot.text)
	}
	if !ok {
		if ot.kind == tokWord {
			return nil, errorf(ot.pos, "unknown operator %s at position %d", quote(ot.text), ot.pos)
		}
		return nil, p.unexpected(ot, "an operator")
	}
	p.next()
	if valid := validOps[c.subject]; !valid.has(op) {
		return nil, errorf(ot.pos, "operator %s at position %d cannot be used with %s; use one of %s",
			quote(ot.text), ot.pos, subjectNames[c.subject], valid)
	}
	c.op = op

	var lits []literal
	switch op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		var err error
		if lits, err = p.parseList(); err != nil {
			return nil, err
		}
	default:
		lit, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		lits = []literal{lit}
	}
	if err := c.compile(lits); err != nil {
		return nil, err
	}
	return c, nil
}

func unknownSubject(t token) error {
	if len(t.text) >= len(attributePrefix) && asciiEqualFold(t.text[:len(attributePrefix)], attributePrefix) {
		return errorf(t.pos, "unknown subject %s at position %d; did you mean %s?",
			quote(t.text), t.pos, quote(attributePrefix+t.text[len(attributePrefix):]))
	}
	for k, name := range subjectNames {
		if k != int(subjAttribute) && strings.EqualFold(t.text, name) {
			return errorf(t.pos, "unknown subject %s at position %d; did you mean %q?", quote(t.text), t.pos, name)
		}
	}
	return errorf(t.pos, "unknown subject %s at position %d; expected agentConnected, agentVersion, "+
		"attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group", quote(t.text), t.pos)
}

func (p *parser) parseValue() (literal, error) {
	t := p.peek()
	if t.kind != tokWord && t.kind != tokString {
		return literal{}, p.unexpected(t, "a value")
	}
	p.next()
	return literal{text: t.text, pos: t.pos}, nil
}

func (p *parser) parseList() ([]literal, error) {
	open := p.peek()
	if open.kind != tokLBrack {
		return nil, p.unexpected(open, `a list of values such as [a, b]`)
	}
	p.next()
	if t := p.peek(); t.kind == tokRBrack {
		return nil, errorf(open.pos, "empty list at position %d; expected at least one value", open.pos)
	}
	var lits []literal
	for {
		lit, err := p.parseValue()
		if err != nil {
			return nil, err
		}
		lits = append(lits, lit)
		switch t := p.next(); t.kind {
		case tokRBrack:
			return lits, nil
		case tokComma:
		case tokEOF:
			return nil, errorf(t.pos, `missing "]" at position %d to close "[" at position %d`, t.pos, open.pos)
		default:
			return nil, p.unexpected(t, `"," or "]"`)
		}
	}
}
