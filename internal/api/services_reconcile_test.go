package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
)

// ctlWorld is an ECS with a clock the test moves, instances with connected
// agents, and a fake agent that reports what the test says.
type ctlWorld struct {
	t   *testing.T
	e   *ECS
	mu  sync.Mutex
	now time.Time
}

func newCtlWorld(t *testing.T, instances int) *ctlWorld {
	w := &ctlWorld{t: t, now: time.Unix(1700000000, 0)}
	w.e = newTestECS(t, func() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now })
	for range instances {
		connectedInstance(t, w.e)
	}
	return w
}

func (w *ctlWorld) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func (w *ctlWorld) reconcile() time.Duration {
	w.t.Helper()
	d, err := w.e.ReconcileCluster(context.Background(), "default", ControllerConfig{})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *ctlWorld) td(family string) string {
	w.t.Helper()
	out, err := w.e.RegisterTaskDefinition(context.Background(), &ecsapi.RegisterTaskDefinitionRequest{
		Family:               family,
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("berth-testapp:latest"), Memory: ecsapi.Ptr(int32(64))}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
}

func (w *ctlWorld) service() ecsapi.Service {
	w.t.Helper()
	out, err := w.e.DescribeServices(context.Background(), &ecsapi.DescribeServicesRequest{Services: []string{"web"}})
	if err != nil || len(out.Services) != 1 {
		w.t.Fatal(err, out)
	}
	return out.Services[0]
}

// tasks returns the service's tasks by lastStatus (desired STOPPED ones
// under "stopping").
func (w *ctlWorld) tasks() map[string][]taskRecord {
	w.t.Helper()
	kvs, _, err := w.e.st.List(context.Background(), tasksPrefix("default"), store.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string][]taskRecord{}
	for _, kv := range kvs {
		var rec taskRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			w.t.Fatal(err)
		}
		st := ecsapi.Value(rec.Task.LastStatus)
		if st != lifecycle.Stopped && ecsapi.Value(rec.Task.DesiredStatus) == lifecycle.Stopped {
			st = "stopping"
		}
		out[st] = append(out[st], rec)
	}
	return out
}

// report plays the agent: every task in from moves to status.
func (w *ctlWorld) report(recs []taskRecord, status string) {
	w.t.Helper()
	for _, rec := range recs {
		if err := w.e.ApplyTaskState(context.Background(), "default", rec.InstanceID, agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: status}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func eventMessages(s ecsapi.Service) []string {
	var out []string
	for _, e := range s.Events {
		out = append(out, ecsapi.Value(e.Message))
	}
	return out
}

func hasEvent(s ecsapi.Service, sub string) bool {
	for _, m := range eventMessages(s) {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// TestControllerRollingDeployment drives a service from creation to steady
// state, through a rolling deployment (100 % / 200 %), a stopped task's
// replacement, a scale-in and deletion, checking counts, deployments and
// ECS's event texts at each step.
func TestControllerRollingDeployment(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	v1 := w.td("web")
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), DesiredCount: ecsapi.Ptr(int32(2))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	s := w.service()
	tk := w.tasks()
	if len(tk[lifecycle.Pending]) != 2 || s.PendingCount != 2 || !hasEvent(s, "(service web) has started 2 tasks: (task ") {
		t.Fatalf("after the first pass: tasks %d, service %+v, events %q", len(tk[lifecycle.Pending]), s, eventMessages(s))
	}
	dep1 := ecsapi.Value(s.Deployments[0].Id)
	for _, r := range tk[lifecycle.Pending] {
		if ecsapi.Value(r.Task.Group) != "service:web" || ecsapi.Value(r.Task.StartedBy) != dep1 {
			t.Errorf("task group %q startedBy %q, want service:web and %s", ecsapi.Value(r.Task.Group), ecsapi.Value(r.Task.StartedBy), dep1)
		}
	}
	if tk[lifecycle.Pending][0].InstanceID == tk[lifecycle.Pending][1].InstanceID {
		t.Errorf("the default strategy should spread two tasks over two instances")
	}
	w.reconcile()
	if got := len(w.tasks()[lifecycle.Pending]); got != 2 {
		t.Fatalf("a second pass started more tasks: %d pending", got)
	}

	// RUNNING, then healthy 40 s later: steady state.
	w.report(tk[lifecycle.Pending], lifecycle.Running)
	if wait := w.reconcile(); wait != 40*time.Second {
		t.Errorf("recheck = %v, want 40s", wait)
	}
	if s = w.service(); s.RunningCount != 2 || hasEvent(s, "steady state") {
		t.Fatalf("running: %+v %q", s, eventMessages(s))
	}
	w.advance(40 * time.Second)
	w.reconcile()
	s = w.service()
	if !hasEvent(s, "(service web) has reached a steady state.") || !hasEvent(s, "(service web) (deployment "+dep1+") deployment completed.") ||
		ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateCOMPLETED {
		t.Fatalf("steady: %+v %q", s.Deployments, eventMessages(s))
	}
	if events := len(s.Events); events != 3 {
		t.Errorf("%d events, want 3 (started, completed, steady): %q", events, eventMessages(s))
	}
	w.reconcile()
	if s = w.service(); len(s.Events) != 3 {
		t.Errorf("an idle pass added events: %q", eventMessages(s))
	}

	// A task that stops is replaced.
	running := w.tasks()[lifecycle.Running]
	w.report(running[:1], lifecycle.Stopped)
	w.reconcile()
	if s = w.service(); !hasEvent(s, "has started 1 tasks") || len(w.tasks()[lifecycle.Pending]) != 1 {
		t.Fatalf("replacement: %q", eventMessages(s))
	}
	w.report(w.tasks()[lifecycle.Pending], lifecycle.Running)
	w.advance(40 * time.Second)
	w.reconcile()

	// Rolling deployment to v2 at 100 % / 200 %.
	v2 := w.td("web")
	if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr(v2)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	tk = w.tasks()
	if len(tk[lifecycle.Pending]) != 2 || len(tk[lifecycle.Running]) != 2 {
		t.Fatalf("rollout start: %d pending %d running, want 2 new started before any old stops", len(tk[lifecycle.Pending]), len(tk[lifecycle.Running]))
	}
	s = w.service()
	if len(s.Deployments) != 2 || ecsapi.Value(s.Deployments[1].Status) != "ACTIVE" || s.Deployments[0].PendingCount != 2 || s.Deployments[1].RunningCount != 2 {
		t.Fatalf("deployments during rollout: %+v", s.Deployments)
	}
	w.report(tk[lifecycle.Pending], lifecycle.Running)
	w.reconcile()
	if got := len(w.tasks()["stopping"]); got != 0 {
		t.Fatalf("old tasks stopped before the new ones were healthy: %d", got)
	}
	w.advance(40 * time.Second)
	w.reconcile()
	tk = w.tasks()
	if len(tk["stopping"]) != 2 || !hasEvent(w.service(), "has stopped 2 running tasks") {
		t.Fatalf("old tasks not stopped once new are healthy: %d stopping; %q", len(tk["stopping"]), eventMessages(w.service()))
	}
	for _, r := range tk["stopping"] {
		if ecsapi.Value(r.Task.StoppedReason) != "Scaling activity initiated by (deployment "+ecsapi.Value(w.service().Deployments[0].Id)+")" ||
			ecsapi.Value(r.Task.StopCode) != lifecycle.CodeServiceSchedulerInitiated {
			t.Errorf("stop reason %q code %q", ecsapi.Value(r.Task.StoppedReason), ecsapi.Value(r.Task.StopCode))
		}
	}
	w.report(tk["stopping"], lifecycle.Stopped)
	w.reconcile()
	s = w.service()
	if len(s.Deployments) != 1 || ecsapi.Value(s.Deployments[0].TaskDefinition) != v2 || ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateCOMPLETED || s.RunningCount != 2 {
		t.Fatalf("after the rollout: %+v", s.Deployments)
	}

	// Scale to 0 and delete.
	if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(0))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	w.report(w.tasks()["stopping"], lifecycle.Stopped)
	if _, err := w.e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web"}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if s = w.service(); ecsapi.Value(s.Status) != statusInactive {
		t.Fatalf("deleted service is %s", ecsapi.Value(s.Status))
	}
}

// TestControllerUnableToPlace: when nothing fits, ECS's event names the
// closest instance and why, once a minute at most.
func TestControllerUnableToPlace(t *testing.T) {
	w := newCtlWorld(t, 1)
	ctx := context.Background()
	out, err := w.e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
		Family:               "big",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(4096))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: out.TaskDefinition.TaskDefinitionArn, DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	s := w.service()
	if len(s.Events) != 1 || !strings.HasPrefix(ecsapi.Value(s.Events[0].Message), "(service web) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance ") ||
		!strings.Contains(ecsapi.Value(s.Events[0].Message), "has insufficient memory available.") {
		t.Fatalf("events %q", eventMessages(s))
	}
	w.reconcile()
	if s = w.service(); len(s.Events) != 1 {
		t.Errorf("the same event repeated within a minute: %q", eventMessages(s))
	}
	w.advance(time.Minute)
	w.reconcile()
	if s = w.service(); len(s.Events) != 2 {
		t.Errorf("the event did not repeat after a minute: %q", eventMessages(s))
	}
}
