// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests:
// the server half of the protocol the AWS SDKs and CLIs speak.
//
// The canonical request is rebuilt from exactly the headers the client lists
// in SignedHeaders, the payload hash is computed by the server from the body
// it received, and the signature is compared in constant time. Both the
// Authorization header and presigned query parameters are accepted.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Algorithm is the only signing algorithm berth accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// DefaultSkew is how far a request's signing time may be from the server's
// clock, as AWS allows.
const DefaultSkew = 5 * time.Minute

const (
	amzDateFormat = "20060102T150405Z"
	scopeTerm     = "aws4_request"
)

// The error codes AWS answers authentication failures with.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
)

// Error is an authentication failure, with the AWS error code a client
// expects for it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Identity is who signed a request and for what scope.
type Identity struct {
	AccessKeyID string
	Region      string
	Service     string
}

// Verifier checks request signatures.
type Verifier struct {
	// Lookup returns the secret access key for an access key id.
	Lookup func(accessKeyID string) (secret string, ok bool)
	// Relaxed accepts any well-formed, current signature without looking up
	// the key or checking the signature. Meant only for a loopback
	// development endpoint.
	Relaxed bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Skew is the allowed clock difference; DefaultSkew when zero.
	Skew time.Duration

	keys sync.Map // signingKeyID -> []byte
}

// Verify authenticates r, whose body has already been read into body.
func (v *Verifier) Verify(r *http.Request, body []byte) (Identity, error) {
	sig, err := parseRequest(r)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{AccessKeyID: sig.cred.accessKeyID, Region: sig.cred.region, Service: sig.cred.service}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := v.checkTime(sig, now().UTC()); err != nil {
		return Identity{}, err
	}
	if v.Relaxed {
		return id, nil
	}
	secret, ok := "", false
	if v.Lookup != nil {
		secret, ok = v.Lookup(sig.cred.accessKeyID)
	}
	if !ok {
		return Identity{}, errorf(CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	payload := sha256.Sum256(body)
	hash := hex.EncodeToString(payload[:])
	got, err := hex.DecodeString(sig.signature)
	ok = err == nil && hmac.Equal(v.signature(secret, sig, canonicalRequest(r, sig.signedHeaders, hash, sig.presigned, collapseSpaces)), got)
	if !ok && err == nil && hasOtherWhitespace(r, sig.signedHeaders) {
		ok = hmac.Equal(v.signature(secret, sig, canonicalRequest(r, sig.signedHeaders, hash, sig.presigned, collapseAllWhitespace)), got)
	}
	if !ok {
		return Identity{}, errorf(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return id, nil
}

func (v *Verifier) checkTime(sig *signature, now time.Time) error {
	skew := v.Skew
	if skew == 0 {
		skew = DefaultSkew
	}
	if sig.date.Format("20060102") != sig.cred.date {
		return errorf(CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			sig.cred.date, sig.date.Format("20060102"), sig.date.Format(amzDateFormat))
	}
	if sig.presigned {
		if sig.expires > 0 && now.After(sig.date.Add(sig.expires)) {
			return errorf(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %d sec.)",
				sig.date.Add(sig.expires).Format(amzDateFormat), now.Format(amzDateFormat), now.Format(amzDateFormat), int(sig.expires.Seconds()))
		}
		if sig.date.After(now.Add(skew)) {
			return notYetCurrent(sig.date, now, skew)
		}
		return nil
	}
	if sig.date.Before(now.Add(-skew)) {
		return errorf(CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			sig.date.Format(amzDateFormat), now.Add(-skew).Format(amzDateFormat), now.Format(amzDateFormat), minutes(skew))
	}
	if sig.date.After(now.Add(skew)) {
		return notYetCurrent(sig.date, now, skew)
	}
	return nil
}

func notYetCurrent(date, now time.Time, skew time.Duration) error {
	return errorf(CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
		date.Format(amzDateFormat), now.Add(skew).Format(amzDateFormat), now.Format(amzDateFormat), minutes(skew))
}

func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/time.Second)) + " sec"
}

// signature computes the expected signature bytes for a canonical request.
func (v *Verifier) signature(secret string, sig *signature, creq string) []byte {
	sts := StringToSign(sig.amzDate, sig.cred.scope(), creq)
	mac := hmac.New(sha256.New, v.signingKey(secret, sig.cred))
	mac.Write([]byte(sts))
	return mac.Sum(nil)
}

// signingKey derives (and caches) the key for a secret and scope. The cache
// key includes a hash of the secret so a rotated secret never reuses a key.
func (v *Verifier) signingKey(secret string, c credential) []byte {
	sum := sha256.Sum256([]byte(secret))
	id := string(sum[:]) + "\x00" + c.date + "\x00" + c.region + "\x00" + c.service
	if k, ok := v.keys.Load(id); ok {
		return k.([]byte)
	}
	k := SigningKey(secret, c.date, c.region, c.service)
	v.keys.Store(id, k)
	return k
}

// SigningKey derives the SigV4 signing key for a secret and scope.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerm)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// StringToSign is the SigV4 string to sign for a canonical request.
func StringToSign(amzDate, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}
