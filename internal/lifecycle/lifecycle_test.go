package lifecycle

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
)

// order lists every task status in lifecycle order.
var order = []string{Provisioning, Pending, Activating, Running, Deactivating, Stopping, Deprovisioning, Stopped}

// containerStatuses lists the container statuses in order.
var containerStatuses = []string{Pending, Running, Stopped}

// t0 is when a test task reached its current status; t1 is the "now" of
// the report under test. Both carry sub-millisecond digits so the tests see
// the truncation ecsapi.Time applies.
var (
	t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	t1 = t0.Add(90*time.Second + 987654321)
)

const taskARN = "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef"

func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond) }

// snapshot is the task's JSON without its version: two snapshots differ iff
// Apply changed something a client can see.
func snapshot(t testing.TB, task *ecsapi.Task) string {
	t.Helper()
	c := *task
	c.Version = 0
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("marshal task: %v", err)
	}
	return string(b)
}

// apply runs Apply and checks the contract every merge obeys: the version
// is bumped by exactly one iff Changed, and Changed iff the task changed.
func apply(t testing.TB, task *ecsapi.Task, st agentproto.TaskState, now time.Time) Change {
	t.Helper()
	before, v := snapshot(t, task), task.Version
	ch := Apply(task, st, now)
	after := snapshot(t, task)
	want := v
	if ch.Changed {
		want++
	}
	if task.Version != want {
		t.Errorf("version %d → %d with Changed=%v; want %d", v, task.Version, ch.Changed, want)
	}
	if (before != after) != ch.Changed {
		t.Errorf("Changed=%v but task changed=%v:\nbefore %s\nafter  %s", ch.Changed, before != after, before, after)
	}
	return ch
}

// replay applies st again later and checks it is a no-op.
func replay(t testing.TB, task *ecsapi.Task, st agentproto.TaskState, now time.Time) {
	t.Helper()
	before := snapshot(t, task)
	v := task.Version
	if ch := apply(t, task, st, now); ch.Changed || ch.Became != "" {
		t.Errorf("replayed report changed the task: %+v", ch)
	}
	if got := snapshot(t, task); got != before || task.Version != v {
		t.Errorf("replayed report changed the task:\nbefore %s\nafter  %s", before, got)
	}
}

func newTask(status string) *ecsapi.Task {
	task := &ecsapi.Task{
		TaskArn:       ecsapi.Ptr(taskARN),
		DesiredStatus: ecsapi.Ptr(Running),
		CreatedAt:     ecsapi.Time(t0.Add(-time.Hour)),
		Version:       1,
		Containers: []ecsapi.Container{
			{Name: ecsapi.Ptr("web"), LastStatus: ecsapi.Ptr(Pending)},
			{Name: ecsapi.Ptr("sidecar"), LastStatus: ecsapi.Ptr(Pending)},
		},
	}
	if status != "" {
		task.LastStatus = ecsapi.Ptr(status)
	}
	return task
}

// reachedTask is a task that reached status at t0 through Apply: the
// timestamps of the transitions before it are set.
func reachedTask(status string) *ecsapi.Task {
	task := newTask(status)
	r := Rank(status)
	if r >= Rank(Running) {
		task.StartedAt, task.ConnectivityAt = ecsapi.Time(t0), ecsapi.Time(t0)
		task.Connectivity = ecsapi.Ptr(ecsapi.ConnectivityCONNECTED)
	}
	if r >= Rank(Deactivating) {
		task.StoppingAt = ecsapi.Time(t0)
	}
	if status == Stopped {
		task.StoppedAt = ecsapi.Time(t0)
		task.DesiredStatus = ecsapi.Ptr(Stopped)
		task.Connectivity = ecsapi.Ptr(ecsapi.ConnectivityDISCONNECTED)
	}
	return task
}

func checkTime(t *testing.T, name string, got *ecsapi.Timestamp, want time.Time) {
	t.Helper()
	switch {
	case want.IsZero() && got != nil:
		t.Errorf("%s = %v, want unset", name, got.Time)
	case !want.IsZero() && got == nil:
		t.Errorf("%s unset, want %v", name, ms(want))
	case !want.IsZero() && !got.Time.Equal(ms(want)):
		t.Errorf("%s = %v, want %v", name, got.Time, ms(want))
	}
}

func TestRankOrder(t *testing.T) {
	for i, s := range order {
		if Rank(s) != i+1 || !Valid(s) {
			t.Errorf("Rank(%s) = %d, Valid = %v; want %d, true", s, Rank(s), Valid(s), i+1)
		}
	}
	for _, s := range []string{"", "BOGUS", "running", "Stopped", "INACTIVE"} {
		if Rank(s) != 0 || Valid(s) {
			t.Errorf("Rank(%q) = %d, Valid = %v; want 0, false", s, Rank(s), Valid(s))
		}
	}
	for i, s := range containerStatuses {
		if ContainerRank(s) != i+1 {
			t.Errorf("ContainerRank(%s) = %d, want %d", s, ContainerRank(s), i+1)
		}
	}
	for _, s := range []string{"", Provisioning, Activating, Deactivating, Stopping, Deprovisioning, "BOGUS"} {
		if ContainerRank(s) != 0 {
			t.Errorf("ContainerRank(%q) = %d, want 0", s, ContainerRank(s))
		}
	}
}

// TestApplyStatusPairs moves a task from every status (and from none) to
// every status (and to unknown ones): forward-only, and each transition's
// timestamps set exactly once.
func TestApplyStatusPairs(t *testing.T) {
	froms := append([]string{""}, order...)
	tos := append(slices.Clone(order), "", "BOGUS", "running")
	for _, from := range froms {
		for _, to := range tos {
			t.Run(fmt.Sprintf("%s->%s", or(from, "none"), or(to, "empty")), func(t *testing.T) {
				task := reachedTask(from)
				st := agentproto.TaskState{TaskARN: taskARN, Status: to}
				ch := apply(t, task, st, t1)

				fr := Rank(from)
				moved := Valid(to) && Rank(to) > fr
				if ch.Changed != moved || ch.From != from {
					t.Errorf("Change = %+v, want Changed=%v From=%q", ch, moved, from)
				}
				want, became := from, ""
				if moved {
					want, became = to, to
				}
				if got := ecsapi.Value(task.LastStatus); got != want || ch.Became != became {
					t.Errorf("lastStatus %q Became %q, want %q %q", got, ch.Became, want, became)
				}
				if moved && Rank(to) <= fr || !moved && Rank(ecsapi.Value(task.LastStatus)) != fr {
					t.Errorf("status went from rank %d to %d", fr, Rank(ecsapi.Value(task.LastStatus)))
				}
				if wantV := int64(1) + b2i(moved); task.Version != wantV {
					t.Errorf("version %d, want %d", task.Version, wantV)
				}

				var started, stopping, stopped time.Time
				switch {
				case fr >= Rank(Running):
					started = t0
				case moved && to == Running:
					started = t1
				}
				switch {
				case fr >= Rank(Deactivating):
					stopping = t0
				case moved && Rank(to) >= Rank(Deactivating):
					stopping = t1
				}
				switch {
				case from == Stopped:
					stopped = t0
				case moved && to == Stopped:
					stopped = t1
				}
				checkTime(t, "startedAt", task.StartedAt, started)
				checkTime(t, "connectivityAt", task.ConnectivityAt, started)
				checkTime(t, "stoppingAt", task.StoppingAt, stopping)
				checkTime(t, "stoppedAt", task.StoppedAt, stopped)

				var conn ecsapi.Connectivity
				switch {
				case !stopped.IsZero() && !started.IsZero():
					conn = ecsapi.ConnectivityDISCONNECTED
				case !started.IsZero():
					conn = ecsapi.ConnectivityCONNECTED
				}
				if got := ecsapi.Value(task.Connectivity); got != conn {
					t.Errorf("connectivity %q, want %q", got, conn)
				}
				desired := Running
				if !stopped.IsZero() {
					desired = Stopped
				}
				if got := ecsapi.Value(task.DesiredStatus); got != desired {
					t.Errorf("desiredStatus %q, want %q", got, desired)
				}
				if task.StopCode != nil || task.StoppedReason != nil {
					t.Errorf("stopCode %v stoppedReason %v set by a report without them", task.StopCode, task.StoppedReason)
				}
				for _, c := range task.Containers {
					if ecsapi.Value(c.LastStatus) != Pending {
						t.Errorf("container %s moved to %s by a report without containers", *c.Name, *c.LastStatus)
					}
				}

				replay(t, task, st, t1.Add(time.Minute))
				// Every older or equal status is ignored afterwards.
				for _, older := range order[:Rank(ecsapi.Value(task.LastStatus))] {
					replay(t, task, agentproto.TaskState{TaskARN: taskARN, Status: older}, t1.Add(2*time.Minute))
				}
			})
		}
	}
}

// TestApplyWalk takes one task through every status in order, checking each
// step moves it and each timestamp is stamped when first reached.
func TestApplyWalk(t *testing.T) {
	task := newTask(Provisioning)
	stamps := map[string]time.Time{}
	for i, s := range order[1:] {
		now := t0.Add(time.Duration(i+1)*time.Second + 500*time.Microsecond)
		stamps[s] = now
		ch := apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: s}, now)
		if !ch.Changed || ch.Became != s || ch.From != order[i] {
			t.Fatalf("step %s: Change %+v", s, ch)
		}
		if task.Version != int64(i+2) {
			t.Fatalf("step %s: version %d, want %d", s, task.Version, i+2)
		}
	}
	checkTime(t, "startedAt", task.StartedAt, stamps[Running])
	checkTime(t, "connectivityAt", task.ConnectivityAt, stamps[Running])
	checkTime(t, "stoppingAt", task.StoppingAt, stamps[Deactivating])
	checkTime(t, "stoppedAt", task.StoppedAt, stamps[Stopped])
	if ecsapi.Value(task.Connectivity) != ecsapi.ConnectivityDISCONNECTED || ecsapi.Value(task.DesiredStatus) != Stopped {
		t.Errorf("connectivity %v desiredStatus %v", ecsapi.Value(task.Connectivity), ecsapi.Value(task.DesiredStatus))
	}
	for _, s := range order {
		replay(t, task, agentproto.TaskState{TaskARN: taskARN, Status: s}, t1)
	}
}

// TestApplyKeepsPresetTimestamps: a transition never overwrites a timestamp
// the task already has.
func TestApplyKeepsPresetTimestamps(t *testing.T) {
	early := ecsapi.Time(t0.Add(-time.Minute))
	task := newTask(Pending)
	task.StartedAt = early
	task.StoppingAt = early
	apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Running}, t1)
	checkTime(t, "startedAt", task.StartedAt, early.Time)
	apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Stopped}, t1.Add(time.Second))
	checkTime(t, "stoppingAt", task.StoppingAt, early.Time)
	checkTime(t, "stoppedAt", task.StoppedAt, t1.Add(time.Second))
}

func TestApplyStopCodeAndReason(t *testing.T) {
	user := func(task *ecsapi.Task) {
		task.StopCode = ecsapi.Ptr(ecsapi.TaskStopCodeUserInitiated)
		task.StoppedReason = ecsapi.Ptr("scaling down for the night")
		task.DesiredStatus = ecsapi.Ptr(Stopped)
	}
	cases := []struct {
		name              string
		from, to          string
		prep              func(*ecsapi.Task)
		code, reason      string
		wantCode, wantWhy string
	}{
		{"filled on STOPPED", Running, Stopped, nil, CodeEssentialContainerExited, ReasonEssentialExited, CodeEssentialContainerExited, ReasonEssentialExited},
		{"filled on STOPPED from PENDING", Pending, Stopped, nil, CodeTaskFailedToStart, "CannotPullContainerError: no such image", CodeTaskFailedToStart, "CannotPullContainerError: no such image"},
		{"user's StopTask kept", Running, Stopped, user, CodeEssentialContainerExited, ReasonEssentialExited, CodeUserInitiated, "scaling down for the night"},
		{"user's StopTask kept when the report has none", Stopping, Stopped, user, "", "", CodeUserInitiated, "scaling down for the night"},
		{"only the missing reason is filled", Running, Stopped, func(task *ecsapi.Task) {
			task.StopCode = ecsapi.Ptr(ecsapi.TaskStopCodeServiceSchedulerInitiated)
		}, CodeEssentialContainerExited, ReasonEssentialExited, CodeServiceSchedulerInitiated, ReasonEssentialExited},
		{"only the missing code is filled", Running, Stopped, func(task *ecsapi.Task) {
			task.StoppedReason = ecsapi.Ptr(ReasonStoppedByUser)
		}, CodeEssentialContainerExited, ReasonEssentialExited, CodeEssentialContainerExited, ReasonStoppedByUser},
		{"empty code and reason leave them unset", Running, Stopped, nil, "", "", "", ""},
		{"not filled before STOPPED", Running, Stopping, nil, CodeEssentialContainerExited, ReasonEssentialExited, "", ""},
		{"not filled by a stale STOPPING", Stopped, Stopping, nil, CodeEssentialContainerExited, ReasonEssentialExited, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := reachedTask(c.from)
			if c.prep != nil {
				c.prep(task)
			}
			st := agentproto.TaskState{TaskARN: taskARN, Status: c.to, StopCode: c.code, Reason: c.reason}
			apply(t, task, st, t1)
			if got := string(ecsapi.Value(task.StopCode)); got != c.wantCode || (task.StopCode == nil) != (c.wantCode == "") {
				t.Errorf("stopCode %v, want %q", task.StopCode, c.wantCode)
			}
			if got := ecsapi.Value(task.StoppedReason); got != c.wantWhy || (task.StoppedReason == nil) != (c.wantWhy == "") {
				t.Errorf("stoppedReason %v, want %q", task.StoppedReason, c.wantWhy)
			}
			replay(t, task, st, t1.Add(time.Second))
		})
	}
}

func TestApplyTaskTimesOnce(t *testing.T) {
	fields := []struct {
		name string
		set  func(*agentproto.TaskState, *time.Time)
		get  func(*ecsapi.Task) *ecsapi.Timestamp
	}{
		{"pullStartedAt", func(s *agentproto.TaskState, v *time.Time) { s.PullStartedAt = v }, func(t *ecsapi.Task) *ecsapi.Timestamp { return t.PullStartedAt }},
		{"pullStoppedAt", func(s *agentproto.TaskState, v *time.Time) { s.PullStoppedAt = v }, func(t *ecsapi.Task) *ecsapi.Timestamp { return t.PullStoppedAt }},
		{"executionStoppedAt", func(s *agentproto.TaskState, v *time.Time) { s.ExecutionStoppedAt = v }, func(t *ecsapi.Task) *ecsapi.Timestamp { return t.ExecutionStoppedAt }},
	}
	for _, f := range fields {
		for _, status := range []string{"", Pending, Running} { // no move, and a move
			t.Run(f.name+"/"+or(status, "none"), func(t *testing.T) {
				task := reachedTask(Pending)
				first, second := t0.Add(1234567*time.Nanosecond), t0.Add(time.Hour)
				st := agentproto.TaskState{TaskARN: taskARN, Status: status}
				f.set(&st, &first)
				if ch := apply(t, task, st, t1); !ch.Changed {
					t.Errorf("first %s not applied", f.name)
				}
				checkTime(t, f.name, f.get(task), first)
				replay(t, task, st, t1)

				st2 := agentproto.TaskState{TaskARN: taskARN}
				f.set(&st2, &second)
				if ch := apply(t, task, st2, t1); ch.Changed {
					t.Errorf("second %s changed the task", f.name)
				}
				checkTime(t, f.name, f.get(task), first)
			})
		}
	}
	t.Run("stale status still fills", func(t *testing.T) {
		task := reachedTask(Running)
		p := t0.Add(-time.Minute)
		ch := apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Pending, PullStoppedAt: &p}, t1)
		if !ch.Changed || ch.Became != "" || ecsapi.Value(task.LastStatus) != Running {
			t.Errorf("Change %+v lastStatus %v", ch, ecsapi.Value(task.LastStatus))
		}
		checkTime(t, "pullStoppedAt", task.PullStoppedAt, p)
	})
}

func TestApplyTaskHealth(t *testing.T) {
	task := reachedTask(Running)
	steps := []struct {
		report string
		want   ecsapi.HealthStatus
		change bool
	}{
		{"", "", false},
		{"UNKNOWN", ecsapi.HealthStatusUNKNOWN, true},
		{"UNKNOWN", ecsapi.HealthStatusUNKNOWN, false},
		{"HEALTHY", ecsapi.HealthStatusHEALTHY, true},
		{"", ecsapi.HealthStatusHEALTHY, false},
		{"HEALTHY", ecsapi.HealthStatusHEALTHY, false},
		{"UNHEALTHY", ecsapi.HealthStatusUNHEALTHY, true},
	}
	for i, s := range steps {
		ch := apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Running, HealthStatus: s.report}, t1)
		if ch.Changed != s.change || ecsapi.Value(task.HealthStatus) != s.want {
			t.Errorf("step %d (%q): Changed %v health %q; want %v %q", i, s.report, ch.Changed, ecsapi.Value(task.HealthStatus), s.change, s.want)
		}
	}
}

// TestApplyContainerStatusPairs merges every container status (and none)
// into every container status (and none): forward-only per container, the
// details merged only from a report not older than the container.
func TestApplyContainerStatusPairs(t *testing.T) {
	froms := append([]string{""}, containerStatuses...)
	tos := append(slices.Clone(containerStatuses), "", "BOGUS")
	for _, from := range froms {
		for _, to := range tos {
			for _, details := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s->%s/details=%v", or(from, "none"), or(to, "empty"), details), func(t *testing.T) {
					task := reachedTask(Running)
					task.Containers[0].LastStatus = nil
					if from != "" {
						task.Containers[0].LastStatus = ecsapi.Ptr(from)
					}
					other := task.Containers[1]
					cs := agentproto.ContainerState{Name: "web", Status: to}
					if details {
						cs.RuntimeID, cs.ImageDigest, cs.Reason, cs.HealthStatus = "rt-1", "sha256:abc", "Exited (2)", "HEALTHY"
						cs.ExitCode = ecsapi.Ptr[int32](2)
						cs.NetworkBindings = []ecsapi.NetworkBinding{{ContainerPort: ecsapi.Ptr[int32](80), HostPort: ecsapi.Ptr[int32](8080), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)}}
					}
					st := agentproto.TaskState{TaskARN: taskARN, Status: Running, Containers: []agentproto.ContainerState{cs}}
					ch := apply(t, task, st, t1)

					moved := ContainerRank(to) > ContainerRank(from)
					merged := ContainerRank(to) >= ContainerRank(from)
					if ch.Changed != (moved || merged && details) || ch.Became != "" {
						t.Errorf("Change %+v, want Changed=%v", ch, moved || merged && details)
					}
					c := task.Containers[0]
					want := from
					if moved {
						want = to
					}
					if got := ecsapi.Value(c.LastStatus); got != want {
						t.Errorf("container lastStatus %q, want %q", got, want)
					}
					got := c.RuntimeId != nil || c.ImageDigest != nil || c.Reason != nil || c.ExitCode != nil || c.HealthStatus != nil || c.NetworkBindings != nil
					if got != (merged && details) {
						t.Errorf("details merged=%v, want %v: %+v", got, merged && details, c)
					}
					if merged && details {
						if ecsapi.Value(c.RuntimeId) != "rt-1" || ecsapi.Value(c.ImageDigest) != "sha256:abc" || ecsapi.Value(c.Reason) != "Exited (2)" ||
							ecsapi.Value(c.ExitCode) != 2 || ecsapi.Value(c.HealthStatus) != ecsapi.HealthStatusHEALTHY || len(c.NetworkBindings) != 1 {
							t.Errorf("details not merged: %+v", c)
						}
					}
					if snapC(t, other) != snapC(t, task.Containers[1]) {
						t.Errorf("sidecar changed by a report about web")
					}
					if ecsapi.Value(task.LastStatus) != Running || task.StartedAt == nil || !task.StartedAt.Time.Equal(ms(t0)) {
						t.Errorf("task status/timestamps touched by a container report")
					}
					replay(t, task, st, t1.Add(time.Second))
				})
			}
		}
	}
}

func snapC(t *testing.T, c ecsapi.Container) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyContainerDetails(t *testing.T) {
	task := reachedTask(Pending)
	bindings := []ecsapi.NetworkBinding{{BindIP: ecsapi.Ptr("0.0.0.0"), ContainerPort: ecsapi.Ptr[int32](80), HostPort: ecsapi.Ptr[int32](32768), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)}}
	other := []ecsapi.NetworkBinding{{BindIP: ecsapi.Ptr("0.0.0.0"), ContainerPort: ecsapi.Ptr[int32](80), HostPort: ecsapi.Ptr[int32](40000), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)}}
	web := func(cs agentproto.ContainerState) agentproto.TaskState {
		cs.Name = "web"
		return agentproto.TaskState{TaskARN: taskARN, Containers: []agentproto.ContainerState{cs}}
	}
	c := &task.Containers[0]

	// First RUNNING report fills everything it names.
	run := web(agentproto.ContainerState{Status: Running, RuntimeID: "rt-1", ImageDigest: "sha256:1", HealthStatus: "UNKNOWN", NetworkBindings: bindings})
	if ch := apply(t, task, run, t1); !ch.Changed {
		t.Fatal("first report not applied")
	}
	if ecsapi.Value(c.LastStatus) != Running || ecsapi.Value(c.RuntimeId) != "rt-1" || ecsapi.Value(c.ImageDigest) != "sha256:1" ||
		ecsapi.Value(c.HealthStatus) != ecsapi.HealthStatusUNKNOWN || ecsapi.Value(c.NetworkBindings[0].HostPort) != 32768 {
		t.Fatalf("first report not merged: %+v", *c)
	}
	if c.ExitCode != nil || c.Reason != nil {
		t.Fatalf("exit code/reason set without a report of them: %+v", *c)
	}
	replay(t, task, run, t1)

	// networkBindings are only taken from the first report that has them.
	again := web(agentproto.ContainerState{Status: Running, NetworkBindings: other})
	if ch := apply(t, task, again, t1); ch.Changed || ecsapi.Value(c.NetworkBindings[0].HostPort) != 32768 {
		t.Errorf("networkBindings replaced: Changed %v %v", ch.Changed, ecsapi.Value(c.NetworkBindings[0].HostPort))
	}

	// Health is live: a same-rank report with another value updates it.
	healthy := web(agentproto.ContainerState{Status: Running, HealthStatus: "HEALTHY"})
	if ch := apply(t, task, healthy, t1); !ch.Changed || ecsapi.Value(c.HealthStatus) != ecsapi.HealthStatusHEALTHY {
		t.Errorf("health not updated: %v", ecsapi.Value(c.HealthStatus))
	}
	replay(t, task, healthy, t1)

	// Empty fields in a report never clear anything.
	replay(t, task, web(agentproto.ContainerState{Status: Running}), t1)

	// STOPPED with an exit code of 0 (a set pointer, not "no exit code").
	// Its bindings are still those of the first report.
	stop := web(agentproto.ContainerState{Status: Stopped, ExitCode: ecsapi.Ptr[int32](0), Reason: "Essential container exited", NetworkBindings: other})
	if ch := apply(t, task, stop, t1); !ch.Changed {
		t.Fatal("STOPPED not applied")
	}
	if c.ExitCode == nil || *c.ExitCode != 0 || ecsapi.Value(c.Reason) != "Essential container exited" || ecsapi.Value(c.LastStatus) != Stopped {
		t.Fatalf("STOPPED not merged: %+v", *c)
	}
	if ecsapi.Value(c.NetworkBindings[0].HostPort) != 32768 {
		t.Errorf("networkBindings replaced by a newer status")
	}
	replay(t, task, stop, t1)

	// Stale (older-rank) reports are ignored entirely, whatever they carry.
	for _, s := range []string{Pending, Running} {
		stale := web(agentproto.ContainerState{Status: s, RuntimeID: "rt-2", ImageDigest: "sha256:2", ExitCode: ecsapi.Ptr[int32](137),
			Reason: "OOMKilled", HealthStatus: "UNHEALTHY", NetworkBindings: other})
		replay(t, task, stale, t1)
	}
	if ecsapi.Value(c.RuntimeId) != "rt-1" || ecsapi.Value(c.HealthStatus) != ecsapi.HealthStatusHEALTHY || *c.ExitCode != 0 {
		t.Errorf("stale report merged: %+v", *c)
	}
	// The other container never moved.
	if s := ecsapi.Value(task.Containers[1].LastStatus); s != Pending {
		t.Errorf("sidecar moved to %s", s)
	}
}

func TestApplyUnknownContainers(t *testing.T) {
	task := reachedTask(Running)
	ghost := agentproto.ContainerState{Name: "ghost", Status: Stopped, RuntimeID: "rt-x", ExitCode: ecsapi.Ptr[int32](1), NetworkBindings: []ecsapi.NetworkBinding{{HostPort: ecsapi.Ptr[int32](1)}}}
	for _, name := range []string{"ghost", "", "Web", "web "} {
		g := ghost
		g.Name = name
		replay(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Running, Containers: []agentproto.ContainerState{g}}, t1)
	}
	st := agentproto.TaskState{TaskARN: taskARN, Containers: []agentproto.ContainerState{ghost, {Name: "sidecar", Status: Running}}}
	if ch := apply(t, task, st, t1); !ch.Changed {
		t.Error("known container in a mixed report not merged")
	}
	if len(task.Containers) != 2 || ecsapi.Value(task.Containers[1].LastStatus) != Running || ecsapi.Value(task.Containers[0].LastStatus) != Pending {
		t.Errorf("containers after mixed report: %+v", task.Containers)
	}
}

func eniTask() *ecsapi.Task {
	task := reachedTask(Pending)
	task.Attachments = []ecsapi.Attachment{
		{Id: ecsapi.Ptr("att-other"), Type: ecsapi.Ptr("Other"), Status: ecsapi.Ptr("PRECREATED")},
		{Id: ecsapi.Ptr("att-1"), Type: ecsapi.Ptr("ElasticNetworkInterface"), Status: ecsapi.Ptr("PRECREATED"), Details: []ecsapi.KeyValuePair{}},
	}
	return task
}

func details(a ecsapi.Attachment) map[string]string {
	m := map[string]string{}
	for _, d := range a.Details {
		m[ecsapi.Value(d.Name)] = ecsapi.Value(d.Value)
	}
	return m
}

func TestApplyAttachment(t *testing.T) {
	t.Run("filled once", func(t *testing.T) {
		task := eniTask()
		st := agentproto.TaskState{TaskARN: taskARN, Status: Running, PrivateIP: "10.0.3.7", MacAddress: "02:42:0a:00:03:07", SubnetCIDR: "10.0.3.0/24", Gateway: "10.0.3.1"}
		if ch := apply(t, task, st, t1); !ch.Changed {
			t.Fatal("not applied")
		}
		a := task.Attachments[1]
		if ecsapi.Value(a.Status) != "ATTACHED" {
			t.Errorf("status %v", ecsapi.Value(a.Status))
		}
		want := map[string]string{"privateIPv4Address": "10.0.3.7", "macAddress": "02:42:0a:00:03:07", "subnetCidrBlock": "10.0.3.0/24"}
		if got := details(a); fmt.Sprint(got) != fmt.Sprint(want) || len(a.Details) != 3 {
			t.Errorf("details %v, want %v", a.Details, want)
		}
		if o := task.Attachments[0]; ecsapi.Value(o.Status) != "PRECREATED" || o.Details != nil {
			t.Errorf("non-ENI attachment touched: %+v", o)
		}
		for _, c := range task.Containers {
			if len(c.NetworkInterfaces) != 1 || ecsapi.Value(c.NetworkInterfaces[0].AttachmentId) != "att-1" ||
				ecsapi.Value(c.NetworkInterfaces[0].PrivateIpv4Address) != "10.0.3.7" {
				t.Errorf("container %s networkInterfaces %+v", *c.Name, c.NetworkInterfaces)
			}
		}
		replay(t, task, st, t1)
		// A later report with another address does not refill it.
		st2 := agentproto.TaskState{TaskARN: taskARN, PrivateIP: "10.0.9.9", MacAddress: "02:42:0a:00:09:09", SubnetCIDR: "10.0.9.0/24"}
		replay(t, task, st2, t1)
		if details(task.Attachments[1])["privateIPv4Address"] != "10.0.3.7" {
			t.Error("address replaced")
		}
	})
	t.Run("no subnet", func(t *testing.T) {
		task := eniTask()
		apply(t, task, agentproto.TaskState{TaskARN: taskARN, PrivateIP: "10.0.3.8", MacAddress: "02:42:0a:00:03:08"}, t1)
		d := details(task.Attachments[1])
		if _, ok := d["subnetCidrBlock"]; ok || d["privateIPv4Address"] != "10.0.3.8" || len(d) != 2 {
			t.Errorf("details %v", d)
		}
	})
	t.Run("no address reported", func(t *testing.T) {
		task := eniTask()
		replay(t, task, agentproto.TaskState{TaskARN: taskARN, MacAddress: "02:42:0a:00:03:08", SubnetCIDR: "10.0.3.0/24"}, t1)
		if ecsapi.Value(task.Attachments[1].Status) != "PRECREATED" || len(task.Attachments[1].Details) != 0 {
			t.Errorf("attachment filled without an address: %+v", task.Attachments[1])
		}
	})
	t.Run("not awsvpc", func(t *testing.T) {
		task := reachedTask(Pending)
		replay(t, task, agentproto.TaskState{TaskARN: taskARN, PrivateIP: "172.17.0.2"}, t1)
		for _, c := range task.Containers {
			if c.NetworkInterfaces != nil {
				t.Errorf("networkInterfaces on a task without an ENI: %+v", c.NetworkInterfaces)
			}
		}
	})
	t.Run("stale status still fills", func(t *testing.T) {
		task := eniTask()
		task.LastStatus = ecsapi.Ptr(Running)
		ch := apply(t, task, agentproto.TaskState{TaskARN: taskARN, Status: Pending, PrivateIP: "10.0.3.9"}, t1)
		if !ch.Changed || ch.Became != "" || details(task.Attachments[1])["privateIPv4Address"] != "10.0.3.9" {
			t.Errorf("Change %+v details %v", ch, details(task.Attachments[1]))
		}
	})
}

// fuzzReader hands out bytes, then zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) empty() bool { return len(r.b) == 0 }

var (
	fuzzStatuses   = append([]string{"", "BOGUS"}, order...)
	fuzzCStatuses  = []string{"", "BOGUS", Pending, Running, Stopped}
	fuzzCodes      = []string{"", CodeTaskFailedToStart, CodeEssentialContainerExited, CodeUserInitiated}
	fuzzHealth     = []string{"", "UNKNOWN", "HEALTHY", "UNHEALTHY"}
	fuzzContainers = []string{"web", "sidecar", "ghost"}
)

// decodeReport reads one report; names within it are unique, as an agent
// sends them.
func decodeReport(r *fuzzReader, base time.Time) agentproto.TaskState {
	st := agentproto.TaskState{TaskARN: taskARN, Status: fuzzStatuses[int(r.next())%len(fuzzStatuses)]}
	flags, val := r.next(), r.next()
	at := func() *time.Time { v := base.Add(time.Duration(r.next()) * 1001 * time.Microsecond); return &v }
	if flags&1 != 0 {
		st.StopCode = fuzzCodes[int(val)%len(fuzzCodes)]
	}
	if flags&2 != 0 {
		st.Reason = fmt.Sprintf("reason %d", val%3)
	}
	if flags&4 != 0 {
		st.HealthStatus = fuzzHealth[int(val>>2)%len(fuzzHealth)]
	}
	if flags&8 != 0 {
		st.PullStartedAt = at()
	}
	if flags&16 != 0 {
		st.PullStoppedAt = at()
	}
	if flags&32 != 0 {
		st.ExecutionStoppedAt = at()
	}
	if flags&64 != 0 {
		st.PrivateIP = fmt.Sprintf("10.0.0.%d", val)
		st.MacAddress = fmt.Sprintf("02:42:0a:00:00:%02x", val)
		if val&1 != 0 {
			st.SubnetCIDR = "10.0.0.0/24"
		}
	}
	if flags&128 != 0 {
		mask := r.next()
		for i, name := range fuzzContainers {
			if mask&(1<<i) == 0 {
				continue
			}
			cf, cv := r.next(), r.next()
			cs := agentproto.ContainerState{Name: name, Status: fuzzCStatuses[int(cf)%len(fuzzCStatuses)]}
			if cf&8 != 0 {
				cs.RuntimeID = fmt.Sprintf("rt-%d", cv%3)
			}
			if cf&16 != 0 {
				cs.ExitCode = ecsapi.Ptr(int32(cv % 4))
			}
			if cf&32 != 0 {
				cs.Reason = fmt.Sprintf("exit %d", cv%2)
			}
			if cf&64 != 0 {
				cs.HealthStatus = fuzzHealth[int(cv>>2)%len(fuzzHealth)]
			}
			if cf&128 != 0 {
				cs.NetworkBindings = []ecsapi.NetworkBinding{{ContainerPort: ecsapi.Ptr[int32](80), HostPort: ecsapi.Ptr(int32(30000 + int32(cv)))}}
			}
			st.Containers = append(st.Containers, cs)
		}
	}
	return st
}

// taskTimes lists the task's set-once timestamps by name.
func taskTimes(t *ecsapi.Task) map[string]*ecsapi.Timestamp {
	return map[string]*ecsapi.Timestamp{
		"startedAt": t.StartedAt, "connectivityAt": t.ConnectivityAt, "stoppingAt": t.StoppingAt, "stoppedAt": t.StoppedAt,
		"pullStartedAt": t.PullStartedAt, "pullStoppedAt": t.PullStoppedAt, "executionStoppedAt": t.ExecutionStoppedAt,
	}
}

// FuzzApply merges a random sequence of reports into a task and checks the
// invariants after each: forward-only statuses (task and containers),
// version bumped iff Changed, set-once fields never changing, and a replay
// of the report just applied being a no-op.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 0, 0, 5, 0xff, 7, 0x80 | 1, 0b11, 3, 9, 4, 0x48, 4, 9, 0xff, 0xff, 0x82, 6, 0xff, 0})
	f.Add([]byte{1, 9, 0x80, 1, 1, 0x1, 3, 0x88, 1, 6, 0, 0, 2, 0, 0, 9, 0x3f, 5, 0x80, 3, 0x84, 2, 0x90, 7})
	f.Add([]byte{0, 5, 0x40, 10, 9, 0x27, 200, 1, 2, 3, 4, 3, 0, 0, 5, 0x40, 11})
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"))
	// Seeded pseudo-random sequences, so a plain go test covers many orders.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 150 {
		b := make([]byte, 8+rng.IntN(400))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{b: data}
		setup := r.next()
		task := newTask([]string{Provisioning, Pending}[setup&1])
		if setup&2 != 0 {
			task.Attachments = []ecsapi.Attachment{{Id: ecsapi.Ptr("att-1"), Type: ecsapi.Ptr("ElasticNetworkInterface"), Status: ecsapi.Ptr("PRECREATED"), Details: []ecsapi.KeyValuePair{}}}
		}
		if setup&4 != 0 { // StopTask before the agent's reports
			task.StopCode = ecsapi.Ptr(ecsapi.TaskStopCodeUserInitiated)
			task.StoppedReason = ecsapi.Ptr(ReasonStoppedByUser)
			task.DesiredStatus = ecsapi.Ptr(Stopped)
		}
		now := t0
		for step := 0; step < 64 && !r.empty(); step++ {
			now = now.Add(time.Duration(r.next())*time.Second + 1)
			st := decodeReport(r, now)

			prev := snapshot(t, task)
			prevStatus, prevVersion := ecsapi.Value(task.LastStatus), task.Version
			prevTimes := map[string]time.Time{}
			for k, v := range taskTimes(task) {
				if v != nil {
					prevTimes[k] = v.Time
				}
			}
			prevCtr := map[string]int{}
			prevBind := map[string]string{}
			for _, c := range task.Containers {
				prevCtr[*c.Name] = ContainerRank(ecsapi.Value(c.LastStatus))
				if c.NetworkBindings != nil {
					prevBind[*c.Name] = snapC(t, ecsapi.Container{NetworkBindings: c.NetworkBindings})
				}
			}
			prevCode, prevWhy := task.StopCode, task.StoppedReason
			prevIP := ""
			if len(task.Attachments) > 0 {
				prevIP = details(task.Attachments[0])["privateIPv4Address"]
			}

			ch := Apply(task, st, now)

			changed := snapshot(t, task) != prev
			if changed != ch.Changed {
				t.Fatalf("step %d: Changed=%v but task changed=%v (report %+v)", step, ch.Changed, changed, st)
			}
			if want := prevVersion + int64(b2i(ch.Changed)); task.Version != want {
				t.Fatalf("step %d: version %d → %d, Changed=%v", step, prevVersion, task.Version, ch.Changed)
			}
			cur := ecsapi.Value(task.LastStatus)
			if Rank(cur) < Rank(prevStatus) {
				t.Fatalf("step %d: lastStatus went back %s → %s", step, prevStatus, cur)
			}
			if ch.From != prevStatus || (cur != prevStatus) != (ch.Became != "") || ch.Became != "" && ch.Became != cur {
				t.Fatalf("step %d: Change %+v for %s → %s", step, ch, prevStatus, cur)
			}
			if ch.Became != "" && Rank(st.Status) <= Rank(prevStatus) || Valid(st.Status) && Rank(st.Status) > Rank(prevStatus) && ch.Became != st.Status {
				t.Fatalf("step %d: report %q on %q gave Became %q", step, st.Status, prevStatus, ch.Became)
			}
			for k, v := range taskTimes(task) {
				if p, ok := prevTimes[k]; ok && (v == nil || !v.Time.Equal(p)) {
					t.Fatalf("step %d: %s changed from %v to %v", step, k, p, v)
				}
			}
			if prevCode != nil && task.StopCode != prevCode || prevWhy != nil && task.StoppedReason != prevWhy {
				t.Fatalf("step %d: stop code/reason replaced", step)
			}
			for _, c := range task.Containers {
				if ContainerRank(ecsapi.Value(c.LastStatus)) < prevCtr[*c.Name] {
					t.Fatalf("step %d: container %s went back to %v", step, *c.Name, ecsapi.Value(c.LastStatus))
				}
				if b, ok := prevBind[*c.Name]; ok && snapC(t, ecsapi.Container{NetworkBindings: c.NetworkBindings}) != b {
					t.Fatalf("step %d: container %s networkBindings replaced", step, *c.Name)
				}
			}
			if len(task.Containers) != 2 {
				t.Fatalf("step %d: %d containers", step, len(task.Containers))
			}
			if prevIP != "" && details(task.Attachments[0])["privateIPv4Address"] != prevIP {
				t.Fatalf("step %d: attachment refilled", step)
			}
			// State invariants of a task that started before RUNNING.
			rk := Rank(cur)
			if task.StartedAt != nil && rk < Rank(Running) || (task.StoppingAt != nil) != (rk >= Rank(Deactivating)) ||
				(task.StoppedAt != nil) != (cur == Stopped) || cur == Stopped && ecsapi.Value(task.DesiredStatus) != Stopped {
				t.Fatalf("step %d: %s with startedAt %v stoppingAt %v stoppedAt %v desired %v", step, cur,
					task.StartedAt, task.StoppingAt, task.StoppedAt, ecsapi.Value(task.DesiredStatus))
			}

			replay(t, task, st, now.Add(time.Second))
			if t.Failed() {
				t.FailNow()
			}
		}
	})
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
