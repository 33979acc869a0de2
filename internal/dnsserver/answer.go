package dnsserver

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// maxUDPSize is the largest UDP reply the server sends and the payload size
// it advertises in EDNS: 1232 bytes fit an IPv6 packet in the minimum MTU
// of 1280 without fragmentation (the default of DNS flag day 2020).
const maxUDPSize = 1232

// maxTCPSize is the largest reply over TCP.
const maxTCPSize = dns.MaxMsgSize

// question is what an answer depends on besides the lookups, and what a
// cached answer is patched with for one query.
type question struct {
	id     uint16
	rd, cd bool   // recursion desired, checking disabled: copied into the reply
	qname  []byte // the name in wire form, spelled as asked
	qtype  uint16
	qclass uint16
	edns   bool // the query carried an OPT record (answered with one)
	do     bool // the OPT record's DNSSEC OK bit (copied)
	limit  int  // the largest reply: 512, the EDNS size up to maxUDPSize, or maxTCPSize
}

// udpLimit is the largest UDP reply to a query with (edns) or without an
// OPT record advertising size: never below 512 (RFC 6891 6.2.5).
func udpLimit(edns bool, size uint16) int {
	if !edns || size < dns.MinMsgSize {
		return dns.MinMsgSize
	}
	return min(int(size), maxUDPSize)
}

// appendKey completes the cache key of q: dst holds q's name in wire form,
// lowercase, and appendKey adds the rest of what an answer depends on
// besides the lookups.
func appendKey(dst []byte, q *question) []byte {
	var flags byte
	if q.edns {
		flags |= 1
	}
	if q.do {
		flags |= 2
	}
	return append(dst, byte(q.qtype>>8), byte(q.qtype), byte(q.qclass>>8), byte(q.qclass),
		byte(q.limit>>8), byte(q.limit), flags)
}

// lowerASCII lowercases a name in wire form in place. Length bytes are
// below 64, so only the labels' letters change.
func lowerASCII(b []byte) []byte {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// questionOf reads the question of a parsed query and its cache key; ok is
// false when the name cannot be packed.
func questionOf(req *dns.Msg, tcp bool) (q question, key []byte, ok bool) {
	rq := req.Question[0]
	q = question{id: req.Id, rd: req.RecursionDesired, cd: req.CheckingDisabled, qtype: rq.Qtype, qclass: rq.Qclass, limit: maxTCPSize}
	var size uint16
	if opt := req.IsEdns0(); opt != nil {
		q.edns, q.do, size = true, opt.Do(), opt.UDPSize()
	}
	if !tcp {
		q.limit = udpLimit(q.edns, size)
	}
	wire := make([]byte, 2*256)
	n, err := dns.PackDomainName(rq.Name, wire, 0, nil, false)
	if err != nil {
		return q, nil, false
	}
	q.qname = wire[:n]
	lower := lowerASCII(append(wire[256:256], wire[:n]...))
	return q, appendKey(lower, &q), true
}

// fill builds the answer to q about asked (the name as in the query),
// caches it when it can be reused and returns it. managed is false for a
// name to forward (then the entry is nil).
func (s *Server) fill(ctx context.Context, asked string, q *question, key []byte) (e *entry, managed bool, err error) {
	name := strings.ToLower(strings.TrimSuffix(asked, "."))
	insts, managed, deps, err := s.resolve(ctx, name, q.qtype)
	if err != nil || !managed {
		return nil, managed, err
	}
	wire, err := s.build(name, q, insts)
	if err != nil {
		return nil, true, fmt.Errorf("dns: pack the answer for %s: %w", name, err)
	}
	e = &entry{deps: deps, wire: wire, qlen: nameLen(wire, 12)}
	if deps != nil {
		s.cache.put(key, e)
	}
	return e, true, nil
}

// resolve looks a name up for a query of type qtype: the instances to
// answer with, whether berth serves the name and the lookups the answer is
// built from, in order (nil when the answer must not be reused).
func (s *Server) resolve(ctx context.Context, name string, qtype uint16) (insts []Instance, managed bool, deps []dep, err error) {
	insts, managed, err = s.Lookup(ctx, name)
	if err != nil || !managed {
		return nil, managed, nil, err
	}
	deps = []dep{{name: name, managed: managed, insts: insts}}
	if len(insts) > 0 || qtype != dns.TypeA {
		return insts, true, deps, nil
	}
	// An SRV target <id>.<service>.<namespace> resolves to its instance.
	id, svc, ok := strings.Cut(name, ".")
	if !ok {
		return nil, true, deps, nil
	}
	all, svcManaged, err := s.Lookup(ctx, svc)
	if err != nil {
		// Answered NXDOMAIN, but not kept: the service may resolve next time.
		return nil, true, nil, nil
	}
	deps = append(deps, dep{name: svc, managed: svcManaged, insts: all})
	for _, in := range all {
		if strings.EqualFold(in.ID, id) {
			return []Instance{in}, true, deps, nil
		}
	}
	return nil, true, deps, nil
}

// build packs the authoritative answer for a managed name (lowercase,
// without the trailing dot) in its canonical form: id 0, RD and CD clear,
// the question in lowercase, within q.limit.
func (s *Server) build(name string, q *question, insts []Instance) ([]byte, error) {
	fq := name + "."
	m := new(dns.Msg)
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	m.Authoritative = true
	m.Compress = true
	m.Question = []dns.Question{{Name: fq, Qtype: q.qtype, Qclass: q.qclass}}
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.TTL}
	}
	switch q.qtype {
	case dns.TypeA, dns.TypeANY:
		seen := map[string]bool{}
		for _, in := range insts {
			ip := net.ParseIP(in.IP).To4()
			if ip == nil || seen[in.IP] {
				continue
			}
			seen[in.IP] = true
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(fq, dns.TypeA), A: ip})
		}
	case dns.TypeSRV:
		for _, in := range insts {
			target := strings.ToLower(in.ID) + "." + fq
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(fq, dns.TypeSRV), Priority: 1, Weight: 1, Port: in.Port, Target: target})
			if ip := net.ParseIP(in.IP).To4(); ip != nil {
				m.Extra = append(m.Extra, &dns.A{Hdr: hdr(target, dns.TypeA), A: ip})
			}
		}
	}
	if len(insts) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	if q.edns {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(maxUDPSize)
		if q.do {
			opt.SetDo()
		}
		m.Extra = append(m.Extra, opt)
	}
	fit(m, q.limit)
	return m.Pack()
}

// fit makes m fit in limit bytes. Additional records (the addresses of SRV
// targets) go first, without the TC bit: a client can look them up. When
// the answers alone do not fit, it keeps those that do and sets TC, so the
// client asks again over TCP (RFC 2181 9). The OPT record always stays.
func fit(m *dns.Msg, limit int) {
	if m.Len() <= limit {
		return
	}
	var opt []dns.RR
	if n := len(m.Extra); n > 0 && m.Extra[n-1].Header().Rrtype == dns.TypeOPT {
		opt = []dns.RR{m.Extra[n-1]}
	}
	extra := m.Extra[:len(m.Extra)-len(opt)]
	answers := m.Answer
	m.Extra = opt
	if m.Len() > limit {
		// The answers do not fit: keep the most that do.
		n := sort.Search(len(answers)+1, func(n int) bool {
			m.Answer = answers[:n]
			return m.Len() > limit
		})
		m.Answer = answers[:max(n-1, 0)]
		m.Truncated = true
		return
	}
	n := sort.Search(len(extra)+1, func(n int) bool {
		m.Extra = append(append(make([]dns.RR, 0, n+1), extra[:n]...), opt...)
		return m.Len() > limit
	})
	m.Extra = append(append(make([]dns.RR, 0, n), extra[:max(n-1, 0)]...), opt...)
}
