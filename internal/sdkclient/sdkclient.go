// Package sdkclient builds the aws-sdk-go-v2 ECS clients that berth's tests
// and benchmarks drive the API with.
//
// It exists for one client-side race. After sending a request body of known
// length, net/http reads the body once more to check nothing is left; the
// SDK closes its request stream as soon as the response arrives. Against a
// server that answers within microseconds (berth on loopback) the close can
// win, that extra read fails, and the transport tears down the connection
// while the SDK is still reading the response: "deserialization failed …
// use of closed network connection" (aws/aws-sdk-go-v2#1825, #2737). The
// transport here hands net/http its own copy of the body, which nobody
// closes early.
package sdkclient

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// Transport wraps base (http.DefaultTransport when nil) so each request's
// body is an in-memory copy owned by the transport.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return ownBody{base}
}

type ownBody struct{ base http.RoundTripper }

func (o ownBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return o.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	return o.base.RoundTrip(r)
}

// ECS returns an ECS client for endpoint signed with a static key, making
// one attempt per call (a failure is reported, never retried). hc may be
// nil; its transport is wrapped with Transport.
func ECS(hc *http.Client, endpoint, region, accessKey, secretKey string) *ecs.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	c.Transport = Transport(c.Transport)
	return ecs.New(ecs.Options{
		Region:           region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:       c,
		RetryMaxAttempts: 1,
	})
}
