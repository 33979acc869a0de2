package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/rawecs"
	"github.com/berth-dev/berth/internal/sockopt"
)

// The floors: what the same client gets on this machine from servers that
// do no work. Each floor server runs in its own process, as berth and moto
// do (an in-process server shares the client's Go runtime and threads,
// and answers about twice as fast as any separate process can):
//   - floor-net/http: a Go net/http server that reads the request and
//     writes a fixed DescribeClusters answer of berth's size. The distance
//     between it and berth is what berth's own work costs.
//   - floor-raw: the same answer from a minimal HTTP/1 responder on
//     blocking sockets (no net/http, a thread per connection waiting in
//     read(2)): about what any server can answer this client with.
//   - floor-pingpong: no HTTP and no signing, a 512-byte message each way
//     between two processes over loopback TCP on blocking sockets. No
//     request/response protocol between two processes on this machine
//     completes faster.
const (
	floorHTTP     = "floor-net/http"
	floorRaw      = "floor-raw"
	floorPingPong = "floor-pingpong"
	pingPongSize  = 512
)

// floorAnswer is a DescribeClusters answer as berth sends it for the
// benchmark's cluster.
var floorAnswer = []byte(`{"clusters":[{"activeServicesCount":0,"capacityProviders":[],"clusterArn":"arn:aws:ecs:us-east-1:000000000000:cluster/` + clusterName + `","clusterName":"` + clusterName + `","defaultCapacityProviderStrategy":[],"pendingTasksCount":0,"registeredContainerInstancesCount":0,"runningTasksCount":0,"settings":[{"name":"containerInsights","value":"disabled"}],"statistics":[],"status":"ACTIVE","tags":[]}],"failures":[]}`)

// serveFloor is the floor process (bench/api -serve-floor KIND): it
// listens on a loopback port, prints the address on stdout and serves
// until its stdin closes (the benchmark exited or stopped it).
func serveFloor(kind string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	switch kind {
	case floorHTTP:
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			h := w.Header()
			h.Set("Content-Type", "application/x-amz-json-1.1")
			h.Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
			h.Set("Content-Length", strconv.Itoa(len(floorAnswer)))
			_, _ = w.Write(floorAnswer)
		})}
		go func() { _ = srv.Serve(ln) }()
	case floorRaw:
		resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"+
			"X-Amzn-Requestid: 00000000-0000-4000-8000-000000000000\r\nContent-Length: "+strconv.Itoa(len(floorAnswer))+"\r\n\r\n"), floorAnswer...)
		go acceptBlocking(ln, func(c net.Conn) { answerRaw(c, resp) })
	case floorPingPong:
		go acceptBlocking(ln, echo)
	default:
		return fmt.Errorf("unknown floor %q (known: %s, %s, %s)", kind, floorHTTP, floorRaw, floorPingPong)
	}
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// acceptBlocking serves each connection of ln in blocking mode. The
// process exits when the benchmark is done, so connections are not tracked.
func acceptBlocking(ln net.Listener, serve func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		sockopt.SetBlocking(c, true, time.Minute)
		go func() {
			defer c.Close()
			serve(c)
		}()
	}
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

// echo answers every pingPongSize-byte message with one of the same size.
func echo(c net.Conn) {
	buf := make([]byte, pingPongSize)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// startFloor runs this program as floor server kind and returns its
// address and a function that stops it.
func startFloor(kind string) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-serve-floor", kind)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start floor %s: %w", kind, err)
	}
	stop := func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
	}()
	select {
	case a := <-addr:
		if a != "" {
			return a, stop, nil
		}
	case <-time.After(30 * time.Second):
	}
	stop()
	return "", nil, fmt.Errorf("floor %s did not print its address", kind)
}

// pingPongOp exchanges one message over one of the pooled connections
// (one per concurrent client, each with its buffer), in blocking mode as
// the raw client's are.
func pingPongOp(addr string, conc int) (op, func(), error) {
	type pingConn struct {
		net.Conn
		buf []byte
	}
	conns := make(chan pingConn, conc)
	var all []net.Conn
	closeAll := func() {
		for _, c := range all {
			sockopt.CloseNow(c)
		}
	}
	for range conc {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		sockopt.SetBlocking(c, true, 10*time.Second)
		all = append(all, c)
		conns <- pingConn{c, make([]byte, pingPongSize)}
	}
	return func(ctx context.Context) error {
		c := <-conns
		defer func() { conns <- c }()
		if _, err := c.Write(c.buf); err != nil {
			return err
		}
		_, err := io.ReadFull(c, c.buf)
		return err
	}, closeAll, nil
}

// floorCells measures every floor at each concurrency, each floor server
// in its own process.
func floorCells(conc []int, warmup, dur time.Duration, maxReq int, callTO time.Duration, region, key, secret string) ([]*cell, error) {
	var cells []*cell
	var errs []error
	for _, kind := range []string{floorHTTP, floorRaw, floorPingPong} {
		addr, stop, err := startFloor(kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var raw *rawecs.Client
		if kind != floorPingPong {
			if raw, err = rawecs.New("http://"+addr, region, key, secret); err != nil {
				stop()
				return cells, err
			}
		}
		for _, n := range conc {
			fn, done, err := floorOp(kind, addr, n, raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", kind, err))
				continue
			}
			lat, tally, elapsed, capped := run(fn, n, warmup, dur, maxReq, callTO)
			done()
			ce := &cell{Target: kind, Scenario: floorScenario, Client: "raw", Concurrency: n}
			summarize(ce, lat, tally, elapsed, capped)
			cells = append(cells, ce)
			fmt.Fprintf(os.Stderr, "  %-15s c=%d  %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d\n",
				kind, n, ce.ReqPerSec, ce.P50ms, ce.P99ms, ce.Errors)
		}
		stop()
	}
	return cells, errors.Join(errs...)
}

// floorScenario is the scenario name of the floor cells.
const floorScenario = "floor"

// floorOp is one call to floor kind at addr: a ping-pong exchange, or
// DescribeClusters sent with the raw client c.
func floorOp(kind, addr string, conc int, c *rawecs.Client) (op, func(), error) {
	if kind == floorPingPong {
		return pingPongOp(addr, conc)
	}
	fn, err := rawScenario("DescribeClusters", &target{}, c)
	return fn, func() {}, err
}

// syncFloor is the cost of the one durable write any store needs per
// acknowledged commit: a 4 KiB write to an already allocated block of a
// file, then fdatasync (as a preallocated write-ahead log would do).
func syncFloor(dir string, n int) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "berth-syncfloor-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	for range n {
		if _, err := f.Write(block); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	copy(block, bytes.Repeat([]byte("berth"), len(block)/5))
	start := time.Now()
	for i := range n {
		if _, err := f.WriteAt(block, int64(i)*int64(len(block))); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, fmt.Errorf("fdatasync %s: %w", f.Name(), err)
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
