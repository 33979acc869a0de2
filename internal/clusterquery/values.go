package clusterquery

import (
	"strconv"
	"strings"
	"time"
)

// pattern is an equality value in which each * matches any run of
// characters.
type pattern struct {
	parts  []string // the value split at *; one part means no wildcard
	minLen int      // total length of the parts
}

func newPattern(v string) pattern {
	p := pattern{parts: strings.Split(v, "*")}
	for _, part := range p.parts {
		p.minLen += len(part)
	}
	return p
}

func (p *pattern) match(s string) bool {
	if len(p.parts) == 1 {
		return s == p.parts[0]
	}
	if len(s) < p.minLen {
		return false
	}
	first, last := p.parts[0], p.parts[len(p.parts)-1]
	if !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	// The length check keeps prefix and suffix apart; the middle parts are
	// taken leftmost-first, which finds a match whenever one exists.
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range p.parts[1 : len(p.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

// version is a dotted version number such as 1.14.5, optionally prefixed
// with v and followed by -prerelease and +build (ignored).
type version struct {
	nums [4]uint32
	pre  string
}

func parseVersion(s string) (version, bool) {
	var v version
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if i == len(s)-1 {
			return v, false
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		if v.pre = s[i+1:]; v.pre == "" {
			return v, false
		}
		s = s[:i]
	}
	for n := 0; ; n++ {
		j := 0
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == 0 || j > 9 || n == len(v.nums) {
			return v, false
		}
		x, _ := strconv.ParseUint(s[:j], 10, 32) // at most 9 digits: cannot fail
		v.nums[n] = uint32(x)
		if s = s[j:]; s == "" {
			return v, true
		}
		if s[0] != '.' {
			return v, false
		}
		s = s[1:]
	}
}

// compare orders versions by their numbers (missing ones count as 0), then
// puts a pre-release before the release, and pre-releases in byte order.
func (v version) compare(w version) int {
	for i := range v.nums {
		if v.nums[i] != w.nums[i] {
			if v.nums[i] < w.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.pre == w.pre:
		return 0
	case v.pre == "":
		return 1
	case w.pre == "":
		return -1
	}
	return strings.Compare(v.pre, w.pre)
}

const secondsPerDay = 24 * 60 * 60

// parseDate accepts the formats the ECS guide names for registeredAt:
// 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28
// (UTC) and 2018-06-18 (a UTC day). It returns Unix seconds, or days since
// the epoch for a bare date.
func parseDate(s string) (when int64, byDay, ok bool) {
	var layout string
	switch len(s) {
	case len("2006-01-02"):
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return 0, false, false
		}
		return floorDiv(t.Unix(), secondsPerDay), true, true
	case len("2006-01-02T15:04:05"):
		layout = "2006-01-02T15:04:05"
	case len("2006-01-02T15:04:05Z"):
		layout = "2006-01-02T15:04:05Z"
	case len("2006-01-02T15:04:05+07:00"):
		if s[19] != '+' && s[19] != '-' { // time.Parse would take a fraction here
			return 0, false, false
		}
		layout = "2006-01-02T15:04:05-07:00"
	default:
		return 0, false, false
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return 0, false, false
	}
	return t.Unix(), false, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// decimal parses a plain decimal number ([+-]digits[.digits]) without
// allocating: anything else, exponents included, is not a number.
func decimal(s string) (float64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	i, digits, dot := 0, 0, false
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
