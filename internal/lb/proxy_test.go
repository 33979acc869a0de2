package lb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoBackend answers every request with what it saw: method, path,
// protocol, body and selected headers, with framing chosen by the path
// (/chunked streams the answer chunked; /close answers without length).
func echoBackend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		out := fmt.Sprintf("%s %s %s te=%q body=%q conn=%q", r.Method, r.URL.RequestURI(), r.Proto, r.TransferEncoding, body, r.Header.Get("Connection"))
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte(out))
			w.(http.Flusher).Flush()
			w.Write([]byte(" more"))
			w.Header().Set("X-Sum", "42")
		case "/close":
			w.Header().Set("Connection", "close")
			c, brw, _ := w.(http.Hijacker).Hijack()
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + out)
			brw.Flush()
			c.Close()
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", fmt.Sprint(len(out)))
			w.Write([]byte(out))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func proxyTo(t *testing.T, srv *httptest.Server) (*Plane, string) {
	p, _ := newPlane(t)
	tg := TargetGroup{Key: "tg", Protocol: "HTTP", Targets: []Target{{ID: "x", Addr: srv.Listener.Addr().String()}}}
	if err := p.Apply(httpListener("tg"), []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	return p, p.Addr("l1")
}

// rawConn is a client connection speaking raw HTTP/1.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, "/", nil)
	resp, err := http.ReadResponse(r.br, req)
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func TestProxyFraming(t *testing.T) {
	srv, conns := echoBackend(t)
	_, addr := proxyTo(t, srv)
	c := dialRaw(t, addr)

	// Content-Length body, keep-alive.
	c.send("POST /a?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := c.response("POST")
	if resp.StatusCode != 200 || body != `POST /a?q=1 HTTP/1.1 te=[] body="hello" conn=""` || resp.Close {
		t.Fatalf("content-length: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	// Chunked request body, relayed chunked.
	c.send("PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n")
	if _, body = c.response("PUT"); body != `PUT /b HTTP/1.1 te=["chunked"] body="abcdefg" conn=""` {
		t.Fatalf("chunked request: %q", body)
	}
	// Chunked response with a trailer, passed on as it came.
	c.send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body = c.response("GET")
	if !strings.HasSuffix(body, " more") || len(resp.TransferEncoding) != 1 || resp.Trailer.Get("X-Sum") != "42" {
		t.Fatalf("chunked response: %q te=%v trailer=%v", body, resp.TransferEncoding, resp.Trailer)
	}
	// HEAD and 204 have no body.
	c.send("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body = c.response("HEAD"); resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	if resp, _ = c.response("GET"); resp.StatusCode != 204 {
		t.Fatalf("204: %d", resp.StatusCode)
	}
	// Pipelined requests are answered in order.
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	_, b1 := c.response("GET")
	_, b2 := c.response("GET")
	if !strings.HasPrefix(b1, "GET /1 ") || !strings.HasPrefix(b2, "GET /2 ") {
		t.Fatalf("pipelined: %q, %q", b1, b2)
	}
	// A response delimited by the target closing: the client connection
	// closes after it.
	c.send("GET /close HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body = c.response("GET")
	if !strings.HasPrefix(body, "GET /close ") || !resp.Close {
		t.Fatalf("close-delimited: %q close=%v", body, resp.Close)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after a close-delimited response: %v", err)
	}
	// All of that over very few target connections (keep-alive pool).
	if n := conns.Load(); n > 3 {
		t.Fatalf("%d target connections", n)
	}
}

func TestProxyHTTP10AndExpect(t *testing.T) {
	srv, _ := echoBackend(t)
	_, addr := proxyTo(t, srv)

	// HTTP/1.0 without keep-alive: answered, then closed; the chunked
	// answer is de-chunked for it.
	c := dialRaw(t, addr)
	c.send("GET /chunked HTTP/1.0\r\nHost: h\r\n\r\n")
	resp, body := c.response("GET")
	if !strings.HasPrefix(body, "GET /chunked HTTP/1.1") || !strings.HasSuffix(body, " more") || len(resp.TransferEncoding) != 0 {
		t.Fatalf("1.0 chunked: %q te=%v", body, resp.TransferEncoding)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("1.0 connection not closed: %v", err)
	}
	// HTTP/1.0 with keep-alive stays open.
	c = dialRaw(t, addr)
	c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if resp, _ = c.response("GET"); resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("1.0 keep-alive: %v", resp.Header)
	}
	c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if _, body = c.response("GET"); !strings.HasPrefix(body, "GET /b ") {
		t.Fatalf("second 1.0 request: %q", body)
	}
	// Expect: 100-continue gets its 100 from the proxy, then the answer.
	c = dialRaw(t, addr)
	c.send("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	line, err := c.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("interim response %q, %v", line, err)
	}
	c.br.ReadString('\n')
	c.send("abc")
	if _, body = c.response("POST"); !strings.Contains(body, `body="abc"`) {
		t.Fatalf("after 100-continue: %q", body)
	}
}

func TestProxyRejectsMalformed(t *testing.T) {
	srv, _ := echoBackend(t)
	_, addr := proxyTo(t, srv)
	for name, req := range map[string]string{
		"no host":           "GET / HTTP/1.1\r\n\r\n",
		"bad version":       "GET / HTTP/9.9\r\nHost: h\r\n\r\n",
		"space in name":     "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
		"both framings":     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two lengths":       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"folded header":     "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
		"bad length":        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		"unknown framing":   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
		"bare CR in value":  "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
		"control in target": "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		c := dialRaw(t, addr)
		c.send(req)
		resp, body := c.response("GET")
		if resp.StatusCode != 400 || !strings.Contains(body, "400 Bad Request") || resp.Header.Get("Server") != "awselb/2.0" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, body)
		}
	}
	c := dialRaw(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", maxHead) + "\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 431 {
		t.Errorf("huge head: %d", resp.StatusCode)
	}
}

// TestProxyStalePooledConnection: a keep-alive connection the target
// closed while idle is replaced without the client seeing an error.
func TestProxyStalePooledConnection(t *testing.T) {
	srv, conns := echoBackend(t)
	_, addr := proxyTo(t, srv)
	c := dialRaw(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
	c.response("GET")
	srv.CloseClientConnections() // the target drops its idle connections
	time.Sleep(20 * time.Millisecond)
	c.send("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /2 ") {
		t.Fatalf("after the target closed its connection: %d %q", resp.StatusCode, body)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d target connections, want 2", n)
	}
}

func TestProxyLargeBodies(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Store(n)
		w.Write(bytes.Repeat([]byte("z"), 3<<20))
	}))
	defer srv.Close()
	_, addr := proxyTo(t, srv)
	req, _ := http.NewRequest("POST", "http://"+addr+"/", io.LimitReader(zeros{}, 5<<20)) // chunked: no length
	code, body := get(t, http.DefaultClient, req)
	if code != 200 || len(body) != 3<<20 || got.Load() != 5<<20 {
		t.Fatalf("status %d, %d bytes back, target read %d", code, len(body), got.Load())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestProxyTargetDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p, _ := newPlane(t)
	tg := TargetGroup{Key: "tg", Protocol: "HTTP", Targets: []Target{{ID: "x", Addr: dead}}}
	if err := p.Apply(httpListener("tg"), []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, p.Addr("l1"))
	// The body of a request that cannot be forwarded is read away, and the
	// connection serves the next request.
	for range 2 {
		c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody")
		if resp, body := c.response("POST"); resp.StatusCode != 502 || !strings.Contains(body, "502 Bad Gateway") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
}

func TestWeightedForward(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p, _ := newPlane(t)
	cfg := Config{Listeners: []Listener{{Key: "l1", Protocol: "HTTP", Addr: "127.0.0.1:0",
		Default: Action{Weighted: []WeightedGroup{{TargetGroup: "ga", Weight: 3}, {TargetGroup: "gb", Weight: 1}, {TargetGroup: "gz", Weight: 0}}}}}}
	if err := p.Apply(cfg, []TargetGroup{tgroup("ga", HealthCheck{}, a), tgroup("gb", HealthCheck{}, b)}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.Addr("l1") + "/"
	n := 400
	for range n {
		if code, _ := getURL(t, base); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	// 3:1 within a wide margin (binomial, p=0.75, n=400: sd ≈ 8.7).
	if ha := a.hits.Load(); ha < 250 || ha > 350 || ha+b.hits.Load() != int64(n) {
		t.Fatalf("hits a=%d b=%d of %d, want about 300/100", ha, b.hits.Load(), n)
	}
}

func TestGracefulListenerClose(t *testing.T) {
	a := newBackend(t, "a")
	p, _ := newPlane(t)
	if err := p.Apply(httpListener("tg"), []TargetGroup{tgroup("tg", HealthCheck{}, a)}); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr("l1")
	busy, idle := dialRaw(t, addr), dialRaw(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.response("GET")
	busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-a.started
	// Both connections are in blocking mode (internal/sockopt): closing the
	// idle one must wake its reader.
	if n := blockingSlots.InUse(); n < 2 && runtime.GOMAXPROCS(0) >= 2 {
		t.Fatalf("%d connections in blocking mode, want 2", n)
	}
	// The listener goes away: the idle connection closes at once, the
	// busy one gets its answer, with Connection: close.
	if err := p.Apply(Config{}, []TargetGroup{tgroup("tg", HealthCheck{}, a)}); err != nil {
		t.Fatal(err)
	}
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v", err)
	}
	close(a.release)
	resp, body := busy.response("GET")
	if resp.StatusCode != 200 || body != "a" || !resp.Close {
		t.Fatalf("busy connection: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
}

func TestHTTPSListener(t *testing.T) {
	var proto atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Header.Get("X-Forwarded-Proto"))
		io.WriteString(w, "secure")
	}))
	defer srv.Close()
	cert := httptest.NewTLSServer(http.NotFoundHandler()) // borrow its test certificate
	tlsCfg := cert.TLS.Clone()
	cert.Close()
	p, _ := newPlane(t)
	cfg := Config{Listeners: []Listener{{Key: "l1", Protocol: "HTTP", Addr: "127.0.0.1:0", Default: Action{TargetGroup: "tg"}, TLS: tlsCfg, TLSKey: "k1"}}}
	tg := TargetGroup{Key: "tg", Protocol: "HTTP", Targets: []Target{{ID: "x", Addr: srv.Listener.Addr().String()}}}
	if err := p.Apply(cfg, []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest("GET", "https://"+p.Addr("l1")+"/", nil)
	if code, body := get(t, client, req); code != 200 || body != "secure" || proto.Load() != "https" {
		t.Fatalf("%d %q X-Forwarded-Proto %v", code, body, proto.Load())
	}
	// Plain HTTP on the TLS port fails the handshake.
	if resp, err := http.Get("http://" + p.Addr("l1") + "/"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on an HTTPS listener")
	}
	// The same listener without TLS is opened again as plain HTTP.
	cfg.Listeners[0].TLS, cfg.Listeners[0].TLSKey = nil, ""
	if err := p.Apply(cfg, []TargetGroup{tg}); err != nil {
		t.Fatal(err)
	}
	if code, body := getURL(t, "http://"+p.Addr("l1")+"/"); code != 200 || body != "secure" || proto.Load() != "http" {
		t.Fatalf("after TLS was removed: %d %q %v", code, body, proto.Load())
	}
}

func TestBlockingConnections(t *testing.T) {
	a := newBackend(t, "a")
	p, _ := newPlane(t)
	if err := p.Apply(httpListener("tg"), []TargetGroup{tgroup("tg", HealthCheck{}, a)}); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr("l1")
	limit := runtime.GOMAXPROCS(0)
	var conns []*rawConn
	for range limit + 2 {
		c := dialRaw(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "a" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		conns = append(conns, c)
	}
	// The first connections took every slot; the others use the poller,
	// and all of them serve requests again.
	if n := blockingSlots.InUse(); n != limit {
		t.Fatalf("%d connections in blocking mode, want %d", n, limit)
	}
	for _, c := range conns {
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, _ := c.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("second request: %d", resp.StatusCode)
		}
	}
	for _, c := range conns {
		c.c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for blockingSlots.InUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d blocking slots still taken after the clients left", blockingSlots.InUse())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
