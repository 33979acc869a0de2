package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	keyID  = "AKIDBERTHTEST"
	secret = "berth/secret+key"
	region = "us-east-1"
)

func lookup(id string) (string, bool) {
	if id == keyID {
		return secret, true
	}
	return "", false
}

// verifyServer runs a real HTTP server whose handler verifies every request,
// so the verifier sees requests exactly as they arrive off the wire.
func verifyServer(t *testing.T, v *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := v.Verify(r, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("Verify returned %T, want *Error", err)
			}
			w.Header().Set("X-Code", e.Code)
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, e.Message)
			return
		}
		io.WriteString(w, id.AccessKeyID+"/"+id.Region+"/"+id.Service)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type signOpt struct {
	key, secret string
	at          time.Time
	presign     bool
}

func sign(t *testing.T, req *http.Request, body []byte, o signOpt) {
	t.Helper()
	if o.key == "" {
		o.key, o.secret = keyID, secret
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: o.key, SecretAccessKey: o.secret}
	s := v4.NewSigner()
	if o.presign {
		u, hdr, err := s.PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", region, o.at)
		if err != nil {
			t.Fatal(err)
		}
		nu, err := req.URL.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = nu
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		return
	}
	if err := s.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", region, o.at); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Code"), string(b)
}

// TestAcceptsSDKSignatures signs a variety of request shapes with the
// aws-sdk-go-v2 signer and checks each verifies over a real connection.
func TestAcceptsSDKSignatures(t *testing.T) {
	srv := verifyServer(t, &Verifier{Lookup: lookup})
	tests := []struct {
		name, method, path string
		body               string
		headers            map[string][]string
		presign            bool
	}{
		{name: "json post", method: "POST", path: "/", body: `{"cluster":"default"}`, headers: map[string][]string{"X-Amz-Target": {"AmazonEC2ContainerServiceV20141113.ListClusters"}, "Content-Type": {"application/x-amz-json-1.1"}}},
		{name: "empty body", method: "POST", path: "/"},
		{name: "query specials", method: "GET", path: "/?b=2&a=1&a=0&c=x%20y&d=%C3%BC&e=&f=a%2Bb%3D%26"},
		{name: "path specials", method: "GET", path: "/some%20dir/a-b_c.~d/%C3%A9"},
		{name: "header whitespace", method: "POST", path: "/", body: "x", headers: map[string][]string{"X-Amz-Meta": {"  a   b  c "}, "X-Multi": {"one", "two"}}},
		{name: "presigned", method: "GET", path: "/?Action=ListClusters", presign: true},
		{name: "presigned post", method: "POST", path: "/", body: `{}`, presign: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.headers {
				req.Header[k] = vs
			}
			sign(t, req, []byte(tt.body), signOpt{presign: tt.presign})
			status, code, msg := do(t, req)
			if status != 200 {
				t.Fatalf("status %d %s: %s", status, code, msg)
			}
			if msg != keyID+"/"+region+"/ecs" {
				t.Errorf("identity %q", msg)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	now := time.Now()
	srv := verifyServer(t, &Verifier{Lookup: lookup})
	newReq := func(body string) *http.Request {
		req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
		return req
	}
	tests := []struct {
		name     string
		mutate   func(t *testing.T, r *http.Request)
		code     string
		contains string
	}{
		{name: "unsigned", mutate: func(*testing.T, *http.Request) {}, code: CodeMissingAuthenticationToken, contains: "Missing Authentication Token"},
		{name: "unknown key", mutate: func(t *testing.T, r *http.Request) {
			sign(t, r, []byte("{}"), signOpt{key: "AKIDOTHER", secret: secret})
		}, code: CodeUnrecognizedClient, contains: "security token"},
		{name: "wrong secret", mutate: func(t *testing.T, r *http.Request) { sign(t, r, []byte("{}"), signOpt{key: keyID, secret: "nope"}) }, code: CodeInvalidSignature, contains: "does not match"},
		{name: "tampered body", mutate: func(t *testing.T, r *http.Request) {
			sign(t, r, []byte("{}"), signOpt{})
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("[]")), 2
		}, code: CodeInvalidSignature, contains: "does not match"},
		{name: "changed signed header", mutate: func(t *testing.T, r *http.Request) {
			sign(t, r, []byte("{}"), signOpt{})
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
		}, code: CodeInvalidSignature, contains: "does not match"},
		{name: "signed 6 min ago", mutate: func(t *testing.T, r *http.Request) { sign(t, r, []byte("{}"), signOpt{at: now.Add(-6 * time.Minute)}) }, code: CodeInvalidSignature, contains: "Signature expired"},
		{name: "signed 6 min ahead", mutate: func(t *testing.T, r *http.Request) { sign(t, r, []byte("{}"), signOpt{at: now.Add(6 * time.Minute)}) }, code: CodeInvalidSignature, contains: "Signature not yet current"},
		{name: "no date", mutate: func(t *testing.T, r *http.Request) {
			sign(t, r, []byte("{}"), signOpt{})
			r.Header.Del("X-Amz-Date")
		}, code: CodeIncompleteSignature, contains: "X-Amz-Date"},
		{name: "scope date differs", mutate: func(t *testing.T, r *http.Request) {
			sign(t, r, []byte("{}"), signOpt{})
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), now.UTC().Format("20060102"), "20000101", 1))
		}, code: CodeInvalidSignature, contains: "Credential scope"},
		{name: "garbage header", mutate: func(t *testing.T, r *http.Request) { r.Header.Set("Authorization", "Bearer abc") }, code: CodeIncompleteSignature, contains: "Credential"},
		{name: "presigned expired", mutate: func(t *testing.T, r *http.Request) {
			r.Method = "GET"
			r.URL.RawQuery = "X-Amz-Expires=60"
			sign(t, r, []byte("{}"), signOpt{presign: true, at: now.Add(-2 * time.Minute)})
		}, code: CodeInvalidSignature, contains: "expired"},
		{name: "presigned incomplete", mutate: func(t *testing.T, r *http.Request) {
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
		}, code: CodeIncompleteSignature, contains: "X-Amz-Credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newReq("{}")
			tt.mutate(t, req)
			status, code, msg := do(t, req)
			if status != 403 || code != tt.code || !strings.Contains(msg, tt.contains) {
				t.Fatalf("got %d %s %q; want %s containing %q", status, code, msg, tt.code, tt.contains)
			}
		})
	}
}

func TestSkewMessages(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	v := &Verifier{Lookup: lookup, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(-6 * time.Minute), "Signature expired: 20261123T115400Z is now earlier than 20261123T115500Z (20261123T120000Z - 5 min.)"},
		{now.Add(6 * time.Minute), "Signature not yet current: 20261123T120600Z is still later than 20261123T120500Z (20261123T120000Z + 5 min.)"},
		{now.Add(-5 * time.Minute), ""},
		{now.Add(5 * time.Minute), ""},
	} {
		req := httptest.NewRequest("POST", "http://berth.local/", bytes.NewReader(nil))
		sign(t, req, nil, signOpt{at: tc.at})
		_, err := v.Verify(req, nil)
		got := ""
		if err != nil {
			got = err.(*Error).Message
		}
		if got != tc.want {
			t.Errorf("at %v: got %q, want %q", tc.at, got, tc.want)
		}
	}
}

func TestRelaxed(t *testing.T) {
	v := &Verifier{Relaxed: true}
	req := httptest.NewRequest("POST", "http://berth.local/", nil)
	sign(t, req, nil, signOpt{key: "anything", secret: "whatever"})
	id, err := v.Verify(req, []byte("tampered"))
	if err != nil || id.AccessKeyID != "anything" {
		t.Fatalf("relaxed verify = %+v, %v", id, err)
	}
	// Still well-formed and current.
	req = httptest.NewRequest("POST", "http://berth.local/", nil)
	if _, err := v.Verify(req, nil); err == nil || err.(*Error).Code != CodeMissingAuthenticationToken {
		t.Errorf("unsigned in relaxed mode: %v", err)
	}
	req = httptest.NewRequest("POST", "http://berth.local/", nil)
	sign(t, req, nil, signOpt{key: "a", secret: "b", at: time.Now().Add(-time.Hour)})
	if _, err := v.Verify(req, nil); err == nil || err.(*Error).Code != CodeInvalidSignature {
		t.Errorf("stale signature in relaxed mode: %v", err)
	}
}

func TestParseAuthorization(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd"
	a, err := ParseAuthorization(good)
	if err != nil || a.Credential != "AKID/20261123/us-east-1/ecs/aws4_request" || strings.Join(a.SignedHeaders, ";") != "host;x-amz-date" || a.Signature != "abcd" {
		t.Fatalf("ParseAuthorization(good) = %+v, %v", a, err)
	}
	// No spaces after commas, reordered: still fine.
	if _, err := ParseAuthorization("AWS4-HMAC-SHA256 Signature=ab,SignedHeaders=host,Credential=A/20261123/r/s/aws4_request"); err != nil {
		t.Errorf("compact form: %v", err)
	}
	for _, bad := range []struct{ in, contains string }{
		{"", "requires"},
		{"AWS4-HMAC-SHA512 Credential=x", "Unsupported"},
		{"AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host", "'Signature'"},
		{"AWS4-HMAC-SHA256 Credential=x, Signature=y", "'SignedHeaders'"},
		{"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=y", "'Credential'"},
		{"AWS4-HMAC-SHA256 Credential", "equal-sign"},
		{"AWS4-HMAC-SHA256 Signature=a, Signature=b, Credential=c, SignedHeaders=host", "more than once"},
	} {
		_, err := ParseAuthorization(bad.in)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeIncompleteSignature || !strings.Contains(e.Message, bad.contains) {
			t.Errorf("ParseAuthorization(%q) = %v, want IncompleteSignature containing %q", bad.in, err, bad.contains)
		}
	}
	for _, bad := range []string{"AKID/2026/us-east-1/ecs/aws4_request", "AKID/20261123/us-east-1/ecs/aws3_request", "AKID/20261123//ecs/aws4_request", "/20261123/r/s/aws4_request", "AKID/20261123/r/aws4_request"} {
		if _, err := parseCredential(bad); err == nil {
			t.Errorf("parseCredential(%q) accepted", bad)
		}
	}
	if err := checkSignedHeaders([]string{"x-amz-date"}); err == nil {
		t.Error("SignedHeaders without host accepted")
	}
	if err := checkSignedHeaders([]string{"x-amz-date", "host"}); err == nil {
		t.Error("unsorted SignedHeaders accepted")
	}
}

func TestCanonicalRequest(t *testing.T) {
	req := httptest.NewRequest("GET", "http://example.amazonaws.com/a%20b/?Param2=value2&Param1=value%201", nil)
	req.Header.Set("X-Amz-Date", "20150830T123600Z")
	req.Header.Add("My-Header", "  v1   x ")
	req.Header.Add("My-Header", "v2")
	got := CanonicalRequest(req, []string{"host", "my-header", "x-amz-date"}, "e3b0", false)
	want := "GET\n/a%2520b/\nParam1=value%201&Param2=value2\nhost:example.amazonaws.com\nmy-header:v1 x,v2\nx-amz-date:20150830T123600Z\n\nhost;my-header;x-amz-date\ne3b0"
	if got != want {
		t.Errorf("canonical request\n%s\nwant\n%s", got, want)
	}
	if req.Header.Values("My-Header")[0] != "  v1   x " {
		t.Error("CanonicalRequest modified the request's headers")
	}
}

func TestParseCredentials(t *testing.T) {
	creds, err := ParseCredentials(strings.NewReader("# comment\n[default]\naws_access_key_id = AKID1\naws_secret_access_key=s1\nregion = us-east-1\n\n; other\n[ci]\naws_access_key_id=AKID2\naws_secret_access_key = s2/x+y=\n"))
	if err != nil || len(creds) != 2 || creds["AKID1"] != "s1" || creds["AKID2"] != "s2/x+y=" {
		t.Fatalf("ParseCredentials = %v, %v", creds, err)
	}
	for _, bad := range []struct{ in, contains string }{
		{"", "no credentials"},
		{"aws_access_key_id=x\n", "outside"},
		{"[a\n", "section header"},
		{"[a]\naws_access_key_id=x\n", "both"},
		{"[a]\njunk\n", "key = value"},
		{"[a]\naws_access_key_id=x\naws_secret_access_key=1\n[a]\n", "twice"},
		{"[a]\naws_access_key_id=x\naws_secret_access_key=1\n[b]\naws_access_key_id=x\naws_secret_access_key=2\n", "different secrets"},
	} {
		if _, err := ParseCredentials(strings.NewReader(bad.in)); err == nil || !strings.Contains(err.Error(), bad.contains) {
			t.Errorf("ParseCredentials(%q) = %v, want error containing %q", bad.in, err, bad.contains)
		}
	}
	if _, err := LoadCredentialsFile(t.TempDir() + "/missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}
