// Package dnsserver is berth's built-in DNS server: it answers A and SRV
// queries for service discovery names (<service>.<namespace>) from a
// lookup function, and forwards every other name to upstream resolvers (the
// host's), so task containers can use it as their only DNS server.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
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
// unknown) and never forwarded.
type Lookup func(ctx context.Context, name string) (instances []Instance, managed bool, err error)

// Server answers DNS over UDP and TCP.
type Server struct {
	Addr      string // host:port to listen on
	Lookup    Lookup
	Upstreams []string // host:port of resolvers for other names
	TTL       uint32   // of the answers for managed names (default 10 s)
	Log       *slog.Logger

	client *dns.Client
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
	udp := &dns.Server{PacketConn: pc, Handler: s}
	tcp := &dns.Server{Listener: ln, Handler: s}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	if ready != nil {
		ready(pc.LocalAddr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	return err
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := s.answer(ctx, req)
	if err != nil {
		s.Log.Debug("dns: answering failed", "err", err)
		resp = new(dns.Msg)
		resp.SetRcode(req, dns.RcodeServerFailure)
	}
	_ = w.WriteMsg(resp)
}

func (s *Server) answer(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		return m, nil
	}
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	insts, managed, err := s.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if !managed {
		return s.forward(ctx, req)
	}
	if len(insts) == 0 && q.Qtype == dns.TypeA {
		// An SRV target <id>.<service>.<namespace> resolves to its instance.
		if id, svc, ok := strings.Cut(name, "."); ok {
			if all, _, err := s.Lookup(ctx, svc); err == nil {
				for _, in := range all {
					if strings.EqualFold(in.ID, id) {
						return s.reply(req, q, []Instance{in}, true), nil
					}
				}
			}
		}
	}
	return s.reply(req, q, insts, true), nil
}

// reply builds the authoritative answer for a managed name.
func (s *Server) reply(req *dns.Msg, q dns.Question, insts []Instance, managed bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = managed
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.TTL}
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeANY:
		seen := map[string]bool{}
		for _, in := range insts {
			ip := net.ParseIP(in.IP).To4()
			if ip == nil || seen[in.IP] {
				continue
			}
			seen[in.IP] = true
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: ip})
		}
	case dns.TypeSRV:
		for _, in := range insts {
			target := dns.Fqdn(strings.ToLower(in.ID) + "." + strings.TrimSuffix(q.Name, "."))
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(q.Name, dns.TypeSRV), Priority: 1, Weight: 1, Port: in.Port, Target: target})
			if ip := net.ParseIP(in.IP).To4(); ip != nil {
				m.Extra = append(m.Extra, &dns.A{Hdr: hdr(target, dns.TypeA), A: ip})
			}
		}
	}
	if len(insts) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	return m
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
