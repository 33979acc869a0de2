package sigv4

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CanonicalRequest builds the SigV4 canonical request of r as a client that
// signed signedHeaders (lower-case, sorted) and hashed its payload to
// payloadHash would have. For presigned requests the X-Amz-Signature query
// parameter is left out, as the signer had not computed it yet.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool) string {
	return canonicalRequest(r, signedHeaders, payloadHash, presigned, collapseSpaces)
}

// Signers disagree on header whitespace: the SigV4 specification and the Go
// SDK collapse runs of spaces only, botocore (the Python SDK and AWS CLI)
// collapses any whitespace, tabs included. The verifier tries the second
// form only when a signed header holds such whitespace.
type whitespaceMode int

const (
	collapseSpaces whitespaceMode = iota
	collapseAllWhitespace
)

func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool, mode whitespaceMode) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(rawQuery(r), presigned))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h, mode))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// wirePath is the request path exactly as the client sent it, still
// percent-encoded.
func wirePath(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI != "*" {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			p = u.EscapedPath() // absolute-form request target
		}
		return p
	}
	return r.URL.EscapedPath()
}

func rawQuery(r *http.Request) string {
	if r.RequestURI != "" {
		if _, q, ok := strings.Cut(r.RequestURI, "?"); ok {
			return q
		}
		return ""
	}
	return r.URL.RawQuery
}

// canonicalURI encodes the wire path once more, as every non-S3 signer does.
func canonicalURI(r *http.Request) string {
	p := wirePath(r)
	if p == "" {
		return "/"
	}
	return uriEncode(p, true)
}

type queryPair struct{ k, v string }

// canonicalQuery decodes every parameter, re-encodes it strictly and sorts by
// name, then value.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	var pairs []queryPair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescape(k), unescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, queryPair{uriEncode(k, false), uriEncode(v, false)})
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		return cmp.Or(strings.Compare(a.k, b.k), strings.Compare(a.v, b.v))
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalHeaderValue joins all values of a header with commas, trimming
// each and collapsing runs of spaces (or of any whitespace).
func canonicalHeaderValue(r *http.Request, name string, mode whitespaceMode) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values(name)
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	out := make([]string, len(vals)) // never modify the request's own slice
	for i, v := range vals {
		if mode == collapseAllWhitespace {
			out[i] = strings.Join(strings.Fields(v), " ")
			continue
		}
		out[i] = strings.Join(strings.FieldsFunc(v, func(c rune) bool { return c == ' ' }), " ")
	}
	return strings.Join(out, ",")
}

// uriEncode percent-encodes every byte except the unreserved characters
// (and '/' when keepSlash), with upper-case hex, as SigV4 specifies.
func uriEncode(s string, keepSlash bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// hasOtherWhitespace reports whether any signed header value holds
// whitespace other than plain spaces.
func hasOtherWhitespace(r *http.Request, signedHeaders []string) bool {
	for _, h := range signedHeaders {
		for _, v := range r.Header.Values(h) {
			if strings.ContainsAny(v, "\t\n\v\f\r") {
				return true
			}
		}
	}
	return false
}
