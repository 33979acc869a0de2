package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
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

// countingRuntime counts the create and start calls in flight at once.
type countingRuntime struct {
	runtime.Runtime // other methods are not called
	inFlight, most  atomic.Int32
}

func (r *countingRuntime) call() {
	n := r.inFlight.Add(1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	r.inFlight.Add(-1)
}

func (r *countingRuntime) CreateContainer(context.Context, runtime.Spec) (string, error) {
	r.call()
	return "id", nil
}

func (r *countingRuntime) StartContainer(context.Context, string) error {
	r.call()
	return nil
}

func TestEngineLimitsConcurrentStarts(t *testing.T) {
	rt := &countingRuntime{}
	e := &engine{rt: rt, cfg: &Config{MaxConcurrentStarts: 3}}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i%2 == 0 {
				e.createContainer(ctx, runtime.Spec{})
			} else {
				e.startContainer(ctx, "id")
			}
		})
	}
	wg.Wait()
	if m := rt.most.Load(); m != 3 {
		t.Fatalf("%d calls in flight at most, want 3", m)
	}
	// A caller that gives up while waiting for a slot gets its context's
	// error, and no call is made.
	for range 3 {
		e.slots <- struct{}{}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := e.startContainer(cctx, "id"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
}
