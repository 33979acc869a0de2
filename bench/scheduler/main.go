// Command scheduler benchmarks berth's placement core on simulated
// instances in process (no Docker, no store): it places tasks in
// RunTask-sized calls (count 10), committing each plan before the next, with
// binpack and with spread on an attribute plus a memberOf constraint, and
// prints placements/s, the p99 latency of one call, allocations and memory
// beside the figures Nomad's own scheduler benchmark reached on this machine.
//
//	go run ./bench/scheduler [-reps 5] [-cases 5000x1200,1000x300,10000x300]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchflag"
	"github.com/berth-dev/berth/internal/clusterquery"
	"github.com/berth-dev/berth/internal/placement"
)

// Nomad's scheduler benchmark on this machine (the reference):
// 1,200 allocations on 5,000 nodes.
const (
	nomadBinpackPerSec = 4000
	nomadSpreadPerSec  = 40
)

type benchCase struct{ instances, tasks int }

type mode struct {
	name  string
	nomad float64
	req   func() placement.Request
}

type result struct {
	perSec    float64
	p99       time.Duration
	allocs    float64 // per placement
	bytes     float64 // allocated per placement
	snapshot  uint64  // heap bytes the snapshot holds
	perPlaced time.Duration
}

func main() {
	reps := flag.Int("reps", 5, "runs of each case; the median is reported")
	casesFlag := flag.String("cases", "5000x1200,1000x300,10000x300", "instances x tasks, comma-separated")
	flag.Parse()
	var cases []benchCase
	for _, c := range benchflag.List(*casesFlag) {
		a, b, ok := strings.Cut(c, "x")
		n, err1 := strconv.Atoi(a)
		m, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || n < 1 || m < 1 {
			fmt.Fprintf(os.Stderr, "bad case %q: want INSTANCESxTASKS\n", c)
			os.Exit(2)
		}
		cases = append(cases, benchCase{n, m})
	}
	member, err := clusterquery.Parse("attribute:ecs.instance-type =~ t3.* or attribute:ecs.instance-type == m5.large")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	spread, _ := placement.ParseStrategy("spread", "attribute:ecs.availability-zone")
	binpack, _ := placement.ParseStrategy("binpack", "memory")
	demand := placement.Demand{CPU: 256, Memory: 512}
	modes := []mode{
		{"binpack(memory)", nomadBinpackPerSec, func() placement.Request {
			return placement.Request{Demand: demand, Group: "family:web", Strategy: []placement.Strategy{binpack}}
		}},
		{"spread(az)+memberOf", nomadSpreadPerSec, func() placement.Request {
			return placement.Request{Demand: demand, Group: "family:web", Strategy: []placement.Strategy{spread}, Constraints: []placement.Constraint{placement.MemberOf(member)}}
		}},
	}
	fmt.Printf("placement core, %d CPUs, %s, median of %d runs, calls of count 10\n\n", runtime.NumCPU(), runtime.Version(), *reps)
	fmt.Printf("%-22s %-14s %12s %10s %12s %11s %12s %14s\n", "strategy", "instances", "placements/s", "vs Nomad", "p99 call", "allocs/task", "bytes/task", "snapshot MiB")
	perPlaced := map[string]map[int]time.Duration{}
	for _, m := range modes {
		perPlaced[m.name] = map[int]time.Duration{}
		for _, c := range cases {
			var runs []result
			for range *reps {
				runs = append(runs, run(c, m))
			}
			slices.SortFunc(runs, func(a, b result) int { return int(a.perPlaced - b.perPlaced) })
			r := runs[len(runs)/2]
			perPlaced[m.name][c.instances] = r.perPlaced
			vs := "—"
			if c.instances == 5000 && c.tasks == 1200 {
				vs = fmt.Sprintf("%.0f×", r.perSec/m.nomad)
			}
			fmt.Printf("%-22s %-14s %12.0f %10s %12s %11.1f %12.0f %14.1f\n", m.name, fmt.Sprintf("%d (%d tasks)", c.instances, c.tasks), r.perSec, vs, r.p99.Round(time.Microsecond), r.allocs, r.bytes, float64(r.snapshot)/(1<<20))
		}
	}
	fmt.Printf("\nNomad on this machine: %d/s binpack, %d/s spread (1,200 allocations on 5,000 nodes)\n", nomadBinpackPerSec, nomadSpreadPerSec)
	fmt.Println("growth of the time per placement from 1,000 to 10,000 instances (10× instances; linear = 10×):")
	for _, m := range modes {
		a, b := perPlaced[m.name][1000], perPlaced[m.name][10000]
		if a > 0 && b > 0 {
			fmt.Printf("  %-22s %8s -> %8s  %.1f×\n", m.name, a, b, float64(b)/float64(a))
		}
	}
}

// cluster builds n simulated instances in 4 zones and 3 instance types.
func cluster(n int) []placement.Instance {
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}
	types := []string{"t3.large", "m5.large", "c5.xlarge"}
	insts := make([]placement.Instance, n)
	for i := range insts {
		id := fmt.Sprintf("%032x", i)
		insts[i] = placement.Instance{
			ARN:           "arn:aws:ecs:us-east-1:123456789012:container-instance/bench/" + id,
			ID:            id,
			EC2InstanceID: fmt.Sprintf("i-%017x", i),
			Active:        true,
			Connected:     true,
			RegisteredAt:  time.Unix(1700000000+int64(i), 0),
			Attributes: map[string]string{
				"ecs.availability-zone": zones[i%len(zones)],
				"ecs.instance-type":     types[(i/len(zones))%len(types)],
				"ecs.os-type":           "linux",
			},
			CPU:     4096,
			Memory:  16384 - int64(i%7)*512,
			UsedTCP: map[uint16]bool{22: true, 2375: true, 2376: true, 51678: true, 51679: true},
			Groups:  map[string]int{},
		}
	}
	return insts
}

func run(c benchCase, m mode) result {
	runtime.GC()
	var ms0, ms1, ms2 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	insts := cluster(c.instances)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	lat := make([]time.Duration, 0, c.tasks/10+1)
	placed := 0
	start := time.Now()
	for call := 0; placed < c.tasks; call++ {
		req := m.req()
		req.Count = min(10, c.tasks-placed)
		req.Seed = uint64(call)
		t0 := time.Now()
		plan := placement.Place(insts, req)
		placement.Commit(insts, req, plan)
		lat = append(lat, time.Since(t0))
		if len(plan.Placements) == 0 {
			fmt.Fprintf(os.Stderr, "nothing placed: %+v\n", plan.Failures[:min(3, len(plan.Failures))])
			os.Exit(1)
		}
		placed += len(plan.Placements)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms2)
	slices.Sort(lat)
	runtime.KeepAlive(insts)
	return result{
		perSec:    float64(placed) / elapsed.Seconds(),
		p99:       lat[(len(lat)*99)/100],
		allocs:    float64(ms2.Mallocs-ms1.Mallocs) / float64(placed),
		bytes:     float64(ms2.TotalAlloc-ms1.TotalAlloc) / float64(placed),
		snapshot:  ms1.HeapAlloc - min(ms0.HeapAlloc, ms1.HeapAlloc),
		perPlaced: elapsed / time.Duration(placed),
	}
}
