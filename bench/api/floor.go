package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/bench/internal/rawecs"
	"github.com/berth-dev/berth/internal/sockopt"
)

// The floors: what the same raw client gets on this machine from servers
// that do nothing but answer. Each reads the request and writes a fixed
// DescribeClusters answer of berth's size, with no signature check, no
// store and no JSON work.
//   - floor: a Go net/http server, as berth uses. No server built on
//     net/http, on the same two cores as its client, answers faster; the
//     distance between it and berth is what berth's own work costs.
//   - floor-raw: a minimal HTTP/1 responder on blocking sockets (the
//     load balancer's first connections, internal/sockopt): one thread per
//     connection waiting in read(2), no net/http. It bounds what any Go
//     server could answer this client with.

// floorAnswer is a DescribeClusters answer as berth sends it for the
// benchmark's cluster.
var floorAnswer = []byte(`{"clusters":[{"activeServicesCount":0,"capacityProviders":[],"clusterArn":"arn:aws:ecs:us-east-1:000000000000:cluster/` + clusterName + `","clusterName":"` + clusterName + `","defaultCapacityProviderStrategy":[],"pendingTasksCount":0,"registeredContainerInstancesCount":0,"runningTasksCount":0,"settings":[{"name":"containerInsights","value":"disabled"}],"statistics":[],"status":"ACTIVE","tags":[]}],"failures":[]}`)

// startFloor serves the net/http floor on a loopback port until ctx ends.
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

// startRawFloor serves the raw floor on a loopback port until ctx ends.
func startRawFloor(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"+
		"X-Amzn-Requestid: 00000000-0000-4000-8000-000000000000\r\nContent-Length: "+strconv.Itoa(len(floorAnswer))+"\r\n\r\n"), floorAnswer...)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			sockopt.SetBlocking(c, true, 0)
			go answerRaw(c, resp)
		}
	}()
	go func() {
		<-ctx.Done()
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			sockopt.CloseNow(c) // a blocked read wakes on shutdown, not on close
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// answerRaw reads requests (head, then Content-Length bytes of body) and
// answers each with resp until the client goes.
func answerRaw(c net.Conn, resp []byte) {
	br := bufio.NewReader(c)
	for {
		length := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > 15 && strings.EqualFold(string(line[:15]), "content-length:") {
				length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// floorCells measures DescribeClusters with the raw client against both
// floors.
func floorCells(conc []int, warmup, dur time.Duration, maxReq int, callTO time.Duration, region, key, secret string) ([]*cell, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cells []*cell
	for _, f := range []struct {
		name  string
		start func(context.Context) (string, error)
	}{{"floor", startFloor}, {"floor-raw", startRawFloor}} {
		u, err := f.start(ctx)
		if err != nil {
			return cells, err
		}
		c, err := rawecs.New(u, region, key, secret)
		if err != nil {
			return cells, err
		}
		fn, err := rawScenario("DescribeClusters", &target{}, c)
		if err != nil {
			return cells, err
		}
		for _, n := range conc {
			lat, errs, elapsed, capped := run(fn, n, warmup, dur, maxReq, callTO)
			ce := &cell{Target: f.name, Scenario: "DescribeClusters", Client: "raw", Concurrency: n}
			summarize(ce, lat, errs, elapsed, capped)
			cells = append(cells, ce)
			fmt.Fprintf(os.Stderr, "  %s DescribeClusters raw c=%d  %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d\n",
				f.name, n, ce.ReqPerSec, ce.P50ms, ce.P99ms, ce.Errors)
		}
	}
	return cells, nil
}
