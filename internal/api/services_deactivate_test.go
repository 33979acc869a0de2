package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
)

// drainLBs is a fakeLBs whose deregistered targets drain, as ELB's do,
// until the test completes their deregistration; it knows the target
// groups' deregistration delays.
type drainLBs struct {
	*fakeLBs
	delay    time.Duration
	draining map[string]bool
}

func newDrainLBs(delay time.Duration) *drainLBs {
	return &drainLBs{fakeLBs: newFakeLBs(), delay: delay, draining: map[string]bool{}}
}

func (f *drainLBs) DeregisterTarget(ctx context.Context, tg, id string, port int32) error {
	f.mu.Lock()
	if f.registered[targetKey(tg, id, port)] {
		f.draining[targetKey(tg, id, port)] = true
	}
	f.mu.Unlock()
	return f.fakeLBs.DeregisterTarget(ctx, tg, id, port)
}

func (f *drainLBs) RegisterTarget(ctx context.Context, tg, id string, port int32) error {
	f.mu.Lock()
	delete(f.draining, targetKey(tg, id, port))
	f.mu.Unlock()
	return f.fakeLBs.RegisterTarget(ctx, tg, id, port)
}

func (f *drainLBs) TargetHealth(ctx context.Context, tg, id string, port int32) (string, error) {
	f.mu.Lock()
	draining := f.draining[targetKey(tg, id, port)]
	f.mu.Unlock()
	if draining {
		return "draining", nil
	}
	return f.fakeLBs.TargetHealth(ctx, tg, id, port)
}

func (f *drainLBs) DeregistrationDelay(_ context.Context, tg string) (time.Duration, error) {
	return f.delay, nil
}

// drained completes a target's deregistration (nothing in flight any more).
func (f *drainLBs) drained(tg, id string, port int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.draining, targetKey(tg, id, port))
}

func (f *drainLBs) isDraining(tg, id string, port int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining[targetKey(tg, id, port)]
}

// stored reads a task record with its hold, and the manifest its agent
// would receive.
func (w *ctlWorld) stored(rec taskRecord) (taskRecord, agentproto.TaskManifest) {
	w.t.Helper()
	kv, err := w.e.st.Get(context.Background(), taskKey("default", lastSegment(ecsapi.Value(rec.Task.TaskArn))))
	if err != nil {
		w.t.Fatal(err)
	}
	var st taskRecord
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		w.t.Fatal(err)
	}
	m, _, err := Manifest(kv.Value, kv.ModRev)
	if err != nil {
		w.t.Fatal(err)
	}
	return st, m
}

// lbService creates the service "web" of desired awsvpc tasks behind
// testTG and brings them RUNNING with healthy targets at 10.0.0.1, ....
func (w *ctlWorld) lbService(lbs *drainLBs, desired int32, dc *ecsapi.DeploymentConfiguration) []taskRecord {
	w.t.Helper()
	lbs.types[testTG] = "ip"
	w.e.SetLoadBalancers(lbs)
	if _, err := w.e.CreateService(context.Background(), &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.awsvpcTD("web")), DesiredCount: ecsapi.Ptr(desired),
		NetworkConfiguration:    &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
		LoadBalancers:           []ecsapi.LoadBalancer{{TargetGroupArn: ecsapi.Ptr(testTG), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
		DeploymentConfiguration: dc,
	}); err != nil {
		w.t.Fatal(err)
	}
	w.reconcile()
	recs := w.tasks()[lifecycle.Provisioning]
	if len(recs) != int(desired) {
		w.t.Fatalf("%d tasks started, want %d", len(recs), desired)
	}
	for i, r := range recs {
		ip := "10.0.0." + string(rune('1'+i))
		w.runAt(r, ip)
		w.reconcile()
		lbs.set(testTG, ip, 8080, "healthy")
	}
	w.advance(time.Minute)
	w.reconcile()
	if s := w.service(); s.RunningCount != desired || !hasEvent(s, "has reached a steady state") {
		w.t.Fatalf("service not steady: running %d, events %q", s.RunningCount, eventMessages(s))
	}
	return w.tasks()[lifecycle.Running]
}

// ipOf is the address runAt gave an awsvpc task.
func ipOf(rec taskRecord) string { return taskIPv4(&rec.Task) }

// TestDeactivateHoldsUntilDeregistered: a task the controller stops while
// it has registered targets goes DEACTIVATING (desired STOPPED, stop code
// and reason as usual, no stoppingAt yet) and its agent keeps hearing
// RUNNING while the target drains; the agent's RUNNING reports do not move
// it back; once ELB completes the deregistration, a pass releases it and
// the agent hears STOPPED; stoppingAt is stamped when it really stops.
func TestDeactivateHoldsUntilDeregistered(t *testing.T) {
	w := newCtlWorld(t, 2)
	lbs := newDrainLBs(30 * time.Second)
	w.lbService(lbs, 2, nil)
	ctx := context.Background()

	if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	stopAt := w.now
	if wait := w.reconcile(); wait <= 0 || wait > deactivatePoll {
		t.Errorf("recheck = %v while a stop is held, want at most %v", wait, deactivatePoll)
	}
	tk := w.tasks()
	if len(tk["stopping"]) != 1 || len(tk[lifecycle.Running]) != 1 {
		t.Fatalf("after scale-in: %v", tk)
	}
	held := tk["stopping"][0]
	ip := ipOf(held)
	st, m := w.stored(held)
	if got := ecsapi.Value(st.Task.LastStatus); got != lifecycle.Deactivating {
		t.Errorf("lastStatus = %s, want DEACTIVATING", got)
	}
	if ecsapi.Value(st.Task.StopCode) != lifecycle.CodeServiceSchedulerInitiated || st.Task.StoppedReason == nil || st.Task.StoppingAt != nil {
		t.Errorf("stopCode %v, stoppedReason %v, stoppingAt %v", ecsapi.Value(st.Task.StopCode), ecsapi.Value(st.Task.StoppedReason), st.Task.StoppingAt)
	}
	if st.Hold == nil || !st.Hold.Until.Equal(stopAt.Add(30*time.Second+holdSlack)) || len(st.Hold.Targets) != 1 || st.Hold.Targets[0].ID != ip {
		t.Fatalf("hold = %+v", st.Hold)
	}
	if m.DesiredStatus != lifecycle.Running {
		t.Errorf("manifest desiredStatus = %s while held, want RUNNING", m.DesiredStatus)
	}
	if !lbs.isDraining(testTG, ip, 8080) {
		t.Errorf("the held task's target is not draining")
	}
	// The API shows DEACTIVATING and desired STOPPED, never the hold.
	out, err := w.e.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Tasks: []string{ecsapi.Value(held.Task.TaskArn)}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatal(err, out)
	}
	if d := out.Tasks[0]; ecsapi.Value(d.LastStatus) != lifecycle.Deactivating || ecsapi.Value(d.DesiredStatus) != lifecycle.Stopped || d.StoppingAt != nil {
		t.Errorf("DescribeTasks: last %s desired %s stoppingAt %v", ecsapi.Value(d.LastStatus), ecsapi.Value(d.DesiredStatus), d.StoppingAt)
	}
	if b, _ := json.Marshal(out.Tasks[0]); strings.Contains(string(b), "stopHold") {
		t.Errorf("the hold leaks into the API: %s", b)
	}

	// The agent still runs it and says so: it stays DEACTIVATING, held.
	w.report([]taskRecord{held}, lifecycle.Running)
	w.advance(10 * time.Second)
	w.reconcile()
	if s := w.service(); s.RunningCount != 1 {
		t.Errorf("runningCount = %d with one task deactivating, want 1", s.RunningCount)
	}
	if st, m := w.stored(held); ecsapi.Value(st.Task.LastStatus) != lifecycle.Deactivating || st.Hold == nil || m.DesiredStatus != lifecycle.Running {
		t.Fatalf("while draining: last %s, hold %+v, manifest %s", ecsapi.Value(st.Task.LastStatus), st.Hold, m.DesiredStatus)
	}

	// ELB completes the deregistration (nothing in flight): released.
	lbs.drained(testTG, ip, 8080)
	w.reconcile()
	st, m = w.stored(held)
	if st.Hold != nil || m.DesiredStatus != lifecycle.Stopped || ecsapi.Value(st.Task.LastStatus) != lifecycle.Deactivating {
		t.Fatalf("after the drain: hold %+v, manifest %s, last %s", st.Hold, m.DesiredStatus, ecsapi.Value(st.Task.LastStatus))
	}
	w.advance(time.Second)
	stopping := w.now
	w.report([]taskRecord{held}, lifecycle.Stopping)
	st, _ = w.stored(held)
	if ecsapi.Value(st.Task.LastStatus) != lifecycle.Stopping || st.Task.StoppingAt == nil || !st.Task.StoppingAt.Time.Equal(stopping) {
		t.Errorf("stopping: last %s, stoppingAt %v, want %v", ecsapi.Value(st.Task.LastStatus), st.Task.StoppingAt, stopping)
	}
	w.report([]taskRecord{held}, lifecycle.Stopped)
	if wait := w.reconcile(); wait > 0 && wait <= deactivatePoll {
		t.Errorf("still polling (%v) with nothing held", wait)
	}
}

// TestDeactivateDeadline: a hold ends at the largest deregistration delay
// plus slack even if ELB never completes the deregistration, and it is in
// the stored record: a restarted server resumes and ends it.
func TestDeactivateDeadline(t *testing.T) {
	w := newCtlWorld(t, 2)
	lbs := newDrainLBs(20 * time.Second)
	w.lbService(lbs, 2, nil)
	if _, err := w.e.UpdateService(context.Background(), &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	held := w.tasks()["stopping"][0]
	if st, _ := w.stored(held); st.Hold == nil {
		t.Fatal("not held")
	}

	// A restarted server: the same store, a new ECS.
	w.e = New(w.e.st, Config{Region: "us-east-1", AccountID: "123456789012", Now: w.e.now})
	w.e.SetLoadBalancers(lbs)
	w.advance(20*time.Second + holdSlack - time.Second)
	if wait := w.reconcile(); wait <= 0 || wait > deactivatePoll {
		t.Errorf("recheck = %v just before the deadline", wait)
	}
	if st, m := w.stored(held); st.Hold == nil || m.DesiredStatus != lifecycle.Running {
		t.Fatalf("released before the deadline: %+v, %s", st.Hold, m.DesiredStatus)
	}
	w.advance(time.Second)
	w.reconcile()
	if st, m := w.stored(held); st.Hold != nil || m.DesiredStatus != lifecycle.Stopped {
		t.Fatalf("held past the deadline: %+v, %s", st.Hold, m.DesiredStatus)
	}
	if !lbs.isDraining(testTG, ipOf(held), 8080) {
		t.Errorf("the test's target should still be draining")
	}
}

// TestDeactivateNotHeld: tasks without targets, tasks stopped by StopTask
// and tasks whose containers died are not held.
func TestDeactivateNotHeld(t *testing.T) {
	t.Run("no targets", func(t *testing.T) {
		w := newCtlWorld(t, 1)
		w.e.SetLoadBalancers(newDrainLBs(time.Minute))
		ctx := context.Background()
		if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
			t.Fatal(err)
		}
		w.reconcile()
		w.report(w.tasks()[lifecycle.Pending], lifecycle.Running)
		if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(0))}); err != nil {
			t.Fatal(err)
		}
		w.reconcile()
		rec := w.tasks()["stopping"][0]
		if st, m := w.stored(rec); st.Hold != nil || ecsapi.Value(st.Task.LastStatus) != lifecycle.Running || m.DesiredStatus != lifecycle.Stopped {
			t.Errorf("hold %+v, last %s, manifest %s", st.Hold, ecsapi.Value(st.Task.LastStatus), m.DesiredStatus)
		}
	})
	t.Run("StopTask", func(t *testing.T) {
		w := newCtlWorld(t, 2)
		lbs := newDrainLBs(time.Minute)
		recs := w.lbService(lbs, 2, nil)
		if _, err := w.e.StopTask(context.Background(), &ecsapi.StopTaskRequest{Task: ecsapi.Value(recs[0].Task.TaskArn)}); err != nil {
			t.Fatal(err)
		}
		w.reconcile()
		if st, m := w.stored(recs[0]); st.Hold != nil || ecsapi.Value(st.Task.LastStatus) != lifecycle.Running || m.DesiredStatus != lifecycle.Stopped ||
			ecsapi.Value(st.Task.StopCode) != lifecycle.CodeUserInitiated {
			t.Errorf("hold %+v, last %s, manifest %s, stopCode %s", st.Hold, ecsapi.Value(st.Task.LastStatus), m.DesiredStatus, ecsapi.Value(st.Task.StopCode))
		}
		if lbs.has(testTG, ipOf(recs[0]), 8080) {
			t.Errorf("the stopped task's target is still registered")
		}
	})
	t.Run("containers died", func(t *testing.T) {
		w := newCtlWorld(t, 2)
		w.lbService(newDrainLBs(time.Minute), 2, nil)
		if _, err := w.e.UpdateService(context.Background(), &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
			t.Fatal(err)
		}
		w.reconcile()
		held := w.tasks()["stopping"][0]
		w.report([]taskRecord{held}, lifecycle.Stopped)
		if st, _ := w.stored(held); st.Hold != nil || ecsapi.Value(st.Task.LastStatus) != lifecycle.Stopped {
			t.Errorf("after its containers died: hold %+v, last %s", st.Hold, ecsapi.Value(st.Task.LastStatus))
		}
	})
}

// TestDeactivateCountsTowardMaximum: a DEACTIVATING task still runs and
// holds its resources, so it counts toward maximumPercent: with 100 % a
// rolling update starts the replacement only once it is stopped.
func TestDeactivateCountsTowardMaximum(t *testing.T) {
	w := newCtlWorld(t, 2)
	lbs := newDrainLBs(time.Minute)
	w.lbService(lbs, 2, &ecsapi.DeploymentConfiguration{MaximumPercent: ecsapi.Ptr(int32(100)), MinimumHealthyPercent: ecsapi.Ptr(int32(50))})
	if _, err := w.e.UpdateService(context.Background(), &ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr(w.awsvpcTD("web"))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	tk := w.tasks()
	if len(tk["stopping"]) != 1 || len(tk[lifecycle.Provisioning]) != 0 {
		t.Fatalf("first step: stopping %d, started %d", len(tk["stopping"]), len(tk[lifecycle.Provisioning]))
	}
	held := tk["stopping"][0]
	w.advance(5 * time.Second)
	w.reconcile()
	if tk := w.tasks(); len(tk[lifecycle.Provisioning]) != 0 {
		t.Fatalf("a replacement started while the old task is DEACTIVATING (maximumPercent 100)")
	}
	lbs.drained(testTG, ipOf(held), 8080)
	w.reconcile()
	if st, _ := w.stored(held); st.Hold != nil {
		t.Fatal("not released")
	}
	w.report([]taskRecord{held}, lifecycle.Stopped)
	w.reconcile()
	if tk := w.tasks(); len(tk[lifecycle.Provisioning]) != 1 {
		t.Fatalf("no replacement once the old task stopped: %v", tk)
	}
}

// TestHoldDone: the release rule.
func TestHoldDone(t *testing.T) {
	now := time.Unix(1700000000, 0)
	h := &stopHold{Until: now.Add(time.Minute)}
	for _, tc := range []struct {
		name   string
		at     time.Time
		states []string
		want   bool
	}{
		{"draining", now, []string{"draining"}, false},
		{"one of two drained", now, []string{"", "draining"}, false},
		{"all gone", now, []string{"", ""}, true},
		{"unused", now, []string{"unused"}, true},
		{"still registered", now, []string{"healthy"}, false},
		{"unknown (error)", now, []string{"?"}, false},
		{"deadline", now.Add(time.Minute), []string{"draining"}, true},
		{"no targets", now, nil, true},
	} {
		if got := holdDone(h, tc.at, tc.states); got != tc.want {
			t.Errorf("%s: holdDone = %v, want %v", tc.name, got, tc.want)
		}
	}
}
