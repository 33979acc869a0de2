// Command traffic measures how soon a service task that turned RUNNING
// gets traffic: for each of N launches, the delay from the moment the task
// is RUNNING (and not UNHEALTHY: what berth's service controller waits for
// before registering it; the definition has no container health check) to
// (a) the moment berth's built-in DNS server answers the service's Cloud
// Map name with the task's address and (b) the moment DescribeTargetHealth
// (ELBv2, same endpoint) lists the task's target.
//
// It builds berth, starts `berth server --dns-listen` and one `berth agent`
// on the real Docker Engine (image: internal/testimage), creates a Cloud
// Map private DNS namespace and service (A record), an ip target group
// with an HTTP health check, a load balancer and listener, an awsvpc task
// definition serving HTTP and an ECS service with both serviceRegistries
// and loadBalancers (desired count 1), then raises the desired count one
// at a time. Three pollers run side by side every -poll (10 ms):
// DescribeTasks, an A query to the DNS server and DescribeTargetHealth;
// each time is the client's clock when the response first showing the
// change arrived. Delays from the task's startedAt (the server's stamp,
// milliseconds) are printed too: they are free of the task poller's lag.
//
// Everything it starts (processes, containers, the temporary directory) is
// removed at the end, also on failure or interrupt; every wait is bounded.
//
//	go run ./bench/traffic [-n 10] [-poll 10ms] [-launch-timeout 90s] [-timeout 15m] [-logs DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/testimage"
)

const maxLaunches = 50

func main() { os.Exit(run()) }

func run() int {
	n := flag.Int("n", 10, fmt.Sprintf("launches to measure (1–%d): the desired count goes 1, 2, … n", maxLaunches))
	every := flag.Duration("poll", 10*time.Millisecond, "polling interval of each poller")
	launchTO := flag.Duration("launch-timeout", 90*time.Second, "bound on one launch")
	timeout := flag.Duration("timeout", 15*time.Minute, "bound on the whole run")
	memMiB := flag.Int("memory", 16, "container memory limit (MiB)")
	logs := flag.String("logs", "", "copy the server's and agent's logs to `DIR`")
	commit := flag.String("commit", "", "commit measured (printed)")
	flag.Parse()
	if *n < 1 || *n > maxLaunches || *every <= 0 || *launchTO <= 0 || *memMiB < 6 {
		progress("-n must be 1–%d, -poll and -launch-timeout positive, -memory at least 6", maxLaunches)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	progress("building the test image (internal/testimage)")
	ictx, icancel := context.WithTimeout(ctx, 5*time.Minute)
	image, err := testimage.Build(ictx)
	icancel()
	if err != nil {
		progress("the test image (needs Docker): %v", err)
		return 2
	}
	e, err := newEnv(ctx, *logs)
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer e.close()
	launches, err := measureAll(ctx, e, image, *n, *every, *launchTO, int32(*memMiB))
	if err != nil {
		progress("%v\n%s", err, e.logs(30))
		if len(launches) == 0 {
			return 1
		}
		progress("reporting the %d launches measured before the failure", len(launches))
	}
	report(launches, *every, *commit)
	if err != nil {
		return 1
	}
	return 0
}

// measureAll starts berth, sets the service up and measures n launches.
func measureAll(ctx context.Context, e *env, image string, n int, every, launchTO time.Duration, memMiB int32) ([]launch, error) {
	if err := e.startServer(ctx); err != nil {
		return nil, err
	}
	c := newClients(e.endpoint)
	if _, err := c.ecs.CreateCluster(ctx, nil); err != nil {
		return nil, fmt.Errorf("create the default cluster: %w", err)
	}
	if err := e.startAgent(); err != nil {
		return nil, err
	}
	progress("server %s (DNS %s), agent %s", e.endpoint, e.dnsAddr, e.instanceID)
	if err := waitAgent(ctx, c, 60*time.Second); err != nil {
		return nil, err
	}
	w, err := setup(ctx, c, image, memMiB)
	if err != nil {
		return nil, err
	}
	var out []launch
	for i := 1; i <= n; i++ {
		action := func(ctx context.Context) error { return scaleService(ctx, c, i) }
		if i == 1 {
			action = func(ctx context.Context) error { return createService(ctx, c, w) }
		}
		lctx, cancel := context.WithTimeout(ctx, launchTO)
		l, err := step(lctx, c, w, e.dnsAddr, i, every, action)
		cancel()
		if err != nil {
			return out, err
		}
		progress("launch %d: RUNNING %.0f ms after the call; DNS +%.1f ms, target group +%.1f ms", i,
			ms(l.running.Sub(l.called)), ms(l.inDNS.Sub(l.running)), ms(l.inTG.Sub(l.running)))
		out = append(out, l)
	}
	return out, nil
}

func report(ls []launch, every time.Duration, commit string) {
	p := func(format string, args ...any) { fmt.Printf(format, args...) }
	label := ""
	if commit != "" {
		label = ", commit " + commit
	}
	p("berth traffic registration: %d launches of an awsvpc service task (desired count 1 → %d), one agent, real Docker, %d CPUs, %s%s\n\n",
		len(ls), len(ls), runtime.NumCPU(), runtime.Version(), label)
	var calls [3]pollStats
	for _, l := range ls {
		for i, s := range l.polls {
			calls[i].calls += s.calls
			calls[i].errors += s.errors
			calls[i].busy += s.busy
		}
	}
	p("Polling: every %s per poller, side by side; a poll's time is when its response arrived, so each time is late by at most the interval plus one call (mean call:", every)
	for i, s := range calls {
		if s.calls > 0 {
			p(" %s %.1f ms", pollNames[i], ms(s.busy)/float64(s.calls))
		}
		if i < 2 {
			p(",")
		}
	}
	p("; %d/%d/%d calls, %d/%d/%d failed).\n\n", calls[0].calls, calls[1].calls, calls[2].calls, calls[0].errors, calls[1].errors, calls[2].errors)

	p("| launch | call → RUNNING seen | RUNNING → in DNS | RUNNING → target listed (state) | startedAt → in DNS | startedAt → target listed |\n")
	p("|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range ls {
		p("| %d | %.0f ms | %.1f ms | %.1f ms (%s) | %.1f ms | %.1f ms |\n", l.desired, ms(l.running.Sub(l.called)), ms(l.inDNS.Sub(l.running)),
			ms(l.inTG.Sub(l.running)), l.targetState, ms(l.inDNS.Sub(l.startedAt)), ms(l.inTG.Sub(l.startedAt)))
	}
	p("\n| delay | p50 | p90 | max |\n|---|---:|---:|---:|\n")
	row := func(name string, f func(launch) time.Duration) {
		ds := make([]time.Duration, len(ls))
		for i, l := range ls {
			ds[i] = f(l)
		}
		slices.Sort(ds)
		p("| %s | %.1f ms | %.1f ms | %.1f ms |\n", name, ms(pct(ds, 0.5)), ms(pct(ds, 0.9)), ms(ds[len(ds)-1]))
	}
	row("(a) RUNNING seen → DNS answers the task's address", func(l launch) time.Duration { return l.inDNS.Sub(l.running) })
	row("(b) RUNNING seen → DescribeTargetHealth lists the target", func(l launch) time.Duration { return l.inTG.Sub(l.running) })
	row("(a') task startedAt → DNS answers the task's address", func(l launch) time.Duration { return l.inDNS.Sub(l.startedAt) })
	row("(b') task startedAt → DescribeTargetHealth lists the target", func(l launch) time.Duration { return l.inTG.Sub(l.startedAt) })
	p("\nTarget: ≤ 1 s for (a) and (b). A delay below zero means the registration was seen before the task poller saw RUNNING (the pollers run apart).\n")
}

// pct is the nearest-rank percentile of sorted ds.
func pct(ds []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/traffic: "+format+"\n", args...)
}
