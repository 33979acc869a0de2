package lb

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzHead: any bytes give a head or an error, never a panic, and an
// accepted request is forwarded the way it was framed: what writeFields
// writes parses back to the same end-to-end headers and framing.
func FuzzHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\nabc",
		"PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"\r\n\r\nGET / HTTP/1.1\nHost: h\n\n",
		"POST / HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\nabc",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var h head
		if err := h.read(bufio.NewReaderSize(bytes.NewReader(data), 64)); err != nil {
			return
		}
		for _, fl := range h.fields {
			_, _ = h.bytes(fl.name), h.bytes(fl.value)
		}
		if !h.request() {
			h.response()
			return
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		w.Write(h.bytes(h.a))
		w.WriteString(" / HTTP/1.1\r\n")
		h.writeFields(w)
		w.WriteString("\r\n")
		w.Flush()
		var back head
		if err := back.read(bufio.NewReader(&out)); err != nil {
			t.Fatalf("forwarded head does not parse: %v\n%q", err, out.Bytes())
		}
		if back.contentLength != h.contentLength || back.chunked != h.chunked {
			t.Fatalf("framing changed: length %d→%d chunked %v→%v", h.contentLength, back.contentLength, h.chunked, back.chunked)
		}
		_, _ = io.Copy(io.Discard, &out)
	})
}
