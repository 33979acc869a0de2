package main

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth-dev/berth/internal/sdkclient"
)

// newHTTPClient returns the one HTTP client shared by every ECS client of the
// run: keep-alive connections, enough idle connections per host for the
// highest concurrency, no proxy from the environment (both targets are local).
func newHTTPClient(maxConns int) *http.Client {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        4 * maxConns,
		MaxIdleConnsPerHost: 2 * maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// newECSClient builds the ECS client used against every target: static
// credentials, the target's URL as BaseEndpoint, one attempt per call (a
// failed call is counted as an error, never retried), and the request-body
// fix of internal/sdkclient.
func newECSClient(hc *http.Client, endpoint, region, accessKey, secretKey string) *ecs.Client {
	return sdkclient.ECS(hc, endpoint, region, accessKey, secretKey)
}
