package lb

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/sockopt"
)

// listenerRT is an open listener.
type listenerRT struct {
	p        *Plane
	key      string
	protocol string
	addr     string // as configured
	tlsKey   string
	tls      bool
	proto    string // X-Forwarded-Proto: http or https
	ln       net.Listener
	port     string // bound port, for X-Forwarded-Port
	routes   atomic.Pointer[routes]

	mu     sync.Mutex
	conns  map[net.Conn]struct{}    // TCP
	hconns map[*clientConn]struct{} // HTTP
	closed bool

	closing atomic.Bool    // HTTP: closed gracefully, connections end after their request
	connWG  sync.WaitGroup // HTTP connections
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

// matchBytes is match for the proxy's byte slices; it allocates only when
// the listener has rules.
func (rt *routes) matchBytes(path, host []byte) Action {
	if len(rt.rules) == 0 {
		return rt.def
	}
	return rt.match(string(path), string(host))
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
	lr := &listenerRT{p: p, key: l.Key, protocol: l.Protocol, addr: l.Addr, ln: ln, port: port, conns: map[net.Conn]struct{}{}, tlsKey: l.TLSKey, proto: "http"}
	if l.TLS != nil {
		lr.ln = tls.NewListener(ln, l.TLS)
		lr.tls, lr.proto = true, "https"
	}
	lr.routes.Store(compile(l))
	p.wg.Add(1)
	switch l.Protocol {
	case "HTTP":
		lr.hconns = map[*clientConn]struct{}{}
		go func() {
			defer p.wg.Done()
			lr.serveHTTP()
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
// requests in flight finish (for up to 5 minutes, or until the plane
// closes); its idle connections close at once.
func (lr *listenerRT) close(graceful bool) {
	p := lr.p
	lr.mu.Lock()
	lr.closed = true
	conns, hconns := lr.conns, lr.hconns
	lr.conns, lr.hconns = map[net.Conn]struct{}{}, map[*clientConn]struct{}{}
	lr.mu.Unlock()
	// The socket closes at once, so that the address can be opened again
	// by the same Apply.
	lr.ln.Close()
	for c := range conns {
		c.Close()
	}
	if !graceful {
		for cc := range hconns {
			sockopt.CloseNow(cc.c)
		}
		return
	}
	lr.closing.Store(true)
	for cc := range hconns {
		if cc.idle.Load() {
			sockopt.CloseNow(cc.c)
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		done := make(chan struct{})
		go func() {
			lr.connWG.Wait()
			close(done)
		}()
		t := time.NewTimer(5 * time.Minute)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
		case <-p.ctx.Done():
		}
		for cc := range hconns {
			sockopt.CloseNow(cc.c)
		}
		<-done
	}()
}

// writeError writes ELB's own error page, with Connection: close when
// the connection closes after it.
func writeError(w *bufio.Writer, code int, closing bool) {
	text := elbText[code]
	if text == "" {
		text = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	writeStatus(w, code)
	w.WriteString("\r\nServer: awselb/2.0\r\nContent-Type: text/html\r\nContent-Length: ")
	body := len(errorPagePrefix) + 2*len(text) + len(errorPageMiddle) + len(errorPageSuffix)
	w.WriteString(strconv.Itoa(body))
	if closing {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	w.WriteString(errorPagePrefix)
	w.WriteString(text)
	w.WriteString(errorPageMiddle)
	w.WriteString(text)
	w.WriteString(errorPageSuffix)
}

const (
	errorPagePrefix = "<html>\r\n<head><title>"
	errorPageMiddle = "</title></head>\r\n<body>\r\n<center><h1>"
	errorPageSuffix = "</h1></center>\r\n</body>\r\n</html>\r\n"
)

var elbText = map[int]string{
	http.StatusBadRequest:                  "400 Bad Request",
	http.StatusBadGateway:                  "502 Bad Gateway",
	http.StatusServiceUnavailable:          "503 Service Temporarily Unavailable",
	http.StatusGatewayTimeout:              "504 Gateway Time-out",
	http.StatusRequestHeaderFieldsTooLarge: "431 Request Header Fields Too Large",
}

// writeStatus writes the status line "HTTP/1.1 <code> <text>" without
// its line end.
func writeStatus(w *bufio.Writer, code int) {
	text := http.StatusText(code)
	if text == "" {
		text = "Status"
	}
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(text)
}

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
