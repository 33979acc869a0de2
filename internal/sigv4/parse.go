package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// credential is the parsed Credential component: key id and scope.
type credential struct {
	accessKeyID, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + scopeTerm
}

// signature is everything the verifier needs from a request's auth data.
type signature struct {
	cred          credential
	signedHeaders []string
	signature     string
	amzDate       string // exactly as the client sent it
	date          time.Time
	presigned     bool
	expires       time.Duration // presigned only; 0 means unbounded
}

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	Credential    string
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses an "AWS4-HMAC-SHA256 Credential=…,
// SignedHeaders=…, Signature=…" header value. Components may be separated by
// commas with or without spaces, in any order.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		alg, _, _ := strings.Cut(h, " ")
		if strings.HasPrefix(alg, "AWS4-") {
			return a, errorf(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
		}
		return a, errorf(CodeIncompleteSignature, "Authorization header requires '%s' algorithm with 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=%s", Algorithm, h)
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, errorf(CodeIncompleteSignature, "'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", part, h)
		}
		if seen[k] {
			return a, errorf(CodeIncompleteSignature, "Authorization header has '%s' more than once. Authorization=%s", k, h)
		}
		seen[k] = true
		switch k {
		case "Credential":
			a.Credential = val
		case "SignedHeaders":
			a.SignedHeaders = strings.Split(val, ";")
		case "Signature":
			a.Signature = val
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if !seen[k] {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return a, errorf(CodeIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), h)
	}
	return a, nil
}

func parseCredential(s string) (credential, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[0] == "" {
		return credential{}, errorf(CodeIncompleteSignature, "Credential should have the form <access key id>/<YYYYMMDD>/<region>/<service>/%s, not '%s'.", scopeTerm, s)
	}
	c := credential{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if _, err := time.Parse("20060102", c.date); err != nil {
		return credential{}, errorf(CodeIncompleteSignature, "Credential should be scoped to a valid date (YYYYMMDD), not '%s'.", c.date)
	}
	if c.region == "" {
		return credential{}, errorf(CodeIncompleteSignature, "Credential should be scoped to a valid region, not ''.")
	}
	if c.service == "" {
		return credential{}, errorf(CodeIncompleteSignature, "Credential should be scoped to a valid service, not ''.")
	}
	if parts[4] != scopeTerm {
		return credential{}, errorf(CodeIncompleteSignature, "Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerm, parts[4])
	}
	return c, nil
}

// parseRequest extracts the signature data from the Authorization header or,
// when there is none, from presigned query parameters.
func parseRequest(r *http.Request) (*signature, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return parseHeaderAuth(r, h)
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return parsePresigned(q)
	}
	return nil, errorf(CodeMissingAuthenticationToken, "Missing Authentication Token")
}

func parseHeaderAuth(r *http.Request, h string) (*signature, error) {
	a, err := ParseAuthorization(h)
	if err != nil {
		return nil, err
	}
	s := &signature{signature: a.Signature, signedHeaders: a.SignedHeaders}
	if s.cred, err = parseCredential(a.Credential); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(s.signedHeaders); err != nil {
		return nil, err
	}
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		s.amzDate = d
		if s.date, err = time.Parse(amzDateFormat, d); err != nil {
			return nil, errorf(CodeIncompleteSignature, "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', not '%s'.", d)
		}
	} else if d := r.Header.Get("Date"); d != "" {
		// A Date header may itself be ISO-8601 basic or an HTTP date.
		if s.date, err = time.Parse(amzDateFormat, d); err != nil {
			if s.date, err = http.ParseTime(d); err != nil {
				return nil, errorf(CodeIncompleteSignature, "Date header must be an HTTP date or ISO-8601 basic format, not '%s'.", d)
			}
		}
		s.date = s.date.UTC()
		s.amzDate = s.date.Format(amzDateFormat)
	} else {
		return nil, errorf(CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", h)
	}
	return s, nil
}

func parsePresigned(q url.Values) (*signature, error) {
	var missing []string
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(k) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+k+"'.")
		}
	}
	if len(missing) > 0 {
		return nil, errorf(CodeIncompleteSignature, "%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		return nil, errorf(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
	}
	var err error
	s := &signature{presigned: true, signature: q.Get("X-Amz-Signature"), signedHeaders: strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), amzDate: q.Get("X-Amz-Date")}
	if s.cred, err = parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	if err := checkSignedHeaders(s.signedHeaders); err != nil {
		return nil, err
	}
	if s.date, err = time.Parse(amzDateFormat, s.amzDate); err != nil {
		return nil, errorf(CodeIncompleteSignature, "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z', not '%s'.", s.amzDate)
	}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > 604800 {
			return nil, errorf(CodeIncompleteSignature, "X-Amz-Expires must be a whole number of seconds from 1 to 604800, not '%s'.", e)
		}
		s.expires = time.Duration(n) * time.Second
	}
	return s, nil
}

// checkSignedHeaders requires a sorted, lower-case, duplicate-free list that
// includes host, as the canonical form demands.
func checkSignedHeaders(hs []string) error {
	joined := strings.Join(hs, ";")
	if !slices.Contains(hs, "host") {
		return errorf(CodeIncompleteSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization (SignedHeaders=%s).", joined)
	}
	for i, h := range hs {
		if h == "" || h != strings.ToLower(h) || (i > 0 && hs[i-1] >= h) {
			return errorf(CodeIncompleteSignature, "SignedHeaders must be lower-case header names, sorted and separated by ';', not '%s'.", joined)
		}
	}
	return nil
}
