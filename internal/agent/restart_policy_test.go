package agent

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
)

func TestRestartAllowed(t *testing.T) {
	p60 := &ecsapi.ContainerRestartPolicy{Enabled: true, IgnoredExitCodes: []int32{0, 3}, RestartAttemptPeriod: ecsapi.Ptr(int32(60))}
	for _, tc := range []struct {
		name string
		p    *ecsapi.ContainerRestartPolicy
		exit int32
		ran  time.Duration
		want bool
	}{
		{"no policy", nil, 1, time.Hour, false},
		{"disabled", &ecsapi.ContainerRestartPolicy{Enabled: false, RestartAttemptPeriod: ecsapi.Ptr(int32(60))}, 1, time.Hour, false},
		{"ran exactly the period", p60, 1, 60 * time.Second, true},
		{"ran longer", p60, 137, 10 * time.Minute, true},
		{"exited just before the period", p60, 1, 60*time.Second - time.Millisecond, false},
		{"exited after a second", p60, 1, time.Second, false},
		{"ignored exit code 0", p60, 0, time.Hour, false},
		{"ignored exit code 3", p60, 3, time.Hour, false},
		{"no ignored codes: 0 restarts", &ecsapi.ContainerRestartPolicy{Enabled: true, RestartAttemptPeriod: ecsapi.Ptr(int32(60))}, 0, time.Hour, true},
		{"default period 300 s: too early", &ecsapi.ContainerRestartPolicy{Enabled: true}, 1, 299 * time.Second, false},
		{"default period 300 s: long enough", &ecsapi.ContainerRestartPolicy{Enabled: true}, 1, 300 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := restartAllowed(tc.p, tc.exit, tc.ran); got != tc.want {
				t.Errorf("restartAllowed(exit %d, ran %s) = %v, want %v", tc.exit, tc.ran, got, tc.want)
			}
		})
	}
}

// rpRuntime is a container runtime for the restart tests: containers start
// (or fail to), and inspection answers their current state.
type rpRuntime struct {
	runtime.Runtime
	mu      sync.Mutex
	states  map[string]runtime.State
	starts  []string
	failing map[string]bool
}

func (f *rpRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, id)
	if f.failing[id] {
		return errors.New("start failed")
	}
	st := f.states[id]
	st.Running, st.Status, st.StartedAt, st.FinishedAt = true, "running", time.Now(), time.Time{}
	f.states[id] = st
	return nil
}

func (f *rpRuntime) InspectContainer(_ context.Context, id string) (runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	if !ok {
		return runtime.State{}, runtime.ErrNotFound
	}
	return st, nil
}

func (f *rpRuntime) started() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts)
}

// startsOf counts the starts of container id.
func (f *rpRuntime) startsOf(id string) int {
	n := 0
	for _, s := range f.started() {
		if s == id {
			n++
		}
	}
	return n
}

// rpFixture is a running task whose essential "app" (restart policy: 60 s,
// exit code 0 ignored) ran for ran and exited with exit, and whose
// non-essential "after" waits for app to COMPLETE.
type rpFixture struct {
	t  *task
	rt *rpRuntime
	e  *engine
}

func newRestartFixture(t *testing.T, exit int32, ran time.Duration) *rpFixture {
	t.Helper()
	cp, err := openCheckpoint(filepath.Join(t.TempDir(), "agent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	policy := &ecsapi.ContainerRestartPolicy{Enabled: true, IgnoredExitCodes: []int32{0}, RestartAttemptPeriod: ecsapi.Ptr(int32(60))}
	def := &ecsapi.TaskDefinition{Family: ecsapi.Ptr("rp"), Revision: 1, ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("img"), RestartPolicy: policy},
		{Name: ecsapi.Ptr("after"), Image: ecsapi.Ptr("img"), Essential: ecsapi.Ptr(false),
			DependsOn: []ecsapi.ContainerDependency{{ContainerName: "app", Condition: ecsapi.ContainerConditionCOMPLETE}}},
	}}
	finished := time.Now().Add(-time.Second)
	began := finished.Add(-ran)
	rt := &rpRuntime{states: map[string]runtime.State{
		"id-app":   {ID: "id-app", Status: "exited", ExitCode: int(exit), StartedAt: began, FinishedAt: finished},
		"id-after": {ID: "id-after", Status: "created"},
	}, failing: map[string]bool{}}
	e := &engine{rt: rt, cp: cp, cfg: &Config{}, log: discardLogger()}
	tk := newTask(e, &taskCheckpoint{
		Manifest:   agentproto.TaskManifest{TaskARN: "arn:aws:ecs:us-east-1:1:task/c/rp", DesiredStatus: lifecycle.Running, Definition: def, Seq: 1},
		Containers: map[string]*containerCheckpoint{},
	}, false)
	tk.cp.Containers["app"].ID, tk.cp.Containers["after"].ID = "id-app", "id-after"
	tk.cp.Containers["app"].Started, tk.cp.Containers["app"].LastStart = true, began.Add(-50*time.Millisecond)
	tk.cp.State.Status = lifecycle.Running
	app := tk.ctrs["app"]
	app.status, app.exitCode, app.startedAt, app.finishedAt = lifecycle.Stopped, &exit, began, finished
	tk.ctrs["after"].deadline = time.Now().Add(time.Hour)
	return &rpFixture{t: tk, rt: rt, e: e}
}

// pass runs one round of the supervise loop's checks.
func (f *rpFixture) pass() (code, reason string) {
	f.t.restartExited(context.Background())
	if code, reason := f.t.startReady(context.Background()); code != "" {
		return code, reason
	}
	return f.t.checkExits()
}

func TestRestartInPlaceKeepsTheTaskRunning(t *testing.T) {
	f := newRestartFixture(t, 1, 61*time.Second)
	if code, reason := f.pass(); code != "" {
		t.Fatalf("the task stopped (%s: %s) although app was restarted", code, reason)
	}
	if got := f.rt.started(); !slices.Equal(got, []string{"id-app"}) {
		t.Fatalf("started %v, want only app, in place (its own container id)", got)
	}
	app, cc := f.t.ctrs["app"], f.t.cp.Containers["app"]
	if app.status != lifecycle.Running || app.exitCode != nil || cc.Restarts != 1 {
		t.Errorf("after the restart: status %s exit %v restarts %d, want RUNNING, no exit code, 1", app.status, app.exitCode, cc.Restarts)
	}
	// "after" waits for app to COMPLETE: a restarted app never completed.
	if f.t.ctrs["after"].status != lifecycle.Pending {
		t.Errorf("after started (%s): it depends on app COMPLETE and app was restarted", f.t.ctrs["after"].status)
	}
	// The task report never shows app STOPPED.
	for _, cs := range f.t.stateLocked().Containers {
		if cs.Name == "app" && (cs.Status == lifecycle.Stopped || cs.ExitCode != nil) {
			t.Errorf("report shows app %s exit %v", cs.Status, cs.ExitCode)
		}
	}
	// The count survives an agent restart.
	saved, err := f.e.cp.tasks()
	if err != nil || len(saved) != 1 || saved[0].Containers["app"].Restarts != 1 {
		t.Fatalf("checkpoint after the restart: %v %+v", err, saved)
	}
	// The next exit after a short run is not restarted: at most once per
	// restartAttemptPeriod. The essential container's exit ends the task.
	f.t.mu.Lock()
	now := time.Now()
	code := int32(1)
	app.status, app.exitCode, app.startedAt, app.finishedAt = lifecycle.Stopped, &code, now.Add(-2*time.Second), now
	f.t.mu.Unlock()
	if code, _ := f.pass(); code != lifecycle.CodeEssentialContainerExited {
		t.Errorf("stop code %q after an early second exit, want EssentialContainerExited", code)
	}
	if n := f.rt.startsOf("id-app"); n != 1 {
		t.Errorf("%d starts of app: the early second exit was restarted", n)
	}
}

func TestRestartPolicyDeclines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		exit  int32
		ran   time.Duration
		setup func(f *rpFixture)
	}{
		{"exit code ignored", 0, 10 * time.Minute, nil},
		{"exited before restartAttemptPeriod", 1, 5 * time.Second, nil},
		{"task desired STOPPED (StopTask)", 1, 10 * time.Minute, func(f *rpFixture) { f.t.cp.Manifest.DesiredStatus = lifecycle.Stopped }},
		{"stopped by the agent", 143, 10 * time.Minute, func(f *rpFixture) { f.t.ctrs["app"].stopping = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRestartFixture(t, tc.exit, tc.ran)
			if tc.setup != nil {
				tc.setup(f)
			}
			f.t.restartExited(context.Background())
			if got := f.rt.started(); len(got) != 0 {
				t.Fatalf("restarted: %v", got)
			}
			if f.t.cp.Containers["app"].Restarts != 0 || f.t.ctrs["app"].status != lifecycle.Stopped {
				t.Errorf("app %s with %d restarts, want STOPPED, 0", f.t.ctrs["app"].status, f.t.cp.Containers["app"].Restarts)
			}
			if f.t.ctrs["app"].stopping {
				return // the agent is stopping the task anyway
			}
			if code, _ := f.t.checkExits(); code != lifecycle.CodeEssentialContainerExited {
				t.Errorf("stop code %q, want EssentialContainerExited (app is essential)", code)
			}
		})
	}
}

// A container that exited too early is not restarted later either, once
// restartAttemptPeriod has passed since it started (the decision belongs
// to the exit, not to when the agent looks again).
func TestRestartEarlyExitNeverRestartedLater(t *testing.T) {
	f := newRestartFixture(t, 1, 5*time.Second)
	f.t.ctrs["app"].def.Essential = ecsapi.Ptr(false) // the task goes on
	long := time.Now().Add(-2 * time.Hour)
	app := f.t.ctrs["app"]
	app.startedAt, app.finishedAt = long, long.Add(5*time.Second)
	f.t.cp.Containers["app"].LastStart = long
	for range 3 {
		if code, reason := f.pass(); code != "" {
			t.Fatalf("task stopped: %s %s", code, reason)
		}
	}
	if n := f.rt.startsOf("id-app"); n != 0 {
		t.Errorf("app was restarted long after it exited early (%d starts)", n)
	}
}

// A restart that fails to start is not retried on every pass: the
// container stays STOPPED, and an essential one ends the task.
func TestRestartFailedStartNotRetried(t *testing.T) {
	f := newRestartFixture(t, 1, 2*time.Minute)
	f.rt.failing["id-app"] = true
	if code, _ := f.pass(); code != lifecycle.CodeEssentialContainerExited {
		t.Errorf("stop code %q, want EssentialContainerExited", code)
	}
	f.pass()
	if attempts := f.rt.startsOf("id-app"); attempts != 1 {
		t.Errorf("%d attempts to restart app, want one", attempts)
	}
	if f.t.cp.Containers["app"].Restarts != 0 {
		t.Errorf("a failed restart was counted")
	}
}

// An adopted container that exited while no agent ran: how long it ran
// comes from the engine, and decides the restart.
func TestRestartAdoptedExitUsesEngineStartTime(t *testing.T) {
	for _, tc := range []struct {
		ran  time.Duration
		want bool
	}{{2 * time.Minute, true}, {10 * time.Second, false}} {
		f := newRestartFixture(t, 1, tc.ran)
		app := f.t.ctrs["app"]
		app.startedAt = time.Time{} // only a running container's start is read back
		f.t.cp.Containers["app"].LastStart = time.Time{}
		f.t.adoptRunStart(context.Background(), "app")
		f.t.restartExited(context.Background())
		if got := f.rt.startsOf("id-app") == 1; got != tc.want {
			t.Errorf("ran %s: restarted %v, want %v", tc.ran, got, tc.want)
		}
	}
}
