// Package benchflag parses the list flags the benchmark programs share.
package benchflag

import (
	"fmt"
	"strconv"
	"strings"
)

// List splits a comma-separated flag value, dropping empty items.
func List(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// PositiveInts parses a comma-separated list of numbers ≥ 1 (possibly empty).
func PositiveInts(s string) ([]int, error) {
	var out []int
	for _, f := range List(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
