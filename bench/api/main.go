// Command api benchmarks berth's ECS API side by side with moto_server: the
// same client code (signed HTTP, and the aws-sdk-go-v2 ECS client) drives
// every target through the same scenarios, and the program prints one Markdown table per scenario (or JSON
// with -json). bench/api/run.sh starts both servers and runs it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchflag"
	"github.com/berth-dev/berth/bench/internal/rawecs"
)

type config struct {
	Targets       []string `json:"targets"`
	Scenarios     []string `json:"scenarios"`
	Clients       []string `json:"clients"`
	Concurrency   []int    `json:"concurrency"`
	Duration      string   `json:"duration_per_cell"`
	Warmup        string   `json:"warmup_per_cell"`
	MaxRequests   int      `json:"max_requests_per_cell"`
	Revisions     int      `json:"revisions"`
	MotoRevisions int      `json:"moto_revisions"`
	Families      int      `json:"families"`
	GoMaxProcs    int      `json:"gomaxprocs"`
}

type report struct {
	Started  time.Time `json:"started"`
	Config   config    `json:"config"`
	Targets  []*target `json:"targets"`
	Cells    []*cell   `json:"cells"`
	Failures []string  `json:"failures,omitempty"`
	// SyncFloorMs is one 4 KiB write and fdatasync (-floor).
	SyncFloorMs float64 `json:"sync_floor_ms,omitempty"`
}

func main() {
	var (
		berthURL    = flag.String("berth", "", "berth endpoint `URL` (http://127.0.0.1:PORT)")
		motoURL     = flag.String("moto", "", "moto_server endpoint `URL`")
		targetsF    = flag.String("targets", "berth,moto", "comma-separated targets to measure, in order")
		scenariosF  = flag.String("scenarios", strings.Join(scenarioNames, ","), "comma-separated scenarios")
		concF       = flag.String("concurrency", "1,8", "comma-separated numbers of concurrent clients")
		clientsF    = flag.String("clients", "raw,sdk", "client code to drive the calls with: raw (signed HTTP, the aws-sdk-go-v2 signer) and/or sdk (the aws-sdk-go-v2 ECS client)")
		duration    = flag.Duration("duration", 5*time.Second, "measured duration of each cell")
		warmup      = flag.Duration("warmup", time.Second, "unrecorded warm-up before each cell")
		maxRequests = flag.Int("max-requests", 500000, "stop a cell after this many requests (bounds the run)")
		revisions   = flag.Int("revisions", 10000, "task definition revisions stored by the setup")
		motoRevs    = flag.Int("moto-revisions", -1, "revisions stored in moto if different from -revisions (reported in the output)")
		families    = flag.Int("families", 10, "families the setup spreads the revisions over")
		setupTO     = flag.Duration("setup-timeout", 3*time.Minute, "bound on each target's setup")
		callTO      = flag.Duration("call-timeout", 30*time.Second, "timeout of one API call")
		region      = flag.String("region", "us-east-1", "signing region")
		accessKey   = flag.String("access-key", "AKIDBENCH", "access key ID the requests are signed with")
		secretKey   = flag.String("secret-key", "benchsecret", "secret access key the requests are signed with")
		jsonOut     = flag.Bool("json", false, "print the results as JSON instead of Markdown")
		floor       = flag.Bool("floor", true, "also measure the floors, each server in its own process: DescribeClusters answered by net/http doing nothing (floor-net/http) and by a minimal HTTP/1 responder (floor-raw), a loopback ping-pong (floor-pingpong), and one write + fdatasync in -sync-dir")
		syncDir     = flag.String("sync-dir", os.TempDir(), "`directory` on the data disk for the fdatasync floor")
		serveFloorF = flag.String("serve-floor", "", "run as the floor server `KIND` (used by -floor: the benchmark starts itself this way)")
	)
	flag.Parse()
	if *serveFloorF != "" {
		if err := serveFloor(*serveFloorF); err != nil {
			fatal("%v", err)
		}
		return
	}
	// The client's own collector competes with the server for the same
	// cores; run it as rarely as berth runs its own (cmd/berth) unless GOGC
	// says otherwise. moto and berth are driven by this same process.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	urls := map[string]string{"berth": *berthURL, "moto": *motoURL}
	conc, err := parseInts(*concF)
	if err != nil {
		fatal("-concurrency: %v", err)
	}
	if *families < 1 || *revisions < *families {
		fatal("-revisions (%d) must be at least -families (%d)", *revisions, *families)
	}
	if *motoRevs < 0 {
		*motoRevs = *revisions
	}
	if *motoRevs < *families {
		fatal("-moto-revisions (%d) must be at least -families (%d)", *motoRevs, *families)
	}
	rep := &report{
		Started: time.Now().UTC(),
		Config: config{
			Targets: benchflag.List(*targetsF), Scenarios: benchflag.List(*scenariosF), Clients: benchflag.List(*clientsF), Concurrency: conc,
			Duration: duration.String(), Warmup: warmup.String(), MaxRequests: *maxRequests,
			Revisions: *revisions, MotoRevisions: *motoRevs, Families: *families,
			GoMaxProcs: runtime.GOMAXPROCS(0),
		},
	}
	for _, s := range rep.Config.Scenarios {
		if _, err := scenario(s, &target{}); err != nil {
			fatal("%v", err)
		}
	}
	for _, cl := range rep.Config.Clients {
		if cl != "raw" && cl != "sdk" {
			fatal("unknown client %q (known: raw, sdk)", cl)
		}
	}
	maxConc := 1
	for _, c := range conc {
		maxConc = max(maxConc, c)
	}
	hc := newHTTPClient(maxConc)

	for _, name := range rep.Config.Targets {
		u, ok := urls[name]
		if !ok {
			fatal("unknown target %q (known: berth, moto)", name)
		}
		if u == "" {
			fatal("target %s needs -%s URL", name, name)
		}
		t := &target{Name: name, URL: u, Revisions: *revisions,
			client: newECSClient(hc, u, *region, *accessKey, *secretKey)}
		if name == "moto" {
			t.Revisions = *motoRevs
		}
		rep.Targets = append(rep.Targets, t)
		fmt.Fprintf(os.Stderr, "%s (%s): setup, %d revisions in %d families\n", name, u, t.Revisions, *families)
		if err := setup(t, *families, *setupTO, *callTO); err != nil {
			msg := fmt.Sprintf("%s: setup failed: %v", name, err)
			fmt.Fprintln(os.Stderr, "  "+msg)
			rep.Failures = append(rep.Failures, msg)
			for _, s := range rep.Config.Scenarios {
				for _, cl := range rep.Config.Clients {
					for _, c := range conc {
						rep.Cells = append(rep.Cells, &cell{Target: name, Scenario: s, Client: cl, Concurrency: c, Skipped: "setup failed"})
					}
				}
			}
			continue
		}
		raw, err := rawecs.New(u, *region, *accessKey, *secretKey)
		if err != nil {
			fatal("%v", err)
		}
		for _, s := range rep.Config.Scenarios {
			for _, cl := range rep.Config.Clients {
				fn, _ := scenario(s, t)
				if cl == "raw" {
					fn, _ = rawScenario(s, t, raw)
				}
				for _, c := range conc {
					lat, errs, elapsed, capped := run(fn, c, *warmup, *duration, *maxRequests, *callTO)
					ce := &cell{Target: name, Scenario: s, Client: cl, Concurrency: c}
					summarize(ce, lat, errs, elapsed, capped)
					rep.Cells = append(rep.Cells, ce)
					fmt.Fprintf(os.Stderr, "  %s %-34s %s c=%d  %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d\n",
						name, s, cl, c, ce.ReqPerSec, ce.P50ms, ce.P99ms, ce.Errors)
					for k, n := range ce.ErrorKinds {
						fmt.Fprintf(os.Stderr, "    error ×%d: %s\n", n, k)
					}
				}
			}
		}
	}

	if *floor {
		fmt.Fprintln(os.Stderr, "floors: servers that do no work, each in its own process")
		cells, err := floorCells(conc, *warmup, *duration, *maxRequests, *callTO, *region, *accessKey, *secretKey)
		if err != nil {
			rep.Failures = append(rep.Failures, fmt.Sprintf("floor: %v", err))
		}
		rep.Cells = append(rep.Cells, cells...)
		d, err := syncFloor(*syncDir, 2000)
		if err != nil {
			rep.Failures = append(rep.Failures, fmt.Sprintf("fdatasync floor: %v", err))
		} else {
			rep.SyncFloorMs = float64(d) / 1e6
			fmt.Fprintf(os.Stderr, "  4 KiB write + fdatasync in %s: %.3f ms\n", *syncDir, rep.SyncFloorMs)
		}
	}

	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fatal("%v", err)
		}
	} else {
		writeMarkdown(os.Stdout, rep)
	}
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}

func parseInts(s string) ([]int, error) {
	out, err := benchflag.PositiveInts(s)
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("empty list")
	}
	return out, err
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/api: "+format+"\n", args...)
	os.Exit(2)
}
