package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func ctrDef(name, image string, essential bool, cmd ...string) types.ContainerDefinition {
	return types.ContainerDefinition{Name: aws.String(name), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(essential), Command: cmd, StopTimeout: aws.Int32(2)}
}

func TestTaskDynamicHostPort(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	td := registerTD(t, c, webTD("dyn", requireDocker(t), nil))
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	web := container(t, tk, "web")
	if len(web.NetworkBindings) != 1 {
		t.Fatalf("networkBindings %+v", web.NetworkBindings)
	}
	hp := aws.ToInt32(web.NetworkBindings[0].HostPort)
	if hp < 1024 {
		t.Errorf("dynamic host port %d is not from the ephemeral range", hp)
	}
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hp)); !strings.HasPrefix(body, "hello from") {
		t.Errorf("GET / = %q", body)
	}
}

func TestTaskCommandAndEnvironmentOverrides(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	app := ctrDef("app", img, true, "testapp", "sleep", "3600")
	app.Environment = []types.KeyValuePair{{Name: aws.String("KEEP"), Value: aws.String("def")}, {Name: aws.String("MODE"), Value: aws.String("def")}}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("ovr"), ContainerDefinitions: []types.ContainerDefinition{app}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
		Name:        aws.String("app"),
		Command:     []string{"sleep", "300"},
		Environment: []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("override")}, {Name: aws.String("EXTRA"), Value: aws.String("1")}},
	}}}})
	if len(tk.Overrides.ContainerOverrides) != 1 || tk.Overrides.ContainerOverrides[0].Command[0] != "sleep" {
		t.Errorf("overrides not echoed: %+v", tk.Overrides)
	}
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	id := aws.ToString(container(t, tk, "app").RuntimeId)
	if got := dockerInspect(t, id, "{{json .Config.Cmd}}"); got != `["sleep","300"]` {
		t.Errorf("container command %s, want the override", got)
	}
	env := dockerInspect(t, id, "{{json .Config.Env}}")
	for _, want := range []string{`"KEEP=def"`, `"MODE=override"`, `"EXTRA=1"`, `"ECS_CONTAINER_METADATA_URI_V4=http`} {
		if !strings.Contains(env, want) {
			t.Errorf("container env %s lacks %s", env, want)
		}
	}
	if strings.Contains(env, `"MODE=def"`) {
		t.Errorf("container env %s keeps the overridden value", env)
	}
}

func TestTaskStopTimeoutHonoured(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	stubborn := ctrDef("stubborn", img, true, "testapp", "sleep", "3600")
	ready := types.KeyValuePair{Name: aws.String("SAY_READY"), Value: aws.String("1")}
	stubborn.Environment = []types.KeyValuePair{{Name: aws.String("IGNORE_SIGTERM"), Value: aws.String("1")}, ready}
	stubborn.StopTimeout = aws.Int32(3)
	polite := ctrDef("polite", img, false, "testapp", "sleep", "3600")
	polite.Environment = []types.KeyValuePair{ready}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("stop"), ContainerDefinitions: []types.ContainerDefinition{stubborn, polite}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	// RUNNING means Docker started the processes, not that they handle
	// signals yet: a SIGTERM before that meets Go's default handling (exit 2).
	for _, name := range []string{"stubborn", "polite"} {
		id := aws.ToString(container(t, tk, name).RuntimeId)
		waitFor(t, name+" saying ready", func() bool {
			out, err := exec.Command("docker", "logs", id).CombinedOutput()
			return err == nil && strings.Contains(string(out), "ready")
		})
	}
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String("maintenance window")}); err != nil {
		t.Fatal(err)
	}
	tk = waitStatus(t, c, "default", arn, "STOPPED")
	if aws.ToString(tk.StoppedReason) != "maintenance window" || tk.StopCode != types.TaskStopCodeUserInitiated {
		t.Errorf("stopped: %s", taskString(tk))
	}
	if e := container(t, tk, "stubborn").ExitCode; e == nil || *e != 137 {
		t.Errorf("stubborn exit %s, want 137 (SIGKILL after stopTimeout)", fmtExit(e))
	}
	if e := container(t, tk, "polite").ExitCode; e == nil || *e != 0 {
		t.Errorf("polite exit %s, want 0 (SIGTERM)", fmtExit(e))
	}
	// The agent waited for stopTimeout before killing (a lower bound: the
	// semantics, not a speed).
	if d := tk.ExecutionStoppedAt.Sub(*tk.StoppingAt); d < 2500*time.Millisecond {
		t.Errorf("stopped %s after stopping began; stopTimeout is 3s", d)
	}
}

func TestTaskEssentialAndNonEssentialExits(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)

	// A non-essential container exits: the task keeps running.
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("nonessential"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("main", img, true, "testapp", "sleep", "3600"),
		ctrDef("helper", img, false, "testapp", "exit", "4", "0.5"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitTask(t, c, "default", arn, "helper exited", func(tk types.Task) bool {
		return aws.ToString(container(t, tk, "helper").LastStatus) == "STOPPED"
	})
	if e := container(t, tk, "helper").ExitCode; e == nil || *e != 4 {
		t.Errorf("helper exit %s, want 4", fmtExit(e))
	}
	time.Sleep(time.Second)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	if aws.ToString(container(t, tk, "main").LastStatus) != "RUNNING" {
		t.Errorf("a non-essential exit stopped the task: %s", taskString(tk))
	}

	// An essential container exits: the task and its other containers stop.
	td = registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("essential"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("main", img, true, "testapp", "exit", "3", "1"),
		ctrDef("sidecar", img, false, "testapp", "sleep", "3600"),
	}})
	tk = runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if tk.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(tk.StoppedReason) != "Essential container in task exited" {
		t.Errorf("stopped: %s", taskString(tk))
	}
	if e := container(t, tk, "main").ExitCode; e == nil || *e != 3 {
		t.Errorf("main exit %s, want 3", fmtExit(e))
	}
	if aws.ToString(container(t, tk, "sidecar").LastStatus) != "STOPPED" || aws.ToString(tk.DesiredStatus) != "STOPPED" {
		t.Errorf("sidecar or desired status not stopped: %s", taskString(tk))
	}
}

func TestTaskDependsOnChain(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	initC := ctrDef("init", img, false, "testapp", "exit", "0", "1")
	check := ctrDef("check", img, false, "testapp", "exit", "0", "0.2")
	check.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("init"), Condition: types.ContainerConditionComplete}}
	db := ctrDef("db", img, true, "testapp", "serve", "9000")
	db.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "testapp", "health", "http://localhost:9000/health"}, Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(3), StartPeriod: aws.Int32(0)}
	app := ctrDef("app", img, true, "testapp", "sleep", "3600")
	app.DependsOn = []types.ContainerDependency{
		{ContainerName: aws.String("check"), Condition: types.ContainerConditionSuccess},
		{ContainerName: aws.String("db"), Condition: types.ContainerConditionHealthy},
	}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("chain"), ContainerDefinitions: []types.ContainerDefinition{app, db, check, initC}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	started := func(name string) time.Time {
		id := aws.ToString(container(t, tk, name).RuntimeId)
		ts, err := time.Parse(time.RFC3339Nano, dockerInspect(t, id, "{{.State.StartedAt}}"))
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	finished := func(name string) time.Time {
		id := aws.ToString(container(t, tk, name).RuntimeId)
		ts, _ := time.Parse(time.RFC3339Nano, dockerInspect(t, id, "{{.State.FinishedAt}}"))
		return ts
	}
	if !started("check").After(finished("init")) {
		t.Errorf("check (COMPLETE on init) started before init finished")
	}
	if !started("app").After(finished("check")) {
		t.Errorf("app (SUCCESS on check) started before check finished")
	}
	if aws.ToString(container(t, tk, "db").LastStatus) != "RUNNING" || container(t, tk, "db").HealthStatus != types.HealthStatusHealthy {
		t.Errorf("db not healthy when app runs: %s", taskString(tk))
	}
	if tk.HealthStatus != types.HealthStatusHealthy {
		t.Errorf("task health %s, want HEALTHY (its essential db is healthy)", tk.HealthStatus)
	}

	// SUCCESS on a container that fails: the dependent never starts and,
	// being essential, the task stops.
	bad := ctrDef("bad", img, false, "testapp", "exit", "1", "0.2")
	dep := ctrDef("dependent", img, true, "testapp", "sleep", "3600")
	dep.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("bad"), Condition: types.ContainerConditionSuccess}}
	td = registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("chainfail"), ContainerDefinitions: []types.ContainerDefinition{dep, bad}})
	tk = runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if tk.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.Contains(aws.ToString(tk.StoppedReason), "bad") {
		t.Errorf("stopped: %s", taskString(tk))
	}
	if id := aws.ToString(container(t, tk, "dependent").RuntimeId); id != "" {
		if got := dockerInspect(t, id, "{{.State.StartedAt}}"); !strings.HasPrefix(got, "0001-01-01") {
			t.Errorf("dependent was started at %s although its dependency failed", got)
		}
	}
}

func TestTaskFailingHealthCheck(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	app := ctrDef("app", img, true, "testapp", "serve", "8080")
	app.HealthCheck = &types.HealthCheck{Command: []string{"CMD", "testapp", "health", "http://localhost:8080/no-such-path"}, Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1)}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("unhealthy"), ContainerDefinitions: []types.ContainerDefinition{app}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	if tk.HealthStatus != types.HealthStatusUnknown {
		t.Errorf("a new task's health is %s, want UNKNOWN", tk.HealthStatus)
	}
	tk = waitTask(t, c, "default", aws.ToString(tk.TaskArn), "UNHEALTHY", func(tk types.Task) bool { return tk.HealthStatus == types.HealthStatusUnhealthy })
	if container(t, tk, "app").HealthStatus != types.HealthStatusUnhealthy {
		t.Errorf("container health %s, want UNHEALTHY", container(t, tk, "app").HealthStatus)
	}
}

func TestTaskMissingImageFailsToStart(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("missing"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", "localhost:1/berth/no-such-image:latest", true),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if tk.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(tk.StoppedReason), "CannotPullContainerError:") {
		t.Errorf("stopped: %s", taskString(tk))
	}
	if !strings.HasPrefix(aws.ToString(container(t, tk, "app").Reason), "CannotPullContainerError:") {
		t.Errorf("container reason %q", aws.ToString(container(t, tk, "app").Reason))
	}
}

func TestTaskContainerRemovedBehindAgentsBack(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("rm"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	if out, err := exec.Command("docker", "rm", "-f", aws.ToString(container(t, tk, "app").RuntimeId)).CombinedOutput(); err != nil {
		t.Fatalf("docker rm -f: %v %s", err, out)
	}
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if aws.ToString(tk.StoppedReason) == "" || aws.ToString(container(t, tk, "app").LastStatus) != "STOPPED" {
		t.Errorf("stopped: %s", taskString(tk))
	}
}
