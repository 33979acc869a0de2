// Package clusterquery parses and evaluates the Amazon ECS cluster query
// language: the expressions used by memberOf placement constraints and by
// the filter parameter of ListContainerInstances.
//
// # Syntax
//
//	expr      = orExpr
//	orExpr    = andExpr { ("||" | "or") andExpr }
//	andExpr   = unary { ("&&" | "and") unary }
//	unary     = ("!" | "not") unary | "(" expr ")" | condition
//	condition = subject ("exists" | "!exists" | "not_exists")
//	          | subject cmpOp value
//	          | subject listOp "[" value { "," value } "]"
//	cmpOp     = "==" | "equals" | "!=" | "not_equals"
//	          | ">" | "greater_than" | ">=" | "greater_than_equal"
//	          | "<" | "less_than" | "<=" | "less_than_equal"
//	          | "=~" | "matches" | "!~" | "not_matches"
//	listOp    = "in" | "!in" | "not_in"
//	subject   = "agentConnected" | "agentVersion" | "attribute:" name
//	          | "ec2InstanceId" | "registeredAt" | "runningTasksCount"
//	          | "task:group"
//	value     = word | "'" chars "'" | `"` chars `"`
//
// "not" binds tighter than "and", which binds tighter than "or"; parentheses
// group. Keyword operators ("and", "equals", "not_in", ...) are matched
// case-insensitively; subject names are case-sensitive, as documented.
// A word is a run of characters other than white space, control characters
// and ( ) [ ] , ' " = ! < > & |. Quoted values have no escapes: a value
// containing ' is written in double quotes and vice versa. Regular
// expressions that contain ( ) [ ] | must therefore be quoted.
//
// # Semantics
//
// Each subject accepts the operators the ECS developer guide lists for it
// (attribute:<name> accepts all of them; task:group, for which the guide
// lists none, accepts ==, !=, in, not_in, =~, !~, exists and not_exists).
// Any other combination is a syntax error, as are values that cannot apply
// (runningTasksCount == abc).
//
//   - String equality (==, !=, in, not_in) is case-sensitive; a * in the
//     value of attribute:<name>, ec2InstanceId or task:group matches any run
//     of characters.
//   - =~ and !~ take a regular expression that must match the whole value
//     (like Java's String.matches, which ECS documents). It is compiled once,
//     with Go's linear-time RE2 engine: back-references and look-around are
//     rejected.
//   - runningTasksCount compares integers; agentVersion compares dotted
//     version numbers (1.9.0 < 1.14.5); registeredAt compares dates in the
//     four documented formats, with zone-less values in UTC, and a date
//     without a time compares with the UTC day of registration.
//   - For attribute:<name>, the ordering operators compare numerically when
//     the value is a decimal number and byte-wise otherwise.
//   - A condition on an attribute the instance lacks is false whatever the
//     operator (attribute:stack != prod does not select instances without a
//     stack attribute), except not_exists. Likewise an instance without an EC2
//     instance ID, an agent version or a registration time matches no
//     condition on it.
//   - task:group ==, in and =~ match when any of the instance's task groups
//     satisfies them; !=, not_in and !~ match when none does (an instance
//     without tasks matches task:group != x). exists means the instance has
//     at least one task.
package clusterquery

import (
	"fmt"
	"iter"
	"strconv"
	"time"
)

// MaxLength is the maximum length of an expression, in characters.
const MaxLength = 2000

// Subject is a container instance as the query language sees it.
type Subject interface {
	// Attribute returns the value of attribute:<name>; ok is false when the
	// instance lacks it. Attributes without a value have value "".
	Attribute(name string) (value string, ok bool)
	EC2InstanceID() string
	RegisteredAt() time.Time
	RunningTasksCount() int
	AgentConnected() bool
	AgentVersion() string
	// TaskGroups yields the groups of the tasks live on the instance
	// ("family:web", "service:api", custom groups).
	TaskGroups() iter.Seq[string]
}

// Expr is a parsed expression. It is immutable and safe for concurrent
// Match calls.
type Expr struct {
	root       *node
	canonical  string
	usesGroups bool
}

// SyntaxError describes why an expression was rejected. Its Error text says
// what is wrong and where, and is suitable for returning verbatim to API
// callers.
type SyntaxError struct {
	// Pos is the 0-based character (not byte) offset of the problem.
	Pos int
	// Msg is the complete message, including the position.
	Msg string
}

// Error implements error.
func (e *SyntaxError) Error() string { return e.Msg }

// Parse parses an expression of at most MaxLength characters. Every error it
// returns is a *SyntaxError.
func Parse(s string) (*Expr, error) {
	return parse(s, true)
}

// Match reports whether the instance satisfies the expression. It does not
// allocate, except possibly inside the Subject's own methods.
func (e *Expr) Match(s Subject) bool {
	return e.root.eval(s)
}

// String returns the canonical form of the expression: == != > >= < <= =~
// !~, the keywords in, not_in, exists and not_exists, "and", "or" and
// "not (...)", single spaces, values quoted only when they must be, and only
// the parentheses precedence needs. Parsing it yields an equal expression.
// It can be longer than the input, and so than MaxLength.
func (e *Expr) String() string {
	return e.canonical
}

// UsesTaskGroups reports whether the expression refers to task:group;
// callers can skip computing task groups otherwise.
func (e *Expr) UsesTaskGroups() bool {
	return e.usesGroups
}

func errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// quote renders user text in messages: double-quoted, Go-escaped, and cut
// short when long so that a message stays readable.
func quote(s string) string {
	const maxRunes = 40
	n := 0
	for i := range s {
		if n == maxRunes {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}
