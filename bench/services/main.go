// Command services benchmarks berth's service controller in two parts.
//
// Part 1, the controller's cost (in process, no Docker): the real API code
// (api.New) on a real bbolt store in a temporary directory, 1,000
// registered container instances with connected agents, N services × 10
// tasks driven to a steady state by playing the agents in process
// (ApplyTaskState RUNNING, the clock moved past the 40 s healthy delay).
// It measures one ReconcileCluster pass over the steady cluster (wall, CPU
// time, allocations; median of several passes) and a pass after the
// desiredCount of 1 % of the services changed, for each N, and prints how
// the cost grows with N.
//
//	go run ./bench/services [-services 100,300,1000] [-passes 11] [-change-reps 3] [-cpuprofile FILE]
//
// Part 2, update-service → steady state on real Docker: with -endpoint
// (bench/services/run.sh starts `berth server` and one or two agents and
// passes it), a 10-task service (minimumHealthyPercent 100, maximumPercent
// 200) gets a new task definition revision, and the time until the
// deployment is done (the AWS CLI's services-stable condition) is printed
// beside the floor computed from Docker's own start of 10 containers of
// the same image, the healthy delay and Docker's own stop of 10 containers.
//
//	bash bench/services/run.sh [-reps 2] [-skip-controller]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchflag"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		servicesF   = flag.String("services", "100,300,1000", "part 1: comma-separated numbers of services (10 tasks each)")
		instances   = flag.Int("instances", 1000, "part 1: container instances")
		perService  = flag.Int("tasks", 10, "part 1: desiredCount of each service")
		passes      = flag.Int("passes", 11, "part 1: measured passes over the steady cluster (median reported)")
		changeReps  = flag.Int("change-reps", 3, "part 1: measured passes after changing 1 % of the services (median reported)")
		cpuprofile  = flag.String("cpuprofile", "", "part 1: write a CPU profile of -profile-passes steady passes at the largest -services to `FILE`")
		profPasses  = flag.Int("profile-passes", 50, "part 1: steady passes run under -cpuprofile")
		skipCtl     = flag.Bool("skip-controller", false, "skip part 1")
		endpoint    = flag.String("endpoint", "", "part 2: berth server `URL`; without it part 2 is skipped")
		cluster     = flag.String("cluster", "default", "part 2: cluster the agents joined")
		agents      = flag.Int("agents", 1, "part 2: connected agents to wait for")
		runID       = flag.String("run-id", "", "part 2: label value of this run's floor containers (run.sh removes them)")
		reps        = flag.Int("reps", 2, "part 2: update-service rollouts measured (each ~45 s with the 40 s healthy delay)")
		healthy     = flag.Duration("healthy-after", 40*time.Second, "part 2: the server's --service-healthy-after (used in the floor)")
		desired     = flag.Int("desired", 10, "part 2: desiredCount of the service")
		poll        = flag.Duration("poll", 100*time.Millisecond, "part 2: DescribeServices polling interval")
		memMiB      = flag.Int("memory", 16, "part 2: container memory limit (MiB)")
		connectTO   = flag.Duration("connect-timeout", 60*time.Second, "part 2: bound on the wait for the agents")
		rolloutTO   = flag.Duration("rollout-timeout", 3*time.Minute, "part 2: bound on one rollout")
		commit      = flag.String("commit", "", "commit measured (printed)")
		region      = flag.String("region", "us-east-1", "part 2: signing region")
		accessKey   = flag.String("access-key", "AKIDBENCH", "part 2: access key ID")
		secretKey   = flag.String("secret-key", "benchsecret", "part 2: secret access key")
		timeout     = flag.Duration("timeout", 20*time.Minute, "bound on the whole run")
		waitAgents  = flag.Bool("wait-connected", false, "part 2: only wait until -agents agents are connected, then exit")
		floorConcur = flag.Int("floor-concurrency", 0, "part 2: concurrent Docker calls of the floor (default: -desired, as the agent starts every task at once)")
	)
	flag.Parse()
	if *commit == "" {
		if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
			*commit = strings.TrimSpace(string(out))
		}
	}
	ns, err := benchflag.PositiveInts(*servicesF)
	if err != nil {
		return fatal("-services: %v", err)
	}
	switch {
	case *instances < 1 || *perService < 1 || *passes < 1 || *changeReps < 1 || *reps < 1 || *desired < 1:
		return fatal("-instances, -tasks, -passes, -change-reps, -reps and -desired must be at least 1")
	case *poll <= 0 || *healthy < 0:
		return fatal("-poll must be positive and -healthy-after not negative")
	}
	// The server runs with GOGC=400 (ARCHITECTURE.md, Process tuning):
	// part 1 measures the server's code, so it runs the same way.
	gc := os.Getenv("GOGC")
	if gc == "" {
		debug.SetGCPercent(400)
		gc = "400"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *endpoint != "" {
		cfg := rolloutConfig{endpoint: *endpoint, cluster: *cluster, agents: *agents, runID: *runID, reps: *reps,
			healthy: *healthy, desired: *desired, poll: *poll, memMiB: *memMiB, connectTO: *connectTO,
			rolloutTO: *rolloutTO, region: *region, accessKey: *accessKey, secretKey: *secretKey,
			floorConc: *floorConcur}
		if cfg.floorConc <= 0 {
			cfg.floorConc = cfg.desired
		}
		if *waitAgents {
			if err := waitAgentsConnected(ctx, cfg); err != nil {
				return fatal("%v", err)
			}
			return 0
		}
		if !*skipCtl {
			if code := controllerPart(ctx, ns, *instances, *perService, *passes, *changeReps, *cpuprofile, *profPasses, gc, *commit); code != 0 {
				return code
			}
		}
		return rolloutPart(ctx, cfg, *commit)
	}
	if *skipCtl {
		return fatal("-skip-controller without -endpoint: nothing to run")
	}
	return controllerPart(ctx, ns, *instances, *perService, *passes, *changeReps, *cpuprofile, *profPasses, gc, *commit)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/services: "+format+"\n", args...)
}

func fatal(format string, args ...any) int {
	progress(format, args...)
	return 2
}
