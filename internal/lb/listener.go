package lb

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listenerRT is an open listener.
type listenerRT struct {
	p        *Plane
	key      string
	protocol string
	addr     string // as configured
	ln       net.Listener
	port     string // bound port, for X-Forwarded-Port
	routes   atomic.Pointer[routes]

	srv *http.Server // HTTP

	mu     sync.Mutex // TCP
	conns  map[net.Conn]struct{}
	closed bool
}

// routes is a listener's compiled rules.
type routes struct {
	rules []compiledRule
	def   Action
}

type compiledRule struct {
	paths, hosts []string
	action       Action
}

func compile(l Listener) *routes {
	rt := &routes{def: l.Default}
	for _, r := range l.Rules {
		cr := compiledRule{paths: r.PathPatterns, action: r.Action}
		for _, h := range r.HostHeaders {
			cr.hosts = append(cr.hosts, strings.ToLower(h))
		}
		rt.rules = append(rt.rules, cr)
	}
	return rt
}

// match returns the action of the first rule matching path and host, else
// the default action.
func (rt *routes) match(path, host string) Action {
	if len(rt.rules) == 0 {
		return rt.def
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, r := range rt.rules {
		if matchAny(r.paths, path) && matchAny(r.hosts, host) {
			return r.action
		}
	}
	return rt.def
}

func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, where * matches any run of bytes
// (including none) and ? exactly one.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			starP, starI = p, i
			p++
		case starP >= 0:
			p = starP + 1
			starI++
			i = starI
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func (p *Plane) openListener(l Listener) (*listenerRT, error) {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	lr := &listenerRT{p: p, key: l.Key, protocol: l.Protocol, addr: l.Addr, ln: ln, port: port, conns: map[net.Conn]struct{}{}}
	lr.routes.Store(compile(l))
	p.wg.Add(1)
	switch l.Protocol {
	case "HTTP":
		lr.srv = &http.Server{
			Handler:           lr,
			ReadHeaderTimeout: 60 * time.Second,
			IdleTimeout:       60 * time.Second, // ELB's default idle timeout
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		go func() {
			defer p.wg.Done()
			if err := lr.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.log.Error("lb: listener stopped", "listener", l.Key, "err", err)
			}
		}()
	default:
		go func() {
			defer p.wg.Done()
			lr.serveTCP()
		}()
	}
	p.log.Info("lb: listener open", "listener", l.Key, "protocol", l.Protocol, "addr", ln.Addr().String())
	return lr, nil
}

func (lr *listenerRT) setConfig(l Listener) { lr.routes.Store(compile(l)) }

// close closes the listener. An HTTP listener closed gracefully lets the
// requests in flight finish (until the plane closes).
func (lr *listenerRT) close(graceful bool) {
	p := lr.p
	if lr.srv != nil {
		// The socket closes at once, so that the address can be opened
		// again by the same Apply; requests in flight go on.
		lr.ln.Close()
		if !graceful {
			lr.srv.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Minute)
			defer cancel()
			_ = lr.srv.Shutdown(ctx)
			lr.srv.Close()
		}()
		return
	}
	lr.mu.Lock()
	lr.closed = true
	conns := lr.conns
	lr.conns = map[net.Conn]struct{}{}
	lr.mu.Unlock()
	lr.ln.Close()
	for c := range conns {
		c.Close()
	}
}

func (lr *listenerRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := lr.routes.Load().match(r.URL.Path, r.Host)
	if a.Fixed != nil {
		writeFixed(w, a.Fixed)
		return
	}
	g := lr.p.group(a.TargetGroup)
	if g == nil {
		elbError(w, http.StatusServiceUnavailable)
		return
	}
	t := g.pick()
	if t == nil {
		elbError(w, http.StatusServiceUnavailable)
		return
	}
	defer t.release()
	// The request is cut when the target's connections are closed (end of
	// deregistration delay, plane closed).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	t.rp.ServeHTTP(w, r.WithContext(ctx))
}

func writeFixed(w http.ResponseWriter, f *FixedResponse) {
	ct := f.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	code := f.StatusCode
	if code == 0 {
		code = http.StatusOK
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	h.Set("Server", "awselb/2.0")
	w.WriteHeader(code)
	io.WriteString(w, f.Body)
}

var elbText = map[int]string{
	http.StatusBadGateway:         "502 Bad Gateway",
	http.StatusServiceUnavailable: "503 Service Temporarily Unavailable",
	http.StatusGatewayTimeout:     "504 Gateway Time-out",
}

// elbError answers with ELB's own error page.
func elbError(w http.ResponseWriter, code int) {
	text := elbText[code]
	if text == "" {
		text = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	body := "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text + "</h1></center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Server", "awselb/2.0")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

func (p *Plane) newProxy(t *target) *httputil.ReverseProxy {
	addr := t.t.Addr
	g := t.g
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			if g.cfg.Load().Protocol == "HTTPS" {
				pr.Out.URL.Scheme = "https"
			}
			pr.Out.URL.Host = addr
			// The Host header is kept as the client sent it.
			h := pr.Out.Header
			ip, _, err := net.SplitHostPort(pr.In.RemoteAddr)
			if err != nil {
				ip = pr.In.RemoteAddr
			}
			if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
				h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
			} else {
				h.Set("X-Forwarded-For", ip)
			}
			h.Set("X-Forwarded-Proto", "http")
			if la, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
				if _, port, err := net.SplitHostPort(la.String()); err == nil {
					h.Set("X-Forwarded-Port", port)
				}
			}
		},
		Transport:  t.tr,
		BufferPool: p.bufPool,
		ErrorLog:   slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var ne net.Error
			switch {
			case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
				elbError(w, http.StatusGatewayTimeout)
			default:
				if r.Context().Err() == nil || t.ctx.Err() != nil {
					p.log.Debug("lb: target error", "target", addr, "err", err)
				}
				elbError(w, http.StatusBadGateway)
			}
		},
	}
}

// bufferPool is httputil.BufferPool over sync.Pool.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }

// serveTCP accepts connections until the listener closes.
func (lr *listenerRT) serveTCP() {
	var wg sync.WaitGroup
	defer wg.Wait()
	delay := time.Duration(0)
	for {
		c, err := lr.ln.Accept()
		if err != nil {
			lr.mu.Lock()
			closed := lr.closed
			lr.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr.handleTCP(c)
		}()
	}
}

func (lr *listenerRT) handleTCP(c net.Conn) {
	defer c.Close()
	lr.mu.Lock()
	if lr.closed {
		lr.mu.Unlock()
		return
	}
	lr.conns[c] = struct{}{}
	lr.mu.Unlock()
	defer func() {
		lr.mu.Lock()
		delete(lr.conns, c)
		lr.mu.Unlock()
	}()

	g := lr.p.group(lr.routes.Load().def.TargetGroup)
	if g == nil {
		return
	}
	// A target that refuses the connection is skipped for the next one.
	tries := len(*g.route.Load())
	for range max(tries, 1) {
		t := g.pick()
		if t == nil {
			return
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		bc, err := d.DialContext(t.ctx, "tcp", t.t.Addr)
		if err != nil {
			t.release()
			lr.p.log.Debug("lb: tcp target dial failed", "target", t.t.Addr, "err", err)
			continue
		}
		if t.track(bc) {
			t.track(c)
			pipe(c, bc)
			t.untrack(bc)
			t.untrack(c)
		}
		bc.Close()
		t.release()
		return
	}
}

type closeWriter interface{ CloseWrite() error }

// pipe copies both ways, passing half-closes on; an error on either side
// closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{})
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if err != nil {
			a.Close()
			b.Close()
		} else if cw, ok := dst.(closeWriter); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go func() {
		defer close(done)
		cp(b, a)
	}()
	cp(a, b)
	<-done
}
