package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
)

// The cluster of the concurrency tests: concInstances instances of
// concCPU/concMemory each, and task definitions whose tasks all reserve
// concTaskCPU/concTaskMemory, so concSlots tasks fit per instance whatever
// their mix. Instance 0 also reserves the first dynamic port, which a
// dynamic mapping placed there must skip.
const (
	concInstances  = 4
	concCPU        = 1024
	concMemory     = 1024
	concTaskCPU    = 256
	concTaskMemory = 256
	concSlots      = concCPU / concTaskCPU
	concCapacity   = concInstances * concSlots
	concStaticPort = 8080
	concCallers    = 48
)

// concCluster is the registered cluster of a concurrency test.
type concCluster struct {
	e    *ECS
	arns []string // container instance ARNs, in registration order
	// reservedPorts are each instance's registered PORTS, by instance id.
	reservedPorts map[string][]string
	defs          map[string]string // "plain", "static", "dynamic" -> task definition ARN
	st            *concConflictStore
}

// concConflictStore counts the transactions that lost a compare-and-swap race:
// the tests log it to show the burst really contended.
type concConflictStore struct {
	store.Store
	conflicts atomic.Int64
}

// concCallConflicts is the context key of a call's own conflict counter.
type concCallConflicts struct{}

func (s *concConflictStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	rev, err := s.Store.Txn(ctx, conds, ops)
	if errors.Is(err, store.ErrConflict) {
		s.conflicts.Add(1)
		if n, ok := ctx.Value(concCallConflicts{}).(*int); ok {
			*n++
		}
	}
	return rev, err
}

func newConcCluster(t *testing.T) *concCluster {
	t.Helper()
	ctx := context.Background()
	c := &concCluster{e: newTestECS(t, nil), reservedPorts: map[string][]string{}, defs: map[string]string{}}
	c.st = &concConflictStore{Store: c.e.st}
	c.e.st = c.st
	for i := range concInstances {
		ports := []string{"22", "2375", "2376", "51678", "51679"}
		if i == 0 {
			ports = append(ports, strconv.Itoa(placement.DynamicPortFirst))
		}
		out, err := c.e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{TotalResources: []ecsapi.Resource{
			res("CPU", "INTEGER", concCPU), res("MEMORY", "INTEGER", concMemory),
			res("PORTS", "STRINGSET", 0, ports...), res("PORTS_UDP", "STRINGSET", 0),
		}})
		if err != nil {
			t.Fatal(err)
		}
		arn := ecsapi.Value(out.ContainerInstance.ContainerInstanceArn)
		id := lastSegment(arn)
		if err := c.e.SetAgentConnected(ctx, "default", id, true); err != nil {
			t.Fatal(err)
		}
		c.arns = append(c.arns, arn)
		c.reservedPorts[id] = ports
	}
	web := func(hostPort *int32) []ecsapi.ContainerDefinition {
		return []ecsapi.ContainerDefinition{{
			Name: ecsapi.Ptr("web"), Image: ecsapi.Ptr("busybox"), Cpu: concTaskCPU, Memory: ecsapi.Ptr(int32(concTaskMemory)),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(80)), HostPort: hostPort}},
		}}
	}
	for name, in := range map[string]*ecsapi.RegisterTaskDefinitionRequest{
		// Task-level sizes, no ports.
		"plain": {Family: "plain", Cpu: ecsapi.Ptr(strconv.Itoa(concTaskCPU)), Memory: ecsapi.Ptr(strconv.Itoa(concTaskMemory)),
			ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("busybox"), Memory: ecsapi.Ptr(int32(64))}}},
		// Bridge mode, static host port: one per instance at most.
		"static": {Family: "static", NetworkMode: ecsapi.Ptr(ecsapi.NetworkModeBridge), ContainerDefinitions: web(ecsapi.Ptr(int32(concStaticPort)))},
		// Bridge mode, dynamic host port picked by placement.
		"dynamic": {Family: "dynamic", ContainerDefinitions: web(nil)},
	} {
		out, err := c.e.RegisterTaskDefinition(ctx, in)
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		c.defs[name] = ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
	}
	return c
}

// concCall is one RunTask call of a burst and what it got.
type concCall struct {
	def       string // key of concCluster.defs
	count     int
	strategy  []ecsapi.PlacementStrategy
	out       *ecsapi.RunTaskResponse
	err       error
	conflicts int // transactions of this call that lost a race
}

// run makes the call.
func (c *concCluster) run(call *concCall) {
	ctx := context.WithValue(context.Background(), concCallConflicts{}, &call.conflicts)
	call.out, call.err = c.e.RunTask(ctx, &ecsapi.RunTaskRequest{
		TaskDefinition: c.defs[call.def], Count: ecsapi.Ptr(int32(call.count)), PlacementStrategy: call.strategy,
	})
}

// concMaxConflicts is the most races one call lost (RunTask gives up after
// maxTxnAttempts).
func concMaxConflicts(calls []*concCall) int {
	n := 0
	for _, c := range calls {
		n = max(n, c.conflicts)
	}
	return n
}

var concStrategies = [][]ecsapi.PlacementStrategy{
	{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeBinpack), Field: ecsapi.Ptr("memory")}},
	{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeSpread), Field: ecsapi.Ptr("instanceId")}},
	{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeRandom)}},
	nil, // RunTask's default: random among the instances that fit
	{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeBinpack), Field: ecsapi.Ptr("cpu")}, {Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeSpread), Field: ecsapi.Ptr("instanceId")}},
}

// concBurst is n calls mixing the three task definitions (plain and
// dynamic ones are two thirds of the calls, so they alone ask for far more
// than the cluster holds), counts 1 to 3 and every strategy.
func concBurst(n, salt int) []*concCall {
	defs := []string{"plain", "static", "dynamic"}
	calls := make([]*concCall, n)
	for i := range calls {
		calls[i] = &concCall{def: defs[i%3], count: 1 + (i/3+salt)%3, strategy: concStrategies[(i+salt)%len(concStrategies)]}
	}
	return calls
}

// start runs every call in its own goroutine, released together, and
// returns a wait function.
func (c *concCluster) start(calls []*concCall) (wait func()) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for _, call := range calls {
		wg.Go(func() {
			<-gate
			c.run(call)
		})
	}
	close(gate)
	return wg.Wait
}

// checkCalls checks each call answered without error, that a short answer
// carries one failure per instance with a resource reason the definition
// can hit, and returns the ARNs of the tasks placed.
func (c *concCluster) checkCalls(t *testing.T, calls []*concCall) []string {
	t.Helper()
	var arns []string
	for i, call := range calls {
		if call.err != nil {
			t.Errorf("call %d (%s x%d %v): %v", i, call.def, call.count, call.strategy, call.err)
			continue
		}
		got := len(call.out.Tasks)
		for _, tk := range call.out.Tasks {
			arns = append(arns, ecsapi.Value(tk.TaskArn))
		}
		switch {
		case got > call.count:
			t.Errorf("call %d asked for %d tasks and got %d", i, call.count, got)
		case got == call.count && len(call.out.Failures) > 0:
			t.Errorf("call %d placed all %d tasks but reports failures %s", i, got, jsonOf(t, call.out.Failures))
		case got < call.count:
			allowed := []string{placement.ReasonCPU, placement.ReasonMemory}
			if call.def == "static" {
				allowed = append(allowed, placement.ReasonPorts)
			}
			var seen []string
			for _, f := range call.out.Failures {
				seen = append(seen, ecsapi.Value(f.Arn))
				if !slices.Contains(allowed, ecsapi.Value(f.Reason)) {
					t.Errorf("call %d (%s): failure reason %s, want one of %v", i, call.def, ecsapi.Value(f.Reason), allowed)
				}
			}
			slices.Sort(seen)
			want := slices.Sorted(slices.Values(c.arns))
			if !slices.Equal(seen, want) {
				t.Errorf("call %d (%s) placed %d of %d; failures name %v, want each instance once %v", i, call.def, got, call.count, seen, want)
			}
		}
	}
	return arns
}

// concState is what the store holds after a burst.
type concState struct {
	tasks map[string]taskRecord // by task id
	live  map[string][]string   // instance id -> ids of its tasks not STOPPED
}

// checkInvariants reads the store and checks, per instance: its live tasks
// (not STOPPED, whatever their desired status) are exactly its /insttasks
// index; their reservations fit the registered CPU and MEMORY and equal
// registered minus remaining; no two of them share a host port; PORTS
// remaining lists exactly the registered ports plus theirs; its pending
// and running counts match them. It also checks each task's host port is
// the one its stored definition binds.
func (c *concCluster) checkInvariants(t *testing.T) concState {
	t.Helper()
	ctx := context.Background()
	st := concState{tasks: map[string]taskRecord{}, live: map[string][]string{}}
	kvs, _, err := c.e.st.List(ctx, tasksPrefix("default"), store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		var rec taskRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			t.Fatal(err)
		}
		id := kv.Key[len(tasksPrefix("default")):]
		st.tasks[id] = rec
		if ecsapi.Value(rec.Task.LastStatus) != lifecycle.Stopped {
			st.live[rec.InstanceID] = append(st.live[rec.InstanceID], id)
		}
		concCheckTaskPorts(t, id, rec)
	}
	index := map[string][]string{}
	ikvs, _, err := c.e.st.List(ctx, "/insttasks/default/", store.ListOptions{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range ikvs {
		inst, id, _ := strings.Cut(kv.Key[len("/insttasks/default/"):], "/")
		index[inst] = append(index[inst], id)
	}
	insts, _, err := c.e.listInstances(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != concInstances {
		t.Fatalf("%d instances stored, want %d", len(insts), concInstances)
	}
	for _, ci := range insts {
		id := instanceIDOfRecord(ci)
		live := slices.Sorted(slices.Values(st.live[id]))
		if idx := slices.Sorted(slices.Values(index[id])); !slices.Equal(live, idx) {
			t.Errorf("instance %s: live tasks %v, /insttasks index %v", id, live, idx)
		}
		var cpu, mem int64
		var pending, running int32
		ports := map[string]string{} // host port -> task id
		for _, tid := range live {
			rec := st.tasks[tid]
			cpu += rec.Reserved.CPU
			mem += rec.Reserved.Memory
			if classOf(ecsapi.Value(rec.Task.LastStatus)) == classRunning {
				running++
			} else {
				pending++
			}
			for _, p := range rec.Reserved.TCP {
				ps := strconv.Itoa(int(p))
				if other, ok := ports[ps]; ok {
					t.Errorf("instance %s: tasks %s and %s both hold host port %s", id, other, tid, ps)
				}
				if slices.Contains(c.reservedPorts[id], ps) {
					t.Errorf("instance %s: task %s holds the registered reserved port %s", id, tid, ps)
				}
				ports[ps] = tid
			}
		}
		regCPU, regMem := concResourceInt(ci.RegisteredResources, "CPU"), concResourceInt(ci.RegisteredResources, "MEMORY")
		remCPU, remMem := concResourceInt(ci.RemainingResources, "CPU"), concResourceInt(ci.RemainingResources, "MEMORY")
		if cpu > regCPU || mem > regMem {
			t.Errorf("instance %s oversubscribed: live tasks reserve cpu %d, memory %d of %d, %d", id, cpu, mem, regCPU, regMem)
		}
		if regCPU-remCPU != cpu || regMem-remMem != mem {
			t.Errorf("instance %s: registered-remaining is cpu %d, memory %d; its live tasks reserve cpu %d, memory %d", id, regCPU-remCPU, regMem-remMem, cpu, mem)
		}
		wantPorts := slices.Clone(c.reservedPorts[id])
		for p := range ports {
			wantPorts = append(wantPorts, p)
		}
		gotPorts := slices.Clone(concResourceSet(ci.RemainingResources, "PORTS"))
		slices.Sort(gotPorts)
		slices.Sort(wantPorts)
		if !slices.Equal(gotPorts, wantPorts) {
			t.Errorf("instance %s: remaining PORTS %v, want the registered ones plus its tasks' %v", id, gotPorts, wantPorts)
		}
		if udp := concResourceSet(ci.RemainingResources, "PORTS_UDP"); len(udp) != 0 {
			t.Errorf("instance %s: remaining PORTS_UDP %v, want none", id, udp)
		}
		if ci.PendingTasksCount != pending || ci.RunningTasksCount != running {
			t.Errorf("instance %s: pending %d running %d, its live tasks are %d pending %d running", id, ci.PendingTasksCount, ci.RunningTasksCount, pending, running)
		}
	}
	return st
}

// concCheckTaskPorts checks a task's reservation against its definition: the
// static one holds concStaticPort, the dynamic one the host port written
// into its stored definition, from the dynamic range.
func concCheckTaskPorts(t *testing.T, id string, rec taskRecord) {
	t.Helper()
	var want []uint16
	for _, cd := range rec.Definition.ContainerDefinitions {
		for _, pm := range cd.PortMappings {
			want = append(want, uint16(ecsapi.Value(pm.HostPort)))
		}
	}
	if !slices.Equal(rec.Reserved.TCP, want) {
		t.Errorf("task %s (%s) reserves ports %v; its definition binds %v", id, ecsapi.Value(rec.Definition.Family), rec.Reserved.TCP, want)
	}
	switch fam := ecsapi.Value(rec.Definition.Family); fam {
	case "static":
		if !slices.Equal(want, []uint16{concStaticPort}) {
			t.Errorf("static task %s binds %v", id, want)
		}
	case "dynamic":
		if len(want) != 1 || want[0] < placement.DynamicPortFirst {
			t.Errorf("dynamic task %s binds %v, want one port from %d", id, want, placement.DynamicPortFirst)
		}
	}
	if rec.Reserved.CPU != concTaskCPU || rec.Reserved.Memory != concTaskMemory {
		t.Errorf("task %s reserves cpu %d memory %d", id, rec.Reserved.CPU, rec.Reserved.Memory)
	}
}

func concResourceInt(rs []ecsapi.Resource, name string) int64 {
	for _, r := range rs {
		if ecsapi.Value(r.Name) == name {
			return int64(r.IntegerValue)
		}
	}
	return 0
}

func concResourceSet(rs []ecsapi.Resource, name string) []string {
	for _, r := range rs {
		if ecsapi.Value(r.Name) == name {
			return r.StringSetValue
		}
	}
	return nil
}

func (s concState) liveCount() int {
	n := 0
	for _, ids := range s.live {
		n += len(ids)
	}
	return n
}

// concCheckStored checks the stored tasks are exactly want (ARNs).
func concCheckStored(t *testing.T, st concState, want []string) {
	t.Helper()
	var got []string
	for _, rec := range st.tasks {
		got = append(got, ecsapi.Value(rec.Task.TaskArn))
	}
	sort.Strings(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%d tasks stored, the calls returned %d:\nstored   %v\nreturned %v", len(got), len(want), got, want)
	}
}

// TestConcurrentRunTaskNeverOversubscribes: dozens of RunTask calls at
// once, asking for far more than the cluster holds, with every strategy,
// static and dynamic host ports, never oversubscribe an instance nor share
// a host port on one, never fail, store exactly the tasks they return, and
// fill the cluster exactly (no placement lost to a compare-and-swap
// conflict).
func TestConcurrentRunTaskNeverOversubscribes(t *testing.T) {
	c := newConcCluster(t)
	calls := concBurst(concCallers, 0)
	c.start(calls)()
	placed := c.checkCalls(t, calls)
	st := c.checkInvariants(t)
	concCheckStored(t, st, placed)
	// The plain and dynamic calls alone ask for more than the cluster holds,
	// and nothing stopped: a call of theirs that came back short saw the
	// cluster full, so it is full now.
	if len(placed) != concCapacity || st.liveCount() != concCapacity {
		t.Errorf("placed %d tasks (%d live), want the capacity %d", len(placed), st.liveCount(), concCapacity)
	}
	static := 0
	for _, rec := range st.tasks {
		if ecsapi.Value(rec.Definition.Family) == "static" {
			static++
		}
	}
	if static > concInstances {
		t.Errorf("%d tasks with static host port %d on %d instances", static, concStaticPort, concInstances)
	}
	t.Logf("placed %d tasks (%d with the static port); %d transactions lost a race and were retried, at most %d for one call", len(placed), static, c.st.conflicts.Load(), concMaxConflicts(calls))
}

// TestConcurrentRunTaskWhileTasksStop: with the cluster full (of RUNNING
// tasks, a few still PENDING), half of the tasks stop through the agents'
// reports (each STOPPED report sent twice, by the agent session and by
// SubmitTaskStateChange) and a quarter are only asked to stop
// (desiredStatus STOPPED, still RUNNING), while dozens of RunTask callers
// race for the freed room. The invariants hold; the burst takes exactly the
// room freed; the tasks asked to stop keep their reservation until they are
// reported STOPPED, and then exactly their room is free.
func TestConcurrentRunTaskWhileTasksStop(t *testing.T) {
	c := newConcCluster(t)
	ctx := context.Background()
	calls := concBurst(concCallers, 0)
	c.start(calls)()
	first := c.checkCalls(t, calls)
	st := c.checkInvariants(t)
	if len(first) != concCapacity {
		t.Fatalf("first burst placed %d tasks, want %d", len(first), concCapacity)
	}

	// The tasks to stop: half (the first quarter of them still PENDING),
	// and a quarter only asked to stop.
	ids := slices.Sorted(maps.Keys(st.tasks))
	pending := ids[:concCapacity/4]
	stopped, asked := ids[:concCapacity/2], ids[concCapacity/2:concCapacity/2+concCapacity/4]

	// The agents report the others RUNNING, all at once.
	var wg sync.WaitGroup
	errs := make(chan error, 4*concCapacity+2*concCallers)
	for id, rec := range st.tasks {
		if slices.Contains(pending, id) {
			continue
		}
		wg.Go(func() {
			errs <- c.e.ApplyTaskState(ctx, "default", rec.InstanceID, agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: lifecycle.Running})
		})
	}
	wg.Wait()
	concDrain(t, errs)
	st = c.checkInvariants(t)

	gate := make(chan struct{})
	var stops sync.WaitGroup
	for _, id := range stopped {
		rec := st.tasks[id]
		arn := ecsapi.Value(rec.Task.TaskArn)
		stops.Go(func() {
			<-gate
			if _, err := c.e.StopTask(ctx, &ecsapi.StopTaskRequest{Task: arn}); err != nil {
				errs <- fmt.Errorf("StopTask %s: %w", id, err)
				return
			}
			errs <- c.e.ApplyTaskState(ctx, "default", rec.InstanceID, agentproto.TaskState{TaskARN: arn, Status: lifecycle.Stopped, StopCode: lifecycle.CodeUserInitiated})
		})
		// The same report again, through the public API.
		stops.Go(func() {
			<-gate
			_, err := c.e.SubmitTaskStateChange(ctx, &ecsapi.SubmitTaskStateChangeRequest{Cluster: ecsapi.Ptr("default"), Task: &arn, Status: ecsapi.Ptr(lifecycle.Stopped)})
			errs <- err
		})
	}
	for _, id := range asked {
		arn := ecsapi.Value(st.tasks[id].Task.TaskArn)
		stops.Go(func() {
			<-gate
			_, err := c.e.StopTask(ctx, &ecsapi.StopTaskRequest{Task: arn})
			errs <- err
		})
	}
	// Each runner calls RunTask again and again while the stops go on, and
	// once more after they are all done: so the burst overlaps the stops,
	// and its last calls see all the room they freed.
	var stopsDone atomic.Bool
	var mu sync.Mutex
	var calls2 []*concCall
	for i, proto := range concBurst(concCallers, 1) {
		wg.Go(func() {
			<-gate
			for n := 0; ; n++ {
				last := stopsDone.Load()
				call := &concCall{def: proto.def, count: proto.count, strategy: concStrategies[(i+n)%len(concStrategies)]}
				c.run(call)
				mu.Lock()
				calls2 = append(calls2, call)
				mu.Unlock()
				if last {
					return
				}
			}
		})
	}
	close(gate)
	stops.Wait()
	stopsDone.Store(true)
	wg.Wait()
	concDrain(t, errs)
	second := c.checkCalls(t, calls2)
	st = c.checkInvariants(t)
	concCheckStored(t, st, append(first, second...))
	if len(second) != len(stopped) {
		t.Errorf("%d tasks stopped; the burst racing them placed %d", len(stopped), len(second))
	}
	for _, id := range stopped {
		if got := ecsapi.Value(st.tasks[id].Task.LastStatus); got != lifecycle.Stopped {
			t.Errorf("task %s reported STOPPED is %s", id, got)
		}
	}
	liveOf := func(st concState, id string) bool {
		return slices.Contains(st.live[st.tasks[id].InstanceID], id)
	}
	for _, id := range asked {
		rec := st.tasks[id]
		if ecsapi.Value(rec.Task.DesiredStatus) != lifecycle.Stopped || ecsapi.Value(rec.Task.LastStatus) != lifecycle.Running || !liveOf(st, id) {
			t.Errorf("task asked to stop: desired %s last %s live %v, want STOPPED, RUNNING and still holding its reservation",
				ecsapi.Value(rec.Task.DesiredStatus), ecsapi.Value(rec.Task.LastStatus), liveOf(st, id))
		}
	}
	if n := st.liveCount(); n > concCapacity {
		t.Errorf("%d live tasks, more than the capacity %d", n, concCapacity)
	}
	t.Logf("%d RunTask calls racing the stops placed %d tasks; %d transactions lost a race and were retried so far, at most %d for one call", len(calls2), len(second), c.st.conflicts.Load(), concMaxConflicts(calls2))

	// Whatever room the burst left is really free: one caller fills it,
	// exactly, and then the cluster holds its capacity again.
	fill := func() int {
		t.Helper()
		free := concCapacity - c.checkInvariants(t).liveCount()
		out, err := c.e.RunTask(ctx, &ecsapi.RunTaskRequest{TaskDefinition: c.defs["plain"], Count: ecsapi.Ptr(int32(10))})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != min(free, 10) {
			t.Errorf("with room for %d tasks RunTask placed %d (failures %s)", free, len(out.Tasks), jsonOf(t, out.Failures))
		}
		return len(out.Tasks)
	}
	fill()
	if n := c.checkInvariants(t).liveCount(); n != concCapacity {
		t.Errorf("after filling, %d live tasks, want %d", n, concCapacity)
	}

	// The tasks asked to stop free their room only now, when reported
	// STOPPED (twice again, at once).
	for _, id := range asked {
		rec := st.tasks[id]
		arn := ecsapi.Value(rec.Task.TaskArn)
		for range 2 {
			wg.Go(func() {
				errs <- c.e.ApplyTaskState(ctx, "default", rec.InstanceID, agentproto.TaskState{TaskARN: arn, Status: lifecycle.Stopped})
			})
		}
	}
	wg.Wait()
	concDrain(t, errs)
	if got := fill(); got != len(asked) {
		t.Errorf("after %d tasks stopped, RunTask placed %d", len(asked), got)
	}
	if n := c.checkInvariants(t).liveCount(); n != concCapacity {
		t.Errorf("after filling again, %d live tasks, want %d", n, concCapacity)
	}
}

func concDrain(t *testing.T, errs chan error) {
	t.Helper()
	for {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		default:
			return
		}
	}
}
