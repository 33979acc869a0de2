package lb

import "testing"

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"/", "/", true},
		{"/", "/a", false},
		{"*", "", true},
		{"*", "/anything/at/all", true},
		{"/api/*", "/api/", true},
		{"/api/*", "/api/v1/users", true},
		{"/api/*", "/api", false},
		{"/api*", "/api", true},
		{"/img/*.png", "/img/a/b.png", true},
		{"/img/*.png", "/img/a/b.jpg", false},
		{"/v?/x", "/v1/x", true},
		{"/v?/x", "/v10/x", false},
		{"/v?/x", "/v/x", false},
		{"/a*b*c", "/aXbYbZc", true},
		{"/a*b*c", "/aXbYbZ", false},
		{"/API/*", "/api/x", false}, // paths are case-sensitive
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"www.example.???", "www.example.com", true},
	} {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestRoutesMatch(t *testing.T) {
	rt := compile(Listener{
		Default: Action{TargetGroup: "default"},
		Rules: []Rule{
			{PathPatterns: []string{"/x/*"}, HostHeaders: []string{"special.example.com"}, Action: Action{TargetGroup: "special"}},
			{HostHeaders: []string{"*.EXAMPLE.com"}, Action: Action{TargetGroup: "example"}},
			{PathPatterns: []string{"/api/*", "/v?/*"}, Action: Action{TargetGroup: "api"}},
			{PathPatterns: []string{"/x/*"}, Action: Action{TargetGroup: "never"}},
		},
	})
	for _, c := range []struct{ path, host, want string }{
		{"/x/1", "special.example.com", "special"},
		{"/x/1", "SPECIAL.Example.COM:8080", "special"},
		{"/y", "special.example.com", "example"},
		{"/api/1", "www.example.com", "example"}, // the host rule comes first
		{"/api/1", "other.org", "api"},
		{"/v2/users", "other.org", "api"},
		{"/x/1", "other.org", "never"},
		{"/", "other.org", "default"},
		{"/api", "example.com", "default"},
	} {
		if got := rt.match(c.path, c.host).TargetGroup; got != c.want {
			t.Errorf("match(%q, %q) = %q, want %q", c.path, c.host, got, c.want)
		}
	}
}

func TestParseMatcher(t *testing.T) {
	for _, c := range []struct {
		s       string
		ok      bool
		match   []int
		nomatch []int
	}{
		{"", true, []int{200}, []int{201, 302}},
		{"200", true, []int{200}, []int{201, 199, 404}},
		{"200-299", true, []int{200, 204, 299}, []int{199, 300, 302}},
		{"200,302", true, []int{200, 302}, []int{201, 301, 303}},
		{" 200 , 300-399 ", true, []int{200, 301, 399}, []int{201, 400}},
		{"200-", false, nil, nil},
		{"abc", false, nil, nil},
		{"299-200", false, nil, nil},
		{"99", false, nil, nil},
		{"600", false, nil, nil},
		{"200,,302", false, nil, nil},
	} {
		m, err := parseMatcher(c.s)
		if (err == nil) != c.ok {
			t.Errorf("parseMatcher(%q) err = %v, want ok=%v", c.s, err, c.ok)
			continue
		}
		for _, code := range c.match {
			if !m.match(code) {
				t.Errorf("matcher %q does not match %d", c.s, code)
			}
		}
		for _, code := range c.nomatch {
			if m.match(code) {
				t.Errorf("matcher %q matches %d", c.s, code)
			}
		}
	}
}
