package clusterquery

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSubjects are the instances on which FuzzParse compares an expression
// with its canonical form.
func fuzzSubjects() []*inst {
	return []*inst{
		base(),
		bare(),
		base().withAttr("ecs.instance-type", "g2.2xlarge").withAttr("a", "b").withGroups("database"),
		base().with(withVersion("1.9.0-rc1")).with(withRunning(0)).with(withConnected(false)).
			with(withRegistered(mustTime("2018-02-12T23:59:59Z"))),
	}
}

var fuzzSeeds = []string{
	"attribute:ecs.instance-type == t2.small",
	"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
	"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
	"task:group == service:production",
	"not(task:group == database)",
	"runningTasksCount == 1",
	"agentVersion < 1.14.5",
	"registeredAt < 2018-02-13",
	"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
	"attribute:stack != prod || !(agentConnected == true && runningTasksCount >= 2)",
	`attribute:a =~ "it's" or attribute:b == 'say "hi"' and not not attribute:c !exists`,
	"registeredAt >= 2018-06-18T22:28:28+02:00 and agentVersion != v1.2.3-rc.1+build",
	"task:group not_in [a*, *b, a*b*c] OR task:group !~ '(?i)x{1,3}'",
	`attribute:x =~ '\Qa.b'`,
	"attribute:a == and",
}

// FuzzParse checks that Parse never panics, that every error is a
// *SyntaxError positioned inside the input, and that the canonical form of
// an accepted expression parses back to itself and selects the same
// instances.
//
// Inputs are capped at maxFuzzLen bytes: the fuzzer's minimizer is quadratic
// in input length, and long inputs stalled every worker for its whole
// minimization budget. TestMaxLength covers the length limit.
func FuzzParse(f *testing.F) {
	const maxFuzzLen = 400
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, tc := range syntaxErrorCases {
		if len(tc.in) <= maxFuzzLen {
			f.Add(tc.in)
		}
	}
	subjects := fuzzSubjects()
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxFuzzLen {
			t.Skip()
		}
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", s, err)
			}
			if se.Pos < 0 || se.Pos > utf8.RuneCountInString(s) {
				t.Fatalf("Parse(%q) error position %d outside the input: %v", s, se.Pos, err)
			}
			return
		}
		canon := e.String()
		// The canonical form can outgrow MaxLength (&& becomes " and "), so
		// the round trip parses without the limit; within it, Parse agrees.
		again, err := parse(canon, false)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if utf8.RuneCountInString(canon) <= MaxLength {
			if _, err := Parse(canon); err != nil {
				t.Fatalf("Parse(canonical %q): %v", canon, err)
			}
		}
		if got := again.String(); got != canon {
			t.Fatalf("canonical form is not stable:\ninput: %q\nfirst: %q\nagain: %q", s, canon, got)
		}
		if again.UsesTaskGroups() != e.UsesTaskGroups() {
			t.Fatalf("UsesTaskGroups differs between %q and %q", s, canon)
		}
		for i, in := range subjects {
			if e.Match(in) != again.Match(in) {
				t.Fatalf("subject %d: %q and its canonical form %q disagree", i, s, canon)
			}
		}
	})
}

// FuzzPattern checks * wildcards against an equivalent regular expression.
func FuzzPattern(f *testing.F) {
	for _, c := range [][2]string{
		{"t2.*", "t2.small"}, {"a*a", "a"}, {"ab*bc", "abc"}, {"*", ""}, {"**", "x"},
		{"a*b*c", "abc"}, {"*a*b", "xbxa"}, {"*a*b", "xaxb"}, {"a**b", "ab"}, {"", ""},
		{"*small", "t2.smallx"}, {"a*", "ba"}, {"a*c", "abcd"}, {"*b*", "ac"}, {"x", "xx"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) {
			t.Skip()
		}
		parts := strings.Split(pat, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		want := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`).MatchString(s)
		p := newPattern(pat)
		if got := p.match(s); got != want {
			t.Fatalf("pattern %q on %q = %v, want %v", pat, s, got, want)
		}
	})
}
