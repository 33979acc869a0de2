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
		if code, reason := t.startReady(ctx); code != "" {
			return code, reason
		}
		if code, reason := t.checkExits(ctx); code != "" {
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
			if _, ok := t.ctrs[name]; ok {
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
		if err := t.e.rt.StartContainer(ctx, id); err != nil {
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

// checkExits restarts containers whose restart policy covers their exit
// and reports an essential container's exit as the task's end.
func (t *task) checkExits(ctx context.Context) (code, reason string) {
	for _, name := range t.order {
		t.mu.Lock()
		c := t.ctrs[name]
		cc := t.cp.Containers[name]
		stopped := c.status == lifecycle.Stopped && !c.stopping
		restart := stopped && c.exitCode != nil && shouldRestart(c.def.RestartPolicy, *c.exitCode, cc.LastStart)
		t.mu.Unlock()
		if !stopped {
			continue
		}
		if restart && cc.ID != "" {
			t.log.Info("restarting container in place (restartPolicy)", "container", name, "exitCode", *c.exitCode)
			if err := t.e.rt.StartContainer(ctx, cc.ID); err == nil {
				t.mu.Lock()
				cc.Restarts++
				cc.LastStart = time.Now()
				c.status, c.exitCode, c.reason = lifecycle.Pending, nil, ""
				t.mu.Unlock()
				if err := t.refresh(ctx, name); err != nil {
					t.log.Warn("inspect container", "container", name, "err", err)
				}
				continue
			}
		}
		if essential(c.def) {
			return lifecycle.CodeEssentialContainerExited, lifecycle.ReasonEssentialExited
		}
	}
	return "", ""
}

// shouldRestart applies ECS's container restart policy: enabled, the exit
// code not ignored, and the container ran at least restartAttemptPeriod
// (300 s by default) since its last start.
func shouldRestart(p *ecsapi.ContainerRestartPolicy, exit int32, lastStart time.Time) bool {
	if p == nil || !p.Enabled {
		return false
	}
	if slices.Contains(p.IgnoredExitCodes, exit) {
		return false
	}
	period := 300 * time.Second
	if p.RestartAttemptPeriod != nil {
		period = time.Duration(*p.RestartAttemptPeriod) * time.Second
	}
	return time.Since(lastStart) >= period
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
