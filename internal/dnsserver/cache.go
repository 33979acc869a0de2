package dnsserver

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/miekg/dns"
)

// maxCacheEntries bounds the answer cache; when full it starts over. Only
// berth's own names are kept (a few per service: types, sizes, EDNS bits).
const maxCacheEntries = 4096

// wireCache keeps packed answers by question (appendKey).
type wireCache struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// entry is a packed answer and what it was built from. Entries are never
// changed once stored.
type entry struct {
	deps []dep  // the lookups the answer was built from, in order
	wire []byte // the canonical answer: id 0, RD and CD clear, the question in lowercase
	qlen int    // the length of the question's name (at offset 12)
}

// dep is one lookup and its result.
type dep struct {
	name    string
	managed bool
	insts   []Instance
}

func (c *wireCache) get(key []byte) *entry {
	c.mu.RLock()
	e := c.m[string(key)]
	c.mu.RUnlock()
	return e
}

func (c *wireCache) put(key []byte, e *entry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = make(map[string]*entry)
	}
	c.m[string(key)] = e
	c.mu.Unlock()
}

// current reports whether e still holds: every lookup it was built from
// returns what it returned then. The answer is a function of those results
// and the question, so this is exact, whatever the Lookup caches.
func (s *Server) current(ctx context.Context, e *entry) bool {
	for _, d := range e.deps {
		insts, managed, err := s.Lookup(ctx, d.name)
		if err != nil || managed != d.managed || !slices.Equal(insts, d.insts) {
			return false
		}
	}
	return true
}

// reply appends to dst[:0] the answer for one query: the cached bytes with
// the query's id, RD and CD bits and spelling of the name.
func (e *entry) reply(dst []byte, q *question) []byte {
	dst = append(dst[:0], e.wire...)
	binary.BigEndian.PutUint16(dst, q.id)
	if q.rd {
		dst[2] |= 0x01
	}
	if q.cd {
		dst[3] |= 0x10
	}
	if len(q.qname) == e.qlen {
		// Names in the answer point at the question, so they follow.
		copy(dst[12:], q.qname)
	}
	return dst
}

// nameLen returns the length of the uncompressed name at msg[off:], or -1.
func nameLen(msg []byte, off int) int {
	start := off
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1 - start
		case l > 63:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// parseQuery reads a plain query from a packet without allocating: a
// QUERY with one question whose name has letters, digits, '-' and '_'
// only, no answer or authority records and at most an OPT record of
// version 0. q.qname points into msg; the key is appended to key[:0]. ok
// is false for anything else: such packets take the full path.
func parseQuery(msg, key []byte) (q question, k []byte, ok bool) {
	const hdr = 12
	if len(msg) < hdr+1+4 {
		return q, key, false
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	// QR, opcode and TC must be zero.
	if flags&0xfa00 != 0 ||
		binary.BigEndian.Uint16(msg[4:]) != 1 || binary.BigEndian.Uint16(msg[6:]) != 0 ||
		binary.BigEndian.Uint16(msg[8:]) != 0 {
		return q, key, false
	}
	arcount := binary.BigEndian.Uint16(msg[10:])
	if arcount > 1 {
		return q, key, false
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.rd = flags&0x0100 != 0
	q.cd = flags&0x0010 != 0
	key = key[:0]
	off := hdr
	for {
		if off >= len(msg) {
			return q, key, false
		}
		l := int(msg[off])
		if l == 0 {
			key = append(key, 0)
			off++
			break
		}
		if l > 63 || off+1+l > len(msg) || off+1+l-hdr > 254 {
			return q, key, false
		}
		key = append(key, byte(l))
		for _, c := range msg[off+1 : off+1+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				return q, key, false
			}
			key = append(key, c)
		}
		off += 1 + l
	}
	q.qname = msg[hdr:off]
	if off+4 > len(msg) {
		return q, key, false
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4
	var size uint16
	if arcount == 1 {
		// The OPT record: root name, type, UDP size, extended rcode,
		// version, flags, options.
		if off+11 > len(msg) || msg[off] != 0 || binary.BigEndian.Uint16(msg[off+1:]) != dns.TypeOPT || msg[off+6] != 0 {
			return q, key, false
		}
		q.edns = true
		size = binary.BigEndian.Uint16(msg[off+3:])
		q.do = msg[off+7]&0x80 != 0
		end := off + 11 + int(binary.BigEndian.Uint16(msg[off+9:]))
		if end > len(msg) {
			return q, key, false
		}
		// Options: code, length, data; they must fill the data exactly.
		for off += 11; off < end; {
			if off+4 > end {
				return q, key, false
			}
			off += 4 + int(binary.BigEndian.Uint16(msg[off+2:]))
		}
		if off != end {
			return q, key, false
		}
	}
	if off != len(msg) {
		return q, key, false
	}
	q.limit = udpLimit(q.edns, size)
	return q, appendKey(key, &q), true
}
