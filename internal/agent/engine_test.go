package agent

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
)

func TestShouldRestart(t *testing.T) {
	now := time.Now()
	policy := &ecsapi.ContainerRestartPolicy{Enabled: true, IgnoredExitCodes: []int32{0}, RestartAttemptPeriod: ecsapi.Ptr(int32(60))}
	for _, tc := range []struct {
		name      string
		p         *ecsapi.ContainerRestartPolicy
		exit      int32
		lastStart time.Time
		want      bool
	}{
		{"no policy", nil, 1, now.Add(-time.Hour), false},
		{"disabled", &ecsapi.ContainerRestartPolicy{Enabled: false}, 1, now.Add(-time.Hour), false},
		{"ran long enough", policy, 1, now.Add(-61 * time.Second), true},
		{"exited too early", policy, 1, now.Add(-30 * time.Second), false},
		{"ignored exit code", policy, 0, now.Add(-time.Hour), false},
		{"default period 300s: too early", &ecsapi.ContainerRestartPolicy{Enabled: true}, 1, now.Add(-200 * time.Second), false},
		{"default period 300s: long enough", &ecsapi.ContainerRestartPolicy{Enabled: true}, 1, now.Add(-301 * time.Second), true},
	} {
		if got := shouldRestart(tc.p, tc.exit, tc.lastStart); got != tc.want {
			t.Errorf("%s: shouldRestart = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Stale and replayed manifests are dropped; a newer one is taken.
func TestTaskManifestSequencing(t *testing.T) {
	def := &ecsapi.TaskDefinition{Family: ecsapi.Ptr("f"), Revision: 1, ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("img")}}}
	e := &engine{cfg: &Config{}, log: discardLogger()}
	tk := newTask(e, &taskCheckpoint{Manifest: agentproto.TaskManifest{TaskARN: "arn:t", DesiredStatus: "RUNNING", Definition: def, Seq: 10}, Containers: map[string]*containerCheckpoint{}}, false)
	tk.setManifest(agentproto.TaskManifest{TaskARN: "arn:t", DesiredStatus: "STOPPED", Seq: 9})
	tk.setManifest(agentproto.TaskManifest{TaskARN: "arn:t", DesiredStatus: "STOPPED", Seq: 10})
	if tk.desiredStopped() {
		t.Fatal("a stale or replayed manifest was applied")
	}
	tk.setManifest(agentproto.TaskManifest{TaskARN: "arn:t", DesiredStatus: "STOPPED", Seq: 11})
	if !tk.desiredStopped() {
		t.Fatal("a newer manifest was dropped")
	}
	if tk.def() != def {
		t.Error("a manifest without a definition dropped the task's definition")
	}
	select {
	case <-tk.wake:
	default:
		t.Error("the task was not woken")
	}
}

// The outbox keeps one unacknowledged report per task, resent in order.
func TestOutbox(t *testing.T) {
	o := newOutbox()
	o.put(agentproto.TaskState{TaskARN: "a", Status: "PENDING"})
	o.put(agentproto.TaskState{TaskARN: "b", Status: "PENDING"})
	o.put(agentproto.TaskState{TaskARN: "a", Status: "RUNNING"})
	all := o.after(0)
	if len(all) != 2 || all[0].state.TaskARN != "b" || all[1].state.Status != "RUNNING" {
		t.Fatalf("pending %+v", all)
	}
	o.ack(1) // superseded seq: no effect
	if len(o.after(0)) != 2 {
		t.Error("acknowledging a superseded report dropped the newer one")
	}
	o.ack(all[1].seq)
	if got := o.after(0); len(got) != 1 || got[0].state.TaskARN != "b" {
		t.Errorf("after ack: %+v", got)
	}
	if len(o.after(all[0].seq)) != 0 {
		t.Error("after(seq) returned already-sent reports")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
