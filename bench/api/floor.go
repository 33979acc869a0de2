package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/berth-dev/berth/bench/internal/rawecs"
)

// The floor: what the same raw client gets from a Go HTTP server
// (net/http, as berth uses) on this machine when the server does nothing
// but answer. Its handler reads the body and writes a fixed DescribeClusters
// answer of berth's size, with no signature check, no store and no JSON
// work. No server that speaks HTTP through Go's net/http, on the same two
// cores as its client, answers faster; the distance between it and berth is
// what berth's own work costs.

// floorAnswer is a DescribeClusters answer as berth sends it for the
// benchmark's cluster.
var floorAnswer = []byte(`{"clusters":[{"activeServicesCount":0,"capacityProviders":[],"clusterArn":"arn:aws:ecs:us-east-1:000000000000:cluster/` + clusterName + `","clusterName":"` + clusterName + `","defaultCapacityProviderStrategy":[],"pendingTasksCount":0,"registeredContainerInstancesCount":0,"runningTasksCount":0,"settings":[{"name":"containerInsights","value":"disabled"}],"statistics":[],"status":"ACTIVE","tags":[]}],"failures":[]}`)

// startFloor serves the floor on a loopback port until ctx ends.
func startFloor(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
		h.Set("Content-Length", strconv.Itoa(len(floorAnswer)))
		w.Write(floorAnswer)
	})}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}

// floorCells measures DescribeClusters with the raw client against the floor.
func floorCells(conc []int, warmup, dur time.Duration, maxReq int, callTO time.Duration, region, key, secret string) ([]*cell, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := startFloor(ctx)
	if err != nil {
		return nil, err
	}
	c, err := rawecs.New(u, region, key, secret)
	if err != nil {
		return nil, err
	}
	fn, err := rawScenario("DescribeClusters", &target{}, c)
	if err != nil {
		return nil, err
	}
	var cells []*cell
	for _, n := range conc {
		lat, errs, elapsed, capped := run(fn, n, warmup, dur, maxReq, callTO)
		ce := &cell{Target: "floor", Scenario: "DescribeClusters", Client: "raw", Concurrency: n}
		summarize(ce, lat, errs, elapsed, capped)
		cells = append(cells, ce)
		fmt.Fprintf(os.Stderr, "  floor DescribeClusters raw c=%d  %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d\n",
			n, ce.ReqPerSec, ce.P50ms, ce.P99ms, ce.Errors)
	}
	return cells, nil
}
