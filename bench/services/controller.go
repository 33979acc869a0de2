package main

// Part 1: the cost of one service controller pass, in process.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

// world is the API on a bbolt store in a temporary directory, with a clock
// the benchmark moves, playing the agents of its instances in process.
type world struct {
	st       *boltstore.Store
	e        *api.ECS
	dir      string
	cluster  string
	cfg      api.ControllerConfig
	services []string
	perSvc   int

	mu  sync.Mutex
	now time.Time
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func (w *world) close() {
	w.st.Close()
	os.RemoveAll(w.dir)
}

// Instance shape: 4 zones, 4 vCPU and 16 GiB each; a task asks for 32 CPU
// units and 64 MiB, so 1,000 instances hold 100,000 of them.
var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}

const (
	instCPU, instMem = 4096, 16384
	taskCPU, taskMem = 32, 64
	workers          = 16 // concurrent writers while setting up (they share fsyncs)
)

// newWorld registers the cluster and its instances, with agents connected.
func newWorld(ctx context.Context, instances int) (*world, error) {
	dir, err := os.MkdirTemp("", "berth-bench-services-")
	if err != nil {
		return nil, err
	}
	st, err := boltstore.Open(filepath.Join(dir, "berth.db"), boltstore.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	w := &world{st: st, dir: dir, cluster: "bench", now: time.Unix(1_700_000_000, 0).UTC()}
	w.e = api.New(st, api.Config{Region: "us-east-1", AccountID: "123456789012", Now: w.clock, Log: slog.New(slog.DiscardHandler)})
	if _, err := w.e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: &w.cluster}); err != nil {
		w.close()
		return nil, fmt.Errorf("CreateCluster: %w", err)
	}
	err = parallel(ctx, instances, func(i int) error {
		out, err := w.e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{
			Cluster: &w.cluster,
			TotalResources: []ecsapi.Resource{
				{Name: ecsapi.Ptr("CPU"), Type: ecsapi.Ptr("INTEGER"), IntegerValue: instCPU},
				{Name: ecsapi.Ptr("MEMORY"), Type: ecsapi.Ptr("INTEGER"), IntegerValue: instMem},
			},
			Attributes: []ecsapi.Attribute{
				{Name: "ecs.availability-zone", Value: ecsapi.Ptr(zones[i%len(zones)])},
				{Name: "ecs.instance-type", Value: ecsapi.Ptr("m5.xlarge")},
				{Name: "ecs.os-type", Value: ecsapi.Ptr("linux")},
			},
		})
		if err != nil {
			return fmt.Errorf("RegisterContainerInstance: %w", err)
		}
		id := lastSegment(ecsapi.Value(out.ContainerInstance.ContainerInstanceArn))
		if err := w.e.SetAgentConnected(ctx, w.cluster, id, true); err != nil {
			return fmt.Errorf("SetAgentConnected: %w", err)
		}
		return nil
	})
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// createServices registers one task definition family per service and
// creates n services of perSvc tasks (minimumHealthyPercent 100,
// maximumPercent 200, the default placement: spread by zone, then
// instance). The services are created one at a time: CreateService
// rewrites the cluster record (so a racing DeleteCluster conflicts), so
// concurrent creations in one cluster conflict with each other.
func (w *world) createServices(ctx context.Context, n, perSvc int) error {
	w.perSvc = perSvc
	w.services = make([]string, n)
	tds := make([]*string, n)
	err := parallel(ctx, n, func(i int) error {
		w.services[i] = fmt.Sprintf("svc-%04d", i)
		td, err := w.e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
			Family: w.services[i],
			ContainerDefinitions: []ecsapi.ContainerDefinition{{
				Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("berth-testapp:latest"), Command: []string{"testapp", "sleep", "3600"},
				Cpu: taskCPU, Memory: ecsapi.Ptr(int32(taskMem)), Essential: ecsapi.Ptr(true),
			}},
		})
		if err != nil {
			return fmt.Errorf("RegisterTaskDefinition: %w", err)
		}
		tds[i] = td.TaskDefinition.TaskDefinitionArn
		return nil
	})
	if err != nil {
		return err
	}
	for i, name := range w.services {
		_, err = w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
			Cluster: &w.cluster, ServiceName: name, TaskDefinition: tds[i],
			DesiredCount: ecsapi.Ptr(int32(perSvc)),
			DeploymentConfiguration: &ecsapi.DeploymentConfiguration{
				MinimumHealthyPercent: ecsapi.Ptr(int32(100)), MaximumPercent: ecsapi.Ptr(int32(200)),
			},
		})
		if err != nil {
			return fmt.Errorf("CreateService: %w", err)
		}
	}
	return nil
}

// passCost is one ReconcileCluster pass.
type passCost struct {
	wall, cpu     time.Duration
	allocs, bytes uint64
	writes        int64 // store revisions committed during the pass
}

// pass runs one ReconcileCluster pass and measures it: wall time, the
// process's CPU time (user+system, every thread: the pass, the store's
// committer, the collector), allocations and store commits.
func (w *world) pass(ctx context.Context) (passCost, error) {
	var m0, m1 runtime.MemStats
	rev0, err := w.st.Rev(ctx)
	if err != nil {
		return passCost{}, err
	}
	runtime.ReadMemStats(&m0)
	c0 := cpuTime()
	t0 := time.Now()
	_, err = w.e.ReconcileCluster(ctx, w.cluster, w.cfg)
	wall := time.Since(t0)
	c1 := cpuTime()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return passCost{}, fmt.Errorf("ReconcileCluster: %w", err)
	}
	rev1, err := w.st.Rev(ctx)
	if err != nil {
		return passCost{}, err
	}
	return passCost{wall: wall, cpu: c1 - c0, allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc, writes: rev1 - rev0}, nil
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tasks returns the cluster's tasks of one desired status (ListTasks with
// its filter, then DescribeTasks 100 at a time), as a client sees them.
func (w *world) tasks(ctx context.Context, desired ecsapi.DesiredStatus) ([]ecsapi.Task, error) {
	var arns []string
	var token *string
	for {
		out, err := w.e.ListTasks(ctx, &ecsapi.ListTasksRequest{Cluster: &w.cluster, DesiredStatus: &desired, MaxResults: ecsapi.Ptr(int32(100)), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("ListTasks: %w", err)
		}
		arns = append(arns, out.TaskArns...)
		if ecsapi.Value(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	var tasks []ecsapi.Task
	for i := 0; i < len(arns); i += 100 {
		out, err := w.e.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Cluster: &w.cluster, Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, fmt.Errorf("DescribeTasks: %w", err)
		}
		tasks = append(tasks, out.Tasks...)
	}
	return tasks, nil
}

// playAgents reports what the agents would: every PENDING task desired
// RUNNING is now RUNNING, every task told to stop is STOPPED. Tasks are
// reported by their instances' workers, one instance per worker at a time,
// so reports of one instance never race on its record.
func (w *world) playAgents(ctx context.Context) (int, error) {
	byInst := map[string][]agentproto.TaskState{}
	add := func(desired ecsapi.DesiredStatus, from func(string) bool, to string) error {
		ts, err := w.tasks(ctx, desired)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if !from(ecsapi.Value(t.LastStatus)) {
				continue
			}
			inst := lastSegment(ecsapi.Value(t.ContainerInstanceArn))
			byInst[inst] = append(byInst[inst], agentproto.TaskState{TaskARN: ecsapi.Value(t.TaskArn), Status: to})
		}
		return nil
	}
	if err := add(ecsapi.DesiredStatusRUNNING, func(s string) bool { return s == "PENDING" }, "RUNNING"); err != nil {
		return 0, err
	}
	if err := add(ecsapi.DesiredStatusSTOPPED, func(s string) bool { return s != "STOPPED" }, "STOPPED"); err != nil {
		return 0, err
	}
	insts := make([]string, 0, len(byInst))
	n := 0
	for id, s := range byInst {
		insts = append(insts, id)
		n += len(s)
	}
	err := parallel(ctx, len(insts), func(i int) error {
		for _, s := range byInst[insts[i]] {
			if err := w.e.ApplyTaskState(ctx, w.cluster, insts[i], s); err != nil {
				return fmt.Errorf("ApplyTaskState: %w", err)
			}
		}
		return nil
	})
	return n, err
}

// settle drives the cluster to a steady state: passes and agent reports
// until nothing changes, then the clock moved past the healthy delay, until
// a pass with nothing to report before or after it writes nothing.
func (w *world) settle(ctx context.Context) error {
	idle := false
	for range 12 {
		c, err := w.pass(ctx)
		if err != nil {
			return err
		}
		n, err := w.playAgents(ctx)
		if err != nil {
			return err
		}
		if c.writes > 0 || n > 0 {
			idle = false
			continue
		}
		if idle {
			return w.checkSteady(ctx)
		}
		// Nothing changes now: what is left comes with time.
		w.advance(api.DefaultHealthyAfter + time.Second)
		idle = true
	}
	return fmt.Errorf("no steady state after 12 passes")
}

// checkSteady verifies that every service runs its desired count and has
// one deployment, COMPLETED.
func (w *world) checkSteady(ctx context.Context) error {
	for i := 0; i < len(w.services); i += 10 {
		out, err := w.e.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Cluster: &w.cluster, Services: w.services[i:min(i+10, len(w.services))]})
		if err != nil {
			return fmt.Errorf("DescribeServices: %w", err)
		}
		for _, s := range out.Services {
			if len(s.Deployments) != 1 || s.RunningCount != s.DesiredCount || s.PendingCount != 0 ||
				ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateCOMPLETED {
				return fmt.Errorf("service %s not steady: running %d of %d, pending %d, %d deployments", ecsapi.Value(s.ServiceName), s.RunningCount, s.DesiredCount, s.PendingCount, len(s.Deployments))
			}
		}
	}
	return nil
}

// recordStats reads what a pass reads (ARCHITECTURE.md's key layout): the
// service records' mean size and events, the task records' mean size.
func (w *world) recordStats(ctx context.Context) (svcBytes, events, taskBytes float64, err error) {
	kvs, _, err := w.st.List(ctx, "/services/"+w.cluster+"/", store.ListOptions{})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, kv := range kvs {
		var rec struct {
			Service struct {
				Events []json.RawMessage `json:"events"`
			} `json:"service"`
		}
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return 0, 0, 0, err
		}
		svcBytes += float64(len(kv.Value))
		events += float64(len(rec.Service.Events))
	}
	if n := float64(len(kvs)); n > 0 {
		svcBytes, events = svcBytes/n, events/n
	}
	tkvs, _, err := w.st.List(ctx, "/tasks/"+w.cluster+"/", store.ListOptions{})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, kv := range tkvs {
		taskBytes += float64(len(kv.Value))
	}
	if n := float64(len(tkvs)); n > 0 {
		taskBytes /= n
	}
	return svcBytes, events, taskBytes, nil
}

// setDesired sets the desiredCount of services.
func (w *world) setDesired(ctx context.Context, names []string, n int) error {
	for _, name := range names {
		if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Cluster: &w.cluster, Service: name, DesiredCount: ecsapi.Ptr(int32(n))}); err != nil {
			return fmt.Errorf("UpdateService: %w", err)
		}
	}
	return nil
}

// ctlResult is one number of services.
type ctlResult struct {
	services, tasks int
	setup           time.Duration
	first, complete passCost // the pass that starts every task; the one that completes the deployments
	steady          passCost // medians
	scaleOut        passCost
	scaleIn         passCost
	// The fastest pass of each kind (wall and CPU): on a shared machine
	// the median carries other processes' load.
	steadyMin, scaleOutMin, scaleInMin passCost
	changed                            int // services changed per change pass
	// Records at the end: mean service record size and events, mean task
	// record size, task records (live and STOPPED: a pass lists them all).
	svcBytes, events, taskBytes float64
	taskRecords                 int
}

// medianCost is the median of each figure separately.
func medianCost(cs []passCost) passCost {
	med := func(f func(passCost) int64) int64 {
		v := make([]int64, len(cs))
		for i, c := range cs {
			v[i] = f(c)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return passCost{
		wall:   time.Duration(med(func(c passCost) int64 { return int64(c.wall) })),
		cpu:    time.Duration(med(func(c passCost) int64 { return int64(c.cpu) })),
		allocs: uint64(med(func(c passCost) int64 { return int64(c.allocs) })),
		bytes:  uint64(med(func(c passCost) int64 { return int64(c.bytes) })),
		writes: med(func(c passCost) int64 { return c.writes }),
	}
}

// minCost is the least wall and CPU time of the passes.
func minCost(cs []passCost) passCost {
	m := cs[0]
	for _, c := range cs[1:] {
		m.wall, m.cpu = min(m.wall, c.wall), min(m.cpu, c.cpu)
	}
	return m
}

// measureN builds a cluster of n services on instances and measures it.
func measureN(ctx context.Context, n, instances, perSvc, passes, changeReps int, profile string, profPasses int) (ctlResult, error) {
	r := ctlResult{services: n, tasks: n * perSvc}
	began := time.Now()
	w, err := newWorld(ctx, instances)
	if err != nil {
		return r, err
	}
	defer w.close()
	progress("%d services: %d instances registered in %s", n, instances, time.Since(began).Round(time.Millisecond))
	if err := w.createServices(ctx, n, perSvc); err != nil {
		return r, err
	}
	progress("%d services: created in %s", n, time.Since(began).Round(time.Millisecond))
	// The first pass starts every task; the agents report them RUNNING;
	// 40 s later a pass finds them healthy and completes the deployments.
	if r.first, err = w.pass(ctx); err != nil {
		return r, err
	}
	if _, err := w.playAgents(ctx); err != nil {
		return r, err
	}
	if _, err := w.pass(ctx); err != nil { // counts: pending → running
		return r, err
	}
	w.advance(api.DefaultHealthyAfter + time.Second)
	if r.complete, err = w.pass(ctx); err != nil {
		return r, err
	}
	if err := w.settle(ctx); err != nil {
		return r, err
	}
	r.setup = time.Since(began)
	progress("%d services: %d tasks steady in %s; measuring", n, r.tasks, r.setup.Round(time.Millisecond))

	var steady []passCost
	for range passes {
		c, err := w.pass(ctx)
		if err != nil {
			return r, err
		}
		steady = append(steady, c)
	}
	r.steady, r.steadyMin = medianCost(steady), minCost(steady)

	// 1 % of the services, spread over the list, a different set each rep.
	r.changed = max(1, n/100)
	var outs, ins []passCost
	for rep := range changeReps {
		var names []string
		for j := range r.changed {
			names = append(names, w.services[(j*(n/r.changed)+rep)%n])
		}
		if err := w.setDesired(ctx, names, perSvc+1); err != nil {
			return r, err
		}
		c, err := w.pass(ctx)
		if err != nil {
			return r, err
		}
		outs = append(outs, c)
		if err := w.settle(ctx); err != nil {
			return r, err
		}
		if err := w.setDesired(ctx, names, perSvc); err != nil {
			return r, err
		}
		if c, err = w.pass(ctx); err != nil {
			return r, err
		}
		ins = append(ins, c)
		if err := w.settle(ctx); err != nil {
			return r, err
		}
	}
	r.scaleOut, r.scaleIn = medianCost(outs), medianCost(ins)
	r.scaleOutMin, r.scaleInMin = minCost(outs), minCost(ins)
	if r.svcBytes, r.events, r.taskBytes, err = w.recordStats(ctx); err != nil {
		return r, err
	}
	if kvs, _, err := w.st.List(ctx, "/tasks/"+w.cluster+"/", store.ListOptions{KeysOnly: true}); err == nil {
		r.taskRecords = len(kvs)
	}

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return r, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return r, err
		}
		for range profPasses {
			if _, err := w.pass(ctx); err != nil {
				pprof.StopCPUProfile()
				return r, err
			}
		}
		pprof.StopCPUProfile()
		progress("CPU profile of %d steady passes (%d services) written to %s", profPasses, n, profile)
	}
	return r, nil
}

func controllerPart(ctx context.Context, ns []int, instances, perSvc, passes, changeReps int, profile string, profPasses int, gogc, commit string) int {
	var results []ctlResult
	for i, n := range ns {
		prof := ""
		if i == len(ns)-1 {
			prof = profile
		}
		r, err := measureN(ctx, n, instances, perSvc, passes, changeReps, prof, profPasses)
		if err != nil {
			progress("%d services: %v", n, err)
			return 1
		}
		results = append(results, r)
	}
	printController(os.Stdout, results, instances, perSvc, passes, changeReps, gogc, commit)
	return 0
}

func printController(out *os.File, rs []ctlResult, instances, perSvc, passes, changeReps int, gogc, commit string) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	p("## Part 1: one controller pass (ReconcileCluster), in process\n\n")
	p("%d container instances (agents connected), N services × %d tasks, one task definition family per service; real API code on bbolt (fsync on commit) in a temp dir. %d CPUs, %s, GOGC=%s, commit %s.\n", instances, perSvc, runtime.NumCPU(), runtime.Version(), gogc, commit)
	p("Steady: median of %d passes over the steady cluster. 1 %% changed: median of %d passes right after UpdateService set desiredCount of 1 %% of the services to %d (scale-out) or back to %d (scale-in). CPU is the process's (user+sys, all threads) during the pass. Single passes: the first (starts every task) and the one 40 s later (completes every deployment).\n\n", passes, changeReps, perSvc+1, perSvc)
	p("| services | tasks | pass | wall ms median (min) | CPU ms median (min) | allocs | MiB allocated | store commits | CPU µs per task |\n")
	p("|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	row := func(r ctlResult, name string, c, lo passCost) {
		p("| %d | %d | %s | %.1f (%.1f) | %.1f (%.1f) | %d | %.1f | %d | %.2f |\n", r.services, r.tasks, name, ms(c.wall), ms(lo.wall), ms(c.cpu), ms(lo.cpu),
			c.allocs, float64(c.bytes)/(1<<20), c.writes, float64(c.cpu.Microseconds())/float64(r.tasks))
	}
	one := func(r ctlResult, name string, c passCost) {
		p("| %d | %d | %s | %.1f | %.1f | %d | %.1f | %d | %.2f |\n", r.services, r.tasks, name, ms(c.wall), ms(c.cpu),
			c.allocs, float64(c.bytes)/(1<<20), c.writes, float64(c.cpu.Microseconds())/float64(r.tasks))
	}
	for _, r := range rs {
		row(r, "steady", r.steady, r.steadyMin)
		row(r, fmt.Sprintf("1 %% changed: scale-out (%d svc +1)", r.changed), r.scaleOut, r.scaleOutMin)
		row(r, fmt.Sprintf("1 %% changed: scale-in (%d svc −1)", r.changed), r.scaleIn, r.scaleInMin)
		one(r, "first (starts all), one pass", r.first)
		one(r, "completes all (40 s later), one pass", r.complete)
	}
	p("\nSetup (register, create, drive to steady state): ")
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d services %.1f s", r.services, r.setup.Seconds()))
	}
	p("%s.\n\n", strings.Join(parts, ", "))
	p("Records a pass reads, at the end of each run: ")
	parts = parts[:0]
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%d services: service record %.1f KiB (%.1f events), task record %.1f KiB, %d task records (live and STOPPED)", r.services, r.svcBytes/1024, r.events, r.taskBytes/1024, r.taskRecords))
	}
	p("%s. ECS keeps a service's last 100 events: a long-lived service's record, decoded every pass, is larger than here.\n\n", strings.Join(parts, "; "))
	if len(rs) >= 2 {
		a, b := rs[0], rs[len(rs)-1]
		x := float64(b.services) / float64(a.services)
		p("Growth from %d to %d services (%.0f× services; linear = %.0f×):\n\n", a.services, b.services, x, x)
		for _, g := range []struct {
			name string
			f    func(ctlResult) passCost
		}{{"steady", func(r ctlResult) passCost { return r.steady }}, {"scale-out", func(r ctlResult) passCost { return r.scaleOut }}, {"scale-in", func(r ctlResult) passCost { return r.scaleIn }}} {
			ca, cb := g.f(a), g.f(b)
			p("- %s: wall %.2f → %.2f ms (%.1f×), CPU %.2f → %.2f ms (%.1f×), allocs %d → %d (%.1f×)\n", g.name,
				ms(ca.wall), ms(cb.wall), ratio(cb.wall, ca.wall), ms(ca.cpu), ms(cb.cpu), ratio(cb.cpu, ca.cpu), ca.allocs, cb.allocs, float64(cb.allocs)/float64(max(ca.allocs, 1)))
		}
		p("\n")
	}
	for _, r := range rs {
		if r.tasks != 10000 {
			continue
		}
		verdict := func(d time.Duration) string {
			if d < 100*time.Millisecond {
				return "met"
			}
			return "NOT met"
		}
		p("Target, a pass over 10,000 tasks under 100 ms (median wall; fastest pass in parentheses): steady %.1f ms %s (%.1f ms %s), scale-out %.1f ms %s (%.1f ms %s), scale-in %.1f ms %s (%.1f ms %s).\n\n",
			ms(r.steady.wall), verdict(r.steady.wall), ms(r.steadyMin.wall), verdict(r.steadyMin.wall),
			ms(r.scaleOut.wall), verdict(r.scaleOut.wall), ms(r.scaleOutMin.wall), verdict(r.scaleOutMin.wall),
			ms(r.scaleIn.wall), verdict(r.scaleIn.wall), ms(r.scaleInMin.wall), verdict(r.scaleInMin.wall))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// parallel runs f(0..n-1) on workers goroutines; the first error wins.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}
