package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/berth-dev/berth/internal/sdkclient"
)

// drainEnv is a berth server with one agent, an application load balancer
// whose HTTP listener forwards to an instance target group (health check
// /health every 5 s, 2 to turn healthy or unhealthy), and a bridge-mode
// service "web" (testapp serve 8080 on a dynamic host port) behind it.
type drainEnv struct {
	t    *testing.T
	s    *server
	a    *agentProc
	c    *ecs.Client
	elb  *elbv2.Client
	tg   string
	port int // the listener's
	http *http.Client
}

func newDrainEnv(t *testing.T, delaySeconds int, desired int32) *drainEnv {
	t.Helper()
	img := requireDocker(t)
	s := startServer(t, "", "--service-healthy-after", "1s")
	a := startAgent(t, s, "default")
	env := &drainEnv{t: t, s: s, a: a, c: s.ecs(t), http: &http.Client{Timeout: 5 * time.Second}}
	env.elb = elbv2.New(elbv2.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient:       &http.Client{Transport: sdkclient.Transport(nil)},
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	tg, err := env.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("web"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(8080),
		TargetType: elbtypes.TargetTypeEnumInstance, VpcId: aws.String("vpc-1"), HealthCheckPath: aws.String("/health"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	env.tg = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	if _, err := env.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(env.tg),
		Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String("deregistration_delay.timeout_seconds"), Value: aws.String(fmt.Sprint(delaySeconds))}}}); err != nil {
		t.Fatal(err)
	}
	lb, err := env.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Subnets: []string{"subnet-1", "subnet-2"}})
	if err != nil {
		t.Fatal(err)
	}
	env.port = freeTCPPort(t)
	if _, err := env.elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(int32(env.port)), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(env.tg)}}}); err != nil {
		t.Fatal(err)
	}
	td := registerTD(t, env.c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"testapp", "serve", "8080"}, PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	if _, err := env.c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(desired),
		LoadBalancers: []types.LoadBalancer{{TargetGroupArn: aws.String(env.tg), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)})
		waitFor(t, "the service's tasks to stop", func() bool {
			out, err := env.c.ListTasks(context.Background(), &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusRunning})
			return err == nil && len(out.TaskArns) == 0
		})
		removeContainers(a.InstanceID)
	})
	env.waitSteady(int(desired))
	return env
}

// waitSteady waits until the service runs n tasks with one completed
// deployment.
func (env *drainEnv) waitSteady(n int) {
	env.t.Helper()
	waitFor(env.t, fmt.Sprintf("the service steady with %d tasks", n), func() bool {
		out, err := env.c.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Services: []string{"web"}})
		if err != nil || len(out.Services) != 1 {
			return false
		}
		svc := out.Services[0]
		return len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted &&
			svc.RunningCount == int32(n) && svc.DesiredCount == int32(n) && len(env.tasks(types.DesiredStatusRunning)) == n
	})
}

// tasks describes the service's tasks of a desired status, oldest first.
func (env *drainEnv) tasks(desired types.DesiredStatus) []types.Task {
	ctx := context.Background()
	list, err := env.c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: desired})
	if err != nil || len(list.TaskArns) == 0 {
		return nil
	}
	out, err := env.c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: list.TaskArns})
	if err != nil {
		return nil
	}
	slices.SortFunc(out.Tasks, func(a, b types.Task) int { return a.CreatedAt.Compare(*b.CreatedAt) })
	return out.Tasks
}

// waitStopped waits until one of tasks is desired STOPPED and returns it.
func (env *drainEnv) waitStopped(tasks []types.Task) types.Task {
	env.t.Helper()
	arns := make([]string, len(tasks))
	for i, tk := range tasks {
		arns[i] = aws.ToString(tk.TaskArn)
	}
	var stopped types.Task
	waitFor(env.t, "a task desired STOPPED", func() bool {
		out, err := env.c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: arns})
		if err != nil {
			return false
		}
		for _, tk := range out.Tasks {
			if aws.ToString(tk.DesiredStatus) == "STOPPED" {
				stopped = tk
				return true
			}
		}
		return false
	})
	return stopped
}

// describe reads one task.
func (env *drainEnv) describe(arn string) types.Task {
	env.t.Helper()
	out, err := env.c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: []string{arn}})
	if err != nil || len(out.Tasks) != 1 {
		env.t.Fatalf("describe %s: %v", arn, err)
	}
	return out.Tasks[0]
}

// hostPort is the host port a task's app container is bound to.
func hostPortOf(t *testing.T, tk types.Task) int32 {
	t.Helper()
	c := container(t, tk, "app")
	if len(c.NetworkBindings) == 0 {
		t.Fatalf("no network bindings: %s", taskString(tk))
	}
	return aws.ToInt32(c.NetworkBindings[0].HostPort)
}

// get answers a GET through the listener (port 0) or straight to a task's
// host port: the body, or an error for anything but 200.
func (env *drainEnv) get(port int, path string) (string, error) {
	if port == 0 {
		port = env.port
	}
	resp, err := env.http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	return string(body), nil
}

// needEndpoint skips the test when the test image's `testapp serve` lacks
// path (it answers 404): the drain and health scenarios need endpoints
// internal/testimage does not offer yet.
func (env *drainEnv) needEndpoint(port int32, path, what string) {
	env.t.Helper()
	resp, err := env.http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		env.t.Fatalf("probe %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		env.t.Skipf("the test image's `testapp serve` has no %s endpoint (%s)", path, what)
	}
}

// containerFinished is when a task's app container exited.
func containerFinished(t *testing.T, tk types.Task) time.Time {
	t.Helper()
	id := aws.ToString(container(t, tk, "app").RuntimeId)
	at, err := time.Parse(time.RFC3339Nano, dockerInspect(t, id, "{{.State.FinishedAt}}"))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func containerRunning(t *testing.T, tk types.Task) bool {
	t.Helper()
	id := aws.ToString(container(t, tk, "app").RuntimeId)
	out, err := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", id).Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// TestLoadBalancerDrainDelay: a task the service stops while it serves a
// long request through the load balancer (deregistration delay 5 s) goes
// DEACTIVATING, desired STOPPED; its target drains: the request in flight
// completes with 200 from that task while new requests go to the other
// task, and its container is stopped only after the request finished, and
// within the delay plus slack.
//
// Needs `testapp serve`'s GET /sleep/{seconds}: wait that long, then answer
// 200 with the body of "/".
func TestLoadBalancerDrainDelay(t *testing.T) {
	env := newDrainEnv(t, 5, 2)
	ctx := context.Background()
	tasks := env.tasks(types.DesiredStatusRunning)
	env.needEndpoint(hostPortOf(t, tasks[0]), "/sleep/0", "GET /sleep/{seconds}: wait, then answer 200 with the body of /")
	bodies := map[string]string{} // task ARN → what it answers
	for _, tk := range tasks {
		body, err := env.get(int(hostPortOf(t, tk)), "/")
		if err != nil {
			t.Fatal(err)
		}
		bodies[aws.ToString(tk.TaskArn)] = body
	}
	if len(tasks) != 2 || bodies[aws.ToString(tasks[0].TaskArn)] == bodies[aws.ToString(tasks[1].TaskArn)] {
		t.Fatalf("the tasks answer %v", bodies)
	}

	// Four slow requests, each on its own connection: round robin sends
	// two to each task.
	type result struct {
		body string
		err  error
		at   time.Time
	}
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/sleep/3", env.port))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
				}
				results[i] = result{string(b), err, time.Now()}
				return
			}
			results[i] = result{err: err, at: time.Now()}
		}()
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the requests reach the tasks
	scaledAt := time.Now()
	if _, err := env.c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	// Scale-in stops one of the two; the other keeps serving.
	tk := env.waitStopped(tasks)
	if aws.ToString(tk.LastStatus) != "DEACTIVATING" {
		t.Fatalf("the stopped task is not DEACTIVATING: %s", taskString(tk))
	}
	arn := aws.ToString(tk.TaskArn)
	victimBody := bodies[arn]
	var keeperBody string
	for a, b := range bodies {
		if a != arn {
			keeperBody = b
		}
	}
	if aws.ToString(tk.DesiredStatus) != "STOPPED" || tk.StopCode != types.TaskStopCodeServiceSchedulerInitiated || tk.StoppingAt != nil {
		t.Errorf("deactivating task: %s, stoppingAt %v", taskString(tk), tk.StoppingAt)
	}
	if !containerRunning(t, tk) {
		t.Errorf("the deactivating task's container is not running")
	}
	// Its target drains; new requests go to the other task only.
	port := hostPortOf(t, tk)
	waitFor(t, "the stopped task's target draining", func() bool {
		h, err := env.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(env.tg),
			Targets: []elbtypes.TargetDescription{{Id: aws.String(env.a.InstanceID), Port: aws.Int32(port)}}})
		return err == nil && len(h.TargetHealthDescriptions) == 1 && h.TargetHealthDescriptions[0].TargetHealth.State == elbtypes.TargetHealthStateEnumDraining
	})
	// The data plane applies the drain shortly after the record says so;
	// from then on ten requests in a row reach the other task (round robin
	// over both would send every second one to the victim).
	waitFor(t, "new requests reaching only the task that stays", func() bool {
		for range 10 {
			if body, err := env.get(0, "/"); err != nil || body != keeperBody {
				return false
			}
		}
		return true
	})
	wg.Wait()
	done := time.Time{}
	fromVictim := 0
	for _, r := range results {
		if r.err != nil {
			t.Errorf("slow request: %v", r.err)
			continue
		}
		if r.body == victimBody {
			fromVictim++
			done = r.at
		}
	}
	if fromVictim == 0 {
		t.Fatalf("no slow request reached the stopped task: %+v", results)
	}
	tk = waitStatus(t, env.c, "default", arn, "STOPPED")
	finished := containerFinished(t, tk)
	t.Logf("scaled in at %s, slow requests done at %s, container finished at %s", scaledAt.Format(time.StampMilli), done.Format(time.StampMilli), finished.Format(time.StampMilli))
	if finished.Before(done.Add(-100 * time.Millisecond)) {
		t.Errorf("the container finished at %s, before its request did (%s)", finished, done)
	}
	if limit := scaledAt.Add(5*time.Second + 10*time.Second); finished.After(limit) {
		t.Errorf("the container finished at %s, later than the delay plus slack (%s)", finished, limit)
	}
	if tk.StoppingAt == nil || tk.StoppingAt.Before(done.Add(-time.Second)) {
		t.Errorf("stoppingAt %v, want when it really stopped (after %s)", tk.StoppingAt, done)
	}
	env.waitSteady(1)
}

// TestLoadBalancerDrainEarly: with no request in flight, a stopped task's
// deregistration completes at once, so the task stops well before its
// target group's deregistration delay (60 s).
func TestLoadBalancerDrainEarly(t *testing.T) {
	env := newDrainEnv(t, 60, 2)
	ctx := context.Background()
	tasks := env.tasks(types.DesiredStatusRunning)
	scaledAt := time.Now()
	if _, err := env.c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	victim := env.waitStopped(tasks)
	t.Logf("first seen desired STOPPED as %s", aws.ToString(victim.LastStatus))
	arn := aws.ToString(victim.TaskArn)
	tk := waitStatus(t, env.c, "default", arn, "STOPPED")
	took := time.Since(scaledAt)
	t.Logf("stopped %v after the scale-in", took)
	if took > 20*time.Second {
		t.Errorf("the task stopped %v after the scale-in; with nothing in flight it should not wait for the 60 s delay", took)
	}
	if tk.StopCode != types.TaskStopCodeServiceSchedulerInitiated || tk.StoppingAt == nil {
		t.Errorf("stopped task: %s", taskString(tk))
	}
	// Its target is gone from the target group; named, it is unused.
	port := hostPortOf(t, victim)
	h, err := env.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(env.tg)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range h.TargetHealthDescriptions {
		if aws.ToInt32(d.Target.Port) == port {
			t.Errorf("the stopped task's target is still listed: %s", d.TargetHealth.State)
		}
	}
	h, err = env.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(env.tg),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(env.a.InstanceID), Port: aws.Int32(port)}}})
	if err != nil || len(h.TargetHealthDescriptions) != 1 {
		t.Fatal(err, h)
	}
	if th := h.TargetHealthDescriptions[0].TargetHealth; th.State != elbtypes.TargetHealthStateEnumUnused || th.Reason != elbtypes.TargetHealthReasonEnumNotRegistered {
		t.Errorf("named stopped target: %s %s, want unused Target.NotRegistered", th.State, th.Reason)
	}
	env.waitSteady(1)
}

// TestLoadBalancerUnhealthyTaskReplaced: a task whose health path starts
// failing is reported unhealthy (Target.ResponseCodeMismatch), receives no
// traffic from then on, and is stopped by the service with ECS's ELB
// reason and replaced.
//
// Needs `testapp serve`'s GET /health/fail: from then on /health answers
// 500 on that task.
func TestLoadBalancerUnhealthyTaskReplaced(t *testing.T) {
	env := newDrainEnv(t, 5, 2)
	ctx := context.Background()
	tasks := env.tasks(types.DesiredStatusRunning)
	bad := tasks[0]
	port := hostPortOf(t, bad)
	badBody, err := env.get(int(port), "/")
	if err != nil {
		t.Fatal(err)
	}
	env.needEndpoint(port, "/health/fail", "GET /health/fail: from then on /health answers 500")
	if _, err := env.get(int(port), "/health"); err == nil {
		t.Fatalf("/health still answers 200 after /health/fail")
	}

	var reason elbtypes.TargetHealthReasonEnum
	waitFor(t, "the failing task's target unhealthy", func() bool {
		h, err := env.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(env.tg),
			Targets: []elbtypes.TargetDescription{{Id: aws.String(env.a.InstanceID), Port: aws.Int32(port)}}})
		if err != nil || len(h.TargetHealthDescriptions) != 1 {
			return false
		}
		th := h.TargetHealthDescriptions[0].TargetHealth
		reason = th.Reason
		return th.State == elbtypes.TargetHealthStateEnumUnhealthy
	})
	if reason != elbtypes.TargetHealthReasonEnumResponseCodeMismatch {
		t.Errorf("unhealthy reason %s, want Target.ResponseCodeMismatch", reason)
	}

	// From now until the replacement serves, a bounded request loop never
	// reaches the failing task.
	arn := aws.ToString(bad.TaskArn)
	deadline := time.Now().Add(90 * time.Second)
	var sent, failed, fromBad int
	var stopped types.Task
	for time.Now().Before(deadline) && sent < 5000 {
		for range 10 {
			sent++
			body, err := env.get(0, "/")
			switch {
			case err != nil:
				failed++
			case body == badBody:
				fromBad++
			}
		}
		if stopped.TaskArn == nil {
			if tk := env.describe(arn); aws.ToString(tk.LastStatus) == "STOPPED" {
				stopped = tk
			}
		} else if len(env.tasks(types.DesiredStatusRunning)) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d requests while the task was unhealthy and replaced: %d failed, %d from the failing task", sent, failed, fromBad)
	if fromBad > 0 || failed > 0 {
		t.Errorf("%d requests answered by the failing task, %d failed", fromBad, failed)
	}
	if stopped.TaskArn == nil {
		t.Fatalf("the failing task was not stopped: %s", taskString(env.describe(arn)))
	}
	want := "Task failed ELB health checks in (target-group " + env.tg + ")"
	if aws.ToString(stopped.StoppedReason) != want || stopped.StopCode != types.TaskStopCodeServiceSchedulerInitiated {
		t.Errorf("stopped task: %s, want reason %q", taskString(stopped), want)
	}
	out, err := env.c.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"web"}})
	if err != nil || len(out.Services) != 1 {
		t.Fatal(err)
	}
	event := fmt.Sprintf("(service web) (task %s) failed ELB health checks in (target-group %s).", arn[strings.LastIndex(arn, "/")+1:], env.tg)
	if !slices.ContainsFunc(out.Services[0].Events, func(e types.ServiceEvent) bool { return aws.ToString(e.Message) == event }) {
		t.Errorf("no event %q", event)
	}
	env.waitSteady(2)
	for _, tk := range env.tasks(types.DesiredStatusRunning) {
		if aws.ToString(tk.TaskArn) == arn {
			t.Errorf("the failing task is still running")
		}
	}
}
