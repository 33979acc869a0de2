package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// LoadBalancers is where services' loadBalancers register their tasks
// (ELBv2 target groups): one target at a time, a port of zero meaning the
// target group's port.
type LoadBalancers interface {
	RegisterTarget(ctx context.Context, tgARN, id string, port int32) error
	// DeregisterTarget starts the target draining; a target that is not
	// registered is not an error.
	DeregisterTarget(ctx context.Context, tgARN, id string, port int32) error
	// TargetHealth is the target's health state (initial, healthy,
	// unhealthy, unused, unavailable, or draining while its deregistration
	// is in progress), "" when the target group does not hold it (never
	// registered, or its deregistration completed).
	TargetHealth(ctx context.Context, tgARN, id string, port int32) (state string, err error)
	// TargetType is the target group's target type (ip, instance, ...),
	// "" when it does not exist.
	TargetType(ctx context.Context, tgARN string) (string, error)
	// DeregistrationDelay is how long the target group's deregistered
	// targets drain at most (deregistration_delay.timeout_seconds).
	DeregistrationDelay(ctx context.Context, tgARN string) (time.Duration, error)
}

// SetLoadBalancers connects the controller to ELBv2.
func (e *ECS) SetLoadBalancers(l LoadBalancers) { e.lbs = l }

// lbPoll is how often a pass looks again at targets whose health is not
// settled yet: ELB's health changes do not wake the controller.
const lbPoll = 5 * time.Second

// ELB's target health states the controller reads.
const (
	targetHealthy     = "healthy"
	targetUnhealthy   = "unhealthy"
	targetUnused      = "unused"      // the target group has no load balancer, or the target is not registered
	targetUnavailable = "unavailable" // health checks are disabled
)

// reasonELBUnhealthy is the stoppedReason of a task replaced for failing
// its target group's health checks.
const reasonELBUnhealthy = "Task failed ELB health checks in (target-group %s)"

// lbTarget is one target the controller registered for a task.
type lbTarget struct {
	TargetGroup string `json:"tg"`
	ID          string `json:"id"`
	Port        int32  `json:"port"`
	Task        string `json:"task"`
}

// taskTargets are the targets of a task in its service's target groups:
// awsvpc tasks by address and container port (target type ip), others by
// their instance's EC2 id and the host port bound to the container port
// (target type instance). A task whose address or binding is not known
// yet has none.
func (e *ECS) taskTargets(ctx context.Context, p *pass, svc *ecsapi.Service, st *svcTask) []lbTarget {
	tk := &st.view.Task
	taskID := lastSegment(ecsapi.Value(tk.TaskArn))
	var out []lbTarget
	for _, lb := range svc.LoadBalancers {
		tg := ecsapi.Value(lb.TargetGroupArn)
		if tg == "" {
			continue // classic load balancers: not supported
		}
		port := ecsapi.Value(lb.ContainerPort)
		if isAwsvpcTask(tk) {
			if ip := taskIPv4(tk); ip != "" {
				out = append(out, lbTarget{TargetGroup: tg, ID: ip, Port: port, Task: taskID})
			}
			continue
		}
		i, ok := p.byID[st.view.InstanceID]
		if !ok || i >= len(p.insts) {
			continue
		}
		ec2 := ecsapi.Value(p.insts[i].Ec2InstanceId)
		host, ok := hostPort(tk, ecsapi.Value(lb.ContainerName), port)
		if !ok && e.networkMode(ctx, ecsapi.Value(tk.TaskDefinitionArn)) == ecsapi.NetworkModeHost {
			host, ok = port, true // host mode binds the container port itself
		}
		if ec2 != "" && ok {
			out = append(out, lbTarget{TargetGroup: tg, ID: ec2, Port: host, Task: taskID})
		}
	}
	return out
}

// isAwsvpcTask says whether a task has an ENI attachment (awsvpc).
func isAwsvpcTask(tk *ecsapi.Task) bool {
	return slices.ContainsFunc(tk.Attachments, func(a ecsapi.Attachment) bool {
		return ecsapi.Value(a.Type) == "ElasticNetworkInterface"
	})
}

// hostPort is the host port bound to a container's port (its
// networkBindings).
func hostPort(tk *ecsapi.Task, container string, port int32) (int32, bool) {
	for _, c := range tk.Containers {
		if ecsapi.Value(c.Name) != container {
			continue
		}
		for _, b := range c.NetworkBindings {
			if ecsapi.Value(b.ContainerPort) == port && ecsapi.Value(b.HostPort) != 0 {
				return ecsapi.Value(b.HostPort), true
			}
		}
	}
	return 0, false
}

// networkMode is a task definition's effective network mode; revisions
// never change, so the answer is kept (next to the health check answers).
func (e *ECS) networkMode(ctx context.Context, tdARN string) ecsapi.NetworkMode {
	key := tdARN
	if v, ok := e.netModes.Load(key); ok {
		return v.(ecsapi.NetworkMode)
	}
	rec, _, err := e.loadTaskDef(ctx, tdARN)
	if err != nil {
		return ""
	}
	mode := taskdef.EffectiveNetworkMode(&rec.TaskDefinition)
	e.netModes.Store(key, mode)
	return mode
}

// lbHealth is a RUNNING task's health as its target groups see it.
type lbHealth struct {
	healthy bool
	// failing is a target group whose health check the task's target
	// fails ("" if none).
	failing string
}

// targetsHealth reads the health of a RUNNING task's targets: healthy when
// every target is (health checks disabled or a target group no load
// balancer uses count as healthy: nothing checks them), failing when one
// is unhealthy. A task without its targets yet is neither.
func (e *ECS) targetsHealth(ctx context.Context, p *pass, svc *ecsapi.Service, st *svcTask) lbHealth {
	ts := e.taskTargets(ctx, p, svc, st)
	if len(ts) == 0 {
		return lbHealth{}
	}
	h := lbHealth{healthy: true}
	for _, t := range ts {
		state, err := e.lbs.TargetHealth(ctx, t.TargetGroup, t.ID, t.Port)
		if err != nil {
			e.log.Warn("service controller: target health", "service", ecsapi.Value(svc.ServiceName), "targetGroup", t.TargetGroup, "target", t.ID, "err", err)
		}
		switch state {
		case targetHealthy, targetUnused, targetUnavailable:
		case targetUnhealthy:
			h.healthy = false
			if h.failing == "" {
				h.failing = t.TargetGroup
			}
		default:
			h.healthy = false
		}
	}
	return h
}

// applyTargetHealth folds a RUNNING task's target health into its deploy
// view: a service with load balancers counts the task healthy only when
// its targets (and its containers' health check, if any) are, and
// unhealthy when a target fails (the grace period applies in deploy). It
// returns the failing target group and whether to look again soon.
func (e *ECS) applyTargetHealth(ctx context.Context, p *pass, svc *ecsapi.Service, st *svcTask, dt *deploy.Task) (failing string, poll bool) {
	if e.lbs == nil || len(svc.LoadBalancers) == 0 || dt.State != deploy.Running {
		return "", false
	}
	h := e.targetsHealth(ctx, p, svc, st)
	container := dt.Health
	if !dt.HasHealthCheck {
		container = deploy.Healthy
	}
	dt.HasHealthCheck = true
	switch {
	case h.failing != "" || container == deploy.Unhealthy:
		dt.Health = deploy.Unhealthy
		if container != deploy.Unhealthy {
			failing = h.failing
		}
	case h.healthy && container == deploy.Healthy:
		dt.Health = deploy.Healthy
	default:
		dt.Health = deploy.HealthUnknown
	}
	return failing, dt.Health != deploy.Healthy
}

// elbStop is the stoppedReason and event of a task stopped for failing its
// target group's health checks.
func elbStop(service, taskID, tg string) (reason, event string) {
	return fmt.Sprintf(reasonELBUnhealthy, tg), fmt.Sprintf("(service %s) (task %s) failed ELB health checks in (target-group %s).", service, taskID, tg)
}

// isELBUnhealthyReason says whether a stoppedReason is reasonELBUnhealthy.
func isELBUnhealthyReason(r string) bool {
	return strings.HasPrefix(r, "Task failed ELB health checks in ")
}

// syncTargets registers the service's RUNNING tasks in its load balancers'
// target groups and deregisters (ELB drains them) those that stopped, are
// stopping or are being stopped by this pass (stopping: task ids). What it
// registered is kept in state.Targets, so a pass with nothing new makes no
// call. A call that fails is logged and tried again by a later pass.
func (e *ECS) syncTargets(ctx context.Context, p *pass, svc *ecsapi.Service, tasks []svcTask, stopping map[string]bool, state *controllerState, wait *time.Duration) {
	if e.lbs == nil || (len(svc.LoadBalancers) == 0 && len(state.Targets) == 0) {
		return
	}
	var want []lbTarget
	if ecsapi.Value(svc.Status) == statusActive {
		for i := range tasks {
			tk := &tasks[i].view.Task
			if ecsapi.Value(tk.LastStatus) != lifecycle.Running || ecsapi.Value(tk.DesiredStatus) != lifecycle.Running ||
				stopping[lastSegment(ecsapi.Value(tk.TaskArn))] {
				continue
			}
			want = append(want, e.taskTargets(ctx, p, svc, &tasks[i])...)
		}
	}
	name := ecsapi.Value(svc.ServiceName)
	failed := false
	var kept []lbTarget
	for _, t := range want {
		if slices.Contains(state.Targets, t) {
			kept = append(kept, t)
			continue
		}
		if err := e.lbs.RegisterTarget(ctx, t.TargetGroup, t.ID, t.Port); err != nil {
			e.log.Warn("service controller: register target", "service", name, "task", t.Task, "targetGroup", t.TargetGroup, "target", t.ID, "port", t.Port, "err", err)
			failed = true
			continue
		}
		kept = append(kept, t)
	}
	sameTarget := func(a, b lbTarget) bool { return a.TargetGroup == b.TargetGroup && a.ID == b.ID && a.Port == b.Port }
	for _, t := range state.Targets {
		if slices.Contains(want, t) {
			continue
		}
		if slices.ContainsFunc(want, func(w lbTarget) bool { return sameTarget(w, t) }) {
			continue // the same target now belongs to another task (a reused host port)
		}
		if err := e.lbs.DeregisterTarget(ctx, t.TargetGroup, t.ID, t.Port); err != nil {
			e.log.Warn("service controller: deregister target", "service", name, "task", t.Task, "targetGroup", t.TargetGroup, "target", t.ID, "port", t.Port, "err", err)
			kept = append(kept, t) // deregistered by a later pass
			failed = true
		}
	}
	slices.SortFunc(kept, func(a, b lbTarget) int {
		return cmp.Or(strings.Compare(a.TargetGroup, b.TargetGroup), strings.Compare(a.Task, b.Task), strings.Compare(a.ID, b.ID), cmp.Compare(a.Port, b.Port))
	})
	state.Targets = kept
	if failed {
		recheckAt(wait, lbPoll)
	}
}

// checkTargetType applies ECS's rule that awsvpc task definitions need
// target groups of type ip and the other network modes ones of type
// instance. Target groups ELB does not know are not checked.
func (e *ECS) checkTargetType(ctx context.Context, tgARN string, def *ecsapi.TaskDefinition) error {
	if e.lbs == nil || tgARN == "" {
		return nil
	}
	tt, err := e.lbs.TargetType(ctx, tgARN)
	if err != nil {
		return err
	}
	mode := taskdef.EffectiveNetworkMode(def)
	if (mode == ecsapi.NetworkModeAwsvpc && tt == "instance") || (mode != ecsapi.NetworkModeAwsvpc && tt == "ip") {
		return invalidParam("The provided target group %s has target type %s, which is incompatible with the %s network mode specified in the task definition.", tgARN, tt, mode)
	}
	return nil
}

// The DEACTIVATING wait: a service task the controller stops while it has
// registered targets is held (stopHold) until their deregistration
// completes, so the requests in flight finish on it.
const (
	// deactivatePoll is how often a pass looks again while a task's stop
	// is held: ELB completing a deregistration does not wake the
	// controller.
	deactivatePoll = time.Second
	// holdSlack is added to the largest deregistration delay: by then ELB
	// has completed the deregistration in any case.
	holdSlack = 5 * time.Second
	// defaultDeregistrationDelay is ELB's default, assumed when the delay
	// cannot be read.
	defaultDeregistrationDelay = 300 * time.Second
)

// holdStop holds the stop of a task the controller is stopping (already
// desired STOPPED) while its registered targets drain: the task becomes
// DEACTIVATING and its agent keeps it running until releaseHolds lets it
// stop, at the latest after the largest deregistration delay of its target
// groups (plus holdSlack). A task without registered targets, or whose
// agent is disconnected (it would not hear of the hold), is not held. It
// reports whether the task is held.
func (e *ECS) holdStop(ctx context.Context, p *pass, rec *taskRecord, registered []lbTarget) bool {
	if e.lbs == nil {
		return false
	}
	if _, gone := p.gone[rec.InstanceID]; gone {
		return false
	}
	id := lastSegment(ecsapi.Value(rec.Task.TaskArn))
	var ts []lbTarget
	for _, t := range registered {
		if t.Task == id {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return false
	}
	var delay time.Duration
	for _, t := range ts {
		d, err := e.lbs.DeregistrationDelay(ctx, t.TargetGroup)
		if err != nil {
			e.log.Warn("service controller: deregistration delay", "targetGroup", t.TargetGroup, "err", err)
			d = defaultDeregistrationDelay
		}
		delay = max(delay, d)
	}
	rec.Hold = &stopHold{Until: p.now.Add(delay + holdSlack).UTC(), Targets: ts}
	rec.Task.LastStatus = ecsapi.Ptr(lifecycle.Deactivating)
	return true
}

// holdDone says whether a held stop may go ahead at now: every target's
// deregistration completed (ELB no longer has it: state "" or unused), or
// the hold's deadline passed. states are the targets' current states, in
// the order of h.Targets ("draining" or an error's "?" hold on).
func holdDone(h *stopHold, now time.Time, states []string) bool {
	if !now.Before(h.Until) {
		return true
	}
	for _, s := range states {
		if s != "" && s != targetUnused {
			return false
		}
	}
	return true
}

// releaseHolds lets the service's held tasks stop once their targets'
// deregistration completed or their hold expired: it returns the writes
// that clear the holds (the task stays DEACTIVATING, desired STOPPED; its
// agent now hears STOPPED and stops it), conditioned on the revisions the
// pass read. While a hold stays, it asks for a pass within deactivatePoll.
func (e *ECS) releaseHolds(ctx context.Context, p *pass, tasks []svcTask, wait *time.Duration) ([]store.Cond, []store.Op, error) {
	var conds []store.Cond
	var ops []store.Op
	for i := range tasks {
		tk := &tasks[i].view.Task
		if ecsapi.Value(tk.LastStatus) != lifecycle.Deactivating || ecsapi.Value(tk.DesiredStatus) != lifecycle.Stopped {
			continue
		}
		kv, err := e.st.Get(ctx, tasks[i].key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		if kv.ModRev != tasks[i].rev {
			return nil, nil, store.ErrConflict // changed since the pass read it: read again
		}
		var rec taskRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, nil, fmt.Errorf("task %s: %w", kv.Key, err)
		}
		if rec.Hold == nil {
			continue
		}
		states := make([]string, len(rec.Hold.Targets))
		if e.lbs != nil && p.now.Before(rec.Hold.Until) {
			for j, t := range rec.Hold.Targets {
				s, err := e.lbs.TargetHealth(ctx, t.TargetGroup, t.ID, t.Port)
				if err != nil {
					e.log.Warn("service controller: target health", "task", t.Task, "targetGroup", t.TargetGroup, "target", t.ID, "err", err)
					s = "?"
				}
				states[j] = s
			}
		}
		if !holdDone(rec.Hold, p.now, states) {
			recheckAt(wait, min(deactivatePoll, rec.Hold.Until.Sub(p.now)))
			continue
		}
		rec.Hold = nil
		rec.Task.Version++
		conds = append(conds, store.Cond{Key: kv.Key, ModRev: kv.ModRev})
		ops = append(ops, store.Put(kv.Key, mustJSON(rec)))
	}
	return conds, ops, nil
}
