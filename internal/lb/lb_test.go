package lb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a Reporter that keeps every report.
type recorder struct {
	mu  sync.Mutex
	log []report
}

type report struct{ tg, id, addr, state, reason, desc string }

func (r *recorder) Report(tg string, t Target, state, reason, desc string) {
	r.mu.Lock()
	r.log = append(r.log, report{tg, t.ID, t.Addr, state, reason, desc})
	r.mu.Unlock()
}

// last is the latest report for id in tg.
func (r *recorder) last(tg, id string) (report, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.log) - 1; i >= 0; i-- {
		if r.log[i].tg == tg && r.log[i].id == id {
			return r.log[i], true
		}
	}
	return report{}, false
}

func (r *recorder) states(tg, id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, x := range r.log {
		if x.tg == tg && x.id == id {
			s = append(s, x.state)
		}
	}
	return s
}

func (r *recorder) wait(t *testing.T, tg, id, state string) report {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if x, ok := r.last(tg, id); ok && x.state == state {
			return x
		}
		time.Sleep(5 * time.Millisecond)
	}
	x, _ := r.last(tg, id)
	t.Fatalf("target %s/%s: state %q (history %v), want %q", tg, id, x.state, r.states(tg, id), state)
	return report{}
}

// backend is a test HTTP target answering its name; /health answers
// health (200 by default); /slow blocks until release is closed.
type backend struct {
	name    string
	srv     *httptest.Server
	health  atomic.Int32
	hits    atomic.Int64
	started chan string
	release chan struct{}
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name, started: make(chan string, 16), release: make(chan struct{})}
	b.health.Store(200)
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.WriteHeader(int(b.health.Load()))
			return
		case "/slow":
			b.hits.Add(1)
			b.started <- name
			<-b.release
		default:
			b.hits.Add(1)
		}
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) target() Target {
	return Target{ID: b.name, Addr: b.srv.Listener.Addr().String()}
}

func newPlane(t *testing.T) (*Plane, *recorder) {
	rec := &recorder{}
	p := New(nil, rec)
	t.Cleanup(func() { p.Close() })
	return p, rec
}

func httpListener(tg string, rules ...Rule) Config {
	return Config{Listeners: []Listener{{Key: "l1", Protocol: "HTTP", Addr: "127.0.0.1:0", Default: Action{TargetGroup: tg}, Rules: rules}}}
}

func fastHC(path string) HealthCheck {
	return HealthCheck{Enabled: true, Path: path, Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}
}

func tgroup(key string, hc HealthCheck, bs ...*backend) TargetGroup {
	tg := TargetGroup{Key: key, Protocol: "HTTP", HealthCheck: hc, DeregistrationDelay: 5 * time.Second}
	for _, b := range bs {
		tg.Targets = append(tg.Targets, b.target())
	}
	return tg
}

func get(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	return get(t, http.DefaultClient, req)
}

func TestRoundRobin(t *testing.T) {
	p, rec := newPlane(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	if err := p.Apply(httpListener("tg"), []TargetGroup{tgroup("tg", fastHC("/health"), a, b)}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "tg", "a", StateHealthy)
	rec.wait(t, "tg", "b", StateHealthy)
	base := "http://" + p.Addr("l1")
	var got []string
	for range 10 {
		code, body := getURL(t, base+"/")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		got = append(got, body)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("not round robin: %v", got)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Fatalf("hits a=%d b=%d, want 5/5", a.hits.Load(), b.hits.Load())
	}
	if s := rec.states("tg", "a"); len(s) != 2 || s[0] != StateInitial || s[1] != StateHealthy {
		t.Fatalf("reports for a: %v", s)
	}
}

func TestRuleRouting(t *testing.T) {
	p, _ := newPlane(t)
	api, web, def := newBackend(t, "api"), newBackend(t, "web"), newBackend(t, "def")
	groups := []TargetGroup{tgroup("api", HealthCheck{}, api), tgroup("web", HealthCheck{}, web), tgroup("def", HealthCheck{}, def), {Key: "empty", Protocol: "HTTP"}}
	cfg := httpListener("def",
		Rule{PathPatterns: []string{"/teapot"}, Action: Action{Fixed: &FixedResponse{StatusCode: 418, ContentType: "text/plain", Body: "short and stout"}}},
		Rule{PathPatterns: []string{"/api/*"}, HostHeaders: []string{"*.internal"}, Action: Action{TargetGroup: "def"}},
		Rule{PathPatterns: []string{"/api/*", "/v?/*"}, Action: Action{TargetGroup: "api"}},
		Rule{HostHeaders: []string{"WWW.example.com"}, Action: Action{TargetGroup: "web"}},
		Rule{PathPatterns: []string{"/nothing"}, Action: Action{TargetGroup: "empty"}},
		Rule{PathPatterns: []string{"/missing"}, Action: Action{TargetGroup: "nosuchgroup"}},
	)
	if err := p.Apply(cfg, groups); err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.Addr("l1")
	for _, c := range []struct {
		path, host string
		code       int
		body       string
	}{
		{"/api/users", "", 200, "api"},
		{"/v1/users?x=1", "", 200, "api"},
		{"/api/users", "svc.internal", 200, "def"},
		{"/api/users", "www.example.com", 200, "api"}, // priority: the path rule first
		{"/index.html", "www.EXAMPLE.com:80", 200, "web"},
		{"/index.html", "other.example.com", 200, "def"},
		{"/teapot", "", 418, "short and stout"},
		{"/nothing", "", 503, "503 Service Temporarily Unavailable"},
		{"/missing", "", 503, "503 Service Temporarily Unavailable"},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		if c.host != "" {
			req.Host = c.host
		}
		code, body := get(t, http.DefaultClient, req)
		if code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s host %q: %d %q, want %d %q", c.path, c.host, code, body, c.code, c.body)
		}
	}

	// Routes change live on the open listener.
	addr := p.Addr("l1")
	cfg.Listeners[0].Rules = nil
	cfg.Listeners[0].Default = Action{TargetGroup: "web"}
	if err := p.Apply(cfg, groups); err != nil {
		t.Fatal(err)
	}
	if p.Addr("l1") != addr {
		t.Fatalf("listener reopened: %s -> %s", addr, p.Addr("l1"))
	}
	if _, body := getURL(t, base+"/api/users"); body != "web" {
		t.Fatalf("after route change: %q", body)
	}

	// A listener that goes is closed.
	if err := p.Apply(Config{}, groups); err != nil {
		t.Fatal(err)
	}
	if p.Addr("l1") != "" {
		t.Fatal("listener still open")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("closed listener still accepts")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailOpen(t *testing.T) {
	p, rec := newPlane(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.health.Store(500)
	b.health.Store(500)
	if err := p.Apply(httpListener("tg"), []TargetGroup{tgroup("tg", fastHC("/health"), a, b)}); err != nil {
		t.Fatal(err)
	}
	ra := rec.wait(t, "tg", "a", StateUnhealthy)
	rec.wait(t, "tg", "b", StateUnhealthy)
	if ra.reason != ReasonResponseCodeMismatch || ra.desc != "Health checks failed with these codes: [500]" {
		t.Fatalf("unhealthy report: %+v", ra)
	}
	base := "http://" + p.Addr("l1")
	for range 10 {
		if code, _ := getURL(t, base+"/"); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Fatalf("fail open: hits a=%d b=%d, want 5/5", a.hits.Load(), b.hits.Load())
	}
}

func TestHealthCheckPathAndMatcher(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health-check":
			w.WriteHeader(200)
		case "/redirect":
			http.Redirect(w, r, "/health-check", http.StatusFound)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/created":
			w.WriteHeader(201)
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := closed.Addr().String()
	closed.Close()
	_, deadPort, _ := net.SplitHostPort(deadAddr)

	p, rec := newPlane(t)
	cases := []struct {
		name          string
		hc            HealthCheck
		addr          string
		state, reason string
	}{
		{"exact path", HealthCheck{Path: "/health-check"}, "", StateHealthy, ""},
		{"trailing slash differs", HealthCheck{Path: "/health-check/"}, "", StateUnhealthy, ReasonResponseCodeMismatch},
		{"default path /", HealthCheck{}, "", StateUnhealthy, ReasonResponseCodeMismatch},
		{"404 matched", HealthCheck{Path: "/nope", Matcher: "200-499"}, "", StateHealthy, ""},
		{"redirect not followed", HealthCheck{Path: "/redirect"}, "", StateUnhealthy, ReasonResponseCodeMismatch},
		{"redirect in list", HealthCheck{Path: "/redirect", Matcher: "200,302"}, "", StateHealthy, ""},
		{"201 not in 200", HealthCheck{Path: "/created"}, "", StateUnhealthy, ReasonResponseCodeMismatch},
		{"201 in range", HealthCheck{Path: "/created", Matcher: "200-299"}, "", StateHealthy, ""},
		{"timeout", HealthCheck{Path: "/slow", Timeout: 50 * time.Millisecond}, "", StateUnhealthy, ReasonTimeout},
		{"refused", HealthCheck{Path: "/health-check"}, deadAddr, StateUnhealthy, ReasonFailedHealthChecks},
		{"explicit port", HealthCheck{Path: "/health-check", Port: port}, deadAddr, StateHealthy, ""},
		{"traffic-port", HealthCheck{Path: "/health-check", Port: "traffic-port"}, "", StateHealthy, ""},
		{"explicit dead port", HealthCheck{Path: "/health-check", Port: deadPort}, "", StateUnhealthy, ReasonFailedHealthChecks},
		{"tcp", HealthCheck{Protocol: "TCP"}, "", StateHealthy, ""},
		{"tcp refused", HealthCheck{Protocol: "TCP"}, deadAddr, StateUnhealthy, ReasonFailedHealthChecks},
	}
	var groups []TargetGroup
	for _, c := range cases {
		hc := c.hc
		hc.Enabled = true
		hc.Interval = 20 * time.Millisecond
		hc.HealthyThreshold, hc.UnhealthyThreshold = 2, 2
		if hc.Timeout == 0 {
			hc.Timeout = time.Second
		}
		addr := c.addr
		if addr == "" {
			addr = srv.Listener.Addr().String()
		}
		groups = append(groups, TargetGroup{Key: c.name, Protocol: "HTTP", HealthCheck: hc, Targets: []Target{{ID: "t", Addr: addr}}})
	}
	if err := p.Apply(Config{}, groups); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rec.wait(t, c.name, "t", c.state)
			if r.reason != c.reason {
				t.Fatalf("reason %q, want %q", r.reason, c.reason)
			}
			if s := rec.states(c.name, "t"); len(s) != 2 || s[0] != StateInitial {
				t.Fatalf("history %v, want initial then %s", s, c.state)
			}
		})
	}
}

func TestUnhealthyStopsAndReturns(t *testing.T) {
	p, rec := newPlane(t)
	a, b := newBackend(t, "a"), newBackend(t, "b")
	if err := p.Apply(httpListener("tg"), []TargetGroup{tgroup("tg", fastHC("/health"), a, b)}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "tg", "a", StateHealthy)
	rec.wait(t, "tg", "b", StateHealthy)
	base := "http://" + p.Addr("l1")

	b.health.Store(503)
	rec.wait(t, "tg", "b", StateUnhealthy)
	before := b.hits.Load()
	for range 20 {
		if _, body := getURL(t, base+"/"); body != "a" {
			t.Fatalf("unhealthy b got traffic: %q", body)
		}
	}
	if b.hits.Load() != before {
		t.Fatal("unhealthy b got traffic")
	}

	b.health.Store(200)
	rec.wait(t, "tg", "b", StateHealthy)
	seen := map[string]int{}
	for range 20 {
		_, body := getURL(t, base+"/")
		seen[body]++
	}
	if seen["a"] != 10 || seen["b"] != 10 {
		t.Fatalf("after recovery: %v", seen)
	}
}

func TestXForwardedHeaders(t *testing.T) {
	var got http.Header
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, host = r.Header.Clone(), r.Host
	}))
	defer srv.Close()
	p, _ := newPlane(t)
	tg := TargetGroup{Key: "tg", Protocol: "HTTP", Targets: []Target{{ID: "x", Addr: srv.Listener.Addr().String()}}}
	if err := p.Apply(httpListener("tg"), []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr("l1")
	_, port, _ := net.SplitHostPort(addr)

	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "app.example.com"
	get(t, http.DefaultClient, req)
	if v := got.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := got.Get("X-Forwarded-Proto"); v != "http" {
		t.Errorf("X-Forwarded-Proto %q", v)
	}
	if v := got.Get("X-Forwarded-Port"); v != port {
		t.Errorf("X-Forwarded-Port %q, want %q", v, port)
	}
	if host != "app.example.com" {
		t.Errorf("Host %q", host)
	}

	req, _ = http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Port", "443")
	get(t, http.DefaultClient, req)
	if v := got.Get("X-Forwarded-For"); v != "203.0.113.7, 10.0.0.1, 127.0.0.1" {
		t.Errorf("appended X-Forwarded-For %q", v)
	}
	if v := got.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "http" {
		t.Errorf("X-Forwarded-Proto %q", v)
	}
	if v := got.Values("X-Forwarded-Port"); len(v) != 1 || v[0] != port {
		t.Errorf("X-Forwarded-Port %q", v)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
		brw.Flush()
		io.Copy(c, brw) // echo
	}))
	defer srv.Close()
	p, _ := newPlane(t)
	tg := TargetGroup{Key: "tg", Protocol: "HTTP", Targets: []Target{{ID: "ws", Addr: srv.Listener.Addr().String()}}}
	if err := p.Apply(httpListener("tg"), []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr("l1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	for i := range 5 {
		msg := fmt.Sprintf("frame %d", i)
		io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != msg {
			t.Fatalf("echo %q, want %q", buf, msg)
		}
	}
}

// echoServer is a TCP target that answers name + ":" + everything it
// read, after the client half-closes.
func echoServer(t *testing.T, name string) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				io.WriteString(c, name+":"+string(b))
			}()
		}
	}()
	return ln
}

func TestTCPProxy(t *testing.T) {
	a, b := echoServer(t, "a"), echoServer(t, "b")
	p, rec := newPlane(t)
	tg := TargetGroup{Key: "tcp", Protocol: "TCP",
		HealthCheck: HealthCheck{Enabled: true, Protocol: "TCP", Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1},
		Targets:     []Target{{ID: "a", Addr: a.Addr().String()}, {ID: "b", Addr: b.Addr().String()}}}
	cfg := Config{Listeners: []Listener{{Key: "t1", Protocol: "TCP", Addr: "127.0.0.1:0", Default: Action{TargetGroup: "tcp"}}}}
	if err := p.Apply(cfg, []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "tcp", "a", StateHealthy)
	rec.wait(t, "tcp", "b", StateHealthy)
	seen := map[string]int{}
	for i := range 10 {
		c, err := net.Dial("tcp", p.Addr("t1"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("hello %d", i)
		io.WriteString(c, msg)
		c.(*net.TCPConn).CloseWrite() // half-close: the server answers after EOF
		out, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		name, echoed, _ := strings.Cut(string(out), ":")
		if echoed != msg {
			t.Fatalf("got %q", out)
		}
		seen[name]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin: %v", seen)
	}

	// A target that goes down is skipped.
	b.Close()
	rec.wait(t, "tcp", "b", StateUnhealthy)
	for range 4 {
		c, err := net.Dial("tcp", p.Addr("t1"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "x")
		c.(*net.TCPConn).CloseWrite()
		out, _ := io.ReadAll(c)
		c.Close()
		if string(out) != "a:x" {
			t.Fatalf("got %q", out)
		}
	}
}

func TestRollingTargets(t *testing.T) {
	bs := []*backend{newBackend(t, "b0"), newBackend(t, "b1"), newBackend(t, "b2"), newBackend(t, "b3")}
	p, _ := newPlane(t)
	hc := fastHC("/health")
	tg := func(i int) TargetGroup {
		g := tgroup("tg", hc, bs[i%4], bs[(i+1)%4])
		g.DeregistrationDelay = 2 * time.Second
		return g
	}
	cfg := httpListener("tg")
	if err := p.Apply(cfg, []TargetGroup{tg(0)}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.Addr("l1") + "/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	// Each worker sends at least minPerWorker requests and goes on until
	// the targets changed wantChanges times (bounded by maxPerWorker).
	const workers, minPerWorker, maxPerWorker, wantChanges = 4, 200, 20000, 10
	var failed, done, changes atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := 0; i < maxPerWorker && (i < minPerWorker || changes.Load() < wantChanges); i++ {
				resp, err := client.Get(base)
				if err != nil {
					failed.Add(1)
					t.Log(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Logf("status %d", resp.StatusCode)
				}
				done.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	applied := make(chan int)
	go func() {
		i := 0
		defer func() { applied <- i }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			i++
			if err := p.Apply(cfg, []TargetGroup{tg(i)}); err != nil {
				t.Error(err)
				return
			}
			changes.Store(int64(i))
		}
	}()
	wg.Wait()
	close(stop)
	n := <-applied
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across %d target changes", failed.Load(), done.Load()+failed.Load(), n)
	}
	if n < wantChanges {
		t.Fatalf("only %d target changes during the loop", n)
	}
	t.Logf("%d requests, %d target changes, 0 failures", done.Load(), n)

	// Only the final targets get traffic now.
	final := map[string]bool{bs[n%4].name: true, bs[(n+1)%4].name: true}
	for range 20 {
		_, body := get(t, client, mustReq(base))
		if !final[body] {
			t.Fatalf("request went to %q, final targets %v", body, final)
		}
	}
}

func mustReq(url string) *http.Request {
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

func TestDraining(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p, rec := newPlane(t)
	cfg := httpListener("tg")
	if err := p.Apply(cfg, []TargetGroup{tgroup("tg", fastHC("/health"), a, b)}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "tg", "a", StateHealthy)
	rec.wait(t, "tg", "b", StateHealthy)
	base := "http://" + p.Addr("l1")

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(body), err}
	}()
	var slow, other *backend
	select {
	case name := <-a.started:
		slow, other = a, b
		_ = name
	case <-b.started:
		slow, other = b, a
	case <-time.After(5 * time.Second):
		t.Fatal("slow request did not start")
	}

	// Deregister the target serving the slow request.
	if err := p.Apply(cfg, []TargetGroup{tgroup("tg", fastHC("/health"), other)}); err != nil {
		t.Fatal(err)
	}
	if r, _ := rec.last("tg", slow.name); r.state != StateDraining || r.reason != ReasonDeregistrationInProgress {
		t.Fatalf("report after deregistration: %+v", r)
	}
	before := slow.hits.Load()
	for range 10 {
		if _, body := getURL(t, base+"/"); body != other.name {
			t.Fatalf("new request went to %q while %s drains", body, slow.name)
		}
	}
	if slow.hits.Load() != before {
		t.Fatal("draining target got new requests")
	}
	close(slow.release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != slow.name {
		t.Fatalf("in-flight request: %+v", r)
	}
	// The deregistration completes once nothing is in flight, long before
	// the delay: the target is reported unused, once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := rec.states("tg", slow.name)
		if s[len(s)-1] == StateUnused {
			if s[len(s)-2] != StateDraining {
				t.Fatalf("reports after draining: %v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reports after the in-flight request finished: %v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainingDelayCutsConnections(t *testing.T) {
	a := newBackend(t, "a")
	p, _ := newPlane(t)
	cfg := httpListener("tg")
	tg := tgroup("tg", HealthCheck{}, a)
	tg.DeregistrationDelay = 200 * time.Millisecond
	if err := p.Apply(cfg, []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	res := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + p.Addr("l1") + "/slow")
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	<-a.started
	defer close(a.release)
	// The client connection, and so the target connection, is in blocking
	// mode (internal/sockopt): cutting it must wake the proxy's read.
	if blockingSlots.InUse() == 0 {
		t.Fatal("no connection in blocking mode")
	}
	tg.Targets = nil
	start := time.Now()
	if err := p.Apply(cfg, []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-res:
		if code == 200 {
			t.Fatal("request finished normally")
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("cut after %v, before the delay", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request not cut after the deregistration delay")
	}
	// No target left: ELB's 503.
	if code, _ := getURL(t, "http://"+p.Addr("l1")+"/"); code != 503 {
		t.Fatalf("status %d, want 503", code)
	}
}

func TestApplyErrorsAndClose(t *testing.T) {
	a := newBackend(t, "a")
	p := New(nil, nil)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := Config{Listeners: []Listener{
		{Key: "ok", Protocol: "http", Addr: "127.0.0.1:0", Default: Action{TargetGroup: "tg"}},
		{Key: "udp", Protocol: "UDP", Addr: "127.0.0.1:0"},
		{Key: "busy", Protocol: "HTTP", Addr: busy.Addr().String()},
		{Key: "ok", Protocol: "HTTP", Addr: "127.0.0.1:0"},
	}}
	err = p.Apply(cfg, []TargetGroup{tgroup("tg", HealthCheck{}, a), {Key: ""}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"udp"`, `"busy"`, `duplicate listener "ok"`, "empty key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	addr := p.Addr("ok")
	if code, body := getURL(t, "http://"+addr+"/"); code != 200 || body != "a" {
		t.Fatalf("valid listener not applied: %d %q", code, body)
	}
	// Applying the same configuration again changes nothing.
	if err := p.Apply(Config{Listeners: cfg.Listeners[:1]}, []TargetGroup{tgroup("tg", HealthCheck{}, a)}); err != nil {
		t.Fatal(err)
	}
	if p.Addr("ok") != addr {
		t.Fatal("listener reopened by an identical Apply")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(cfg, nil); err != ErrClosed {
		t.Fatalf("Apply after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener open after Close")
	}
}

func TestListenerProtocolChangeOnSamePort(t *testing.T) {
	a := newBackend(t, "a")
	echo := echoServer(t, "e")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	p, _ := newPlane(t)
	groups := []TargetGroup{tgroup("web", HealthCheck{}, a), {Key: "tcp", Protocol: "TCP", Targets: []Target{{ID: "e", Addr: echo.Addr().String()}}}}
	if err := p.Apply(Config{Listeners: []Listener{{Key: "l", Protocol: "HTTP", Addr: addr, Default: Action{TargetGroup: "web"}}}}, groups); err != nil {
		t.Fatal(err)
	}
	if _, body := getURL(t, "http://"+addr+"/"); body != "a" {
		t.Fatalf("http: %q", body)
	}
	if err := p.Apply(Config{Listeners: []Listener{{Key: "l", Protocol: "TCP", Addr: addr, Default: Action{TargetGroup: "tcp"}}}}, groups); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	if out, _ := io.ReadAll(c); string(out) != "e:ping" {
		t.Fatalf("tcp: %q", out)
	}
}
