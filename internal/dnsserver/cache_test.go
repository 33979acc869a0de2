package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// table is a Lookup over names that tests change while the server runs.
type table struct {
	mu    sync.Mutex
	names map[string][]Instance
}

func (t *table) set(name string, insts ...Instance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.names[name] = insts
}

func (t *table) lookup(_ context.Context, name string) ([]Instance, bool, error) {
	if !strings.HasSuffix(name, ".local") {
		return nil, false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.names[name], true, nil
}

// startTable runs a server on addr (host:0) answering from a table.
func startTable(t *testing.T, addr string) (*table, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb := &table{names: map[string][]Instance{}}
	s := &Server{Addr: addr, Lookup: tb.lookup}
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx, func(a string) { ready <- a }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return tb, a
	case <-time.After(5 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, ""
}

// exchange sends m over network and returns the reply, unparsed and parsed.
func exchange(t *testing.T, addr, network string, m *dns.Msg) ([]byte, *dns.Msg) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	conn, err := c.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if err := conn.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	raw, err := conn.ReadMsgHeader(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return raw, r
}

func ips(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestCachedAnswerPatched(t *testing.T) {
	tb, addr := startTable(t, "127.0.0.1:0")
	tb.set("web.local", Instance{ID: "task-a", IP: "10.0.0.1", Port: 80}, Instance{ID: "task-b", IP: "10.0.0.2", Port: 81})
	for i, name := range []string{"web.local.", "WEB.Local.", "wEb.LOCAL.", "web.local."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
			m := new(dns.Msg)
			m.SetQuestion(name, qt)
			m.Id = uint16(0x1200 + i)
			m.RecursionDesired = i%2 == 0
			m.CheckingDisabled = i%2 == 1
			_, r := exchange(t, addr, "udp", m)
			if r.Id != m.Id || !r.Response || !r.Authoritative || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("%s %s: header %+v", name, dns.TypeToString[qt], r.MsgHdr)
			}
			if r.RecursionDesired != m.RecursionDesired || r.CheckingDisabled != m.CheckingDisabled {
				t.Errorf("%s: RD/CD %v/%v, want %v/%v", name, r.RecursionDesired, r.CheckingDisabled, m.RecursionDesired, m.CheckingDisabled)
			}
			if len(r.Question) != 1 || r.Question[0].Name != name {
				t.Errorf("question %v, want the name as asked (%s)", r.Question, name)
			}
			for _, rr := range r.Answer {
				if rr.Header().Name != name || rr.Header().Ttl != 10 {
					t.Errorf("answer %v: want owner %s, TTL 10", rr, name)
				}
			}
			switch qt {
			case dns.TypeA:
				if got := ips(r); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
					t.Errorf("%s A = %v", name, got)
				}
			case dns.TypeSRV:
				if len(r.Answer) != 2 || len(r.Extra) != 2 {
					t.Fatalf("%s SRV: %v", name, r)
				}
				srv := r.Answer[0].(*dns.SRV)
				extra := r.Extra[0].(*dns.A)
				if !strings.EqualFold(srv.Target, "task-a.web.local.") || srv.Port != 80 ||
					!strings.EqualFold(extra.Hdr.Name, srv.Target) || extra.A.String() != "10.0.0.1" {
					t.Errorf("%s SRV: %v / %v", name, srv, extra)
				}
			}
		}
	}
}

// TestAnswerFollowsChange: a cached answer is never served once the lookup
// returns something else, for the name itself and for the service behind
// an SRV target.
func TestAnswerFollowsChange(t *testing.T) {
	tb, addr := startTable(t, "127.0.0.1:0")
	q := func(name string, qt uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qt)
		_, r := exchange(t, addr, "udp", m)
		return r
	}
	tb.set("web.local", Instance{ID: "a", IP: "10.0.0.1", Port: 80})
	for range 3 {
		if got := ips(q("web.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Fatalf("A = %v", got)
		}
		if got := ips(q("a.web.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Fatalf("A of the target = %v", got)
		}
	}
	tb.set("web.local", Instance{ID: "a", IP: "10.0.0.9", Port: 80}, Instance{ID: "b", IP: "10.0.0.2", Port: 81})
	if got := ips(q("web.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.2", "10.0.0.9"}) {
		t.Errorf("A after the change = %v", got)
	}
	if got := ips(q("a.web.local.", dns.TypeA)); !slices.Equal(got, []string{"10.0.0.9"}) {
		t.Errorf("A of the target after the change = %v", got)
	}
	if r := q("web.local.", dns.TypeSRV); len(r.Answer) != 2 {
		t.Errorf("SRV after the change: %v", r)
	}
	tb.set("web.local")
	if r := q("web.local.", dns.TypeA); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Errorf("after the last instance left: %v", r)
	}
	if r := q("a.web.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("target after the last instance left: %v", r)
	}
}

// many returns n instances with distinct addresses.
func many(n int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		out[i] = Instance{ID: fmt.Sprintf("task-%03d", i), IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), Port: uint16(40000 + i)}
	}
	return out
}

func TestTruncation(t *testing.T) {
	tb, addr := startTable(t, "127.0.0.1:0")
	tb.set("big.local", many(100)...)
	tb.set("seventy.local", many(70)...)
	tb.set("mid.local", many(20)...)
	tb.set("ten.local", many(10)...)
	tb.set("small.local", many(2)...)
	for _, tc := range []struct {
		name      string
		qt        uint16
		network   string
		edns      uint16 // 0: no OPT record
		tc        bool
		answers   int // -1: some, fewer than asked
		extras    int // -1: some, fewer than the answers
		sizeLimit int
	}{
		{"small.local", dns.TypeSRV, "udp", 0, false, 2, 2, 512},
		{"mid.local", dns.TypeA, "udp", 0, false, 20, 0, 512},
		{"ten.local", dns.TypeSRV, "udp", 0, false, 10, -1, 512}, // addresses dropped, no TC
		{"mid.local", dns.TypeSRV, "udp", 0, true, -1, 0, 512},
		{"mid.local", dns.TypeSRV, "udp", 4096, false, 20, 20, 1232},
		{"big.local", dns.TypeA, "udp", 0, true, -1, 0, 512},
		{"seventy.local", dns.TypeA, "udp", 1232, false, 70, 0, 1232},
		{"big.local", dns.TypeA, "udp", 4096, true, -1, 0, 1232},
		{"big.local", dns.TypeA, "udp", 700, true, -1, 0, 700},
		{"big.local", dns.TypeA, "udp", 100, true, -1, 0, 512}, // sizes below 512 count as 512
		{"big.local", dns.TypeSRV, "udp", 4096, true, -1, 0, 1232},
		{"big.local", dns.TypeSRV, "tcp", 0, false, 100, 100, 65535},
	} {
		t.Run(fmt.Sprintf("%s_%s_%s_%d", tc.name, dns.TypeToString[tc.qt], tc.network, tc.edns), func(t *testing.T) {
			for range 2 { // built, then cached
				m := new(dns.Msg)
				m.SetQuestion(tc.name+".", tc.qt)
				if tc.edns > 0 {
					m.SetEdns0(tc.edns, false)
				}
				raw, r := exchange(t, addr, tc.network, m)
				if len(raw) > tc.sizeLimit {
					t.Errorf("reply of %d bytes, limit %d", len(raw), tc.sizeLimit)
				}
				if r.Truncated != tc.tc {
					t.Errorf("TC = %v, want %v", r.Truncated, tc.tc)
				}
				extras := 0
				for _, rr := range r.Extra {
					if rr.Header().Rrtype == dns.TypeA {
						extras++
					}
				}
				switch {
				case tc.answers >= 0 && len(r.Answer) != tc.answers,
					tc.answers < 0 && (len(r.Answer) == 0 || len(r.Answer) >= 100):
					t.Errorf("%d answers, want %d", len(r.Answer), tc.answers)
				case tc.extras >= 0 && extras != tc.extras,
					tc.extras < 0 && (extras == 0 || extras >= len(r.Answer)):
					t.Errorf("%d addresses in additional, want %d", extras, tc.extras)
				}
				if (r.IsEdns0() != nil) != (tc.edns > 0) {
					t.Errorf("OPT in reply: %v, in query: %v", r.IsEdns0() != nil, tc.edns > 0)
				}
			}
		})
	}
}

func TestEDNS(t *testing.T) {
	tb, addr := startTable(t, "127.0.0.1:0")
	tb.set("web.local", Instance{ID: "a", IP: "10.0.0.1"})
	for _, do := range []bool{false, true, false} {
		m := new(dns.Msg)
		m.SetQuestion("web.local.", dns.TypeA)
		m.SetEdns0(4096, do)
		_, r := exchange(t, addr, "udp", m)
		opt := r.IsEdns0()
		if opt == nil || opt.UDPSize() != maxUDPSize || opt.Do() != do || opt.Version() != 0 {
			t.Errorf("DO %v: OPT %v", do, opt)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("web.local.", dns.TypeA)
	m.SetEdns0(4096, false)
	m.IsEdns0().SetVersion(1)
	if _, r := exchange(t, addr, "udp", m); r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil {
		t.Errorf("EDNS version 1: rcode %d, OPT %v", r.Rcode, r.IsEdns0())
	}
}

// rawExchange sends a packet and returns the reply, or nil after a while.
func rawExchange(t *testing.T, addr string, pkt []byte) []byte {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestUnusualQueries(t *testing.T) {
	tb, addr := startTable(t, "127.0.0.1:0")
	tb.set("web.local", Instance{ID: "a", IP: "10.0.0.1"})
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rcode := func(b []byte) int {
		if len(b) < 12 {
			return -1
		}
		return int(b[3] & 0xf)
	}
	two := new(dns.Msg)
	two.SetQuestion("web.local.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if r := rawExchange(t, addr, pack(two)); rcode(r) != dns.RcodeFormatError {
		t.Errorf("two questions: rcode %d", rcode(r))
	}
	notify := new(dns.Msg)
	notify.SetNotify("web.local.")
	if r := rawExchange(t, addr, pack(notify)); rcode(r) != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %d", rcode(r))
	}
	resp := new(dns.Msg)
	resp.SetQuestion("web.local.", dns.TypeA)
	resp.Response = true
	if r := rawExchange(t, addr, pack(resp)); r != nil {
		t.Errorf("a response was answered: %x", r)
	}
	if r := rawExchange(t, addr, []byte{1, 2, 3}); r != nil {
		t.Errorf("a short packet was answered: %x", r)
	}
	cut := pack(func() *dns.Msg { m := new(dns.Msg); m.SetQuestion("web.local.", dns.TypeA); return m }())
	if r := rawExchange(t, addr, cut[:len(cut)-3]); rcode(r) != dns.RcodeFormatError || binary.BigEndian.Uint16(r) != binary.BigEndian.Uint16(cut) {
		t.Errorf("a cut question: %x", r)
	}
	// A name with characters the fast path does not take.
	odd := new(dns.Msg)
	odd.SetQuestion(`we\.b.local.`, dns.TypeA)
	if r := rawExchange(t, addr, pack(odd)); rcode(r) != dns.RcodeNameError {
		t.Errorf("an odd name: rcode %d", rcode(r))
	}
}

// TestWildcardAddress: on a wildcard address miekg/dns reads the packets;
// the answers are the same.
func TestWildcardAddress(t *testing.T) {
	tb, addr := startTable(t, "0.0.0.0:0")
	_, port, _ := net.SplitHostPort(addr)
	addr = net.JoinHostPort("127.0.0.1", port)
	tb.set("web.local", Instance{ID: "a", IP: "10.0.0.1", Port: 80})
	for range 2 {
		m := new(dns.Msg)
		m.SetQuestion("Web.local.", dns.TypeSRV)
		_, r := exchange(t, addr, "udp", m)
		if r.Id != m.Id || r.Question[0].Name != "Web.local." || len(r.Answer) != 1 || len(r.Extra) != 1 {
			t.Errorf("SRV on a wildcard address: %v", r)
		}
	}
}

// TestParseQuery: the fast path reads what miekg/dns reads, and gives the
// same cache key.
func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		name string
		qt   uint16
		edns uint16
		do   bool
	}{
		{"web.local.", dns.TypeA, 0, false},
		{"Web.LOCAL.", dns.TypeSRV, 0, false},
		{"a-b_c.x.local.", dns.TypeA, 4096, true},
		{"web.local.", dns.TypeAAAA, 1000, false},
		{"web.local.", dns.TypeA, 100, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qt)
		m.Id = 4242
		m.CheckingDisabled = true
		if tc.edns > 0 {
			m.SetEdns0(tc.edns, tc.do)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}
		pkt, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		fast, fkey, ok := parseQuery(pkt, nil)
		if !ok {
			t.Fatalf("%s: the fast path refused it", tc.name)
		}
		var req dns.Msg
		if err := req.Unpack(pkt); err != nil {
			t.Fatal(err)
		}
		full, key, ok := questionOf(&req, false)
		if !ok || string(key) != string(fkey) {
			t.Errorf("%s: keys %x and %x", tc.name, fkey, key)
		}
		if string(fast.qname) != string(full.qname) || fast.id != full.id || fast.rd != full.rd || fast.cd != full.cd ||
			fast.qtype != full.qtype || fast.qclass != full.qclass || fast.edns != full.edns || fast.do != full.do || fast.limit != full.limit {
			t.Errorf("%s: fast %+v, full %+v", tc.name, fast, full)
		}
	}
	for _, pkt := range [][]byte{nil, make([]byte, 12), {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}} {
		if _, _, ok := parseQuery(pkt, nil); ok {
			t.Errorf("parseQuery(%x) accepted", pkt)
		}
	}
}

// TestCachedPathAllocs: answering from the cache allocates nothing.
func TestCachedPathAllocs(t *testing.T) {
	insts := many(4)
	s := &Server{TTL: 10, Lookup: func(_ context.Context, name string) ([]Instance, bool, error) { return insts, true, nil }}
	m := new(dns.Msg)
	m.SetQuestion("Web.local.", dns.TypeSRV)
	pkt, _ := m.Pack()
	ctx := context.Background()
	if out := s.servePacket(ctx, pkt); out == nil {
		t.Fatal("no answer")
	}
	key := make([]byte, 0, 512)
	out := make([]byte, 0, maxUDPSize)
	allocs := testing.AllocsPerRun(100, func() {
		q, k, ok := parseQuery(pkt, key)
		e := s.cache.get(k)
		if !ok || e == nil || !s.current(ctx, e) {
			t.Fatal("not answered from the cache")
		}
		out = e.reply(out, &q)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per cached answer", allocs)
	}
	var r dns.Msg
	if err := r.Unpack(out); err != nil || r.Id != m.Id || len(r.Answer) != 4 || r.Question[0].Name != "Web.local." {
		t.Errorf("cached answer %v (%v)", &r, err)
	}
}

// FuzzParseQuery: whatever the fast path accepts, miekg/dns parses too, to
// the same question and cache key.
func FuzzParseQuery(f *testing.F) {
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		m := new(dns.Msg)
		m.SetQuestion("Web.local.", qt)
		b, _ := m.Pack()
		f.Add(b)
		m.SetEdns0(1232, true)
		b, _ = m.Pack()
		f.Add(b)
	}
	// An OPT record whose option overflows its data (found by the fuzzer).
	f.Add([]byte("\x30\x30\x01\x30\x00\x01\x00\x00\x00\x00\x00\x01\x00\x30\x30\x30\x30\x00\x00\x29\x30\x30\x30\x00\x30\x30\x00\x04\x30\x30\x30\x30"))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		fast, fkey, ok := parseQuery(pkt, nil)
		if !ok {
			return
		}
		var req dns.Msg
		if err := req.Unpack(pkt); err != nil {
			t.Fatalf("the fast path took %x, miekg/dns does not: %v", pkt, err)
		}
		if len(req.Question) != 1 || req.Response || req.Opcode != dns.OpcodeQuery {
			t.Fatalf("the fast path took %x: %v", pkt, &req)
		}
		if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
			t.Fatalf("the fast path took EDNS version %d", opt.Version())
		}
		full, key, ok := questionOf(&req, false)
		if !ok || string(key) != string(fkey) || string(fast.qname) != string(full.qname) || fast.id != full.id ||
			fast.rd != full.rd || fast.cd != full.cd || fast.qtype != full.qtype || fast.qclass != full.qclass ||
			fast.edns != full.edns || fast.do != full.do || fast.limit != full.limit {
			t.Fatalf("%x: fast %+v key %x, full %+v key %x", pkt, fast, fkey, full, key)
		}
	})
}
