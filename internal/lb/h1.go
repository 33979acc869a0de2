package lb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// This file reads and writes HTTP/1.x message heads and bodies for the
// proxy (proxy.go) without building net/http's maps: a head is kept as its
// raw bytes with offsets to each header, and bodies are relayed as they
// come, chunked framing included.

// maxHead caps a request or response head (ELB answers 400 past ~16 KB of
// request line and headers; berth allows a little more).
const maxHead = 64 << 10

var (
	errHeadTooLarge = errors.New("message head too large")
	errMalformed    = errors.New("malformed message head")
)

// field is one header line as offsets into head.buf.
type field struct {
	name, value span
	hop         bool // hop-by-hop: not forwarded
}

type span struct{ start, end int }

// head is a parsed request or response head. Its slices point into buf
// and stay valid until the head is read again.
type head struct {
	buf    []byte
	fields []field

	// First line: method, target, proto of a request; proto, status and
	// reason of a response (in a, b, c).
	a, b, c span
	minor   int // HTTP/1.minor
	status  int // response

	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	expect100     bool
	host          span
	hasHost       bool
	upgrade       span
	xff           []span // X-Forwarded-For values in order
}

func (h *head) bytes(s span) []byte { return h.buf[s.start:s.end] }

// read reads one head from br: the first line and the header lines up to
// the empty line. Empty lines before a request line are skipped, as RFC
// 9112 allows. io.EOF means the peer closed before sending anything.
func (h *head) read(br *bufio.Reader) error {
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
	h.xff = h.xff[:0]
	first := -1
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it.
			h.buf = append(h.buf, line...)
			for err == bufio.ErrBufferFull && len(h.buf) <= maxHead {
				line, err = br.ReadSlice('\n')
				h.buf = append(h.buf, line...)
			}
			line = nil
		}
		if err != nil {
			if err == io.EOF && len(h.buf) == 0 && first < 0 {
				return io.EOF
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			if err == bufio.ErrBufferFull {
				return errHeadTooLarge
			}
			return err
		}
		start := len(h.buf)
		h.buf = append(h.buf, line...)
		if len(h.buf) > maxHead {
			return errHeadTooLarge
		}
		l := h.buf[start:]
		if first < 0 {
			if isBlank(l) {
				h.buf = h.buf[:start] // a stray CRLF between requests
				continue
			}
			first = start
			continue
		}
		if isBlank(l) {
			h.buf = h.buf[:start]
			return h.parse()
		}
	}
}

func isBlank(l []byte) bool {
	return len(l) == 1 || (len(l) == 2 && l[0] == '\r')
}

// lineEnd is the end of the line starting at i (before CRLF or LF), and
// the start of the next line.
func lineEnd(buf []byte, i int) (end, next int) {
	j := bytes.IndexByte(buf[i:], '\n')
	if j < 0 {
		return len(buf), len(buf)
	}
	end, next = i+j, i+j+1
	if end > i && buf[end-1] == '\r' {
		end--
	}
	return end, next
}

// parse splits buf into the first line and the header fields, and picks
// out the headers the proxy acts on.
func (h *head) parse() error {
	end, next := lineEnd(h.buf, 0)
	// Three parts separated by single spaces; the third (a reason phrase)
	// may hold spaces.
	line := h.buf[:end]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errMalformed
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	h.a = span{0, sp1}
	if sp2 < 0 {
		h.b, h.c = span{sp1 + 1, end}, span{end, end}
	} else {
		h.b, h.c = span{sp1 + 1, sp1 + 1 + sp2}, span{sp1 + 2 + sp2, end}
	}
	h.contentLength = -1
	h.chunked, h.connClose, h.connKeepAlive, h.connUpgrade, h.expect100, h.hasHost = false, false, false, false, false, false
	h.upgrade = span{}
	var connTokens []span
	for i := next; i < len(h.buf); {
		end, next := lineEnd(h.buf, i)
		if h.buf[i] == ' ' || h.buf[i] == '\t' {
			return errMalformed // obsolete line folding
		}
		colon := bytes.IndexByte(h.buf[i:end], ':')
		if colon <= 0 {
			return errMalformed
		}
		name := span{i, i + colon}
		if !isToken(h.bytes(name)) {
			return errMalformed // no space before the colon, no control bytes
		}
		vs, ve := i+colon+1, end
		for vs < ve && (h.buf[vs] == ' ' || h.buf[vs] == '\t') {
			vs++
		}
		for ve > vs && (h.buf[ve-1] == ' ' || h.buf[ve-1] == '\t') {
			ve--
		}
		f := field{name: name, value: span{vs, ve}}
		n, v := h.bytes(name), h.buf[vs:ve]
		if bytes.IndexByte(v, '\r') >= 0 || bytes.IndexByte(v, 0) >= 0 {
			return errMalformed // a bare CR or NUL in a value (RFC 9110 5.5)
		}
		switch {
		case eqFold(n, "content-length"):
			cl, ok := parseLength(v)
			if !ok || (h.contentLength >= 0 && h.contentLength != cl) {
				return errMalformed
			}
			h.contentLength = cl
		case eqFold(n, "transfer-encoding"):
			// Only chunked as the final coding is understood; the value
			// is forwarded as it is.
			h.chunked = hasSuffixFold(bytes.TrimSpace(v), "chunked")
			if !h.chunked {
				return errMalformed
			}
		case eqFold(n, "connection"):
			f.hop = true
			forEachToken(v, func(tok []byte, s, e int) {
				switch {
				case eqFold(tok, "close"):
					h.connClose = true
				case eqFold(tok, "keep-alive"):
					h.connKeepAlive = true
				case eqFold(tok, "upgrade"):
					h.connUpgrade = true
				default:
					connTokens = append(connTokens, span{vs + s, vs + e})
				}
			})
		case eqFold(n, "upgrade"):
			f.hop = true
			h.upgrade = f.value
		case eqFold(n, "host"):
			if h.hasHost {
				return errMalformed
			}
			h.host, h.hasHost = f.value, true
		case eqFold(n, "expect"):
			if eqFold(v, "100-continue") {
				h.expect100 = true
				f.hop = true // the proxy answers it itself
			}
		case eqFold(n, "x-forwarded-for"):
			f.hop = true // re-sent with the client's address appended
			if ve > vs {
				h.xff = append(h.xff, f.value)
			}
		case eqFold(n, "keep-alive"), eqFold(n, "proxy-connection"), eqFold(n, "te"),
			eqFold(n, "x-forwarded-proto"), eqFold(n, "x-forwarded-port"):
			f.hop = true
		}
		h.fields = append(h.fields, f)
		i = next
	}
	if h.chunked && h.contentLength >= 0 {
		return errMalformed // both framings: a smuggling attempt
	}
	// Headers the Connection header names are hop-by-hop too, except the
	// framing and Host: dropping those would change what the body is.
	for _, tok := range connTokens {
		if t := h.bytes(tok); eqFold(t, "content-length") || eqFold(t, "transfer-encoding") || eqFold(t, "host") {
			continue
		}
		for k := range h.fields {
			if eqFoldBytes(h.bytes(h.fields[k].name), h.bytes(tok)) {
				h.fields[k].hop = true
			}
		}
	}
	return nil
}

// request checks the first line as a request line and returns its HTTP
// minor version.
func (h *head) request() bool {
	p := h.bytes(h.c)
	if len(h.bytes(h.a)) == 0 || len(h.bytes(h.b)) == 0 || len(p) != 8 || string(p[:7]) != "HTTP/1." || p[7] < '0' || p[7] > '9' {
		return false
	}
	h.minor = int(p[7] - '0')
	for _, c := range h.bytes(h.b) {
		if c <= ' ' || c == 0x7f {
			return false // no control bytes or spaces in the request target
		}
	}
	return isToken(h.bytes(h.a))
}

// response checks the first line as a status line.
func (h *head) response() bool {
	p := h.bytes(h.a)
	if len(p) != 8 || string(p[:7]) != "HTTP/1." || p[7] < '0' || p[7] > '9' {
		return false
	}
	h.minor = int(p[7] - '0')
	s := h.bytes(h.b)
	if len(s) != 3 {
		return false
	}
	h.status = 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		h.status = h.status*10 + int(c-'0')
	}
	return h.status >= 100
}

// keepAlive says whether the sender lets the connection be reused.
func (h *head) keepAlive() bool {
	if h.minor == 0 {
		return h.connKeepAlive && !h.connClose
	}
	return !h.connClose
}

// writeFields writes the head's end-to-end header lines.
func (h *head) writeFields(w *bufio.Writer) {
	for _, f := range h.fields {
		if f.hop {
			continue
		}
		w.Write(h.bytes(f.name))
		w.WriteString(": ")
		w.Write(h.bytes(f.value))
		w.WriteString("\r\n")
	}
}

// tokenChar marks the bytes RFC 9110 allows in a token.
var tokenChar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	for _, c := range `"(),/:;<=>?@[\]{}` {
		t[c] = false
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold compares b with the lower-case ASCII s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func eqFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && eqFold(b[len(b)-len(s):], s)
}

// forEachToken calls fn with each comma-separated token of v, trimmed, and
// its offsets in v.
func forEachToken(v []byte, fn func(tok []byte, start, end int)) {
	for i := 0; i < len(v); {
		j := bytes.IndexByte(v[i:], ',')
		e := len(v)
		if j >= 0 {
			e = i + j
		}
		s, t := i, e
		for s < t && (v[s] == ' ' || v[s] == '\t') {
			s++
		}
		for t > s && (v[t-1] == ' ' || v[t-1] == '\t') {
			t--
		}
		if t > s {
			fn(v[s:t], s, t)
		}
		i = e + 1
	}
}

func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// copyN relays exactly n bytes from src to dst. Before waiting for more
// input it flushes dst, so a slow stream reaches the reader as it comes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(int64(src.Buffered()), n)
		b, _ := src.Peek(int(k))
		if _, err := dst.Write(b); err != nil {
			return err
		}
		src.Discard(int(k))
		n -= k
	}
	return nil
}

// copyEOF relays src to dst until src ends.
func copyEOF(dst *bufio.Writer, src *bufio.Reader) error {
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
		b, _ := src.Peek(src.Buffered())
		if _, err := dst.Write(b); err != nil {
			return err
		}
		src.Discard(len(b))
	}
}

// copyChunked relays a chunked body: with framing (the chunk-size lines
// and trailers as they came) when framed, else only the data.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, framed bool) error {
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
		}
		line, err := src.ReadSlice('\n')
		if err != nil {
			if err == io.EOF || err == bufio.ErrBufferFull {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		size, ok := chunkSize(line)
		if !ok {
			return errMalformed
		}
		if framed {
			dst.Write(line)
		}
		if size == 0 {
			// Trailer section up to the empty line.
			for {
				line, err := src.ReadSlice('\n')
				if err != nil {
					if err == io.EOF || err == bufio.ErrBufferFull {
						return io.ErrUnexpectedEOF
					}
					return err
				}
				if framed {
					dst.Write(line)
				}
				if isBlank(line) {
					return nil
				}
			}
		}
		if err := copyN(dst, src, size); err != nil {
			return err
		}
		crlf, err := src.ReadSlice('\n')
		if err != nil {
			return io.ErrUnexpectedEOF
		}
		if !isBlank(crlf) {
			return errMalformed
		}
		if framed {
			dst.Write(crlf)
		}
	}
}

// chunkSize parses a chunk-size line (hex size, optional extensions).
func chunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			if digits == 0 || (c != ';' && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
				return 0, false
			}
			return n, true
		}
		if digits == 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
		digits++
	}
	return 0, false
}
