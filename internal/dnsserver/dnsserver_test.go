package dnsserver

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// start runs a server on loopback with a fixed table of names, and an
// upstream server (also on loopback) for everything else.
func start(t *testing.T) (addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	upstream := &Server{Addr: "127.0.0.1:0", Lookup: func(_ context.Context, name string) ([]Instance, bool, error) {
		if name == "example.test" {
			return []Instance{{ID: "x", IP: "192.0.2.7"}}, true, nil
		}
		return nil, true, nil
	}}
	upReady := make(chan string, 1)
	go func() { _ = upstream.Run(ctx, func(a string) { upReady <- a }) }()
	up := <-upReady

	table := map[string][]Instance{
		"web.local":   {{ID: "task-a", IP: "10.0.0.1", Port: 49153}, {ID: "task-b", IP: "10.0.0.2", Port: 49154}, {ID: "task-c", IP: "10.0.0.2", Port: 49155}},
		"empty.local": nil,
	}
	s := &Server{Addr: "127.0.0.1:0", Upstreams: []string{up}, Lookup: func(_ context.Context, name string) ([]Instance, bool, error) {
		if !strings.HasSuffix(name, ".local") {
			return nil, false, nil
		}
		return table[name], true, nil
	}}
	ready := make(chan string, 1)
	go func() { _ = s.Run(ctx, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not start")
	}
	return addr
}

func query(t *testing.T, addr, name string, qtype uint16, network string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestServer(t *testing.T) {
	addr := start(t)
	for _, network := range []string{"udp", "tcp"} {
		r := query(t, addr, "WEB.local", dns.TypeA, network)
		var ips []string
		for _, rr := range r.Answer {
			ips = append(ips, rr.(*dns.A).A.String())
		}
		slices.Sort(ips)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(ips, []string{"10.0.0.1", "10.0.0.2"}) {
			t.Errorf("%s A web.local: rcode %d, answers %v", network, r.Rcode, ips)
		}
	}
	r := query(t, addr, "web.local", dns.TypeSRV, "udp")
	if len(r.Answer) != 3 || len(r.Extra) != 3 {
		t.Fatalf("SRV web.local: %v", r)
	}
	srv := r.Answer[0].(*dns.SRV)
	if srv.Port != 49153 || srv.Target != "task-a.web.local." {
		t.Errorf("first SRV = %v", srv)
	}
	if a := query(t, addr, "task-b.web.local", dns.TypeA, "udp"); len(a.Answer) != 1 || a.Answer[0].(*dns.A).A.String() != "10.0.0.2" {
		t.Errorf("A of an SRV target: %v", a)
	}
	if r := query(t, addr, "empty.local", dns.TypeA, "udp"); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Errorf("a managed name without instances: rcode %d", r.Rcode)
	}
	if r := query(t, addr, "nothing.local", dns.TypeA, "udp"); r.Rcode != dns.RcodeNameError {
		t.Errorf("an unknown managed name: rcode %d", r.Rcode)
	}
	r = query(t, addr, "example.test", dns.TypeA, "udp")
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
		t.Errorf("forwarded name: %v", r)
	}
}

func TestNoUpstream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Server{Addr: "127.0.0.1:0", Lookup: func(context.Context, string) ([]Instance, bool, error) { return nil, false, nil }}
	ready := make(chan string, 1)
	go func() { _ = s.Run(ctx, func(a string) { ready <- a }) }()
	addr := <-ready
	if r := query(t, addr, "elsewhere.test", dns.TypeA, "udp"); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %d, want SERVFAIL without upstreams", r.Rcode)
	}
	if _, err := net.ResolveUDPAddr("udp", addr); err != nil {
		t.Fatal(err)
	}
}
