package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
)

// fakeLBs is a LoadBalancers whose target health the test sets.
type fakeLBs struct {
	mu         sync.Mutex
	types      map[string]string // target group → target type
	registered map[string]bool   // "<tg> <id>:<port>"
	health     map[string]string
	calls      int
}

func newFakeLBs() *fakeLBs {
	return &fakeLBs{types: map[string]string{}, registered: map[string]bool{}, health: map[string]string{}}
}

func targetKey(tg, id string, port int32) string { return fmt.Sprintf("%s %s:%d", tg, id, port) }

func (f *fakeLBs) RegisterTarget(_ context.Context, tg, id string, port int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.registered[targetKey(tg, id, port)] = true
	return nil
}

func (f *fakeLBs) DeregisterTarget(_ context.Context, tg, id string, port int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	delete(f.registered, targetKey(tg, id, port))
	return nil
}

func (f *fakeLBs) TargetHealth(_ context.Context, tg, id string, port int32) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := targetKey(tg, id, port)
	if !f.registered[k] {
		return "", nil
	}
	if h, ok := f.health[k]; ok {
		return h, nil
	}
	return "initial", nil
}

func (f *fakeLBs) TargetType(_ context.Context, tg string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.types[tg], nil
}

func (f *fakeLBs) DeregistrationDelay(context.Context, string) (time.Duration, error) {
	return 300 * time.Second, nil
}

func (f *fakeLBs) set(tg, id string, port int32, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health[targetKey(tg, id, port)] = state
}

func (f *fakeLBs) has(tg, id string, port int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.registered[targetKey(tg, id, port)]
}

func (f *fakeLBs) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

const testTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"

func (w *ctlWorld) awsvpcTD(family string) string {
	w.t.Helper()
	out, err := w.e.RegisterTaskDefinition(context.Background(), &ecsapi.RegisterTaskDefinitionRequest{
		Family: family, NetworkMode: ecsapi.Ptr(ecsapi.NetworkModeAwsvpc),
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64)),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(8080))}}}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
}

// runAt reports an awsvpc task RUNNING at ip.
func (w *ctlWorld) runAt(rec taskRecord, ip string) {
	w.t.Helper()
	st := agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: lifecycle.Running, PrivateIP: ip}
	if err := w.e.ApplyTaskState(context.Background(), "default", rec.InstanceID, st); err != nil {
		w.t.Fatal(err)
	}
}

func taskIDs(recs []taskRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, lastSegment(ecsapi.Value(r.Task.TaskArn)))
	}
	return out
}

// TestControllerLoadBalancers: RUNNING awsvpc tasks are registered (ip,
// container port) once; target health gates the rollout; an unhealthy
// target is ignored within the grace period and its task replaced after;
// stopped tasks are deregistered.
func TestControllerLoadBalancers(t *testing.T) {
	w := newCtlWorld(t, 2)
	lbs := newFakeLBs()
	lbs.types[testTG] = "ip"
	w.e.SetLoadBalancers(lbs)
	ctx := context.Background()
	v1 := w.awsvpcTD("web")
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), DesiredCount: ecsapi.Ptr(int32(1)),
		NetworkConfiguration:          &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
		LoadBalancers:                 []ecsapi.LoadBalancer{{TargetGroupArn: ecsapi.Ptr(testTG), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
		HealthCheckGracePeriodSeconds: ecsapi.Ptr(int32(120)),
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if lbs.callCount() != 0 {
		t.Fatalf("registered before RUNNING: %v", lbs.registered)
	}
	first := w.tasks()[lifecycle.Provisioning][0]
	w.runAt(first, "10.0.0.1")
	if wait := w.reconcile(); wait <= 0 || wait > lbPoll {
		t.Errorf("recheck = %v while the target's health is pending, want at most %v", wait, lbPoll)
	}
	if !lbs.has(testTG, "10.0.0.1", 8080) || lbs.callCount() != 1 {
		t.Fatalf("registered %v after %d calls, want %s 10.0.0.1:8080", lbs.registered, lbs.callCount(), testTG)
	}
	w.advance(time.Minute) // past HealthyAfter: still not healthy, its target is not
	w.reconcile()
	if s := w.service(); hasEvent(s, "steady state") {
		t.Fatalf("steady before the target is healthy: %q", eventMessages(s))
	}
	if lbs.callCount() != 1 {
		t.Errorf("an idle pass called the load balancer: %d calls", lbs.callCount())
	}
	lbs.set(testTG, "10.0.0.1", 8080, "healthy")
	w.reconcile()
	if s := w.service(); !hasEvent(s, "(service web) has reached a steady state.") {
		t.Fatalf("not steady with a healthy target: %q", eventMessages(s))
	}

	// A rolling deployment: the old task stops only once the new task's
	// target is healthy.
	v2 := w.awsvpcTD("web")
	if _, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr(v2)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	second := w.tasks()[lifecycle.Provisioning][0]
	w.runAt(second, "10.0.0.2")
	w.reconcile()
	w.advance(time.Minute)
	w.reconcile()
	if tk := w.tasks(); len(tk["stopping"]) != 0 || !lbs.has(testTG, "10.0.0.2", 8080) {
		t.Fatalf("old task stopped before the new target is healthy: stopping %v, registered %v", taskIDs(tk["stopping"]), lbs.registered)
	}
	lbs.set(testTG, "10.0.0.2", 8080, "healthy")
	w.reconcile()
	if tk := w.tasks(); len(tk["stopping"]) != 1 || taskIDs(tk["stopping"])[0] != taskIDs([]taskRecord{first})[0] {
		t.Fatalf("old task not stopped once the new target is healthy: %v", taskIDs(tk["stopping"]))
	}
	if lbs.has(testTG, "10.0.0.1", 8080) {
		t.Errorf("the stopped task's target is still registered")
	}
	w.report(w.tasks()["stopping"], lifecycle.Stopped)
	w.reconcile()

	// Unhealthy within the grace period (120 s from RUNNING): ignored.
	lbs.set(testTG, "10.0.0.2", 8080, "unhealthy")
	calls := lbs.callCount()
	w.reconcile()
	if tk := w.tasks(); len(tk["stopping"]) != 0 || len(tk[lifecycle.Provisioning]) != 0 {
		t.Fatalf("unhealthy target acted on within the grace period")
	}
	if lbs.callCount() != calls {
		t.Errorf("an idle pass called the load balancer")
	}
	// Past it: replaced (the replacement first, as maximumPercent allows),
	// then stopped once the replacement is healthy.
	w.advance(2 * time.Minute)
	w.reconcile()
	tk := w.tasks()
	if len(tk[lifecycle.Provisioning]) != 1 {
		t.Fatalf("no replacement for the unhealthy task: %v", tk)
	}
	third := tk[lifecycle.Provisioning][0]
	w.runAt(third, "10.0.0.3")
	w.reconcile()
	lbs.set(testTG, "10.0.0.3", 8080, "healthy")
	w.reconcile()
	tk = w.tasks()
	secondID := taskIDs([]taskRecord{second})[0]
	if len(tk["stopping"]) != 1 || taskIDs(tk["stopping"])[0] != secondID {
		t.Fatalf("unhealthy task not stopped: stopping %v", taskIDs(tk["stopping"]))
	}
	if r := ecsapi.Value(tk["stopping"][0].Task.StoppedReason); r != "Task failed ELB health checks in (target-group "+testTG+")" {
		t.Errorf("stoppedReason %q", r)
	}
	want := "(service web) (task " + secondID + ") failed ELB health checks in (target-group " + testTG + ")."
	if s := w.service(); !hasEvent(s, want) {
		t.Errorf("events %q, want %q", eventMessages(s), want)
	}
	if lbs.has(testTG, "10.0.0.2", 8080) || !lbs.has(testTG, "10.0.0.3", 8080) {
		t.Errorf("registered %v, want only 10.0.0.3", lbs.registered)
	}

	// Deleting the service deregisters the rest.
	if _, err := w.e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web", Force: ecsapi.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if len(lbs.registered) != 0 {
		t.Errorf("still registered after deletion: %v", lbs.registered)
	}
}

// TestControllerLoadBalancersBridge: bridge tasks are registered by their
// instance's EC2 id and the host port bound to the container port.
func TestControllerLoadBalancersBridge(t *testing.T) {
	w := newCtlWorld(t, 1)
	lbs := newFakeLBs()
	lbs.types[testTG] = "instance"
	w.e.SetLoadBalancers(lbs)
	ctx := context.Background()
	out, err := w.e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
		Family: "web", NetworkMode: ecsapi.Ptr(ecsapi.NetworkModeBridge),
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64)),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(80)), HostPort: ecsapi.Ptr(int32(0))}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: out.TaskDefinition.TaskDefinitionArn, DesiredCount: ecsapi.Ptr(int32(1)),
		LoadBalancers: []ecsapi.LoadBalancer{{TargetGroupArn: ecsapi.Ptr(testTG), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(80))}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	rec := w.tasks()[lifecycle.Pending][0]
	st := agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: lifecycle.Running, Containers: []agentproto.ContainerState{{
		Name: "app", Status: lifecycle.Running,
		NetworkBindings: []ecsapi.NetworkBinding{{ContainerPort: ecsapi.Ptr(int32(80)), HostPort: ecsapi.Ptr(int32(32768)), BindIP: ecsapi.Ptr("0.0.0.0")}},
	}}}
	if err := w.e.ApplyTaskState(ctx, "default", rec.InstanceID, st); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	ci, err := w.e.DescribeContainerInstances(ctx, &ecsapi.DescribeContainerInstancesRequest{ContainerInstances: []string{rec.InstanceID}})
	if err != nil || len(ci.ContainerInstances) != 1 {
		t.Fatal(err, ci)
	}
	ec2 := ecsapi.Value(ci.ContainerInstances[0].Ec2InstanceId)
	if !lbs.has(testTG, ec2, 32768) || len(lbs.registered) != 1 {
		t.Fatalf("registered %v, want %s:32768", lbs.registered, ec2)
	}
	if _, err := w.e.StopTask(ctx, &ecsapi.StopTaskRequest{Task: ecsapi.Value(rec.Task.TaskArn)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if len(lbs.registered) != 0 {
		t.Errorf("a stopping task is still registered: %v", lbs.registered)
	}
}

// TestCreateServiceTargetType: awsvpc needs an ip target group, other
// modes an instance one.
func TestCreateServiceTargetType(t *testing.T) {
	w := newCtlWorld(t, 1)
	lbs := newFakeLBs()
	lbs.types[testTG] = "instance"
	w.e.SetLoadBalancers(lbs)
	_, err := w.e.CreateService(context.Background(), &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.awsvpcTD("web")), DesiredCount: ecsapi.Ptr(int32(1)),
		NetworkConfiguration: &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}},
		LoadBalancers:        []ecsapi.LoadBalancer{{TargetGroupArn: ecsapi.Ptr(testTG), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
	})
	want := "The provided target group " + testTG + " has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ecsapi.CodeInvalidParameterException) {
		t.Fatalf("err = %v, want InvalidParameterException %q", err, want)
	}
}
