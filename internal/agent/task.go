package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/taskdef"
)

// task runs one ECS task: it creates the task's network, volumes and
// containers, starts containers as their dependsOn conditions are met,
// watches them, and stops the task when an essential container exits or
// the server asks. Every step is idempotent, so a restarted agent runs the
// same code to adopt what exists.
type task struct {
	e   *engine
	log *slog.Logger
	// wake is signalled when the manifest or a container changed.
	wake   chan struct{}
	events chan runtime.Event
	adopt  bool

	mu   sync.Mutex // guards everything below (read by the endpoints)
	cp   *taskCheckpoint
	ctrs map[string]*ctr // by container definition name
	// order is the definitions' order (start order; stop in reverse).
	order []string
	// lastReport is the last state sent, so unchanged states are not resent.
	lastReport agentproto.TaskState
}

// ctr is one container's live state.
type ctr struct {
	def        ecsapi.ContainerDefinition // overrides applied
	status     string                     // PENDING, RUNNING, STOPPED
	exitCode   *int32
	health     string // HEALTHY, UNHEALTHY, UNKNOWN
	reason     string
	bindings   []ecsapi.NetworkBinding
	digest     string
	imageID    string
	startedAt  time.Time
	finishedAt time.Time
	deadline   time.Time // startTimeout for its dependencies
	// gpuIDs are the GPUs the scheduler reserved for it (Container.gpuIds).
	gpuIDs []string
	// stopping: the agent asked it to stop (not a crash).
	stopping bool
}

func newTask(e *engine, cp *taskCheckpoint, adopt bool) *task {
	t := &task{e: e, cp: cp, adopt: adopt, wake: make(chan struct{}, 1), events: make(chan runtime.Event, 256), ctrs: map[string]*ctr{}}
	t.log = e.log.With("task", cp.Manifest.TaskARN)
	for _, cd := range cp.Manifest.Definition.ContainerDefinitions {
		name := ecsapi.Value(cd.Name)
		var ov *ecsapi.ContainerOverride
		if cp.Manifest.Overrides != nil {
			for i := range cp.Manifest.Overrides.ContainerOverrides {
				if ecsapi.Value(cp.Manifest.Overrides.ContainerOverrides[i].Name) == name {
					ov = &cp.Manifest.Overrides.ContainerOverrides[i]
				}
			}
		}
		t.ctrs[name] = &ctr{def: containerspec.ApplyOverride(cd, ov), status: lifecycle.Pending, health: string(ecsapi.HealthStatusUNKNOWN), gpuIDs: cp.Manifest.GPUIDs[name]}
		t.order = append(t.order, name)
		if cp.Containers[name] == nil {
			cp.Containers[name] = &containerCheckpoint{DockerName: dockerName(cp.Manifest, name), MetadataID: newHex(16)}
		}
	}
	return t
}

func (t *task) def() *ecsapi.TaskDefinition { return t.cp.Manifest.Definition }

func (t *task) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *task) notify(ev runtime.Event) {
	select {
	case t.events <- ev:
	default:
		// The task is far behind: a resync covers whatever was dropped.
		select {
		case t.events <- runtime.Event{Action: actionResync}:
		default:
		}
	}
}

// setManifest takes a newer manifest (stale ones are dropped).
func (t *task) setManifest(m agentproto.TaskManifest) {
	t.mu.Lock()
	if m.Seq <= t.cp.Manifest.Seq {
		t.mu.Unlock()
		return
	}
	def := t.cp.Manifest.Definition
	t.cp.Manifest = m
	if m.Definition == nil {
		t.cp.Manifest.Definition = def
	}
	t.mu.Unlock()
	t.signal()
}

// stopOrphan stops a task the server no longer lists.
func (t *task) stopOrphan() {
	t.mu.Lock()
	t.cp.Manifest.DesiredStatus = lifecycle.Stopped
	t.mu.Unlock()
	t.signal()
}

func (t *task) desiredStopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cp.Manifest.DesiredStatus == lifecycle.Stopped
}

// run drives the task to its end and cleans up after the wait.
func (t *task) run(ctx context.Context) {
	if t.cp.State.Status != lifecycle.Stopped {
		code, reason := t.startAndSupervise(ctx)
		if ctx.Err() != nil {
			return // the agent is shutting down: leave containers running
		}
		t.stop(ctx, code, reason)
	} else {
		t.report() // confirm, in case the server missed it
	}
	t.cleanupAfterWait(ctx)
}

func (t *task) startAndSupervise(ctx context.Context) (code, reason string) {
	if t.desiredStopped() && !t.adopt {
		return "", ""
	}
	if code, reason := t.prepare(ctx); code != "" {
		return code, reason
	}
	return t.supervise(ctx)
}

// prepare makes the task's network, pulls images, makes volumes and
// creates the containers. A failure is TaskFailedToStart.
func (t *task) prepare(ctx context.Context) (code, reason string) {
	mode := taskdef.EffectiveNetworkMode(t.def())
	if mode == ecsapi.NetworkModeAwsvpc {
		if err := t.preparePause(ctx); err != nil {
			return failStart(ctx, "CannotCreateContainerError: %v", err)
		}
	}
	if mode == ecsapi.NetworkModeAwsvpc {
		t.setStatus(lifecycle.Pending) // out of PROVISIONING: the network is up
	} else {
		t.mu.Lock()
		if lifecycle.Rank(t.cp.State.Status) < lifecycle.Rank(lifecycle.Pending) {
			t.cp.State.Status = lifecycle.Pending // where the server started it
		}
		t.mu.Unlock()
	}
	if err := t.pull(ctx); err != nil {
		return failStart(ctx, "CannotPullContainerError: %v", err)
	}
	volumes, err := t.prepareVolumes(ctx)
	if err != nil {
		return failStart(ctx, "CannotCreateVolumeError: %v", err)
	}
	if err := t.createContainers(ctx, volumes); err != nil {
		return failStart(ctx, "CannotCreateContainerError: %v", err)
	}
	if mode == ecsapi.NetworkModeAwsvpc {
		t.setStatus(lifecycle.Activating)
	}
	return "", ""
}

func failStart(ctx context.Context, format string, args ...any) (string, string) {
	if ctx.Err() != nil {
		return "", ""
	}
	msg := fmt.Sprintf(format, args...)
	if len(msg) > 255 {
		msg = msg[:255]
	}
	return lifecycle.CodeTaskFailedToStart, msg
}

// setStatus moves the task forward and reports it.
func (t *task) setStatus(s string) {
	t.mu.Lock()
	if lifecycle.Rank(s) > lifecycle.Rank(t.cp.State.Status) {
		t.cp.State.Status = s
	}
	t.mu.Unlock()
	t.report()
}

// report sends the task's current state to the server and checkpoints it.
func (t *task) report() {
	t.mu.Lock()
	st := t.stateLocked()
	if reflect.DeepEqual(st, t.lastReport) {
		t.mu.Unlock()
		return
	}
	t.lastReport = st
	t.cp.State = st
	// Only the end is checkpointed: every other state is read back from
	// the containers by a restarted agent, and a write (an fsync) per report
	// would sit on the path from RunTask to RUNNING.
	var err error
	if st.Status == lifecycle.Stopped {
		err = t.e.cp.saveTask(t.cp)
	}
	t.mu.Unlock()
	if err != nil {
		t.log.Error("checkpoint task", "err", err)
	}
	t.e.report(st)
}

// stateLocked builds the report from the live container states.
func (t *task) stateLocked() agentproto.TaskState {
	st := t.cp.State
	st.TaskARN = t.cp.Manifest.TaskARN
	st.Containers = st.Containers[:0:0]
	var essentialsHealthy, essentialsUnhealthy, essentialsChecked int
	for _, name := range t.order {
		c := t.ctrs[name]
		cs := agentproto.ContainerState{Name: name, RuntimeID: t.cp.Containers[name].ID, ImageDigest: c.digest, Status: c.status, ExitCode: c.exitCode, Reason: c.reason, HealthStatus: c.health, NetworkBindings: c.bindings}
		st.Containers = append(st.Containers, cs)
		if essential(c.def) && c.def.HealthCheck != nil {
			essentialsChecked++
			switch c.health {
			case string(ecsapi.HealthStatusHEALTHY):
				essentialsHealthy++
			case string(ecsapi.HealthStatusUNHEALTHY):
				essentialsUnhealthy++
			}
		}
	}
	switch {
	case essentialsUnhealthy > 0:
		st.HealthStatus = string(ecsapi.HealthStatusUNHEALTHY)
	case essentialsChecked > 0 && essentialsHealthy == essentialsChecked:
		st.HealthStatus = string(ecsapi.HealthStatusHEALTHY)
	default:
		st.HealthStatus = string(ecsapi.HealthStatusUNKNOWN)
	}
	return st
}

func essential(cd ecsapi.ContainerDefinition) bool { return cd.Essential == nil || *cd.Essential }

// pull makes sure every image is local, pulling the missing ones.
func (t *task) pull(ctx context.Context) error {
	t.mu.Lock()
	started := t.cp.State.PullStartedAt == nil
	now := time.Now()
	if started {
		t.cp.State.PullStartedAt = &now
	}
	t.mu.Unlock()
	for _, name := range t.order {
		c := t.ctrs[name]
		ref := ecsapi.Value(c.def.Image)
		img, err := t.e.images.inspect(ctx, t.e.rt, ref, time.Now())
		if errors.Is(err, runtime.ErrNotFound) {
			t.log.Info("pulling image", "image", ref)
			var auth *runtime.RegistryAuth
			if rc := c.def.RepositoryCredentials; rc != nil {
				auth = registryAuth(rc.CredentialsParameter)
			}
			last := time.Time{}
			err = t.e.rt.PullImage(ctx, ref, auth, func(p runtime.PullProgress) {
				if time.Since(last) > 2*time.Second {
					last = time.Now()
					t.log.Info("pull progress", "image", ref, "status", p.Status, "layer", p.Layer, "current", p.Current, "total", p.Total)
				}
			})
			if err == nil {
				img, err = t.e.rt.InspectImage(ctx, ref)
			}
		}
		if err != nil {
			t.mu.Lock()
			c.reason = "CannotPullContainerError: " + err.Error()
			t.mu.Unlock()
			return err
		}
		t.mu.Lock()
		c.imageID = img.ID
		if len(img.RepoDigests) > 0 {
			if _, d, ok := strings.Cut(img.RepoDigests[0], "@"); ok {
				c.digest = d
			}
		} else {
			c.digest = img.ID
		}
		t.mu.Unlock()
	}
	t.mu.Lock()
	if t.cp.State.PullStoppedAt == nil {
		now := time.Now()
		t.cp.State.PullStoppedAt = &now
	}
	t.mu.Unlock()
	return nil
}

// registryAuth reads repositoryCredentials: berth accepts "user:password"
// (or a path to a file holding it) in credentialsParameter, as there is no
// Secrets Manager to resolve an ARN.
func registryAuth(param string) *runtime.RegistryAuth {
	s := param
	if b, err := os.ReadFile(s); err == nil {
		s = strings.TrimSpace(string(b))
	}
	user, pass, ok := strings.Cut(s, ":")
	if !ok {
		return nil
	}
	return &runtime.RegistryAuth{Username: user, Password: pass}
}

// prepareVolumes maps the definition's volumes to host sources.
func (t *task) prepareVolumes(ctx context.Context) (map[string]containerspec.VolumeSource, error) {
	out := map[string]containerspec.VolumeSource{}
	m := t.cp.Manifest
	for _, v := range t.def().Volumes {
		name := ecsapi.Value(v.Name)
		switch {
		case v.Host != nil && ecsapi.Value(v.Host.SourcePath) != "":
			out[name] = containerspec.VolumeSource{HostPath: ecsapi.Value(v.Host.SourcePath)}
		case v.DockerVolumeConfiguration != nil:
			dv := v.DockerVolumeConfiguration
			vol := runtime.Volume{Name: name, Driver: ecsapi.Value(dv.Driver), DriverOpts: dv.DriverOpts, Labels: dv.Labels}
			shared := ecsapi.Value(dv.Scope) == ecsapi.ScopeShared
			if !shared {
				vol.Name = "ecs-" + ecsapi.Value(m.Definition.Family) + "-" + name + "-" + taskIDOf(m.TaskARN)
			}
			if !shared || ecsapi.Value(dv.Autoprovision) {
				if err := t.e.rt.CreateVolume(ctx, vol); err != nil {
					return nil, err
				}
			}
			if !shared {
				t.mu.Lock()
				if !slices.Contains(t.cp.Volumes, vol.Name) {
					t.cp.Volumes = append(t.cp.Volumes, vol.Name)
				}
				t.mu.Unlock()
			}
			out[name] = containerspec.VolumeSource{DockerVolume: vol.Name}
		default:
			// An empty host volume: scratch space the task's containers share.
			dir := filepath.Join(t.e.cfg.DataDir, "volumes", taskIDOf(m.TaskARN), name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			t.mu.Lock()
			t.cp.ScratchDir = filepath.Join(t.e.cfg.DataDir, "volumes", taskIDOf(m.TaskARN))
			t.mu.Unlock()
			out[name] = containerspec.VolumeSource{HostPath: dir}
		}
	}
	return out, nil
}

func taskIDOf(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// dockerName is the container name the ECS agent would use:
// ecs-<family>-<revision>-<container>-<random>.
func dockerName(m agentproto.TaskManifest, container string) string {
	name := fmt.Sprintf("ecs-%s-%d-%s-%s", ecsapi.Value(m.Definition.Family), m.Definition.Revision, container, newHex(10))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, name)
}
