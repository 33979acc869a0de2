// Package rawecs is the benchmarks' light ECS client: signed HTTP (the
// aws-sdk-go-v2 SigV4 signer) over its own keep-alive connections.
package rawecs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/sockopt"
)

// pool is the raw client's HTTP/1.1 transport: keep-alive connections,
// one request at a time each, written and read by the calling goroutine
// itself. net/http's Transport hands every request to a writer and a reader
// goroutine per connection; on a two-core machine where client and server
// share the CPUs, those hand-offs cost the client more than the request
// itself. Each connection's socket is in blocking mode, so the caller's
// thread sleeps in read(2) until the answer is there. The same code drives
// every target. A read blocked in the kernel does not see its context end:
// readTimeout bounds it instead, and the context's deadline, when it has
// one, is the connection's too.
type pool struct {
	addr string
	mu   sync.Mutex
	idle []*conn
}

// readTimeout bounds one read of an answer.
const readTimeout = 60 * time.Second

type conn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newPool(endpoint string) (*pool, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("raw client: %s: only http endpoints", endpoint)
	}
	return &pool{addr: u.Host}, nil
}

func (p *pool) get(ctx context.Context) (*conn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	sockopt.SetBlocking(c, true, readTimeout)
	return &conn{c: c, br: bufio.NewReaderSize(c, 64<<10), bw: bufio.NewWriterSize(c, 16<<10)}, nil
}

func (p *pool) put(c *conn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// roundTrip writes req (its body already set) and reads the whole answer.
func (p *pool) roundTrip(ctx context.Context, req *http.Request) (status int, body []byte, err error) {
	c, err := p.get(ctx)
	if err != nil {
		return 0, nil, err
	}
	deadline, _ := ctx.Deadline() // zero: none
	c.c.SetDeadline(deadline)
	if err := req.Write(c.bw); err != nil {
		c.c.Close()
		return 0, nil, err
	}
	if err := c.bw.Flush(); err != nil {
		c.c.Close()
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.c.Close()
		return 0, nil, err
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.c.Close()
	} else {
		p.put(c)
	}
	return resp.StatusCode, body, err
}
