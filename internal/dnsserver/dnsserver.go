// Package dnsserver is berth's built-in DNS server: it answers A and SRV
// queries for service discovery names (<service>.<namespace>) from a
// lookup function, and forwards every other name to upstream resolvers (the
// host's), so task containers can use it as their only DNS server.
//
// Answers for berth's names are packed once and kept (cache.go): a query
// costs a parse of its header and question, the lookups the answer was
// built from (to prove it still holds) and a copy of the packed answer with
// the query's id, flags and spelling of the name patched in. Over UDP on a
// specific address the server reads and answers packets itself (udp.go);
// TCP, a wildcard address and everything unusual go through miekg/dns.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Instance is one healthy endpoint of a discovered service.
type Instance struct {
	ID   string // the instance id: SRV targets are <id>.<service>.<namespace>
	IP   string
	Port uint16
}

// Lookup resolves a fully qualified name (lowercase, without the trailing
// dot) to the instances behind it. managed reports whether the name lies in
// a namespace berth serves: such names are answered here (NXDOMAIN when
// unknown) and never forwarded. The server calls it for every query, also
// when it answers from its cache, so it must be cheap when nothing changed;
// the slice it returns is only read.
type Lookup func(ctx context.Context, name string) (instances []Instance, managed bool, err error)

// queryTimeout bounds the work for one query that is not a cache hit:
// lookups that read the store and forwarding.
const queryTimeout = 3 * time.Second

// Server answers DNS over UDP and TCP.
type Server struct {
	Addr      string // host:port to listen on
	Lookup    Lookup
	Upstreams []string // host:port of resolvers for other names
	TTL       uint32   // of the answers for managed names (default 10 s)
	Log       *slog.Logger

	client *dns.Client
	cache  wireCache
}

// Run serves until ctx is done. ready, when not nil, is called with the
// bound UDP address.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	if s.TTL == 0 {
		s.TTL = 10
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	s.client = &dns.Client{Timeout: 2 * time.Second}
	pc, err := net.ListenPacket("udp", s.Addr)
	if err != nil {
		return fmt.Errorf("dns: listen udp %s: %w", s.Addr, err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns: listen tcp %s: %w", pc.LocalAddr(), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	stopTCP := serveMiekg(&dns.Server{Listener: ln, Handler: handler{s: s, tcp: true}}, errc)

	// A socket bound to one address answers from it; one bound to a
	// wildcard address must answer from the address each query came to,
	// which miekg/dns does with control messages.
	var stopUDP func()
	if conn, ok := pc.(*net.UDPConn); ok && !pc.LocalAddr().(*net.UDPAddr).IP.IsUnspecified() {
		u := &udpServer{s: s, conn: conn}
		done := make(chan struct{})
		go func() { defer close(done); errc <- u.run(ctx) }()
		stopUDP = func() { conn.Close(); <-done }
	} else {
		stopUDP = serveMiekg(&dns.Server{PacketConn: pc, Handler: handler{s: s}}, errc)
	}
	if ready != nil {
		ready(pc.LocalAddr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	stopUDP()
	stopTCP()
	return err
}

// serveMiekg runs a miekg/dns server, sending its end to errc. The
// returned stop shuts it down (also before it has started) and waits for
// it.
func serveMiekg(srv *dns.Server, errc chan<- error) (stop func()) {
	started, done := make(chan struct{}), make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { defer close(done); errc <- srv.ActivateAndServe() }()
	return func() {
		select {
		case <-started:
			_ = srv.Shutdown()
		case <-done:
		}
		<-done
	}
}

// handler answers the queries miekg/dns has read and parsed (TCP, and UDP
// on a wildcard address).
type handler struct {
	s   *Server
	tcp bool
}

// ServeDNS answers one query.
func (h handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if out := h.s.serveMsg(context.Background(), req, h.tcp); out != nil {
		_, _ = w.Write(out)
	}
}

// serveMsg answers a parsed query and returns the packed reply (nil: send
// nothing).
func (s *Server) serveMsg(ctx context.Context, req *dns.Msg, tcp bool) []byte {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	resp, out, err := s.answer(ctx, req, tcp)
	if err != nil {
		s.Log.Debug("dns: answering failed", "err", err)
		resp = new(dns.Msg)
		resp.SetRcode(req, dns.RcodeServerFailure)
	}
	if out != nil {
		return out
	}
	if resp == nil {
		return nil
	}
	out, err = resp.Pack()
	if err != nil {
		s.Log.Debug("dns: packing the reply failed", "err", err)
		return nil
	}
	return out
}

// answer returns either a message to pack or the packed reply.
func (s *Server) answer(ctx context.Context, req *dns.Msg, tcp bool) (*dns.Msg, []byte, error) {
	if req.Response {
		return nil, nil, nil
	}
	if req.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNotImplemented)
		return m, nil, nil
	}
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		return m, nil, nil
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeBadVers)
		m.SetEdns0(maxUDPSize, opt.Do())
		return m, nil, nil
	}
	q, key, ok := questionOf(req, tcp)
	if !ok {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		return m, nil, nil
	}
	if e := s.cache.get(key); e != nil && s.current(ctx, e) {
		return nil, e.reply(nil, &q), nil
	}
	e, managed, err := s.fill(ctx, req.Question[0].Name, &q, key)
	if err != nil {
		return nil, nil, err
	}
	if !managed {
		m, err := s.forward(ctx, req)
		return m, nil, err
	}
	return nil, e.reply(nil, &q), nil
}

// forward asks the upstream resolvers in turn.
func (s *Server) forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if len(s.Upstreams) == 0 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		return m, nil
	}
	var errs []error
	for _, up := range s.Upstreams {
		resp, _, err := s.client.ExchangeContext(ctx, req, up)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dns: no upstream answered: %w", errors.Join(errs...))
}

// HostUpstreams reads the nameservers of a resolv.conf file (as host:53).
func HostUpstreams(path string) []string {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, srv := range cfg.Servers {
		out = append(out, net.JoinHostPort(srv, cfg.Port))
	}
	return out
}
