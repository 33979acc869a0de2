package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The service controller's flows on real Docker: rolling updates within
// minimumHealthyPercent/maximumPercent, the deployment circuit breaker with
// rollback, the launch throttle, DAEMON services and draining, and a server
// crash in the middle of a deployment. The server counts a task without a
// health check as healthy flowHealthyAfter after RUNNING (ECS: 40 s) and
// throttles launches from 2 s doubling up to 10 s (ECS: 10 s up to 15 min);
// the arithmetic is the same.

const flowHealthyAfter = 2 * time.Second

var flowServerFlags = []string{"--service-healthy-after", "2s", "--service-throttle-base", "2s", "--service-throttle-max", "10s"}

// flowCLI returns the AWS CLI v1 (awsCLIs skips locally, fails in CI, when
// a CLI is missing).
func flowCLI(t *testing.T) string {
	t.Helper()
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	return bin
}

// flowService describes one service with the SDK.
func flowService(ctx context.Context, c *ecs.Client, cluster, name string) (types.Service, error) {
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}})
	if err != nil {
		return types.Service{}, err
	}
	if len(out.Services) != 1 {
		return types.Service{}, fmt.Errorf("DescribeServices %s: %d services, failures %s", name, len(out.Services), failuresString(out.Failures))
	}
	return out.Services[0], nil
}

func flowMustService(t *testing.T, c *ecs.Client, cluster, name string) types.Service {
	t.Helper()
	svc, err := flowService(context.Background(), c, cluster, name)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// flowTasks lists the service's tasks (desired RUNNING first, then desired
// STOPPED, so that a task told to stop between the two calls is not missed)
// and describes them. all=false keeps only those not STOPPED.
func flowTasks(ctx context.Context, c *ecs.Client, cluster, name string, all bool) ([]types.Task, error) {
	var arns []string
	for _, ds := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String(cluster), ServiceName: aws.String(name), DesiredStatus: ds})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, a := range out.TaskArns {
				if !slices.Contains(arns, a) {
					arns = append(arns, a)
				}
			}
		}
	}
	var tasks []types.Task
	for len(arns) > 0 {
		n := min(len(arns), 100)
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns[:n]})
		if err != nil {
			return nil, err
		}
		if len(out.Failures) > 0 {
			return nil, fmt.Errorf("DescribeTasks failures: %s", failuresString(out.Failures))
		}
		arns = arns[n:]
		for _, tk := range out.Tasks {
			if all || aws.ToString(tk.LastStatus) != "STOPPED" {
				tasks = append(tasks, tk)
			}
		}
	}
	return tasks, nil
}

func flowMustTasks(t *testing.T, c *ecs.Client, cluster, name string, all bool) []types.Task {
	t.Helper()
	tasks, err := flowTasks(context.Background(), c, cluster, name, all)
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

// flowHealthy says whether the controller counts the task as healthy at
// now: RUNNING, not told to stop, for at least flowHealthyAfter (the tasks
// here have no health check).
func flowHealthy(tk types.Task, now time.Time) bool {
	return aws.ToString(tk.LastStatus) == "RUNNING" && aws.ToString(tk.DesiredStatus) == "RUNNING" &&
		tk.StartedAt != nil && now.Sub(*tk.StartedAt) >= flowHealthyAfter
}

// flowStable is the services-stable waiter's condition, plus a COMPLETED
// rollout and nothing pending.
func flowStable(svc types.Service) bool {
	return len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted &&
		svc.RunningCount == svc.DesiredCount && svc.PendingCount == 0
}

func flowDeployments(svc types.Service) string {
	var b strings.Builder
	for _, d := range svc.Deployments {
		fmt.Fprintf(&b, "[%s %s %s td=%s desired=%d running=%d pending=%d failed=%d] ", aws.ToString(d.Id), aws.ToString(d.Status), d.RolloutState,
			flowLast(aws.ToString(d.TaskDefinition)), d.DesiredCount, d.RunningCount, d.PendingCount, d.FailedTasks)
	}
	return fmt.Sprintf("desired=%d running=%d pending=%d deployments: %s", svc.DesiredCount, svc.RunningCount, svc.PendingCount, b.String())
}

func flowEvents(svc types.Service) []string {
	var out []string
	for _, e := range svc.Events {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

func flowCountEvents(svc types.Service, substr string) int {
	n := 0
	for _, m := range flowEvents(svc) {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func flowLast(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// flowWaitService polls DescribeServices until cond holds (up to timeout).
func flowWaitService(t *testing.T, c *ecs.Client, cluster, name, what string, timeout time.Duration, cond func(types.Service) bool) types.Service {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last types.Service
	var lastErr error
	for time.Now().Before(deadline) {
		svc, err := flowService(context.Background(), c, cluster, name)
		if err == nil {
			last = svc
			if cond(svc) {
				return svc
			}
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("service %s: %s not reached within %s (last error %v); %s\nevents:\n%s", name, what, timeout, lastErr, flowDeployments(last), strings.Join(flowEvents(last), "\n"))
	return last
}

// flowWaitStable waits until the service is stable as seen with the SDK,
// then proves it with `aws ecs wait services-stable` (CLI v1), which then
// answers on its first poll instead of after its 15 s delay.
func flowWaitStable(t *testing.T, s *server, bin, cluster, name string) types.Service {
	t.Helper()
	c := s.ecs(t)
	flowWaitService(t, c, cluster, name, "a stable service", 90*time.Second, flowStable)
	if _, err := s.runCLI(t, bin, "ecs", "wait", "services-stable", "--cluster", cluster, "--services", name); err != nil {
		t.Fatalf("services-stable: %v", err)
	}
	return flowMustService(t, c, cluster, name)
}

// flowCLIJSON runs a CLI command and decodes its JSON output.
func flowCLIJSON(t *testing.T, s *server, bin string, args ...string) map[string]any {
	t.Helper()
	out, err := s.runCLI(t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: output is not JSON: %q", args, out)
		}
	}
	return m
}

// flowCleanup deletes the service (force: desiredCount 0) at the end of the
// test and waits for its tasks to stop; the agents' cleanup then removes
// their containers.
func flowCleanup(t *testing.T, s *server, cluster, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := s.ecs(t)
		if _, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), Force: aws.Bool(true)}); err != nil {
			t.Logf("cleanup: delete service %s: %v", name, err)
			return
		}
		for ctx.Err() == nil {
			if live, err := flowTasks(ctx, c, cluster, name, false); err == nil && len(live) == 0 {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("cleanup: service %s still has live tasks after its deletion", name)
	})
}

func flowCreate(t *testing.T, c *ecs.Client, in *ecs.CreateServiceInput) types.Service {
	t.Helper()
	out, err := c.CreateService(context.Background(), in)
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	return *out.Service
}

// TestServiceRollingUpdateLimits rolls a 4-task service (minimumHealthyPercent
// 50, maximumPercent 150: at least 2 healthy, at most 6 tasks) on two agents
// to a revision with a dynamic host port, sampling the service every ~200 ms:
// no sample may exceed 6 live tasks or fall below 2 healthy ones, two
// deployments show during the rollout and one PRIMARY COMPLETED at its end,
// and every new task got a host port from 49153 up that answers.
func TestServiceRollingUpdateLimits(t *testing.T) {
	t.Parallel()
	img := requireDocker(t)
	bin := flowCLI(t)
	s := startServer(t, "", flowServerFlags...)
	c := s.ecs(t)
	ctx := context.Background()
	a1 := startAgent(t, s, "default")
	a2 := startAgent(t, s, "default")
	const cluster, name, desired, maxTasks, minHealthy = "default", "roll", 4, 6, 2
	td1 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	flowCreate(t, c, &ecs.CreateServiceInput{
		ServiceName: aws.String(name), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(desired),
		DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(150), MinimumHealthyPercent: aws.Int32(50)},
	})
	flowCleanup(t, s, cluster, name)
	svc := flowWaitStable(t, s, bin, cluster, name)
	first := aws.ToString(svc.Deployments[0].Id)

	web := ctrDef("app", img, true, "testapp", "serve", "8080")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp}}
	td2 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), NetworkMode: types.NetworkModeBridge, ContainerDefinitions: []types.ContainerDefinition{web}})
	if !strings.HasSuffix(td2, "/"+name+":2") {
		t.Fatalf("second revision is %s", td2)
	}
	up := flowCLIJSON(t, s, bin, "ecs", "update-service", "--cluster", cluster, "--service", name, "--task-definition", name+":2")
	second := ""
	upSvc, _ := up["service"].(map[string]any)
	if deps, _ := upSvc["deployments"].([]any); len(deps) > 0 {
		d0, _ := deps[0].(map[string]any)
		second, _ = d0["id"].(string)
	}
	if second == "" || second == first {
		t.Fatalf("update-service answered %v", up)
	}

	// Sample until the rollout is over.
	var violations []string
	sawTwo, samples, peakLive, lowHealthy := false, 0, 0, desired
	deadline := time.Now().Add(90 * time.Second)
	for {
		began := time.Now()
		svc, err := flowService(ctx, c, cluster, name)
		if err != nil {
			t.Fatal(err)
		}
		live, err := flowTasks(ctx, c, cluster, name, false)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		samples++
		healthy := 0
		var desc []string
		for _, tk := range live {
			if flowHealthy(tk, now) {
				healthy++
			}
			desc = append(desc, fmt.Sprintf("%s:%s/%s:%s", flowLast(aws.ToString(tk.TaskArn))[:8], aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus), flowLast(aws.ToString(tk.TaskDefinitionArn))))
		}
		peakLive, lowHealthy = max(peakLive, len(live)), min(lowHealthy, healthy)
		if len(live) > maxTasks || healthy < minHealthy {
			violations = append(violations, fmt.Sprintf("%s: %d live (max %d), %d healthy (min %d): %s", now.Format("15:04:05.000"), len(live), maxTasks, healthy, minHealthy, strings.Join(desc, " ")))
		}
		if len(svc.Deployments) == 2 {
			sawTwo = true
		}
		if flowStable(svc) && aws.ToString(svc.Deployments[0].Id) == second {
			break
		}
		if now.After(deadline) {
			t.Fatalf("the rollout did not finish within 90s: %s", flowDeployments(svc))
		}
		time.Sleep(time.Until(began.Add(200 * time.Millisecond)))
	}
	t.Logf("%d samples: at most %d live tasks, at least %d healthy", samples, peakLive, lowHealthy)
	for i, v := range violations {
		if i == 5 {
			t.Errorf("... and %d more", len(violations)-5)
			break
		}
		t.Errorf("sample outside minimumHealthyPercent/maximumPercent: %s", v)
	}
	if !sawTwo {
		t.Errorf("no sample showed the two deployments")
	}

	svc = flowWaitStable(t, s, bin, cluster, name)
	if d := svc.Deployments; len(d) != 1 || aws.ToString(d[0].Status) != "PRIMARY" || d[0].RolloutState != types.DeploymentRolloutStateCompleted ||
		aws.ToString(d[0].Id) != second || aws.ToString(d[0].TaskDefinition) != td2 || svc.RunningCount != desired {
		t.Errorf("after the rollout: %s", flowDeployments(svc))
	}
	if n := flowCountEvents(svc, "(service roll) (deployment "+second+") deployment completed."); n != 1 {
		t.Errorf("%d 'deployment completed.' events for %s, want 1; events:\n%s", n, second, strings.Join(flowEvents(svc), "\n"))
	}

	// Every task of the new deployment has a dynamic host port that answers.
	all := flowMustTasks(t, c, cluster, name, true)
	instances := map[string]int{}
	newTasks := 0
	for _, tk := range all {
		if aws.ToString(tk.StartedBy) != second {
			if aws.ToString(tk.LastStatus) != "STOPPED" {
				t.Errorf("a task of the first deployment is still live: %s", taskString(tk))
			}
			continue
		}
		newTasks++
		if aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(tk.TaskDefinitionArn) != td2 {
			t.Errorf("new task %s: %s", aws.ToString(tk.TaskArn), taskString(tk))
			continue
		}
		instances[aws.ToString(tk.ContainerInstanceArn)]++
		nb := container(t, tk, "app").NetworkBindings
		if len(nb) != 1 || aws.ToInt32(nb[0].ContainerPort) != 8080 || aws.ToInt32(nb[0].HostPort) < 49153 {
			t.Errorf("new task %s networkBindings %+v, want 8080 on a host port >= 49153", aws.ToString(tk.TaskArn), nb)
			continue
		}
		if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", aws.ToInt32(nb[0].HostPort))); !strings.HasPrefix(body, "hello from") {
			t.Errorf("GET on host port %d = %q", aws.ToInt32(nb[0].HostPort), body)
		}
	}
	if newTasks != desired {
		t.Errorf("the new deployment started %d tasks, want %d", newTasks, desired)
	}
	t.Logf("new tasks per instance: %s %d, %s %d", a1.InstanceID, instances[a1.ARN], a2.InstanceID, instances[a2.ARN])
}

// TestServiceCircuitBreakerRollback deploys, over a steady service on
// revision 1, a revision 2 whose essential container exits 1 at once, with
// the deployment circuit breaker (enable, rollback): the v2 deployment turns
// FAILED (in deployments[] while its last tasks drain, and in the events),
// a new deployment of revision 1 rolls back and completes, and both of ECS's
// events are there.
func TestServiceCircuitBreakerRollback(t *testing.T) {
	t.Parallel()
	img := requireDocker(t)
	bin := flowCLI(t)
	s := startServer(t, "", flowServerFlags...)
	c := s.ecs(t)
	startAgent(t, s, "default")
	const cluster, name, desired = "default", "cb", 2
	td1 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	// minimumHealthyPercent 50 stops one v1 task right away, so the v2
	// tasks start at two moments and some are still live when the breaker
	// trips.
	flowCreate(t, c, &ecs.CreateServiceInput{
		ServiceName: aws.String(name), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(desired),
		DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(50)},
	})
	flowCleanup(t, s, cluster, name)
	svc := flowWaitStable(t, s, bin, cluster, name)
	v1 := aws.ToString(svc.Deployments[0].Id)

	td2 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "exit", "1"),
	}})

	// Record every deployment state DescribeServices shows, often.
	type seen struct {
		states map[string]bool // "status/rolloutState"
		failed int32           // the highest failedTasks seen while FAILED
	}
	var mu sync.Mutex
	deps := map[string]*seen{}
	sctx, stopSampling := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := s.ecs(t)
		for sctx.Err() == nil {
			if svc, err := flowService(sctx, sc, cluster, name); err == nil {
				mu.Lock()
				for _, d := range svc.Deployments {
					id := aws.ToString(d.Id)
					if deps[id] == nil {
						deps[id] = &seen{states: map[string]bool{}}
					}
					deps[id].states[aws.ToString(d.Status)+"/"+string(d.RolloutState)] = true
					if d.RolloutState == types.DeploymentRolloutStateFailed {
						deps[id].failed = max(deps[id].failed, d.FailedTasks)
					}
				}
				mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	defer func() { stopSampling(); wg.Wait() }()

	up, err := c.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(td2),
		DeploymentConfiguration: &types.DeploymentConfiguration{
			MaximumPercent: aws.Int32(200), MinimumHealthyPercent: aws.Int32(50),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(up.Service.Deployments[0].Id)
	failedMsg := "(service cb) (deployment " + v2 + ") deployment failed: tasks failed to start."
	rollbackMsg := "(service cb) rolling back to deployment " + v1 + "."
	svc = flowWaitService(t, c, cluster, name, "the rollback completed", 90*time.Second, func(svc types.Service) bool {
		return flowCountEvents(svc, failedMsg) > 0 && flowStable(svc) && aws.ToString(svc.Deployments[0].Id) != v2
	})
	svc = flowWaitStable(t, s, bin, cluster, name)
	stopSampling()
	wg.Wait()

	back := svc.Deployments[0]
	backID := aws.ToString(back.Id)
	if backID == v1 || backID == v2 || aws.ToString(back.Status) != "PRIMARY" || back.RolloutState != types.DeploymentRolloutStateCompleted ||
		aws.ToString(back.TaskDefinition) != td1 || aws.ToString(svc.TaskDefinition) != td1 || svc.RunningCount != desired {
		t.Errorf("after the rollback, want one PRIMARY COMPLETED deployment of %s (not %s or %s): service td %s, %s", td1, v1, v2, aws.ToString(svc.TaskDefinition), flowDeployments(svc))
	}
	events := flowEvents(svc)
	fi, ri := slices.Index(events, failedMsg), slices.Index(events, rollbackMsg)
	if fi < 0 || ri < 0 || ri > fi {
		t.Errorf("want the events %q and then %q; events (newest first):\n%s", failedMsg, rollbackMsg, strings.Join(events, "\n"))
	}
	if n := flowCountEvents(svc, "(deployment "+backID+") deployment completed."); n != 1 {
		t.Errorf("%d 'deployment completed.' events for the rollback deployment %s, want 1", n, backID)
	}

	mu.Lock()
	v2seen := deps[v2]
	mu.Unlock()
	if v2seen == nil {
		t.Fatalf("the v2 deployment %s never showed in deployments[]", v2)
	}
	var states []string
	for st := range v2seen.states {
		states = append(states, st)
	}
	sort.Strings(states)
	t.Logf("v2 deployment states seen: %v (failedTasks while FAILED: up to %d)", states, v2seen.failed)
	if !v2seen.states["ACTIVE/FAILED"] {
		t.Errorf("the v2 deployment was never seen ACTIVE/FAILED in deployments[] while draining; seen %v", states)
	}
	for _, st := range states {
		if st != "PRIMARY/IN_PROGRESS" && st != "ACTIVE/FAILED" {
			t.Errorf("the v2 deployment showed as %s", st)
		}
	}
	// The pass that trips the breaker records the deployment's final
	// failedTasks with it.
	if v2seen.failed < 3 {
		t.Errorf("the FAILED v2 deployment showed failedTasks %d, below the threshold 3", v2seen.failed)
	}

	// Every v2 task stopped, at least the threshold of them as failures;
	// the rollback's tasks run.
	v2failed := 0
	for _, tk := range flowMustTasks(t, c, cluster, name, true) {
		switch aws.ToString(tk.TaskDefinitionArn) {
		case td2:
			if tk.StopCode == types.TaskStopCodeEssentialContainerExited || tk.StopCode == types.TaskStopCodeTaskFailedToStart {
				v2failed++
			}
			if aws.ToString(tk.LastStatus) != "STOPPED" {
				t.Errorf("a v2 task is live after the rollback: %s", taskString(tk))
			}
		case td1:
			if aws.ToString(tk.StartedBy) == backID && aws.ToString(tk.LastStatus) != "RUNNING" {
				t.Errorf("a rollback task is not RUNNING: %s", taskString(tk))
			}
		}
	}
	if v2failed < 3 {
		t.Errorf("%d v2 tasks failed, want at least the threshold 3", v2failed)
	}
}

// TestServiceThrottleBadImage runs a service whose image cannot be pulled
// (no registry is reachable): each task stops with TaskFailedToStart
// "CannotPullContainerError"; after three failures in a row the service
// reports that it is unable to consistently start tasks and holds each
// further launch 2 s, 4 s, 8 s, then 10 s after the last failure, so far
// fewer tasks start than the failure rate would allow.
func TestServiceThrottleBadImage(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	s := startServer(t, "", flowServerFlags...)
	c := s.ecs(t)
	startAgent(t, s, "default")
	const cluster, name = "default", "bad"
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", "berth-does-not-exist:latest", true, "sleep", "3600"),
	}})
	flowCreate(t, c, &ecs.CreateServiceInput{ServiceName: aws.String(name), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1)})
	flowCleanup(t, s, cluster, name)
	const throttledMsg = "(service bad) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	flowWaitService(t, c, cluster, name, "the throttle event", 60*time.Second, func(svc types.Service) bool {
		return flowCountEvents(svc, throttledMsg) > 0
	})

	// Watch the launches over a window from the first task on.
	var tasks []types.Task
	window := 17 * time.Second
	for {
		tasks = flowMustTasks(t, c, cluster, name, true)
		sort.Slice(tasks, func(i, j int) bool { return tasks[i].CreatedAt.Before(*tasks[j].CreatedAt) })
		if time.Since(*tasks[0].CreatedAt) >= window {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	end := tasks[0].CreatedAt.Add(window)
	var started []types.Task
	for _, tk := range tasks {
		if !tk.CreatedAt.After(end) {
			started = append(started, tk)
		}
	}
	for _, tk := range started {
		if aws.ToString(tk.LastStatus) == "STOPPED" && (tk.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(tk.StoppedReason), "CannotPullContainerError") || tk.StartedAt != nil) {
			t.Errorf("a task of the missing image: %s", taskString(tk))
		}
	}
	if len(started) < 4 {
		t.Fatalf("only %d tasks started in %s", len(started), window)
	}
	// The first three launches follow each failure at once: that is the
	// unthrottled rate.
	var cycle time.Duration
	for i := 1; i < 3; i++ {
		cycle += started[i].CreatedAt.Sub(*started[i-1].CreatedAt)
	}
	cycle /= 2
	// Then each launch waits for the hold after the previous failure.
	var gaps []string
	for i := 1; i < len(started); i++ {
		prev := started[i-1]
		if prev.StoppedAt == nil {
			t.Errorf("task %d started while task %d was live: %s", i, i-1, taskString(prev))
			continue
		}
		gap := started[i].CreatedAt.Sub(*prev.StoppedAt)
		gaps = append(gaps, gap.Round(10*time.Millisecond).String())
		if hold := min(2*time.Second<<max(i-3, 0), 10*time.Second); i >= 3 && gap < hold-20*time.Millisecond {
			t.Errorf("task %d was created %s after failure %d, want at least the hold %s", i+1, gap, i, hold)
		}
	}
	unthrottled := int(window / max(cycle, time.Millisecond))
	t.Logf("%d tasks started in %s; unthrottled cycle %s (≈%d tasks); gaps after each failure: %v", len(started), window, cycle, unthrottled, gaps)
	// Throttled: 3 at once, then after holds of 2, 4 and 8 s: 6 in 17 s.
	if len(started) > 7 || len(started)*2 > unthrottled {
		t.Errorf("%d tasks started in %s: not throttled (unthrottled ≈ %d)", len(started), window, unthrottled)
	}
	svc := flowMustService(t, c, cluster, name)
	if n := flowCountEvents(svc, throttledMsg); n < 2 {
		t.Errorf("%d throttle events, want one per further failure (≥ 2); events:\n%s", n, strings.Join(flowEvents(svc), "\n"))
	}
	if svc.RunningCount != 0 || len(svc.Deployments) != 1 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateInProgress {
		t.Errorf("the failing service: %s", flowDeployments(svc))
	}
}

// TestServiceDaemonDrain runs a DAEMON service over three agents: one task
// per instance, desiredCount 3, steady. One instance set DRAINING loses its
// task: desiredCount 2, steady again. Set ACTIVE again it gets one back.
func TestServiceDaemonDrain(t *testing.T) {
	t.Parallel()
	img := requireDocker(t)
	bin := flowCLI(t)
	s := startServer(t, "", flowServerFlags...)
	c := s.ecs(t)
	ctx := context.Background()
	agents := []*agentProc{startAgent(t, s, "default"), startAgent(t, s, "default"), startAgent(t, s, "default")}
	const cluster, name = "default", "daemon"
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	flowCreate(t, c, &ecs.CreateServiceInput{ServiceName: aws.String(name), TaskDefinition: aws.String(td), SchedulingStrategy: types.SchedulingStrategyDaemon})
	flowCleanup(t, s, cluster, name)
	svc := flowWaitStable(t, s, bin, cluster, name)
	if svc.DesiredCount != 3 || svc.RunningCount != 3 {
		t.Errorf("DAEMON over three instances: %s", flowDeployments(svc))
	}
	onInstance := func(want int) map[string]types.Task {
		t.Helper()
		out := map[string]types.Task{}
		live := flowMustTasks(t, c, cluster, name, false)
		for _, tk := range live {
			ci := aws.ToString(tk.ContainerInstanceArn)
			if _, dup := out[ci]; dup {
				t.Errorf("two tasks on %s", ci)
			}
			out[ci] = tk
		}
		if len(live) != want {
			t.Errorf("%d live tasks, want %d", len(live), want)
		}
		return out
	}
	byInst := onInstance(3)
	for _, a := range agents {
		if tk, ok := byInst[a.ARN]; !ok || aws.ToString(tk.LastStatus) != "RUNNING" {
			t.Errorf("instance %s has no RUNNING task", a.InstanceID)
		}
	}
	if n := flowCountEvents(svc, "(service daemon) has reached a steady state."); n != 1 {
		t.Errorf("%d steady-state events, want 1", n)
	}

	// Drain the third instance.
	drained := agents[2]
	victim := byInst[drained.ARN]
	drainedAt := time.Now()
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(cluster), ContainerInstances: []string{drained.ARN}, Status: types.ContainerInstanceStatusDraining}); err != nil {
		t.Fatal(err)
	}
	tk := waitStatus(t, c, cluster, aws.ToString(victim.TaskArn), "STOPPED")
	if tk.StopCode != types.TaskStopCodeServiceSchedulerInitiated {
		t.Errorf("the drained instance's task: %s", taskString(tk))
	}
	flowWaitService(t, c, cluster, name, "desiredCount 2", 60*time.Second, func(svc types.Service) bool { return svc.DesiredCount == 2 })
	svc = flowWaitStable(t, s, bin, cluster, name)
	if svc.DesiredCount != 2 || svc.RunningCount != 2 {
		t.Errorf("after draining one instance: %s", flowDeployments(svc))
	}
	byInst = onInstance(2)
	if _, ok := byInst[drained.ARN]; ok {
		t.Errorf("the DRAINING instance still runs a task")
	}
	victimID := flowLast(aws.ToString(victim.TaskArn))
	if n := flowCountEvents(svc, "(service daemon) has stopped 1 running tasks: (task "+victimID+")."); n != 1 {
		t.Errorf("no 'has stopped 1 running tasks' event for %s; events:\n%s", victimID, strings.Join(flowEvents(svc), "\n"))
	}
	steadyAgain := false
	for _, e := range svc.Events {
		if aws.ToString(e.Message) == "(service daemon) has reached a steady state." && e.CreatedAt.After(drainedAt) {
			steadyAgain = true
		}
	}
	if !steadyAgain {
		t.Errorf("no steady-state event after the drain; events:\n%s", strings.Join(flowEvents(svc), "\n"))
	}

	// ACTIVE again: the daemon returns to it.
	if _, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{Cluster: aws.String(cluster), ContainerInstances: []string{drained.ARN}, Status: types.ContainerInstanceStatusActive}); err != nil {
		t.Fatal(err)
	}
	flowWaitService(t, c, cluster, name, "desiredCount 3 again", 60*time.Second, func(svc types.Service) bool { return svc.DesiredCount == 3 && svc.RunningCount == 3 })
	if _, ok := onInstance(3)[drained.ARN]; !ok {
		t.Errorf("the reactivated instance got no task")
	}
}

// TestServiceServerCrashMidDeployment kills the server with SIGKILL while a
// rolling update has both deployments, restarts it on the same data dir and
// address, and checks that the same deployment completes: one PRIMARY
// COMPLETED, runningCount == desired, exactly desired tasks started by it,
// and no other container of the service left running in Docker.
func TestServiceServerCrashMidDeployment(t *testing.T) {
	t.Parallel()
	img := requireDocker(t)
	bin := flowCLI(t)
	s := startServer(t, "", flowServerFlags...)
	c := s.ecs(t)
	ctx := context.Background()
	agents := []*agentProc{startAgent(t, s, "default"), startAgent(t, s, "default")}
	const cluster, name, desired = "default", "crash", 4
	td1 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	// maximumPercent 100, minimumHealthyPercent 50: the rollout goes in two
	// halves (stop 2, start 2, wait until healthy, again).
	flowCreate(t, c, &ecs.CreateServiceInput{
		ServiceName: aws.String(name), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(desired),
		DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(100), MinimumHealthyPercent: aws.Int32(50)},
	})
	flowCleanup(t, s, cluster, name)
	flowWaitStable(t, s, bin, cluster, name)
	td2 := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), TaskDefinition: aws.String(td2)})
	if err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(up.Service.Deployments[0].Id)
	// Kill it once the new deployment has tasks and the old one still has.
	svc := flowWaitService(t, c, cluster, name, "a rollout half way", 60*time.Second, func(svc types.Service) bool {
		return len(svc.Deployments) == 2 && svc.Deployments[0].RunningCount+svc.Deployments[0].PendingCount > 0 &&
			svc.Deployments[1].RunningCount+svc.Deployments[1].PendingCount > 0
	})
	s.kill()
	t.Logf("killed the server at %s", flowDeployments(svc))
	time.Sleep(time.Second)
	s.start()
	c = s.ecs(t)
	for _, a := range agents {
		waitInstance(t, c, a, true)
	}
	svc = flowWaitStable(t, s, bin, cluster, name)
	if d := svc.Deployments; len(d) != 1 || aws.ToString(d[0].Id) != v2 || aws.ToString(d[0].Status) != "PRIMARY" || d[0].RolloutState != types.DeploymentRolloutStateCompleted ||
		aws.ToString(d[0].TaskDefinition) != td2 || svc.RunningCount != desired || svc.DesiredCount != desired {
		t.Errorf("after the restart, want deployment %s PRIMARY COMPLETED with %d running: %s", v2, desired, flowDeployments(svc))
	}
	if n := flowCountEvents(svc, "(service crash) (deployment "+v2+") deployment completed."); n != 1 {
		t.Errorf("%d 'deployment completed.' events for %s, want 1", n, v2)
	}

	all := flowMustTasks(t, c, cluster, name, true)
	want := map[string]bool{}
	started := 0
	for _, tk := range all {
		switch {
		case aws.ToString(tk.StartedBy) == v2:
			started++
			if aws.ToString(tk.LastStatus) != "RUNNING" {
				t.Errorf("a task of the new deployment: %s", taskString(tk))
			}
			want[aws.ToString(tk.TaskArn)] = true
		case aws.ToString(tk.LastStatus) != "STOPPED":
			t.Errorf("a task of the old deployment is live: %s", taskString(tk))
		}
	}
	if started != desired {
		t.Errorf("the new deployment started %d tasks, want %d", started, desired)
	}
	// Docker runs exactly the new deployment's containers.
	var running map[string]bool
	deadline := time.Now().Add(15 * time.Second)
	for {
		running = map[string]bool{}
		for _, a := range agents {
			out, err := exec.Command("docker", "ps", "--filter", "label=berth.instance="+a.InstanceID, "--format", `{{.Label "com.amazonaws.ecs.task-arn"}}`).Output()
			if err != nil {
				t.Fatalf("docker ps: %v", err)
			}
			for _, arn := range strings.Fields(string(out)) {
				if running[arn] {
					t.Errorf("two running containers for task %s", arn)
				}
				running[arn] = true
			}
		}
		if fmt.Sprint(running) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fmt.Sprint(running) != fmt.Sprint(want) {
		t.Errorf("Docker runs the containers of tasks %v, want those of %v", flowKeys(running), flowKeys(want))
	}
}

func flowKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
