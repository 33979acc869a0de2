// Command lb measures the built-in load balancer's data plane (internal/lb)
// on loopback: requests per second and latency of small keep-alive GETs
// through an HTTP listener of the plane, and directly to the same backends
// (the client round-robins itself), from a Go load generator in the same
// process (so the figures include the generator's, the plane's and the
// backends' CPU on the same cores).
//
//	go run ./bench/lb [-d 5s] [-clients 1,64] [-backends 2] [-size 64]
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchflag"
	"github.com/berth-dev/berth/internal/lb"
)

func main() {
	dur := flag.Duration("d", 5*time.Second, "duration of each cell")
	clientsFlag := flag.String("clients", "1,64", "concurrent clients, comma-separated")
	nBackends := flag.Int("backends", 2, "backends in the target group")
	size := flag.Int("size", 64, "response body bytes")
	flag.Parse()
	clients, err := benchflag.PositiveInts(*clientsFlag)
	if err != nil || *nBackends < 1 {
		fmt.Fprintln(os.Stderr, "bad -clients or -backends")
		os.Exit(2)
	}

	body := []byte(strings.Repeat("x", *size))
	var direct []string
	tg := lb.TargetGroup{Key: "tg", Protocol: "HTTP", DeregistrationDelay: time.Second,
		HealthCheck: lb.HealthCheck{Enabled: true, Path: "/health", Interval: time.Second, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 2}}
	for i := range *nBackends {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		}))
		direct = append(direct, "http://"+ln.Addr().String()+"/")
		tg.Targets = append(tg.Targets, lb.Target{ID: fmt.Sprintf("b%d", i), Addr: ln.Addr().String()})
	}
	healthy := make(chan struct{}, *nBackends)
	p := lb.New(nil, reporterFunc(func(state string) {
		if state == lb.StateHealthy {
			healthy <- struct{}{}
		}
	}))
	defer p.Close()
	cfg := lb.Config{Listeners: []lb.Listener{{Key: "l", Protocol: "HTTP", Addr: "127.0.0.1:0", Default: lb.Action{TargetGroup: "tg"}}}}
	if err := p.Apply(cfg, []lb.TargetGroup{tg}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for range *nBackends {
		<-healthy
	}
	via := []string{"http://" + p.Addr("l") + "/"}

	fmt.Printf("lb data plane on %s, %d backends, %d-byte bodies, %d CPUs, %s, %s per cell, HTTP/1.1 keep-alive\n\n",
		p.Addr("l"), *nBackends, *size, runtime.NumCPU(), runtime.Version(), *dur)
	fmt.Printf("| path | clients | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, n := range clients {
		for _, c := range []struct {
			name string
			urls []string
		}{{"direct", direct}, {"via lb", via}} {
			rps, p50, p99, errs := run(c.urls, n, *dur)
			fmt.Printf("| %s | %d | %.0f | %.3f | %.3f | %d |\n", c.name, n, rps, p50, p99, errs)
		}
	}
}

type reporterFunc func(state string)

func (f reporterFunc) Report(_ string, _ lb.Target, state, _, _ string) { f(state) }

// run drives urls (round robin per client) with n clients for d after a
// warm-up of d/5; it returns requests/s, p50 and p99 in ms, and errors.
func run(urls []string, n int, d time.Duration) (rps, p50, p99 float64, errs int64) {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var measuring atomic.Bool
	var nerr atomic.Int64
	stop := make(chan struct{})
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for j := i; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := client.Get(urls[j%len(urls)])
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					nerr.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(start))
			}
		})
	}
	time.Sleep(d / 5)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(t0)
	close(stop)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return 0, 0, 0, nerr.Load()
	}
	slices.Sort(all)
	ms := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / float64(time.Millisecond) }
	return float64(len(all)) / elapsed.Seconds(), ms(0.50), ms(0.99), nerr.Load()
}
