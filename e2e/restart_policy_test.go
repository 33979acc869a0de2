package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Container restart policies (ECS Developer Guide: "Restart individual
// containers in Amazon ECS tasks with container restart policies"), on a
// real agent and Docker Engine. ECS restarts a container only after it ran
// for restartAttemptPeriod, whose minimum is 60 s, so the subtests that
// need a restart wait about a minute; they run in parallel, on one agent,
// so the whole test takes a little over one period.
func TestRestartPolicy(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	t.Run("RestartsInPlace", func(t *testing.T) { t.Parallel(); testRestartInPlace(t, c, img) })
	t.Run("IgnoredExitCodeStopsTask", func(t *testing.T) { t.Parallel(); testRestartIgnoredExitCode(t, c, img) })
	t.Run("EarlyExitNotRestarted", func(t *testing.T) { t.Parallel(); testRestartEarlyExit(t, c, img) })
}

// restartAfter is ECS's shortest restartAttemptPeriod; the restarted
// containers run a little longer than that before they exit.
const (
	restartAfter = 60
	runFor       = "61"
)

func restartPolicy(ignored ...int32) *types.ContainerRestartPolicy {
	return &types.ContainerRestartPolicy{Enabled: aws.Bool(true), IgnoredExitCodes: ignored, RestartAttemptPeriod: aws.Int32(restartAfter)}
}

// An essential container that exits 1 after running restartAttemptPeriod
// is started again: the same Docker container, in the same task, which
// stays RUNNING. Its restart count shows in the task metadata endpoint v4
// (RestartCount), and StopTask then stops it for good.
func testRestartInPlace(t *testing.T, c *ecs.Client, img string) {
	app := ctrDef("app", img, true, "testapp", "exit", "1", runFor)
	app.RestartPolicy = restartPolicy(0)
	// A container that exits before its restartAttemptPeriod is not
	// restarted, not even once the period has passed.
	early := ctrDef("early", img, false, "testapp", "exit", "1", "1")
	early.RestartPolicy = restartPolicy()
	// The sidecar reads the task metadata endpoint from inside the task.
	sidecar := ctrDef("sidecar", img, false, "testapp", "sleep", "3600")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("restart-in-place"), ContainerDefinitions: []types.ContainerDefinition{app, early, sidecar}})
	if got := registeredPolicy(t, c, td, "app"); got == nil || !aws.ToBool(got.Enabled) || aws.ToInt32(got.RestartAttemptPeriod) != restartAfter || len(got.IgnoredExitCodes) != 1 {
		t.Fatalf("restartPolicy not echoed: %+v", got)
	}
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	appID := aws.ToString(container(t, tk, "app").RuntimeId)
	firstStart := dockerInspect(t, appID, "{{.State.StartedAt}}")
	tk = waitTask(t, c, "default", arn, "early exited", func(tk types.Task) bool {
		return aws.ToString(container(t, tk, "early").LastStatus) == "STOPPED"
	})
	earlyID := aws.ToString(container(t, tk, "early").RuntimeId)
	earlyStart := dockerInspect(t, earlyID, "{{.State.StartedAt}}")
	ctrs := len(taskContainers(t, arn))
	sidecarID := aws.ToString(container(t, tk, "sidecar").RuntimeId)
	if got := restartCounts(t, sidecarID, appID); len(got) != 2 || got["app"] != float64(0) || got["early"] != float64(0) {
		t.Errorf("RestartCount by container before the restart %v, want app 0 and early 0 (the sidecar has no restart policy)", got)
	}

	// Until app runs again, every DescribeTasks shows the task and app
	// RUNNING: a restart in place is not a stop.
	began := time.Now()
	rpWait(t, 100*time.Second, "app restarted in place", func() bool {
		out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("default"), Tasks: []string{arn}})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("describe tasks: %v", err)
		}
		tk = out.Tasks[0]
		if aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(container(t, tk, "app").LastStatus) != "RUNNING" {
			t.Fatalf("after %s: %s", time.Since(began).Round(time.Millisecond), taskString(tk))
		}
		return dockerInspect(t, appID, "{{.State.StartedAt}}") != firstStart && dockerInspect(t, appID, "{{.State.Running}}") == "true"
	})
	restarted := dockerInspect(t, appID, "{{.State.StartedAt}}")
	t0, _ := time.Parse(time.RFC3339Nano, firstStart)
	t1, _ := time.Parse(time.RFC3339Nano, restarted)
	t.Logf("app started %s, exited 1, restarted in place %s later", firstStart, t1.Sub(t0).Round(time.Millisecond))
	if d := t1.Sub(t0); d < restartAfter*time.Second || d > 75*time.Second {
		t.Errorf("app restarted %s after it started; it exits after %ss", d, runFor)
	}
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	if a := container(t, tk, "app"); aws.ToString(a.RuntimeId) != appID || aws.ToString(a.LastStatus) != "RUNNING" || a.ExitCode != nil {
		t.Errorf("app after its restart: %s", taskString(tk))
	}
	if n := len(taskContainers(t, arn)); n != ctrs {
		t.Errorf("the task has %d containers after the restart, had %d: a restart must not make a new one", n, ctrs)
	}
	list, err := c.ListTasks(context.Background(), &ecs.ListTasksInput{Cluster: aws.String("default"), Family: aws.String("restart-in-place")})
	if err != nil || len(list.TaskArns) != 1 || list.TaskArns[0] != arn {
		t.Errorf("tasks of the family: %v %v, want only %s (no replacement task)", list.TaskArns, err, arn)
	}

	// The task metadata endpoint v4 counts the restart, for the
	// containers with a restart policy only.
	if got := restartCounts(t, sidecarID, appID); len(got) != 2 || got["app"] != float64(1) || got["early"] != float64(0) {
		t.Errorf("RestartCount by container after the restart %v, want app 1 and early 0 (the sidecar has no restart policy)", got)
	}

	// early exited after a second: never restarted, even now that the
	// period has passed since it started.
	if got := dockerInspect(t, earlyID, "{{.State.StartedAt}} {{.State.Running}}"); got != earlyStart+" false" {
		t.Errorf("early (exited before restartAttemptPeriod) was restarted: %s, first started %s", got, earlyStart)
	}

	// StopTask stops app for good: no restart on a user stop.
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn), Reason: aws.String("done testing")}); err != nil {
		t.Fatal(err)
	}
	tk = waitStatus(t, c, "default", arn, "STOPPED")
	if tk.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(container(t, tk, "app").LastStatus) != "STOPPED" {
		t.Errorf("stopped: %s", taskString(tk))
	}
	time.Sleep(2 * time.Second) // a restart would come at once
	if got := dockerInspect(t, appID, "{{.State.StartedAt}} {{.State.Running}}"); got != restarted+" false" {
		t.Errorf("app after StopTask: %s, want still stopped since %s", got, restarted)
	}
}

// An exit code listed in ignoredExitCodes is not restarted, even after the
// container ran longer than restartAttemptPeriod: the essential
// container's exit stops the task.
func testRestartIgnoredExitCode(t *testing.T, c *ecs.Client, img string) {
	app := ctrDef("app", img, true, "testapp", "exit", "3", runFor)
	app.RestartPolicy = restartPolicy(0, 3)
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("restart-ignored"), ContainerDefinitions: []types.ContainerDefinition{app}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	id := aws.ToString(container(t, tk, "app").RuntimeId)
	started := dockerInspect(t, id, "{{.State.StartedAt}}")
	tk = waitStatus(t, c, "default", arn, "STOPPED")
	if tk.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(tk.StoppedReason) != "Essential container in task exited" {
		t.Errorf("stopped: %s", taskString(tk))
	}
	if e := container(t, tk, "app").ExitCode; e == nil || *e != 3 {
		t.Errorf("app exit %s, want 3", fmtExit(e))
	}
	if got := dockerInspect(t, id, "{{.State.StartedAt}}"); got != started {
		t.Errorf("app was restarted (started %s, then %s) on an ignored exit code", started, got)
	}
	if ran := rpRan(t, id); ran < restartAfter*time.Second {
		t.Errorf("app ran %s: shorter than restartAttemptPeriod, so this did not test ignoredExitCodes", ran)
	}
}

// A container that exits before restartAttemptPeriod is not restarted:
// an essential one stops its task at its first exit, as without a policy.
func testRestartEarlyExit(t *testing.T, c *ecs.Client, img string) {
	// default-period exits well before app, whose exit stops the task (a
	// loaded engine may start the second container a second after the
	// first).
	app := ctrDef("app", img, true, "testapp", "exit", "1", "4")
	app.RestartPolicy = restartPolicy()
	def := ctrDef("default-period", img, false, "testapp", "exit", "1", "0.5")
	def.RestartPolicy = &types.ContainerRestartPolicy{Enabled: aws.Bool(true)} // 300 s
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("restart-early"), ContainerDefinitions: []types.ContainerDefinition{app, def}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if tk.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(tk.StoppedReason) != "Essential container in task exited" {
		t.Errorf("stopped: %s", taskString(tk))
	}
	for _, name := range []string{"app", "default-period"} {
		ctr := container(t, tk, name)
		if e := ctr.ExitCode; e == nil || *e != 1 || aws.ToString(ctr.LastStatus) != "STOPPED" {
			t.Errorf("%s: %s exit %s, want STOPPED exit 1", name, aws.ToString(ctr.LastStatus), fmtExit(e))
		}
		if got := dockerInspect(t, aws.ToString(ctr.RuntimeId), "{{.State.Running}}"); got != "false" {
			t.Errorf("%s runs again after the task stopped", name)
		}
	}
	// The task ended at app's first exit: app ran once, for about 4 s.
	if d := tk.ExecutionStoppedAt.Sub(*tk.StartedAt); d > 20*time.Second {
		t.Errorf("the task ran %s: app was restarted before it stopped", d)
	}
}

// restartCounts reads the task metadata endpoint v4 (/task) from inside
// the sidecar, as its own processes would, and returns the RestartCount
// of every container that has one. appID is app's Docker id.
func restartCounts(t *testing.T, sidecarID, appID string) map[string]any {
	t.Helper()
	out, err := exec.Command("docker", "exec", sidecarID, "testapp", "get", "--retry", "20", "${ECS_CONTAINER_METADATA_URI_V4}/task").Output()
	if err != nil {
		t.Fatalf("read the task metadata from the sidecar: %v: %s", err, out)
	}
	var meta struct{ Containers []map[string]any }
	if err := json.Unmarshal(out, &meta); err != nil {
		t.Fatalf("task metadata is not JSON: %v: %s", err, out)
	}
	counts := map[string]any{}
	for _, m := range meta.Containers {
		if n, ok := m["RestartCount"]; ok {
			counts[m["Name"].(string)] = n
		}
		if m["Name"] == "app" && m["DockerId"] != appID {
			t.Errorf("metadata DockerId of app %v, want %s", m["DockerId"], appID)
		}
	}
	return counts
}

// registeredPolicy is the restartPolicy of a container as the task
// definition echoes it.
func registeredPolicy(t *testing.T, c *ecs.Client, td, name string) *types.ContainerRestartPolicy {
	t.Helper()
	out, err := c.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
	if err != nil {
		t.Fatal(err)
	}
	for _, cd := range out.TaskDefinition.ContainerDefinitions {
		if aws.ToString(cd.Name) == name {
			return cd.RestartPolicy
		}
	}
	return nil
}

// rpRan is how long a stopped container's last run lasted, by Docker.
func rpRan(t *testing.T, id string) time.Duration {
	t.Helper()
	started, err1 := time.Parse(time.RFC3339Nano, dockerInspect(t, id, "{{.State.StartedAt}}"))
	finished, err2 := time.Parse(time.RFC3339Nano, dockerInspect(t, id, "{{.State.FinishedAt}}"))
	if err1 != nil || err2 != nil {
		t.Fatalf("container %s times: %v %v", id, err1, err2)
	}
	return finished.Sub(started)
}

// rpWait polls cond every half second for up to d.
func rpWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not reached within %s", what, d)
}
