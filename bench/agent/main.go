// Command agent benchmarks berth's task launch end to end against Docker's
// own floor on the same engine: RunTask → RUNNING latency (sequential and
// concurrent), launch throughput, and the agent's memory with 100 running
// tasks. The floor is ContainerCreate + ContainerStart of the same image,
// command and limits straight through the moby client. bench/agent/run.sh
// starts `berth server` and one `berth agent` and runs it; it prints one
// Markdown table per measurement.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/bench/internal/benchflag"
	"github.com/berth-dev/berth/bench/internal/rawecs"
	"github.com/berth-dev/berth/internal/sdkclient"
	"github.com/berth-dev/berth/internal/testimage"
)

// cell is one latency measurement at one concurrency, Docker and berth.
type cell struct {
	Conc, N     int
	Docker      []result
	Berth       []result
	DockerTimes []engineTimes // per result: the breakdown
	BerthTimes  []engineTimes
	DockerCPU   cpuSample // CPU used while Docker's launches ran
	BerthCPU    cpuSample
}

// tputRun is one launcher's throughput bursts (one per repetition).
type tputRun struct {
	Label   string
	Berth   bool
	Poll    time.Duration // berth: DescribeTasks interval during the bursts
	Results []result
	Bursts  []burst
	CPU     cpuSample
	// FromStart is each launch's completion, from its burst's start.
	FromStart []time.Duration
}

// burst is one burst's outcome.
type burst struct {
	N       int           // launches that succeeded
	Elapsed time.Duration // until the last one was started (observed RUNNING)
	Server  time.Duration // berth: last startedAt − first createdAt
}

type report struct {
	Started    time.Time
	Image      string
	Cmd        []string
	MemMiB     int32
	Poll       time.Duration
	GoMaxProcs int
	Cells      []*cell
	Commit     string
	// Throughput: Docker at TputConc, berth as RunTask calls of TputPer.
	TputN, TputConc, TputPer int
	TputReps                 int
	TputPolls                []time.Duration
	Tput                     []*tputRun
	// Memory.
	RSSTasks               int
	RSSLaunch              []result
	RSSLaunchT             time.Duration
	RSSCPU                 cpuSample
	AgentIdle, AgentLoaded procMem
	AgentEnd, ServerIdle   procMem
	ServerLoaded           procMem
	PollCalls, PollErrs    int64
	Failures               []string
}

func main() { os.Exit(run()) }

// run returns the exit code: 0, 1 when a measurement failed, 2 when the
// run could not start. Deferred cleanups run before the exit.
func run() int {
	var (
		endpoint   = flag.String("endpoint", "", "berth server `URL` (http://127.0.0.1:PORT)")
		cluster    = flag.String("cluster", "default", "cluster the agent joined")
		instanceID = flag.String("instance-id", "", "the agent's --instance-id (owner label of its containers)")
		agentPID   = flag.Int("agent-pid", 0, "pid of the `berth agent` process (its VmRSS is reported)")
		serverPID  = flag.Int("server-pid", 0, "pid of the `berth server` process (optional)")
		waitOnly   = flag.Bool("wait-connected", false, "only wait until the instance is agentConnected, then exit")
		connectTO  = flag.Duration("connect-timeout", 60*time.Second, "bound on the wait for agentConnected")
		seqN       = flag.Int("seq", 30, "launches of the sequential latency cell")
		concN      = flag.Int("n", 120, "launches of each concurrent latency cell")
		concF      = flag.String("concurrency", "4,8", "comma-separated concurrencies of the latency cells")
		tputN      = flag.Int("throughput", 50, "tasks (and containers) of the throughput burst")
		tputConc   = flag.Int("throughput-concurrency", 8, "concurrent Docker create+start calls of the throughput floor")
		tputPer    = flag.Int("throughput-count", 10, "RunTask count per call of the throughput burst (calls run concurrently)")
		tputReps   = flag.Int("throughput-reps", 2, "repetitions of the throughput bursts (alternating launchers)")
		tputPolls  = flag.String("throughput-poll", "20ms,200ms", "comma-separated DescribeTasks intervals: one berth burst with each")
		commit     = flag.String("commit", "", "commit measured (reported)")
		rssTasks   = flag.Int("rss-tasks", 100, "running tasks when the agent's RSS is read")
		memMiB     = flag.Int("memory", 16, "container memory limit (MiB)")
		poll       = flag.Duration("poll", 20*time.Millisecond, "DescribeTasks polling interval")
		taskTO     = flag.Duration("task-timeout", 60*time.Second, "bound on one task's wait for RUNNING")
		timeout    = flag.Duration("timeout", 10*time.Minute, "bound on the whole run")
		region     = flag.String("region", "us-east-1", "signing region")
		accessKey  = flag.String("access-key", "AKIDBENCH", "access key ID the requests are signed with")
		secretKey  = flag.String("secret-key", "benchsecret", "secret access key the requests are signed with")
	)
	flag.Parse()
	if *endpoint == "" || *instanceID == "" {
		return fatal("-endpoint and -instance-id are required")
	}
	concs, err := benchflag.PositiveInts(*concF)
	if err != nil {
		return fatal("-concurrency: %v", err)
	}
	switch {
	case *seqN < 1 || *concN < 1 || *tputN < 1 || *rssTasks < 1 || *tputConc < 1:
		return fatal("-seq, -n, -throughput, -rss-tasks and -throughput-concurrency must be at least 1")
	case *tputPer < 1 || *tputPer > 10:
		return fatal("-throughput-count must be 1 to 10 (RunTask's count)")
	case *poll <= 0 || *taskTO <= 0 || *timeout <= 0:
		return fatal("-poll, -task-timeout and -timeout must be positive")
	}
	var polls []time.Duration
	for _, f := range benchflag.List(*tputPolls) {
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return fatal("-throughput-poll: bad interval %q", f)
		}
		polls = append(polls, d)
	}
	// The client's collector competes with berth for the same cores.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	ecsc := sdkclient.ECS(hc, *endpoint, *region, *accessKey, *secretKey)
	if err := waitConnected(ctx, ecsc, *cluster, *instanceID, *connectTO); err != nil {
		return fatal("%v", err)
	}
	if *waitOnly {
		return 0
	}

	rep := &report{Started: time.Now().UTC(), Cmd: []string{"testapp", "sleep", "3600"}, MemMiB: int32(*memMiB),
		Poll: *poll, GoMaxProcs: runtime.GOMAXPROCS(0), TputN: *tputN, TputConc: *tputConc, TputPer: *tputPer, TputPolls: polls, TputReps: max(1, *tputReps),
		RSSTasks: *rssTasks, Commit: *commit}
	progress("building the test image (internal/testimage)")
	if rep.Image, err = testimage.Build(ctx); err != nil {
		return fatal("%v", err)
	}
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fatal("docker client: %v", err)
	}
	defer cli.Close()
	fl := &floor{cli: cli, image: rep.Image, cmd: rep.Cmd, mem: int64(*memMiB) << 20, runID: *instanceID}
	pollc, err := rawecs.New(*endpoint, *region, *accessKey, *secretKey)
	if err != nil {
		return fatal("%v", err)
	}
	b := &berth{ecs: ecsc, cluster: *cluster, taskTO: *taskTO, poll: newPoller(pollc, *cluster, *poll)}
	// Whatever happens, leave no floor container and no running task.
	defer func() {
		cctx, c := context.WithTimeout(context.Background(), 2*time.Minute)
		defer c()
		if _, err := b.stopAll(cctx, time.Minute); err != nil {
			progress("cleanup: %v", err)
		}
		if _, err := removeLabelled(cctx, cli, floorLabel, *instanceID, false); err != nil {
			progress("cleanup: %v", err)
		}
	}()

	rep.AgentIdle, rep.ServerIdle = readMem(*agentPID), readMem(*serverPID)
	if err := b.registerTD(ctx, rep.Image, rep.Cmd, rep.MemMiB); err != nil {
		return fatal("%v", err)
	}
	go b.poll.run(ctx)
	evs := watchEvents(ctx, cli)
	s := &session{ctx: ctx, rep: rep, cli: cli, fl: fl, b: b, ev: evs, instanceID: *instanceID,
		procs: procs{Agent: *agentPID, Server: *serverPID, Self: os.Getpid(), Dockerd: dockerdPID()}}

	s.warmUp()
	s.memory()
	s.latency(1, *seqN)
	for _, c := range concs {
		s.latency(c, *concN)
	}
	s.throughput()
	rep.AgentEnd = readMem(*agentPID)
	rep.PollCalls, rep.PollErrs = b.poll.calls.Load(), b.poll.callErr.Load()
	if ctx.Err() != nil {
		rep.Failures = append(rep.Failures, fmt.Sprintf("run cut short: %v (-timeout %s)", context.Cause(ctx), *timeout))
	}
	writeMarkdown(os.Stdout, rep)
	if len(rep.Failures) > 0 {
		return 1
	}
	return 0
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/agent: "+format+"\n", args...)
}

func fatal(format string, args ...any) int {
	progress(format, args...)
	return 2
}
