package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
)

// engine runs the tasks placed on this instance: one goroutine per task
// (task.go) driven by the manifests the session delivers and by the
// container runtime's events.
type engine struct {
	rt         runtime.Runtime
	cp         *checkpoint
	cfg        *Config
	log        *slog.Logger
	instanceID string // berth container instance id (owner label)
	cluster    string
	// metadataBase is the base URL containers reach the metadata endpoint at.
	metadataBase string
	report       func(agentproto.TaskState)

	net    netSetup
	images images // recent image inspections

	slotsOnce sync.Once
	slots     chan struct{} // create and start calls in flight (acquire)

	mu    sync.Mutex
	tasks map[string]*task
	wg    sync.WaitGroup
	ctx   context.Context
}

// start restores the checkpointed tasks (adopting their containers) and
// routes runtime events until ctx ends.
func (e *engine) start(ctx context.Context) error {
	e.ctx = ctx
	e.tasks = map[string]*task{}
	saved, err := e.cp.tasks()
	if err != nil {
		return err
	}
	for _, cp := range saved {
		e.launch(cp, true)
	}
	go e.routeEvents(ctx)
	return nil
}

// wait blocks until every task goroutine returned (after ctx ended).
func (e *engine) wait() { e.wg.Wait() }

func (e *engine) launch(cp *taskCheckpoint, adopt bool) *task {
	t := newTask(e, cp, adopt)
	arn := cp.Manifest.TaskARN // the manifest may be replaced while t runs
	e.mu.Lock()
	e.tasks[arn] = t
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t.run(e.ctx)
		e.mu.Lock()
		if e.tasks[arn] == t {
			delete(e.tasks, arn)
		}
		e.mu.Unlock()
	}()
	return t
}

// apply takes one manifest from the server. Stale manifests (not newer than
// the one the task has) are dropped.
func (e *engine) apply(m agentproto.TaskManifest) {
	e.mu.Lock()
	t := e.tasks[m.TaskARN]
	e.mu.Unlock()
	if t != nil {
		t.setManifest(m)
		return
	}
	if m.DesiredStatus == lifecycle.Stopped || m.Definition == nil {
		// Never started here (or already cleaned up): confirm it stopped
		// so the server frees its resources. Idempotent.
		now := time.Now()
		e.report(agentproto.TaskState{TaskARN: m.TaskARN, Status: lifecycle.Stopped, ExecutionStoppedAt: &now})
		return
	}
	// Not checkpointed yet: until the task names its first container
	// nothing of it exists on this host, and after a crash the server's
	// next sync delivers it again.
	e.launch(&taskCheckpoint{Manifest: m, Containers: map[string]*containerCheckpoint{}}, false)
}

// sync takes the full set of the instance's live tasks: tasks running here
// that the server no longer lists are stopped.
func (e *engine) sync(ms []agentproto.TaskManifest) {
	listed := map[string]bool{}
	for _, m := range ms {
		listed[m.TaskARN] = true
		e.apply(m)
	}
	e.mu.Lock()
	var orphans []*task
	for arn, t := range e.tasks {
		if !listed[arn] {
			orphans = append(orphans, t)
		}
	}
	e.mu.Unlock()
	for _, t := range orphans {
		t.stopOrphan()
	}
}

// snapshot returns every task's current state (metadata endpoints).
func (e *engine) snapshot() []*task {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*task, 0, len(e.tasks))
	for _, t := range e.tasks {
		out = append(out, t)
	}
	return out
}

func (e *engine) byARN(arn string) *task {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tasks[arn]
}

// routeEvents delivers the runtime's container events to their tasks. When
// the stream breaks it resubscribes and has every task re-inspect its
// containers, so no exit is missed.
func (e *engine) routeEvents(ctx context.Context) {
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for ctx.Err() == nil {
		evs, errs := e.rt.Events(ctx, map[string]string{containerspec.LabelInstance: e.instanceID})
		for _, t := range e.snapshot() {
			t.notify(runtime.Event{Action: actionResync})
		}
	loop:
		for {
			select {
			case ev, ok := <-evs:
				if !ok {
					break loop
				}
				backoff.reset()
				if t := e.byARN(ev.Labels[containerspec.LabelTaskARN]); t != nil {
					t.notify(ev)
				}
			case err := <-errs:
				if ctx.Err() == nil {
					e.log.Warn("container event stream broke; resubscribing", "err", err)
				}
				break loop
			case <-ctx.Done():
				return
			}
		}
		backoff.wait(ctx)
	}
}

// actionResync is a synthetic event: re-inspect every container.
const actionResync = "berth-resync"

// netSetup lazily creates what awsvpc tasks share: the task network and the
// pause image.
type netSetup struct {
	mu      sync.Mutex
	network *runtime.Network
	pause   string
}

func (e *engine) awsvpcNetwork(ctx context.Context) (runtime.Network, string, error) {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if e.net.network == nil {
		n, err := e.rt.EnsureNetwork(ctx, awsvpcNetworkName, e.cfg.AwsvpcSubnet, map[string]string{"berth.network": "awsvpc"})
		if err != nil {
			return runtime.Network{}, "", fmt.Errorf("create the awsvpc task network: %w", err)
		}
		e.net.network = &n
	}
	if e.net.pause == "" {
		img, err := ensurePauseImage(ctx, e.rt)
		if err != nil {
			return runtime.Network{}, "", err
		}
		e.net.pause = img
	}
	return *e.net.network, e.net.pause, nil
}

const awsvpcNetworkName = "berth-awsvpc"

// Container creates and starts go through a limiter: a burst of tasks
// would otherwise send the engine every create and start at once, and
// Docker gets slower per container the more it is asked to do together
// (its network and containerd steps queue behind each other). With
// MaxConcurrentStarts calls in flight the burst finishes sooner.

// acquire takes a slot for one create or start call; release gives it
// back. A zero limit means no limit.
func (e *engine) acquire(ctx context.Context) error {
	e.slotsOnce.Do(func() {
		if n := e.cfg.MaxConcurrentStarts; n > 0 {
			e.slots = make(chan struct{}, n)
		}
	})
	if e.slots == nil {
		return nil
	}
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *engine) release() {
	if e.slots != nil {
		<-e.slots
	}
}

// createContainer creates a container within the limit.
func (e *engine) createContainer(ctx context.Context, spec runtime.Spec) (string, error) {
	if err := e.acquire(ctx); err != nil {
		return "", err
	}
	defer e.release()
	return e.rt.CreateContainer(ctx, spec)
}

// startContainer starts a container within the limit.
func (e *engine) startContainer(ctx context.Context, id string) error {
	if err := e.acquire(ctx); err != nil {
		return err
	}
	defer e.release()
	return e.rt.StartContainer(ctx, id)
}
