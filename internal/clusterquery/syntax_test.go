package clusterquery

import (
	"errors"
	"strings"
	"testing"
)

// TestSpellings checks that every symbol and keyword spelling of an operator
// parses to the same canonical form, and that keywords ignore case.
func TestSpellings(t *testing.T) {
	groups := [][]string{
		{"attribute:a == b", "attribute:a equals b", "attribute:a EQUALS b", "attribute:a==b"},
		{"attribute:a != b", "attribute:a not_equals b", "attribute:a Not_Equals b", "attribute:a!=b"},
		{"attribute:a > 1", "attribute:a greater_than 1", "attribute:a>1"},
		{"attribute:a >= 1", "attribute:a greater_than_equal 1", "attribute:a>=1"},
		{"attribute:a < 1", "attribute:a less_than 1", "attribute:a<1"},
		{"attribute:a <= 1", "attribute:a less_than_equal 1", "attribute:a<=1"},
		{"attribute:a exists", "attribute:a EXISTS"},
		{"attribute:a not_exists", "attribute:a !exists", "attribute:a !EXISTS", "attribute:a NOT_EXISTS"},
		{"attribute:a in [b, c]", "attribute:a IN [b,c]", "attribute:a in['b',\"c\"]"},
		{"attribute:a not_in [b]", "attribute:a !in [b]", "attribute:a !in[b]", "attribute:a NOT_IN [ b ]"},
		{"attribute:a =~ b.*", "attribute:a matches b.*", "attribute:a=~b.*", "attribute:a MATCHES 'b.*'"},
		{"attribute:a !~ b.*", "attribute:a not_matches b.*", "attribute:a!~b.*"},
		{"attribute:a exists and attribute:b exists", "attribute:a exists && attribute:b exists",
			"attribute:a exists AND attribute:b exists", "attribute:a exists&&attribute:b exists"},
		{"attribute:a exists or attribute:b exists", "attribute:a exists || attribute:b exists",
			"attribute:a exists Or attribute:b exists", "attribute:a exists||attribute:b exists"},
		{"not (attribute:a exists)", "!attribute:a exists", "! attribute:a exists", "not attribute:a exists",
			"NOT(attribute:a exists)", "!(attribute:a exists)", "(not ((attribute:a exists)))"},
	}
	for _, g := range groups {
		for _, in := range g {
			e, err := Parse(in)
			if err != nil {
				t.Errorf("Parse(%q): %v", in, err)
				continue
			}
			if got := e.String(); got != g[0] {
				t.Errorf("Parse(%q).String() = %q, want %q", in, got, g[0])
			}
		}
	}
}

// TestPrecedence uses a true condition T and a false one F so that each
// expression's result depends on how it groups.
func TestPrecedence(t *testing.T) {
	const T, F = "attribute:stack == prod", "attribute:stack == dev"
	r := strings.NewReplacer("T", T, "F", F)
	cases := []struct {
		expr string
		want bool
	}{
		{"T or F and F", true},    // T or (F and F); left to right would be false
		{"F and F or T", true},    // (F and F) or T
		{"(T or F) and F", false}, // parentheses override
		{"T || F && F", true},
		{"not F and F", false},   // (not F) and F; not (F and F) would be true
		{"not (F and F)", true},  // explicit grouping
		{"! F && F", false},      // same with symbols
		{"not F or F", true},     //
		{"not T or T", true},     // (not T) or T
		{"not (T or T)", false},  //
		{"not not T", true},      //
		{"!!T", true},            //
		{"F or F or T", true},    //
		{"T and T and F", false}, //
		{"((T))", true},          //
		{"(F or (F or (T and (T and T))))", true},
		{"T and (F or T) and not F", true},
	}
	for _, tc := range cases {
		expr := r.Replace(tc.expr)
		e, err := Parse(expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
			continue
		}
		if got := e.Match(base()); got != tc.want {
			t.Errorf("%s: Match = %v, want %v (parsed as %s)", tc.expr, got, tc.want, e)
		}
	}
}

// TestString pins the canonical forms: symbols for comparisons, minimal
// parentheses, flattened chains, and values quoted only when they must be.
func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"attribute:a==b", "attribute:a == b"},
		{"  attribute:a   ==   b  ", "attribute:a == b"},
		{"attribute:a == 'b'", "attribute:a == b"},
		{`attribute:a == "b c"`, "attribute:a == 'b c'"},
		{`attribute:a == "it's"`, `attribute:a == "it's"`},
		{"attribute:a == ''", "attribute:a == ''"},
		{"attribute:a == 'and'", "attribute:a == 'and'"},
		{"attribute:a == not", "attribute:a == 'not'"},
		{"attribute:a == 'x,y'", "attribute:a == 'x,y'"},
		{"attribute:a =~ '(t2|m5).*'", "attribute:a =~ '(t2|m5).*'"},
		{"attribute:a in [ 'x' , y ]", "attribute:a in [x, y]"},
		{"agentConnected == TRUE", "agentConnected == true"},
		{"agentConnected in [False, tRue]", "agentConnected in [false, true]"},
		{"registeredAt < 2018-06-18T22:28:28+00:00", "registeredAt < 2018-06-18T22:28:28+00:00"},
		{"attribute:a exists or attribute:b exists and attribute:c exists",
			"attribute:a exists or attribute:b exists and attribute:c exists"},
		{"(attribute:a exists or attribute:b exists) and attribute:c exists",
			"(attribute:a exists or attribute:b exists) and attribute:c exists"},
		{"attribute:a exists and (attribute:b exists and attribute:c exists)",
			"attribute:a exists and attribute:b exists and attribute:c exists"},
		{"(attribute:a exists or attribute:b exists) or attribute:c exists",
			"attribute:a exists or attribute:b exists or attribute:c exists"},
		{"attribute:a exists or (attribute:b exists and attribute:c exists)",
			"attribute:a exists or attribute:b exists and attribute:c exists"},
		{"not attribute:a exists and attribute:b exists",
			"not (attribute:a exists) and attribute:b exists"},
		{"not (attribute:a exists or attribute:b exists)",
			"not (attribute:a exists or attribute:b exists)"},
		{"!!attribute:a exists", "not (not (attribute:a exists))"},
		{"not(task:group == database)", "not (task:group == database)"},
	}
	for _, tc := range cases {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		again, err := Parse(tc.want)
		if err != nil || again.String() != tc.want {
			t.Errorf("canonical %q does not re-parse to itself: %v", tc.want, err)
		}
	}
}

// syntaxErrorCases pairs invalid expressions with their exact messages.
// FuzzParse uses the inputs as seeds.
var syntaxErrorCases = []struct{ in, want string }{
	{"", "empty expression"},
	{" \t\n", "empty expression"},
	{"attribute:a == " + strings.Repeat("x", MaxLength-len("attribute:a == ")+1),
		"expression is 2001 characters long; the maximum is 2000"},
	{"attribute:a == \xff", "invalid UTF-8 at position 15"},
	{"attribute:a == é\xff", "invalid UTF-8 at position 16"},
	{"attribute:a == b\x01", "unexpected control character U+0001 at position 16"},
	{"attribute:a == 'b\tc'", "unexpected control character U+0009 at position 17"},
	{"attribute:a == 'é\tc'", "unexpected control character U+0009 at position 17"},

	// subjects
	{"a == b", `unknown subject "a" at position 0; expected agentConnected, agentVersion, ` +
		`attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group`},
	{"Attribute:a == b", `unknown subject "Attribute:a" at position 0; did you mean "attribute:a"?`},
	{"registeredat < 2018-01-01", `unknown subject "registeredat" at position 0; did you mean "registeredAt"?`},
	{"task:Group exists", `unknown subject "task:Group" at position 0; did you mean "task:group"?`},
	{"attribute: == b", `missing attribute name after "attribute:" at position 0`},
	{"'attribute:a' == b", `unexpected quoted value "attribute:a" at position 0; expected a condition, "not" or "("`},
	{strings.Repeat("z", 50) + " == b", `unknown subject "` + strings.Repeat("z", 40) + `"... at position 0; ` +
		`expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group`},

	// operators
	{"attribute:foo", "unexpected end of expression at position 13; expected an operator"},
	{"attribute:foo eq bar", `unknown operator "eq" at position 14`},
	{"attribute:foo = bar", `unexpected "=" at position 14; did you mean "=="?`},
	{"attribute:foo ! in [a]", `unexpected "!" at position 14; expected an operator`},
	{"attribute:foo (", `unexpected "(" at position 14; expected an operator`},
	{"ec2InstanceId > 3", `operator ">" at position 14 cannot be used with ec2InstanceId; use one of ==, !=, in, not_in, =~, !~`},
	{"agentConnected exists", `operator "exists" at position 15 cannot be used with agentConnected; use one of ==, !=, in, not_in, =~, !~`},
	{"agentVersion in [1.0]", `operator "in" at position 13 cannot be used with agentVersion; use one of ==, !=, >, >=, <, <=`},
	{"agentVersion =~ 1.*", `operator "=~" at position 13 cannot be used with agentVersion; use one of ==, !=, >, >=, <, <=`},
	{"registeredAt !exists", `operator "!exists" at position 13 cannot be used with registeredAt; use one of ==, !=, >, >=, <, <=`},
	{"runningTasksCount matches 1", `operator "matches" at position 18 cannot be used with runningTasksCount; use one of ==, !=, >, >=, <, <=`},
	{"task:group > a", `operator ">" at position 11 cannot be used with task:group; use one of ==, !=, exists, not_exists, in, not_in, =~, !~`},

	// values
	{"attribute:foo == )", `unexpected ")" at position 17; expected a value`},
	{"attribute:foo ==", "unexpected end of expression at position 16; expected a value"},
	{"attribute:a == (b)", `unexpected "(" at position 15; expected a value`},
	{"attribute:a == [b]", `unexpected "[" at position 15; expected a value`},
	{"attribute:a == 'b", "unterminated quoted value starting at position 15"},
	{`attribute:a == "b'`, "unterminated quoted value starting at position 15"},
	{"attribute:a == b c", `unexpected "c" at position 17; expected "and", "or" or end of expression`},
	{"attribute:a exists b", `unexpected "b" at position 19; expected "and", "or" or end of expression`},
	{"agentConnected == yes", `invalid agentConnected value "yes" at position 18; expected true or false`},
	{"agentConnected in [true, 1]", `invalid agentConnected value "1" at position 25; expected true or false`},
	{"agentVersion < 1.x", `invalid agentVersion value "1.x" at position 15; expected a version such as 1.14.5`},
	{"agentVersion < 1..2", `invalid agentVersion value "1..2" at position 15; expected a version such as 1.14.5`},
	{"agentVersion < 1.2.3.4.5", `invalid agentVersion value "1.2.3.4.5" at position 15; expected a version such as 1.14.5`},
	{"agentVersion < 1.2-", `invalid agentVersion value "1.2-" at position 15; expected a version such as 1.14.5`},
	{"runningTasksCount == abc", `invalid runningTasksCount value "abc" at position 21; expected a non-negative integer`},
	{"runningTasksCount == -1", `invalid runningTasksCount value "-1" at position 21; expected a non-negative integer`},
	{"runningTasksCount == +1", `invalid runningTasksCount value "+1" at position 21; expected a non-negative integer`},
	{"runningTasksCount == 1.5", `invalid runningTasksCount value "1.5" at position 21; expected a non-negative integer`},
	{"runningTasksCount == ''", `invalid runningTasksCount value "" at position 21; expected a non-negative integer`},
	{"runningTasksCount == 99999999999999999999", `invalid runningTasksCount value "99999999999999999999" at position 21; expected a non-negative integer`},
	{"registeredAt < 2018-02-30", `invalid registeredAt value "2018-02-30" at position 15; expected a date such as ` +
		`2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18`},
	{"registeredAt < 2018-06-18T22:28:28.5Z", `invalid registeredAt value "2018-06-18T22:28:28.5Z" at position 15; expected a date such as ` +
		`2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18`},
	{"registeredAt < 2018-06-18T22:28:28.1234Z", `invalid registeredAt value "2018-06-18T22:28:28.1234Z" at position 15; expected a date such as ` +
		`2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18`},
	{"registeredAt < 2018/06/18", `invalid registeredAt value "2018/06/18" at position 15; expected a date such as ` +
		`2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18`},
	{"registeredAt < 2018-06-18 22:28:28", `unexpected "22:28:28" at position 26; expected "and", "or" or end of expression`},
	{"attribute:a =~ '(b'", `invalid regular expression "(b" at position 15: missing closing )`},
	{"attribute:a =~ '(?<=a)b'", `invalid regular expression "(?<=a)b" at position 15: look-ahead and look-behind ((?<=) are not supported`},
	{"attribute:a =~ 'x(?!y)'", `invalid regular expression "x(?!y)" at position 15: look-ahead and look-behind ((?!) are not supported`},
	{"attribute:a =~ 'x(?P<n'", `invalid regular expression "x(?P<n" at position 15: invalid named capture in "(?P<n"`},
	{`attribute:a =~ 'a\1'`, `invalid regular expression "a\\1" at position 15: invalid escape sequence in "\\1"`},
	{"attribute:a =~ x{2000}", `invalid regular expression "x{2000}" at position 15: invalid repeat count in "{2000}"`},

	// lists
	{"attribute:a in []", "empty list at position 15; expected at least one value"},
	{"attribute:a in [b", `missing "]" at position 17 to close "[" at position 15`},
	{"attribute:a in [b,]", `unexpected "]" at position 18; expected a value`},
	{"attribute:a in [b c]", `unexpected "c" at position 18; expected "," or "]"`},
	{"attribute:a in [b, [c]]", `unexpected "[" at position 19; expected a value`},
	{"attribute:a in b", `unexpected "b" at position 15; expected a list of values such as [a, b]`},
	{"attribute:a not_in", `unexpected end of expression at position 18; expected a list of values such as [a, b]`},

	// structure
	{"(attribute:a == b", `missing ")" at position 17 to close "(" at position 0`},
	{"attribute:a == b)", `unmatched ")" at position 16`},
	{"(attribute:a == b c)", `unexpected "c" at position 18; expected "and", "or" or ")"`},
	{"()", `unexpected ")" at position 1; expected a condition, "not" or "("`},
	{"and attribute:a exists", `unexpected "and" at position 0; expected a condition, "not" or "("`},
	{"attribute:a exists and", `unexpected end of expression at position 22; expected a condition, "not" or "("`},
	{"attribute:a exists and or attribute:b exists", `unexpected "or" at position 23; expected a condition, "not" or "("`},
	{"attribute:a exists && || attribute:b exists", `unexpected "||" at position 22; expected a condition, "not" or "("`},
	{"not", `unexpected end of expression at position 3; expected a condition, "not" or "("`},
	{"attribute:a == b & attribute:c == d", `unexpected "&" at position 17; did you mean "&&"?`},
	{"attribute:a == b | attribute:c == d", `unexpected "|" at position 17; did you mean "||"?`},
	{"attribute:a == b , attribute:c == d", `unexpected "," at position 17; expected "and", "or" or end of expression`},
	{"é == b", `unknown subject "é" at position 0; expected agentConnected, agentVersion, ` +
		`attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group`},
	{"attribute:é == é )", `unmatched ")" at position 17`}, // positions count characters, not bytes
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range syntaxErrorCases {
		e, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want error %q", tc.in, e, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q) error:\n got: %s\nwant: %s", tc.in, err, tc.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error is %T, want *SyntaxError", tc.in, err)
		} else if !strings.Contains(se.Msg, "position") && se.Pos != 0 && se.Pos != MaxLength {
			t.Errorf("Parse(%q): message %q omits position %d", tc.in, se.Msg, se.Pos)
		}
	}
}

func TestMaxLength(t *testing.T) {
	prefix := "attribute:a == "
	exact := prefix + strings.Repeat("x", MaxLength-len(prefix))
	if _, err := Parse(exact); err != nil {
		t.Errorf("expression of exactly %d characters: %v", MaxLength, err)
	}
	// The limit counts characters: 2000 two-byte characters are fine.
	wide := prefix + strings.Repeat("é", MaxLength-len(prefix))
	if _, err := Parse(wide); err != nil {
		t.Errorf("expression of %d multi-byte characters: %v", MaxLength, err)
	}
	if _, err := Parse(wide + "é"); err == nil {
		t.Errorf("expression of %d characters accepted", MaxLength+1)
	}
}

func TestSyntaxErrorPos(t *testing.T) {
	_, err := Parse("attribute:foo == )")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Pos != 17 {
		t.Fatalf("error = %#v, want *SyntaxError at 17", err)
	}
}
