package lb

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/sockopt"
)

// The HTTP listener's proxy. Each client connection is served by one
// goroutine that reads a request head, routes it, takes a pooled
// connection to the chosen target, relays the request and then the
// response, and loops while both sides keep the connection alive. No
// net/http machinery sits on the request path: the proxy moves bytes
// between two buffered connections, which is what lets it keep up with
// nginx on the same machine.

// blockingSlots counts the client connections in blocking mode: the
// first ones, one per CPU, and the target connections they use
// (internal/sockopt). Measured with wrk at one connection: 3,006 → 3,737
// req/s (median of 5 rounds) on the project machine.
var blockingSlots sockopt.Slots

// idleTimeout is ELB's default connection idle timeout.
const idleTimeout = 60 * time.Second

// bufSize is the buffer of each side of a proxied connection.
const bufSize = 8 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// clientConn is one client connection of an HTTP listener.
type clientConn struct {
	lr   *listenerRT
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	ip   []byte // the client's address, for X-Forwarded-For
	req  head
	resp head
	// idle is set while the connection waits for a request; a graceful
	// close closes idle connections and lets busy ones finish.
	idle     atomic.Bool
	deadline time.Time // the read deadline last set
	// blocking is set while the socket is in blocking mode (internal/sockopt).
	blocking bool
}

// serveHTTP accepts connections until the listener closes.
func (lr *listenerRT) serveHTTP() {
	defer lr.connWG.Wait()
	delay := time.Duration(0)
	for {
		c, err := lr.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		cc := &clientConn{lr: lr, c: c}
		if !lr.addConn(cc) {
			c.Close()
			return
		}
		lr.connWG.Add(1)
		go func() {
			defer lr.connWG.Done()
			defer lr.removeConn(cc)
			cc.serve()
		}()
	}
}

func (lr *listenerRT) addConn(cc *clientConn) bool {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.closed {
		return false
	}
	lr.hconns[cc] = struct{}{}
	return true
}

func (lr *listenerRT) removeConn(cc *clientConn) {
	lr.mu.Lock()
	delete(lr.hconns, cc)
	lr.mu.Unlock()
}

func (cc *clientConn) serve() {
	defer cc.c.Close()
	if tc, ok := cc.c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if blockingSlots.Take() {
		// A connection that cannot block (TLS) gives its slot back at once.
		if cc.blocking = sockopt.SetBlocking(cc.c, true, idleTimeout); cc.blocking {
			defer blockingSlots.Release()
		} else {
			blockingSlots.Release()
		}
	}
	if a, ok := cc.c.RemoteAddr().(*net.TCPAddr); ok {
		cc.ip = []byte(a.IP.String())
	} else {
		cc.ip = []byte(cc.c.RemoteAddr().String())
	}
	cc.br = readerPool.Get().(*bufio.Reader)
	cc.br.Reset(cc.c)
	cc.bw = writerPool.Get().(*bufio.Writer)
	cc.bw.Reset(cc.c)
	defer func() {
		cc.br.Reset(nil)
		readerPool.Put(cc.br)
		cc.bw.Reset(nil)
		writerPool.Put(cc.bw)
	}()
	for {
		cc.idle.Store(true)
		if cc.lr.closing.Load() && cc.br.Buffered() == 0 {
			return
		}
		cc.refreshDeadline()
		err := cc.req.read(cc.br)
		cc.idle.Store(false)
		if err != nil {
			switch {
			case errors.Is(err, errHeadTooLarge):
				cc.fail(431)
			case errors.Is(err, errMalformed):
				cc.fail(400)
			}
			return
		}
		if !cc.req.request() {
			if string(cc.req.bytes(cc.req.c)) == "HTTP/2.0" {
				cc.fail(505)
			} else {
				cc.fail(400)
			}
			return
		}
		if !cc.req.hasHost && cc.req.minor >= 1 {
			cc.fail(400)
			return
		}
		if !cc.handle() {
			return
		}
	}
}

// refreshDeadline moves the idle deadline forward, touching the
// connection's timer at most once a second.
func (cc *clientConn) refreshDeadline() {
	now := time.Now()
	if d := now.Add(idleTimeout); d.Sub(cc.deadline) > time.Second {
		cc.deadline = d
		cc.c.SetReadDeadline(d)
	}
}

// fail answers with ELB's error page and closes the connection.
func (cc *clientConn) fail(code int) {
	writeError(cc.bw, code, true)
	cc.bw.Flush()
}

// handle serves one request; it reports whether the connection may serve
// another.
func (cc *clientConn) handle() bool {
	req := &cc.req
	path, host := req.bytes(req.b), req.bytes(req.host)
	if len(path) > 7 && eqFold(path[:7], "http://") {
		// Absolute form: the authority takes the place of Host.
		rest := path[7:]
		i := 0
		for i < len(rest) && rest[i] != '/' {
			i++
		}
		host, path = rest[:i], rest[i:]
	}
	for i, c := range path {
		if c == '?' {
			path = path[:i]
			break
		}
	}
	a := cc.lr.routes.Load().matchBytes(path, host)
	keep := req.keepAlive()
	if req.expect100 {
		// Like nginx, the proxy lets the client send its body at once.
		cc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := cc.bw.Flush(); err != nil {
			return false
		}
	}
	if a.Fixed != nil {
		return cc.fixed(a.Fixed, keep)
	}
	g := cc.lr.p.group(a.pickGroup())
	var t *target
	if g != nil {
		t = g.pick()
	}
	if t == nil {
		return cc.skipBody() && cc.errorPage(503, keep)
	}
	ok, keep := cc.proxy(t, keep)
	t.release()
	return ok && keep
}

// skipBody reads the request's body away so that the connection can serve
// the next request.
func (cc *clientConn) skipBody() bool {
	req := &cc.req
	sink := writerPool.Get().(*bufio.Writer)
	sink.Reset(io.Discard)
	defer writerPool.Put(sink)
	switch {
	case req.chunked:
		return copyChunked(sink, cc.br, false) == nil
	case req.contentLength > 0:
		return copyN(sink, cc.br, req.contentLength) == nil
	}
	return true
}

func (cc *clientConn) errorPage(code int, keep bool) bool {
	keep = keep && !cc.lr.closing.Load()
	writeError(cc.bw, code, !keep)
	return cc.bw.Flush() == nil && keep
}

func (cc *clientConn) fixed(f *FixedResponse, keep bool) bool {
	if !cc.skipBody() {
		return false
	}
	keep = keep && !cc.lr.closing.Load()
	ct := f.ContentType
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	code := f.StatusCode
	if code == 0 {
		code = 200
	}
	w := cc.bw
	writeStatus(w, code)
	w.WriteString("\r\nServer: awselb/2.0\r\nContent-Type: ")
	w.WriteString(ct)
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(f.Body)))
	if !keep {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if string(cc.req.bytes(cc.req.a)) != "HEAD" {
		w.WriteString(f.Body)
	}
	return w.Flush() == nil && keep
}

// proxy relays the request to t and its response back. ok is false when
// the client connection is broken; keep says whether it may be reused.
func (cc *clientConn) proxy(t *target, keep bool) (ok, reuse bool) {
	req := &cc.req
	replayable := !req.chunked && req.contentLength <= 0
	for attempt := 0; ; attempt++ {
		u, fresh, err := t.conn(attempt > 0)
		if err != nil {
			cc.lr.p.log.Debug("lb: target dial failed", "target", t.t.Addr, "err", err)
			return cc.skipBody() && cc.errorPage(502, keep), keep
		}
		u.setBlocking(cc.blocking)
		sent, err := cc.sendRequest(u)
		if err == nil {
			var got bool
			ok, reuse, got, err = cc.relayResponse(t, u, keep)
			if err == nil || got {
				return ok, reuse
			}
		}
		u.close()
		if !sent && !replayable {
			// The client's body is gone; the client connection is unusable.
			return false, false
		}
		// A pooled connection the target had closed: try once more on a
		// new one when the request can be sent again.
		if !fresh && replayable && attempt == 0 {
			continue
		}
		cc.lr.p.log.Debug("lb: target error", "target", t.t.Addr, "err", err)
		if !sent {
			return cc.skipBody() && cc.errorPage(502, keep), keep
		}
		return cc.errorPage(502, keep), keep
	}
}

// sendRequest writes the request head and body to u. sent reports whether
// the client's body was consumed (always, unless the error came first).
func (cc *clientConn) sendRequest(u *upstream) (sent bool, err error) {
	req := &cc.req
	w := u.bw
	w.Write(req.bytes(req.a))
	w.WriteByte(' ')
	w.Write(req.bytes(req.b))
	w.WriteString(" HTTP/1.1\r\n")
	req.writeFields(w)
	if !req.hasHost {
		w.WriteString("Host: ")
		w.WriteString(u.t.t.Addr)
		w.WriteString("\r\n")
	}
	w.WriteString("X-Forwarded-For: ")
	for _, s := range req.xff {
		w.Write(req.bytes(s))
		w.WriteString(", ")
	}
	w.Write(cc.ip)
	w.WriteString("\r\nX-Forwarded-Proto: ")
	w.WriteString(cc.lr.proto)
	w.WriteString("\r\nX-Forwarded-Port: ")
	w.WriteString(cc.lr.port)
	if req.connUpgrade && req.upgrade.end > req.upgrade.start {
		w.WriteString("\r\nConnection: Upgrade\r\nUpgrade: ")
		w.Write(req.bytes(req.upgrade))
	}
	w.WriteString("\r\n\r\n")
	switch {
	case req.chunked:
		err = copyChunked(w, cc.br, true)
	case req.contentLength > 0:
		err = copyN(w, cc.br, req.contentLength)
	}
	if err != nil {
		return false, err
	}
	return true, w.Flush()
}

// relayResponse reads the target's response and writes it to the client.
// got reports whether any of it was read (after which nothing is retried).
func (cc *clientConn) relayResponse(t *target, u *upstream, keep bool) (ok, reuse, got bool, err error) {
	resp := &cc.resp
	for {
		if err := resp.read(u.br); err != nil {
			if errors.Is(err, errMalformed) || errors.Is(err, errHeadTooLarge) || (err == io.ErrUnexpectedEOF) {
				u.close()
				return cc.errorPage(502, keep), keep, true, nil
			}
			return false, false, false, err
		}
		if !resp.response() {
			u.close()
			return cc.errorPage(502, keep), keep, true, nil
		}
		if resp.status == 101 && cc.req.connUpgrade {
			cc.tunnel(t, u)
			return false, false, true, nil
		}
		if resp.status >= 200 || resp.status == 101 {
			break
		}
		// An interim response (100, 103): passed on to HTTP/1.1 clients.
		if cc.req.minor >= 1 && resp.status != 100 {
			cc.writeHead(resp, false, false)
		}
	}
	noBody := string(cc.req.bytes(cc.req.a)) == "HEAD" || resp.status == 204 || resp.status == 304
	untilEOF := !noBody && !resp.chunked && resp.contentLength < 0
	dechunk := resp.chunked && cc.req.minor == 0
	keep = keep && !untilEOF && !dechunk && !cc.lr.closing.Load()
	upReuse := resp.keepAlive() && !untilEOF
	cc.writeHead(resp, keep, dechunk)
	var cerr error
	switch {
	case noBody:
	case resp.chunked:
		cerr = copyChunked(cc.bw, u.br, !dechunk)
	case resp.contentLength > 0:
		cerr = copyN(cc.bw, u.br, resp.contentLength)
	case untilEOF:
		cerr = copyEOF(cc.bw, u.br)
	}
	if cerr == nil {
		cerr = cc.bw.Flush()
	}
	if cerr != nil || !upReuse {
		u.close()
	} else {
		t.put(u)
	}
	return cerr == nil, keep, true, nil
}

// writeHead writes the response head to the client: the status line, the
// target's end-to-end headers and the proxy's Connection header.
func (cc *clientConn) writeHead(resp *head, keep, dechunk bool) {
	w := cc.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(resp.bytes(resp.b))
	if resp.c.end > resp.c.start {
		w.WriteByte(' ')
		w.Write(resp.bytes(resp.c))
	}
	w.WriteString("\r\n")
	for _, f := range resp.fields {
		if f.hop || (dechunk && eqFold(resp.bytes(f.name), "transfer-encoding")) {
			continue
		}
		w.Write(resp.bytes(f.name))
		w.WriteString(": ")
		w.Write(resp.bytes(f.value))
		w.WriteString("\r\n")
	}
	switch {
	case resp.status == 101:
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(resp.bytes(resp.upgrade))
		w.WriteString("\r\n")
	case resp.status < 200:
	case !keep:
		w.WriteString("Connection: close\r\n")
	case cc.req.minor == 0:
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// tunnel passes the 101 response on and then copies both ways until
// either side closes (WebSocket and other upgrades).
func (cc *clientConn) tunnel(t *target, u *upstream) {
	cc.writeHead(&cc.resp, false, false)
	if cc.bw.Flush() != nil {
		u.close()
		return
	}
	// Two goroutines copy, and either may close: both sockets go back to
	// the poller, where Close interrupts a read.
	if cc.blocking {
		sockopt.SetBlocking(cc.c, false, 0)
		cc.blocking = false
	}
	u.setBlocking(false)
	cc.c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(u.c, cc.br) // what the client sends, buffered bytes first
		u.closeWrite()
	}()
	io.Copy(cc.c, u.br)
	cc.c.Close()
	<-done
	u.close()
}

// upstream is a connection to a target.
type upstream struct {
	t  *target
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// blocking is set while the socket is in blocking mode: it follows
	// the mode of the client connection using it.
	blocking bool
}

// setBlocking puts the connection in the client connection's mode.
func (u *upstream) setBlocking(blocking bool) {
	if u.blocking != blocking && sockopt.SetBlocking(u.c, blocking, 0) {
		u.blocking = blocking
	}
}

func (u *upstream) close() {
	u.c.Close()
	u.t.untrack(u.c)
}

func (u *upstream) closeWrite() {
	if cw, ok := u.c.(closeWriter); ok {
		cw.CloseWrite()
	}
}

// maxIdlePerTarget caps the idle connections kept to one target.
const maxIdlePerTarget = 256

// conn returns an idle pooled connection to the target or dials one
// (always, when dial is set).
func (t *target) conn(dial bool) (u *upstream, fresh bool, err error) {
	t.poolMu.Lock()
	if n := len(t.idleConns); n > 0 && !dial {
		u = t.idleConns[n-1]
		t.idleConns = t.idleConns[:n-1]
		t.poolMu.Unlock()
		return u, false, nil
	}
	t.poolMu.Unlock()
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(t.ctx, "tcp", t.t.Addr)
	if err != nil {
		return nil, true, err
	}
	if t.g.cfg.Load().Protocol == "HTTPS" {
		tc := tls.Client(c, insecureTLS())
		if err := tc.HandshakeContext(t.ctx); err != nil {
			c.Close()
			return nil, true, err
		}
		c = tc
	}
	if !t.track(c) {
		c.Close()
		return nil, true, errTargetStopped
	}
	return &upstream{t: t, c: c, br: bufio.NewReaderSize(c, bufSize), bw: bufio.NewWriterSize(c, bufSize)}, true, nil
}

var errTargetStopped = errors.New("target deregistered")

// put returns a connection to the pool.
func (t *target) put(u *upstream) {
	t.poolMu.Lock()
	if len(t.idleConns) < maxIdlePerTarget && !t.poolClosed {
		t.idleConns = append(t.idleConns, u)
		u = nil
	}
	t.poolMu.Unlock()
	if u != nil {
		u.close()
	}
}

// closePool closes the idle connections and keeps new ones out.
func (t *target) closePool() {
	t.poolMu.Lock()
	idle := t.idleConns
	t.idleConns, t.poolClosed = nil, true
	t.poolMu.Unlock()
	for _, u := range idle {
		u.close()
	}
}

// pickGroup is the target group of a forward action: the only one, or one
// drawn by weight.
func (a Action) pickGroup() string {
	if len(a.Weighted) == 0 {
		return a.TargetGroup
	}
	total := 0
	for _, w := range a.Weighted {
		total += w.Weight
	}
	if total <= 0 {
		return a.Weighted[0].TargetGroup
	}
	n := rand.IntN(total)
	for _, w := range a.Weighted {
		if n < w.Weight {
			return w.TargetGroup
		}
		n -= w.Weight
	}
	return a.Weighted[len(a.Weighted)-1].TargetGroup
}
