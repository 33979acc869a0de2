// Command dns measures berth's built-in DNS server (internal/dnsserver) on
// loopback: queries per second and latency for A and SRV answers of a
// service discovery name with a few instances, from concurrent UDP clients
// in the same process (so the figures include the clients' own CPU).
//
// The clients are kept cheap so the server, not the client, is measured:
// each sends one query packed in advance (only its id changes) over a
// connected UDP socket and checks the reply's header (id, QR, rcode, answer
// count); the first reply of every cell is parsed in full and its records
// checked.
//
// By default the server answers from a fixed table; -berth runs a whole
// berth server in process and asks its DNS server for a Cloud Map name, so
// the figures include berth's name cache (and, with -churn, the store
// revision moving under it).
//
//	go run ./bench/dns [-d 5s] [-clients 1,16,64] [-cpuprofile FILE]
//	go run ./bench/dns -berth [-churn 200]
//	go run ./bench/dns -addr HOST:PORT -name web.ns.local   # another server
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
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
	addrFlag := flag.String("addr", "", "`HOST:PORT` of a DNS server to measure instead of an in-process one")
	nameFlag := flag.String("name", "web.bench.local", "the name to query (with -addr: a name with instances)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the cells to `FILE`")
	berth := flag.Bool("berth", false, "measure a berth server run in process, answering from Cloud Map")
	churn := flag.Int("churn", 0, "with -berth: Cloud Map writes per second to another service while measuring")
	flag.Parse()
	clients, err := benchflag.PositiveInts(*clientsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	src := source{addr: *addrFlag, name: dns.Fqdn(*nameFlag), berth: *berth, churn: *churn}
	if err := run(src, clients, *dur, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// benchInstances are the in-process server's instances of the name.
var benchInstances = []dnsserver.Instance{
	{ID: "t1", IP: "10.0.0.1", Port: 49153}, {ID: "t2", IP: "10.0.0.2", Port: 49154},
	{ID: "t3", IP: "10.0.0.3", Port: 49155}, {ID: "t4", IP: "10.0.0.4", Port: 49156},
}

// source says which server answers.
type source struct {
	addr, name string // -addr: a server elsewhere
	berth      bool
	churn      int
}

func run(src source, clients []int, dur time.Duration, cpuprofile string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, name := src.addr, src.name
	where := "built-in DNS server (fixed table)"
	var writes *atomic.Int64
	start := time.Now()
	switch {
	case src.berth:
		var err error
		if addr, name, writes, err = startBerth(ctx, src.churn); err != nil {
			return err
		}
		start = time.Now()
		where = "berth server's DNS server (Cloud Map"
		if src.churn > 0 {
			where += fmt.Sprintf(", %d writes/s to another service", src.churn)
		}
		where += ")"
	case addr == "":
		want := strings.ToLower(strings.TrimSuffix(name, "."))
		s := &dnsserver.Server{Addr: "127.0.0.1:0", Lookup: func(_ context.Context, n string) ([]dnsserver.Instance, bool, error) {
			if n == want {
				return benchInstances, true, nil
			}
			return nil, true, nil
		}}
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, func(a string) { ready <- a }) }()
		select {
		case addr = <-ready:
		case err := <-errc:
			return fmt.Errorf("start the DNS server: %w", err)
		case <-time.After(10 * time.Second):
			return errors.New("the DNS server did not start within 10 s")
		}
	default:
		where = "DNS server (other process)"
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("%s on %s, %d CPUs, %s, %s per cell, UDP, clients in this process\n\n", where, addr, runtime.NumCPU(), runtime.Version(), dur)
	fmt.Printf("| query | clients | queries/s | p50 µs | p99 µs | errors |\n|---|---:|---:|---:|---:|---:|\n")
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, n := range clients {
			r, err := cell(addr, name, qt, n, dur)
			if err != nil {
				return err
			}
			fmt.Printf("| %s %s | %d | %.0f | %.0f | %.0f | %d |\n", dns.TypeToString[qt], strings.TrimSuffix(name, "."), n, r.qps, r.p50, r.p99, r.errs)
			if r.qps == 0 {
				return fmt.Errorf("no query to %s was answered", addr)
			}
		}
	}
	if writes != nil && src.churn > 0 {
		fmt.Printf("\nCloud Map writes done while measuring: %.0f/s.\n", float64(writes.Load())/time.Since(start).Seconds())
	}
	fmt.Println("\nTarget: ≥ 50,000 queries/s for A and SRV answers on this machine.")
	return nil
}

type result struct {
	qps, p50, p99 float64 // p50 and p99 in µs
	errs          int64
}

// cell sends queries from n clients for d.
func cell(addr, name string, qt uint16, n int, d time.Duration) (result, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return result{}, fmt.Errorf("resolve %s: %w", addr, err)
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	query, err := m.Pack()
	if err != nil {
		return result{}, fmt.Errorf("pack the query: %w", err)
	}
	var wg sync.WaitGroup
	var count, failed atomic.Int64
	var checkErr error
	var checkOnce sync.Once
	lats := make([][]time.Duration, n)
	deadline := time.Now().Add(d)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			q := slices.Clone(query)
			buf := make([]byte, 4096)
			lats[i] = make([]time.Duration, 0, 1<<16)
			id := uint16(i) << 10
			for time.Now().Before(deadline) {
				id++
				binary.BigEndian.PutUint16(q, id)
				t0 := time.Now()
				_ = conn.SetReadDeadline(t0.Add(time.Second))
				if _, err := conn.Write(q); err != nil {
					failed.Add(1)
					continue
				}
				r, ok := readReply(conn, buf, id)
				if !ok {
					failed.Add(1)
					continue
				}
				lats[i] = append(lats[i], time.Since(t0))
				count.Add(1)
				checkOnce.Do(func() { checkErr = checkAnswer(r, name, qt) })
			}
		}()
	}
	wg.Wait()
	if checkErr != nil {
		return result{}, checkErr
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		return result{errs: failed.Load()}, nil
	}
	us := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))].Nanoseconds()) / 1e3 }
	return result{qps: float64(count.Load()) / d.Seconds(), p50: us(0.50), p99: us(0.99), errs: failed.Load()}, nil
}

// readReply reads until the reply with id arrives (late replies to earlier
// queries are skipped) and checks its header: a response, NOERROR, with
// answers. It gives up after 8 packets or at the read deadline.
func readReply(conn *net.UDPConn, buf []byte, id uint16) ([]byte, bool) {
	for range 8 {
		k, err := conn.Read(buf)
		if err != nil {
			return nil, false
		}
		r := buf[:k]
		if k < 12 || binary.BigEndian.Uint16(r) != id {
			continue
		}
		flags := binary.BigEndian.Uint16(r[2:])
		return r, flags&0x8000 != 0 && flags&0x000f == 0 && binary.BigEndian.Uint16(r[6:]) > 0
	}
	return nil, false
}

// checkAnswer parses a reply in full: it must answer the question with
// records of its type and, for SRV, the targets' addresses.
func checkAnswer(r []byte, name string, qt uint16) error {
	m := new(dns.Msg)
	if err := m.Unpack(r); err != nil {
		return fmt.Errorf("the reply does not parse: %w", err)
	}
	want := 0
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == qt && strings.EqualFold(rr.Header().Name, name) {
			want++
		}
	}
	if want == 0 || (qt == dns.TypeSRV && len(m.Extra) < want) {
		return fmt.Errorf("unexpected reply to %s %s:\n%v", dns.TypeToString[qt], name, m)
	}
	return nil
}
