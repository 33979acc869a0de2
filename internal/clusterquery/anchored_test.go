package clusterquery

import "testing"

// TestAnchoredFastPath: the prefix shortcut is taken for "literal.*" and
// ".*" only, and always agrees with the regexp engine.
func TestAnchoredFastPath(t *testing.T) {
	patterns := map[string]bool{
		"t3.*": true, ".*": true, "t3\\..*": true, "ab": false, "T3.*": true,
		"(?i)t3.*": false, "t3.*x": false, "t3.+": false, "(?s)t3.*": false, "t[23].*": false,
	}
	values := []string{"", "t3", "t3.large", "T3.large", "t3\nx", "xt3", "t3x", "ab", "t2.micro"}
	for p, fast := range patterns {
		a, err := compileRegexp(literal{text: p})
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if a.fast != fast {
			t.Errorf("%q: fast = %v, want %v", p, a.fast, fast)
		}
		for _, v := range values {
			if got, want := a.MatchString(v), a.re.MatchString(v); got != want {
				t.Errorf("%q on %q: %v, regexp says %v", p, v, got, want)
			}
		}
	}
}
