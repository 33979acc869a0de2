package agent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
)

// defaultStartTimeout bounds the wait for a container's dependencies when
// its definition sets no startTimeout (ECS_CONTAINER_START_TIMEOUT).
const defaultStartTimeout = 3 * time.Minute

// supervise starts containers as their dependencies allow and watches them
// until the task must stop; it returns the stop code and reason ("" when
// the server asked).
func (t *task) supervise(ctx context.Context) (code, reason string) {
	if t.adopt {
		// Read back what the containers did while no agent watched.
		for _, name := range t.order {
			if err := t.refresh(ctx, name); err != nil {
				t.log.Warn("inspect container", "container", name, "err", err)
			}
			t.adoptRunStart(ctx, name)
		}
	}
	begun := time.Now()
	t.mu.Lock()
	for _, name := range t.order {
		c := t.ctrs[name]
		to := defaultStartTimeout
		if c.def.StartTimeout != nil {
			to = time.Duration(*c.def.StartTimeout) * time.Second
		}
		c.deadline = begun.Add(to)
	}
	t.mu.Unlock()
	for {
		if t.desiredStopped() {
			return "", ""
		}
		// Restarts come first: a container restarted in place never
		// stopped as far as its dependents (and the server) can tell.
		t.restartExited(ctx)
		if code, reason := t.startReady(ctx); code != "" {
			return code, reason
		}
		if code, reason := t.checkExits(); code != "" {
			return code, reason
		}
		t.updateRunning()
		t.report()

		timer := time.NewTimer(t.nextDeadline())
		select {
		case <-ctx.Done():
			timer.Stop()
			return "", ""
		case <-t.wake:
		case ev := <-t.events:
			t.handleEvent(ctx, ev)
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (t *task) nextDeadline() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := time.Minute
	for _, c := range t.ctrs {
		if c.status == lifecycle.Pending {
			if d := time.Until(c.deadline); d < next {
				next = max(d, 10*time.Millisecond)
			}
		}
	}
	return next
}

// handleEvent re-reads the container an event is about (every container
// after a resync) and drains further queued events the same way.
func (t *task) handleEvent(ctx context.Context, ev runtime.Event) {
	for {
		names := t.order
		if ev.Action != actionResync {
			names = nil
			name := ev.Labels[containerspec.LabelContainerName]
			if _, ok := t.ctrs[name]; ok && !t.eventKnown(name, ev.Action) {
				names = []string{name}
			}
		}
		for _, name := range names {
			if err := t.refresh(ctx, name); err != nil {
				t.log.Warn("inspect container", "container", name, "err", err)
			}
		}
		select {
		case ev = <-t.events:
		default:
			return
		}
	}
}

// eventKnown says whether an event tells nothing the agent does not know
// already, so the container need not be inspected again: "create" (the
// agent created it and reads it back when it starts it) and "start" of a
// container the agent started and read back itself. Under concurrent
// launches those inspections queue in the engine with every other task's
// calls.
func (t *task) eventKnown(name, action string) bool {
	switch action {
	case "create":
		return true
	case "start":
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.ctrs[name].status == lifecycle.Running
	}
	return false
}

// dependency says whether a dependsOn condition holds, or can never hold.
func (t *task) dependency(dep ecsapi.ContainerDependency) (met, impossible bool) {
	c := t.ctrs[dep.ContainerName]
	if c == nil {
		return false, true
	}
	exited := c.status == lifecycle.Stopped
	switch dep.Condition {
	case ecsapi.ContainerConditionSTART:
		return c.status == lifecycle.Running || exited && c.exitCode != nil, exited && c.exitCode == nil
	case ecsapi.ContainerConditionCOMPLETE:
		return exited && c.exitCode != nil, exited && c.exitCode == nil
	case ecsapi.ContainerConditionSUCCESS:
		return exited && c.exitCode != nil && *c.exitCode == 0, exited && (c.exitCode == nil || *c.exitCode != 0)
	case ecsapi.ContainerConditionHEALTHY:
		return c.health == string(ecsapi.HealthStatusHEALTHY) && c.status == lifecycle.Running, exited
	}
	return false, true
}

// startReady starts every pending container whose dependencies hold, and
// gives up on those whose dependencies cannot hold or timed out.
func (t *task) startReady(ctx context.Context) (code, reason string) {
	for _, name := range t.order {
		t.mu.Lock()
		c := t.ctrs[name]
		id := t.cp.Containers[name].ID
		if c.status != lifecycle.Pending || id == "" {
			t.mu.Unlock()
			continue
		}
		ready, why := true, ""
		for _, dep := range c.def.DependsOn {
			met, impossible := t.dependency(dep)
			switch {
			case impossible:
				ready, why = false, fmt.Sprintf("CannotStartContainerError: dependency %s can no longer meet condition %s", dep.ContainerName, dep.Condition)
			case !met && time.Now().After(c.deadline):
				ready, why = false, fmt.Sprintf("CannotStartContainerError: timed out waiting for dependency %s to meet condition %s", dep.ContainerName, dep.Condition)
			case !met:
				ready = false
			}
			if why != "" || !ready {
				break
			}
		}
		t.mu.Unlock()
		if why != "" {
			t.mu.Lock()
			c.status, c.reason, c.finishedAt = lifecycle.Stopped, why, time.Now()
			t.mu.Unlock()
			if essential(c.def) {
				return lifecycle.CodeTaskFailedToStart, why
			}
			continue
		}
		if !ready {
			continue
		}
		if err := t.e.startContainer(ctx, id); err != nil {
			if ctx.Err() != nil {
				return "", ""
			}
			msg := "CannotStartContainerError: " + err.Error()
			t.mu.Lock()
			c.status, c.reason, c.finishedAt = lifecycle.Stopped, msg, time.Now()
			t.mu.Unlock()
			if essential(c.def) {
				return lifecycle.CodeTaskFailedToStart, truncate(msg, 255)
			}
			continue
		}
		t.mu.Lock()
		cc := t.cp.Containers[name]
		cc.Started, cc.LastStart = true, time.Now()
		t.mu.Unlock()
		if err := t.refresh(ctx, name); err != nil {
			t.log.Warn("inspect container", "container", name, "err", err)
		}
	}
	return "", ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// restartExited restarts in place (the same Docker container) every
// container whose restartPolicy covers its exit: ECS's rule, applied once
// to each exit, as the ECS agent does when it sees the container stop.
func (t *task) restartExited(ctx context.Context) {
	for _, name := range t.order {
		id, code, ran, ok := t.restartDue(name)
		if !ok {
			continue
		}
		if err := t.e.startContainer(ctx, id); err != nil {
			if ctx.Err() == nil {
				t.log.Warn("restart container in place (restartPolicy)", "container", name, "exitCode", code, "err", err)
			}
			continue
		}
		t.mu.Lock()
		c, cc := t.ctrs[name], t.cp.Containers[name]
		cc.Restarts++
		n := cc.Restarts
		c.status, c.exitCode, c.reason, c.finishedAt = lifecycle.Running, nil, "", time.Time{}
		// The count is the metadata endpoints' RestartCount: keep it across
		// agent restarts (a container restarts at most once per
		// restartAttemptPeriod, so this write is rare).
		err := t.e.cp.saveTask(t.cp)
		t.mu.Unlock()
		if err != nil {
			t.log.Error("checkpoint task", "err", err)
		}
		t.log.Info("restarted container in place (restartPolicy)", "container", name, "exitCode", code, "ranFor", ran.Round(time.Millisecond), "restartCount", n)
		if err := t.refresh(ctx, name); err != nil {
			t.log.Warn("inspect container", "container", name, "err", err)
		}
	}
}

// restartDue says whether the exited container name is to be restarted
// now, and then records the attempt: a failed start is not retried, the
// container stays STOPPED. A task told to stop restarts nothing (StopTask
// is not a crash), nor does a container the agent stopped.
func (t *task) restartDue(name string) (id string, code int32, ran time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, cc := t.ctrs[name], t.cp.Containers[name]
	if cc.ID == "" || c.status != lifecycle.Stopped || c.stopping || c.exitCode == nil || t.cp.Manifest.DesiredStatus == lifecycle.Stopped {
		return "", 0, 0, false
	}
	// The run began at the engine's start time or, when later (the run
	// ended before the agent saw it running), at the agent's last start.
	began := c.startedAt
	if cc.LastStart.After(began) {
		began = cc.LastStart
	}
	if began.IsZero() || c.finishedAt.IsZero() {
		return "", 0, 0, false // how long it ran is unknown
	}
	code, ran = *c.exitCode, c.finishedAt.Sub(began)
	if !restartAllowed(c.def.RestartPolicy, code, ran) {
		return "", 0, 0, false
	}
	// The attempt starts a run: this exit is decided.
	cc.LastStart = time.Now()
	return cc.ID, code, ran, true
}

// adoptRunStart reads when an adopted container that exited had started:
// a restart policy needs how long that run lasted.
func (t *task) adoptRunStart(ctx context.Context, name string) {
	t.mu.Lock()
	c, id := t.ctrs[name], t.cp.Containers[name].ID
	need := id != "" && c.status == lifecycle.Stopped && c.startedAt.IsZero() && c.exitCode != nil && restartCovers(c.def.RestartPolicy, *c.exitCode)
	t.mu.Unlock()
	if !need {
		return
	}
	st, err := t.e.rt.InspectContainer(ctx, id)
	if err != nil {
		return
	}
	t.mu.Lock()
	c.startedAt = st.StartedAt
	t.mu.Unlock()
}

// checkExits reports an essential container's exit (one restartExited
// did not restart) as the task's end.
func (t *task) checkExits() (code, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range t.order {
		c := t.ctrs[name]
		if c.status == lifecycle.Stopped && !c.stopping && essential(c.def) {
			return lifecycle.CodeEssentialContainerExited, lifecycle.ReasonEssentialExited
		}
	}
	return "", ""
}

// defaultRestartAttemptPeriod is restartAttemptPeriod's default (300 s).
const defaultRestartAttemptPeriod = 300 * time.Second

// restartCovers reports whether the policy may restart a container that
// exited with exit: enabled, and the code not one of ignoredExitCodes.
func restartCovers(p *ecsapi.ContainerRestartPolicy, exit int32) bool {
	return p != nil && p.Enabled && !slices.Contains(p.IgnoredExitCodes, exit)
}

// restartAllowed applies ECS's container restart policy to one exit: the
// policy covers the exit code and the run that ended lasted at least
// restartAttemptPeriod (300 s by default). A container that exits earlier
// is not restarted, so it restarts at most once per period.
func restartAllowed(p *ecsapi.ContainerRestartPolicy, exit int32, ran time.Duration) bool {
	if !restartCovers(p, exit) {
		return false
	}
	period := defaultRestartAttemptPeriod
	if p.RestartAttemptPeriod != nil {
		period = time.Duration(*p.RestartAttemptPeriod) * time.Second
	}
	return ran >= period
}

// shouldRestart is restartAllowed for a container that exits now, having
// started at lastStart.
func shouldRestart(p *ecsapi.ContainerRestartPolicy, exit int32, lastStart time.Time) bool {
	return restartAllowed(p, exit, time.Since(lastStart))
}

// updateRunning moves the task to RUNNING once no container is pending.
func (t *task) updateRunning() {
	t.mu.Lock()
	defer t.mu.Unlock()
	running := false
	for _, c := range t.ctrs {
		switch c.status {
		case lifecycle.Pending:
			return
		case lifecycle.Running:
			running = true
		}
	}
	if running && lifecycle.Rank(t.cp.State.Status) < lifecycle.Rank(lifecycle.Running) {
		t.cp.State.Status = lifecycle.Running
	}
}

// stop stops the task's containers, dependents before their dependencies,
// each with its stopTimeout, and reports the task STOPPED.
func (t *task) stop(ctx context.Context, code, reason string) {
	t.mu.Lock()
	t.cp.State.StopCode, t.cp.State.Reason = code, reason
	t.mu.Unlock()
	if t.cp.State.Status != "" {
		t.setStatus(lifecycle.Stopping)
	}
	for {
		layer := t.stoppableLayer()
		if len(layer) == 0 {
			break
		}
		var wg sync.WaitGroup
		for _, name := range layer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.stopContainer(ctx, name)
			}()
		}
		wg.Wait()
	}
	t.mu.Lock()
	pause := t.cp.Pause
	t.mu.Unlock()
	if pause != nil && pause.ID != "" {
		t.setStatus(lifecycle.Deprovisioning)
		if err := t.e.rt.StopContainer(ctx, pause.ID, 0); err != nil {
			t.log.Warn("stop pause container", "err", err)
		}
	}
	now := time.Now()
	t.mu.Lock()
	for _, c := range t.ctrs {
		if c.status != lifecycle.Stopped {
			c.status = lifecycle.Stopped
		}
	}
	t.cp.State.ExecutionStoppedAt = &now
	t.cp.StoppedAt = now
	t.cp.State.Status = lifecycle.Stopped
	t.mu.Unlock()
	t.report()
	t.log.Info("task stopped", "stopCode", code, "reason", reason)
}

// stoppableLayer lists running containers no other running container
// depends on.
func (t *task) stoppableLayer() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, name := range t.order {
		c := t.ctrs[name]
		if c.status != lifecycle.Running {
			continue
		}
		needed := false
		for _, other := range t.order {
			o := t.ctrs[other]
			if o.status != lifecycle.Running || other == name {
				continue
			}
			for _, d := range o.def.DependsOn {
				if d.ContainerName == name {
					needed = true
				}
			}
		}
		if !needed {
			out = append(out, name)
		}
	}
	return out
}

func (t *task) stopContainer(ctx context.Context, name string) {
	t.mu.Lock()
	c := t.ctrs[name]
	c.stopping = true
	id := t.cp.Containers[name].ID
	timeout := t.e.cfg.StopTimeout
	if c.def.StopTimeout != nil {
		timeout = time.Duration(*c.def.StopTimeout) * time.Second
	}
	t.mu.Unlock()
	if err := t.e.rt.StopContainer(ctx, id, timeout); err != nil {
		t.log.Warn("stop container", "container", name, "err", err)
	}
	if err := t.refresh(ctx, name); err != nil {
		t.log.Warn("inspect container", "container", name, "err", err)
	}
	t.mu.Lock()
	if c.status != lifecycle.Stopped {
		c.status = lifecycle.Stopped
	}
	t.mu.Unlock()
}
