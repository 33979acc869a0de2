package dnsserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/miekg/dns"
)

// maxFullPath bounds the UDP queries answered on the full path at once
// (cache misses, forwarded names): each holds a goroutine until its lookups
// or upstreams answer. Queries beyond it are dropped; clients retry.
const maxFullPath = 1024

// udpServer answers UDP queries on a socket bound to one address (so
// replies leave from the address queries came to). One reader per CPU
// answers cache hits in place, without allocating; everything else gets a
// goroutine of its own, as miekg/dns does for every query.
type udpServer struct {
	s    *Server
	conn *net.UDPConn

	slots chan struct{} // one per query on the full path
	wg    sync.WaitGroup
}

// run serves until the socket is closed.
func (u *udpServer) run(ctx context.Context) error {
	u.slots = make(chan struct{}, maxFullPath)
	n := max(runtime.GOMAXPROCS(0), 2)
	errc := make(chan error, n)
	for range n {
		go func() { errc <- u.read(ctx) }()
	}
	var err error
	for range n {
		if e := <-errc; e != nil && err == nil {
			err = e
			u.conn.Close() // stop the other readers
		}
	}
	u.wg.Wait()
	return err
}

// read answers packets until the socket is closed.
func (u *udpServer) read(ctx context.Context) error {
	buf := make([]byte, 4096)
	key := make([]byte, 0, 512)
	out := make([]byte, 0, maxUDPSize)
	for {
		n, addr, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("dns: read udp %s: %w", u.conn.LocalAddr(), err)
		}
		msg := buf[:n]
		q, k, ok := parseQuery(msg, key)
		key = k
		if ok {
			if e := u.s.cache.get(key); e != nil && u.s.current(ctx, e) {
				out = e.reply(out, &q)
				_, _ = u.conn.WriteToUDPAddrPort(out, addr)
				continue
			}
		}
		u.full(ctx, bytes.Clone(msg), addr)
	}
}

// full answers a packet on the full path in a goroutine of its own.
func (u *udpServer) full(ctx context.Context, pkt []byte, addr netip.AddrPort) {
	select {
	case u.slots <- struct{}{}:
	default:
		u.s.Log.Debug("dns: too many queries in progress; dropping one", "from", addr)
		return
	}
	u.wg.Add(1)
	go func() {
		defer func() { <-u.slots; u.wg.Done() }()
		if out := u.s.servePacket(ctx, pkt); out != nil {
			_, _ = u.conn.WriteToUDPAddrPort(out, addr)
		}
	}()
}

// servePacket answers a UDP packet; nil sends nothing.
func (s *Server) servePacket(ctx context.Context, pkt []byte) []byte {
	if len(pkt) < 12 || pkt[2]&0x80 != 0 {
		// Too short for a header, or a response: answering could be used
		// to reflect traffic.
		return nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(pkt); err != nil {
		m := &dns.Msg{MsgHdr: dns.MsgHdr{
			Id:       binary.BigEndian.Uint16(pkt),
			Response: true,
			Opcode:   int(pkt[2]>>3) & 0xf,
			Rcode:    dns.RcodeFormatError,
		}}
		out, err := m.Pack()
		if err != nil {
			return nil
		}
		return out
	}
	return s.serveMsg(ctx, req, false)
}
