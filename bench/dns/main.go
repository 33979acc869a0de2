// Command dns measures berth's built-in DNS server (internal/dnsserver) on
// loopback: queries per second and latency for A and SRV answers of a
// service discovery name with a few instances, from concurrent UDP clients
// in the same process (so the figures include the clients' own CPU).
//
//	go run ./bench/dns [-d 5s] [-clients 1,16,64]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchflag"
	"github.com/berth-dev/berth/internal/dnsserver"
	"github.com/miekg/dns"
)

func main() {
	dur := flag.Duration("d", 5*time.Second, "duration of each cell")
	clientsFlag := flag.String("clients", "1,16,64", "concurrent clients, comma-separated")
	flag.Parse()
	clients, err := benchflag.PositiveInts(*clientsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	insts := []dnsserver.Instance{
		{ID: "t1", IP: "10.0.0.1", Port: 49153}, {ID: "t2", IP: "10.0.0.2", Port: 49154},
		{ID: "t3", IP: "10.0.0.3", Port: 49155}, {ID: "t4", IP: "10.0.0.4", Port: 49156},
	}
	s := &dnsserver.Server{Addr: "127.0.0.1:0", Lookup: func(_ context.Context, name string) ([]dnsserver.Instance, bool, error) {
		if name == "web.bench.local" {
			return insts, true, nil
		}
		return nil, true, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	go func() {
		if err := s.Run(ctx, func(a string) { ready <- a }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	addr := <-ready
	fmt.Printf("built-in DNS server on %s, %d CPUs, %s, %s per cell, UDP\n\n", addr, runtime.NumCPU(), runtime.Version(), *dur)
	fmt.Printf("| query | clients | queries/s | p50 µs | p99 µs | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, n := range clients {
			qps, p50, p99, errs := run(addr, qt, n, *dur)
			fmt.Printf("| %s web.bench.local | %d | %.0f | %.0f | %.0f | %d |\n", dns.TypeToString[qt], n, qps, p50, p99, errs)
		}
	}
	fmt.Println("\nTarget: ≥ 50,000 queries/s for A and SRV answers on this machine.")
}

// run sends queries from n clients for d and returns queries/s and the
// p50/p99 latency in microseconds.
func run(addr string, qt uint16, n int, d time.Duration) (qps, p50, p99 float64, errs int64) {
	var wg sync.WaitGroup
	var count, failed atomic.Int64
	lats := make([][]time.Duration, n)
	deadline := time.Now().Add(d)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dns.Dial("udp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion("web.bench.local.", qt)
			for time.Now().Before(deadline) {
				m.Id = dns.Id()
				t0 := time.Now()
				_ = conn.SetDeadline(t0.Add(time.Second))
				if err := conn.WriteMsg(m); err != nil {
					failed.Add(1)
					continue
				}
				r, err := conn.ReadMsg()
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					failed.Add(1)
					continue
				}
				lats[i] = append(lats[i], time.Since(t0))
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return 0, 0, 0, failed.Load()
	}
	us := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) / 1e3 }
	return float64(count.Load()) / d.Seconds(), us(0.50), us(0.99), failed.Load()
}
