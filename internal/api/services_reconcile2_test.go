package api

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
)

// fail plays the agent failing to start each task.
func (w *ctlWorld) fail(recs []taskRecord) {
	w.t.Helper()
	for _, rec := range recs {
		st := agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: lifecycle.Stopped, StopCode: lifecycle.CodeTaskFailedToStart, Reason: "CannotPullContainerError: pull access denied"}
		if err := w.e.ApplyTaskState(context.Background(), "default", rec.InstanceID, st); err != nil {
			w.t.Fatal(err)
		}
	}
}

// TestControllerDaemon: one task on every ACTIVE instance; a draining
// instance loses its task and the desired count follows.
func TestControllerDaemon(t *testing.T) {
	w := newCtlWorld(t, 3)
	ctx := context.Background()
	v1 := w.td("agent")
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), SchedulingStrategy: ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	tk := w.tasks()[lifecycle.Pending]
	seen := map[string]bool{}
	for _, r := range tk {
		seen[r.InstanceID] = true
	}
	if len(tk) != 3 || len(seen) != 3 || w.service().DesiredCount != 3 {
		t.Fatalf("daemon: %d tasks on %d instances, desired %d", len(tk), len(seen), w.service().DesiredCount)
	}
	w.report(tk, lifecycle.Running)
	w.advance(time.Minute)
	w.reconcile()
	if s := w.service(); !hasEvent(s, "has reached a steady state.") {
		t.Fatalf("daemon not steady: %q", eventMessages(s))
	}
	drained := tk[0].InstanceID
	if _, err := w.e.UpdateContainerInstancesState(ctx, &ecsapi.UpdateContainerInstancesStateRequest{ContainerInstances: []string{drained}, Status: ecsapi.ContainerInstanceStatusDRAINING}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	stopping := w.tasks()["stopping"]
	if len(stopping) != 1 || stopping[0].InstanceID != drained || w.service().DesiredCount != 2 {
		t.Fatalf("drain: %d stopping, desired %d", len(stopping), w.service().DesiredCount)
	}
}

// TestControllerCircuitBreaker: a deployment whose tasks fail to start
// trips the breaker after CircuitThreshold failures and rolls back to the
// last completed deployment; launches are throttled after three failures in
// a row.
func TestControllerCircuitBreaker(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	v1 := w.td("web")
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), DesiredCount: ecsapi.Ptr(int32(2)),
		DeploymentConfiguration: &ecsapi.DeploymentConfiguration{DeploymentCircuitBreaker: &ecsapi.DeploymentCircuitBreaker{Enable: true, Rollback: true}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	w.report(w.tasks()[lifecycle.Pending], lifecycle.Running)
	w.advance(time.Minute)
	w.reconcile()
	good := ecsapi.Value(w.service().Deployments[0].Id)

	v2 := w.td("web")
	if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr(v2)}); err != nil {
		t.Fatal(err)
	}
	bad := ecsapi.Value(w.service().Deployments[0].Id)
	w.reconcile()
	w.fail(w.tasks()[lifecycle.Pending]) // 2 failures
	w.reconcile()
	if s := w.service(); ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateINPROGRESS || s.Deployments[0].FailedTasks != 2 {
		t.Fatalf("after 2 failures: %+v", s.Deployments[0])
	}
	w.fail(w.tasks()[lifecycle.Pending][:1]) // 3: the threshold for desired 2
	w.reconcile()
	s := w.service()
	if len(s.Deployments) < 2 || ecsapi.Value(s.Deployments[1].Id) != bad || ecsapi.Value(s.Deployments[1].RolloutState) != ecsapi.DeploymentRolloutStateFAILED || s.Deployments[1].FailedTasks != 3 ||
		ecsapi.Value(s.Deployments[0].TaskDefinition) != v1 || ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateINPROGRESS {
		t.Fatalf("after the breaker: %+v", s.Deployments)
	}
	if !hasEvent(s, "(service web) (deployment "+bad+") deployment failed: tasks failed to start.") || !hasEvent(s, "(service web) rolling back to deployment "+good+".") {
		t.Errorf("events %q", eventMessages(s))
	}
	// The rollback deployment starts v1 tasks of its own, then the tasks
	// of the deployment it replaced drain away.
	for range 4 {
		w.reconcile()
		w.report(w.tasks()["stopping"], lifecycle.Stopped)
		w.report(w.tasks()[lifecycle.Pending], lifecycle.Running)
		w.advance(time.Minute)
	}
	w.reconcile()
	s = w.service()
	if len(s.Deployments) != 1 || ecsapi.Value(s.Deployments[0].TaskDefinition) != v1 || ecsapi.Value(s.Deployments[0].RolloutState) != ecsapi.DeploymentRolloutStateCOMPLETED {
		t.Fatalf("after the rollback: %+v %q", s.Deployments, eventMessages(s))
	}
}

// TestControllerThrottle: after three tasks in a row fail to start, the
// service holds launches for a growing delay and says so once.
func TestControllerThrottle(t *testing.T) {
	w := newCtlWorld(t, 1)
	ctx := context.Background()
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.reconcile()
		w.fail(w.tasks()[lifecycle.Pending])
		w.advance(time.Second)
	}
	if wait := w.reconcile(); len(w.tasks()[lifecycle.Pending]) != 0 || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("not throttled after 3 failures: pending %d, wait %v", len(w.tasks()[lifecycle.Pending]), wait)
	}
	if s := w.service(); !hasEvent(s, "(service web) is unable to consistently start tasks successfully.") {
		t.Errorf("events %q", eventMessages(s))
	}
	w.advance(10 * time.Second)
	w.reconcile()
	if len(w.tasks()[lifecycle.Pending]) != 1 {
		t.Fatalf("no launch after the hold")
	}
	w.fail(w.tasks()[lifecycle.Pending])
	if wait := w.reconcile(); wait != 20*time.Second {
		t.Errorf("fourth failure: hold %v, want 20s", wait)
	}
}

// TestControllerLostHost: a task whose agent stays disconnected is kept for
// the grace period, then replaced elsewhere; when the agent returns, the
// copy it still runs is stopped, so exactly desiredCount remains.
func TestControllerLostHost(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	first := w.tasks()[lifecycle.Pending]
	w.report(first, lifecycle.Running)
	w.advance(time.Minute)
	w.reconcile()
	lostInst := first[0].InstanceID
	if err := w.e.SetAgentConnected(ctx, "default", lostInst, false); err != nil {
		t.Fatal(err)
	}
	if wait := w.reconcile(); wait != DefaultLostAfter {
		t.Errorf("recheck = %v, want the %v grace", wait, DefaultLostAfter)
	}
	if tk := w.tasks(); len(tk[lifecycle.Running]) != 1 || len(tk[lifecycle.Pending]) != 0 {
		t.Fatalf("replaced before the grace period: %v", tk)
	}
	w.advance(DefaultLostAfter)
	w.reconcile()
	tk := w.tasks()
	if len(tk["stopping"]) != 1 || tk["stopping"][0].InstanceID != lostInst || len(tk[lifecycle.Pending]) != 1 || tk[lifecycle.Pending][0].InstanceID == lostInst {
		t.Fatalf("after the grace period: stopping %d, pending %d", len(tk["stopping"]), len(tk[lifecycle.Pending]))
	}
	// The agent comes back and stops its copy; one task remains.
	if err := w.e.SetAgentConnected(ctx, "default", lostInst, true); err != nil {
		t.Fatal(err)
	}
	w.report(tk["stopping"], lifecycle.Stopped)
	w.report(tk[lifecycle.Pending], lifecycle.Running)
	w.advance(time.Minute)
	w.reconcile()
	if s := w.service(); s.RunningCount != 1 || !hasEvent(s, "has reached a steady state.") {
		t.Fatalf("after the agent returned: running %d %q", s.RunningCount, eventMessages(s))
	}
}

// TestPruneStoppedTasks: STOPPED tasks stay describable for the retention
// period, then their records go; live tasks are never touched.
func TestPruneStoppedTasks(t *testing.T) {
	w := newCtlWorld(t, 1)
	ctx := context.Background()
	td := w.td("web")
	out, err := w.e.RunTask(ctx, &ecsapi.RunTaskRequest{TaskDefinition: td, Count: ecsapi.Ptr(int32(2))})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatal(err, out)
	}
	tk := w.tasks()[lifecycle.Pending]
	w.report(tk[:1], lifecycle.Stopped)
	w.advance(DefaultStoppedTaskRetention - time.Second)
	if n, err := w.e.PruneStoppedTasks(ctx, DefaultStoppedTaskRetention); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) before the retention period", n, err)
	}
	w.advance(2 * time.Second)
	if n, err := w.e.PruneStoppedTasks(ctx, DefaultStoppedTaskRetention); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the stopped task", n, err)
	}
	d, err := w.e.DescribeTasks(ctx, &ecsapi.DescribeTasksRequest{Tasks: []string{ecsapi.Value(tk[0].Task.TaskArn), ecsapi.Value(tk[1].Task.TaskArn)}})
	if err != nil || len(d.Tasks) != 1 || len(d.Failures) != 1 || ecsapi.Value(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("DescribeTasks after pruning: %+v %v", d, err)
	}
}

// fakeRegistry records the controller's Cloud Map calls.
type fakeRegistry struct {
	instances map[string]map[string]string // "<service>/<id>" → attributes
	calls     int
}

func (f *fakeRegistry) Register(_ context.Context, service, id string, attrs map[string]string) error {
	f.instances[service+"/"+id] = attrs
	f.calls++
	return nil
}

func (f *fakeRegistry) Deregister(_ context.Context, service, id string) error {
	delete(f.instances, service+"/"+id)
	f.calls++
	return nil
}

// TestControllerServiceRegistries: RUNNING awsvpc tasks of a service with
// serviceRegistries are registered (task id, address, port) once, and
// deregistered when they are told to stop.
func TestControllerServiceRegistries(t *testing.T) {
	w := newCtlWorld(t, 1)
	reg := &fakeRegistry{instances: map[string]map[string]string{}}
	w.e.SetServiceRegistry(reg)
	ctx := context.Background()
	out, err := w.e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
		Family: "api", NetworkMode: ecsapi.Ptr(ecsapi.NetworkModeAwsvpc),
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64)),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(8080))}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	registry := "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef"
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: out.TaskDefinition.TaskDefinitionArn, DesiredCount: ecsapi.Ptr(int32(1)),
		NetworkConfiguration: &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
		ServiceRegistries:    []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr(registry), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if len(reg.instances) != 0 {
		t.Fatalf("registered before RUNNING: %v", reg.instances)
	}
	tk := w.tasks()[lifecycle.Provisioning][0] // awsvpc tasks start PROVISIONING
	st := agentproto.TaskState{TaskARN: ecsapi.Value(tk.Task.TaskArn), Status: lifecycle.Running, PrivateIP: "10.9.0.5"}
	if err := w.e.ApplyTaskState(ctx, "default", tk.InstanceID, st); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	key := "srv-0123456789abcdef/" + lastSegment(ecsapi.Value(tk.Task.TaskArn))
	if a := reg.instances[key]; a["AWS_INSTANCE_IPV4"] != "10.9.0.5" || a["AWS_INSTANCE_PORT"] != "8080" {
		t.Fatalf("registered %v, want %s at 10.9.0.5:8080", reg.instances, key)
	}
	calls := reg.calls
	w.reconcile()
	if reg.calls != calls {
		t.Errorf("an idle pass called the registry again")
	}
	if _, err := w.e.StopTask(ctx, &ecsapi.StopTaskRequest{Task: ecsapi.Value(tk.Task.TaskArn)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if _, ok := reg.instances[key]; ok {
		t.Errorf("a stopping task is still registered")
	}
}
