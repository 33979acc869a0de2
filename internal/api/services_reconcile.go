package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
)

// ControllerConfig tunes the service controller.
type ControllerConfig struct {
	// HealthyAfter is how long a RUNNING task without a health check runs
	// before it counts as healthy (ECS: 40 s).
	HealthyAfter time.Duration
	// ThrottleBase and ThrottleMax shape the back-off of a deployment whose
	// tasks keep failing to reach RUNNING (defaults 10 s and ECS's 27 min).
	ThrottleBase, ThrottleMax time.Duration
	// LostAfter is how long an instance's agent may stay disconnected
	// before its service tasks are replaced elsewhere (default 5 min). ECS
	// keeps such tasks as they are; when the agent returns, the copies
	// that were replaced are stopped.
	LostAfter time.Duration
}

// Controller defaults.
const (
	DefaultThrottleBase = 10 * time.Second
	DefaultThrottleMax  = 27 * time.Minute
	DefaultLostAfter    = 5 * time.Minute
)

// disconnects remembers since when each instance's agent has been
// disconnected, as the controller saw it (a restarted server starts the
// grace period again).
type disconnects struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// observe records the instances' connection states at now and returns, for
// the disconnected ones, since when.
func (d *disconnects) observe(cluster string, view []placement.Instance, now time.Time) map[string]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.since == nil {
		d.since = map[string]time.Time{}
	}
	out := map[string]time.Time{}
	for i := range view {
		key := cluster + "/" + view[i].ID
		if view[i].Connected {
			delete(d.since, key)
			continue
		}
		t, ok := d.since[key]
		if !ok {
			t = now
			d.since[key] = t
		}
		out[view[i].ID] = t
	}
	return out
}

// DefaultHealthyAfter is ECS's wait for tasks without a health check.
const DefaultHealthyAfter = 40 * time.Second

// maxServiceEvents bounds a service's events[] (newest first), as ECS shows
// the last 100.
const maxServiceEvents = 100

// placeEventEvery throttles repeated "unable to place" events.
const placeEventEvery = time.Minute

// controllerState is the controller's private part of a service record.
type controllerState struct {
	Steady       bool      `json:"steady,omitempty"`
	PlaceEventAt time.Time `json:"placeEventAt,omitzero"`
	PlaceEvent   string    `json:"placeEvent,omitempty"`
	// Throttled is the launch-failure count last announced by the
	// "unable to consistently start tasks" event.
	Throttled int `json:"throttled,omitempty"`
	// LastCompleted is the last deployment that completed: the circuit
	// breaker rolls back to it.
	LastCompleted *ecsapi.Deployment `json:"lastCompleted,omitempty"`
	// Registered are the "<registry service id>/<task id>" instances the
	// controller registered in Cloud Map for the service's registries.
	Registered []string `json:"registered,omitempty"`
	// Targets are the targets the controller registered in the target
	// groups of the service's loadBalancers (services_lb.go).
	Targets []lbTarget `json:"targets,omitempty"`
}

// svcTask is one task of a service as a pass sees it.
type svcTask struct {
	key  string
	rev  int64
	view taskView
}

// pass is one controller pass over a cluster: what it read once for all
// the cluster's services.
type pass struct {
	cluster string
	cfg     ControllerConfig
	now     time.Time
	insts   []ecsapi.ContainerInstance
	revs    []int64
	view    []placement.Instance
	byID    map[string]int       // instance id → index
	gone    map[string]time.Time // disconnected instances → since when
}

// ReconcileCluster runs one service controller pass over a cluster: for
// each ACTIVE or DRAINING service it starts and stops tasks (internal/deploy
// decides how many and which) and updates the service's counts,
// deployments and events, each service in one transaction. It returns how
// soon it wants to run again for time alone (0: only when something
// changes). A conflict with another writer returns store.ErrConflict: run
// again.
func (e *ECS) ReconcileCluster(ctx context.Context, cluster string, cfg ControllerConfig) (time.Duration, error) {
	if cfg.HealthyAfter == 0 {
		cfg.HealthyAfter = DefaultHealthyAfter
	}
	if cfg.ThrottleBase == 0 {
		cfg.ThrottleBase = DefaultThrottleBase
	}
	if cfg.ThrottleMax == 0 {
		cfg.ThrottleMax = DefaultThrottleMax
	}
	if cfg.LostAfter == 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	keys, _, err := e.st.List(ctx, servicesPrefix(cluster), store.ListOptions{KeysOnly: true})
	if err != nil {
		return 0, err
	}
	type svcKV struct {
		rec serviceRecord
		kv  store.KV // key and revision
	}
	var services []svcKV
	for _, k := range keys {
		// Decoded records are cached by revision; they are shared, so the
		// pass copies what it changes (reconcileService).
		rec, ok := e.svcRecs.get(k.Key, k.ModRev)
		if !ok {
			kv, err := e.st.Get(ctx, k.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return 0, err
			}
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				return 0, fmt.Errorf("service %s: %w", kv.Key, err)
			}
			k = store.KV{Key: kv.Key, ModRev: kv.ModRev}
			e.svcRecs.put(k.Key, k.ModRev, rec)
		}
		if st := ecsapi.Value(rec.Service.Status); st == statusActive || st == "DRAINING" {
			services = append(services, svcKV{rec, store.KV{Key: k.Key, ModRev: k.ModRev}})
		}
	}
	if len(services) == 0 {
		return 0, nil
	}
	tasks, err := e.serviceTasks(ctx, cluster)
	if err != nil {
		return 0, err
	}
	p := &pass{cluster: cluster, cfg: cfg, now: e.now(), byID: map[string]int{}}
	if p.insts, p.revs, p.view, err = e.snapshot(ctx, cluster); err != nil {
		return 0, err
	}
	for i := range p.view {
		p.byID[p.view[i].ID] = i
	}
	p.gone = e.disconnected.observe(cluster, p.view, p.now)
	var recheck time.Duration
	for _, s := range services {
		name := ecsapi.Value(s.rec.Service.ServiceName)
		w, err := e.reconcileService(ctx, p, s.rec, s.kv, tasks[name])
		if err != nil {
			return 0, fmt.Errorf("service %s: %w", name, err)
		}
		if w > 0 && (recheck == 0 || w < recheck) {
			recheck = w
		}
	}
	return recheck, nil
}

// serviceTasks groups the cluster's tasks by the service that started them
// (group "service:<name>"). Tasks unchanged since they were last decoded
// are neither read nor decoded again.
func (e *ECS) serviceTasks(ctx context.Context, cluster string) (map[string][]svcTask, error) {
	keys, _, err := e.st.List(ctx, tasksPrefix(cluster), store.ListOptions{KeysOnly: true})
	if err != nil {
		return nil, err
	}
	out := map[string][]svcTask{}
	for _, k := range keys {
		v, ok := e.tasks.get(k.Key, k.ModRev)
		if !ok {
			kv, err := e.st.Get(ctx, k.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			if v, err = e.tasks.view(kv.Key, kv.ModRev, kv.Value); err != nil {
				return nil, err
			}
			k.ModRev = kv.ModRev
		}
		name, ok := strings.CutPrefix(ecsapi.Value(v.Task.Group), "service:")
		if !ok {
			continue
		}
		out[name] = append(out[name], svcTask{key: k.Key, rev: k.ModRev, view: v})
	}
	return out, nil
}

// hasHealthCheck says whether a task definition's essential containers
// define a health check. Revisions never change, so the answer is kept.
func (e *ECS) hasHealthCheck(ctx context.Context, tdARN string) bool {
	if v, ok := e.healthChecks.Load(tdARN); ok {
		return v.(bool)
	}
	rec, _, err := e.loadTaskDef(ctx, tdARN)
	if err != nil {
		return false // not cached: a later pass asks again
	}
	has := false
	for _, c := range rec.TaskDefinition.ContainerDefinitions {
		if (c.Essential == nil || *c.Essential) && c.HealthCheck != nil {
			has = true
		}
	}
	e.healthChecks.Store(tdARN, has)
	return has
}

func (e *ECS) reconcileService(ctx context.Context, p *pass, rec serviceRecord, kv store.KV, tasks []svcTask) (wait time.Duration, err error) {
	// rec is shared with the record cache: copy what the pass changes in
	// place (the deployments; events and links are replaced, not edited).
	rec.Service.Deployments = slices.Clone(rec.Service.Deployments)
	svc := &rec.Service
	before := struct {
		desired, running, pending int32
		status                    string
		deployments               int
	}{svc.DesiredCount, svc.RunningCount, svc.PendingCount, ecsapi.Value(svc.Status), len(svc.Deployments)}
	var state controllerState
	if len(rec.Controller) > 0 {
		_ = json.Unmarshal(rec.Controller, &state)
	}
	if len(svc.Deployments) == 0 {
		return 0, nil
	}
	primary := ecsapi.Value(svc.Deployments[0].Id)
	in := deploy.Input{
		Now:               p.now,
		Desired:           int(svc.DesiredCount),
		MaximumPercent:    200,
		MinimumHealthyPct: 100,
		HealthyAfter:      p.cfg.HealthyAfter,
		Primary:           primary,
		Deleting:          ecsapi.Value(svc.Status) == "DRAINING",
	}
	if dc := svc.DeploymentConfiguration; dc != nil {
		if dc.MaximumPercent != nil {
			in.MaximumPercent = int(*dc.MaximumPercent)
		}
		if dc.MinimumHealthyPercent != nil {
			in.MinimumHealthyPct = int(*dc.MinimumHealthyPercent)
		}
	}
	if g := svc.HealthCheckGracePeriodSeconds; g != nil {
		in.Grace = time.Duration(*g) * time.Second
	}
	for _, d := range svc.Deployments[1:] {
		in.Others = append(in.Others, ecsapi.Value(d.Id))
	}
	failed := map[string]int32{}
	elbFailing := map[string]string{} // task id → target group it fails
	byID := map[string]*svcTask{}
	instanceOf := map[string]string{}
	var lastRunning, lastFailure time.Time
	var launchFailures []time.Time // primary tasks that stopped before RUNNING
	for i := range tasks {
		tk := &tasks[i].view.Task
		dep := ecsapi.Value(tk.StartedBy)
		if dep == primary && tk.StartedAt != nil && tk.StartedAt.After(lastRunning) {
			lastRunning = tk.StartedAt.Time
		}
		if ecsapi.Value(tk.LastStatus) == lifecycle.Stopped {
			if taskFailed(tk) {
				failed[dep]++
			}
			if dep == primary && tk.StartedAt == nil && tk.StoppedAt != nil && ecsapi.Value(tk.StopCode) != lifecycle.CodeServiceSchedulerInitiated {
				launchFailures = append(launchFailures, tk.StoppedAt.Time)
			}
			continue
		}
		instanceOf[lastSegment(ecsapi.Value(tk.TaskArn))] = tasks[i].view.InstanceID
		id := lastSegment(ecsapi.Value(tk.TaskArn))
		byID[id] = &tasks[i]
		dt := deploy.Task{ID: id, Deployment: dep, HasHealthCheck: e.hasHealthCheck(ctx, ecsapi.Value(tk.TaskDefinitionArn))}
		if tk.CreatedAt != nil {
			dt.CreatedAt = tk.CreatedAt.Time
		}
		switch {
		case ecsapi.Value(tk.DesiredStatus) == lifecycle.Stopped:
			dt.State = deploy.Stopping
		case ecsapi.Value(tk.LastStatus) == lifecycle.Running:
			dt.State = deploy.Running
			if tk.StartedAt != nil {
				dt.RunningSince = tk.StartedAt.Time
			}
		}
		switch ecsapi.Value(tk.HealthStatus) {
		case ecsapi.HealthStatusHEALTHY:
			dt.Health = deploy.Healthy
		case ecsapi.HealthStatusUNHEALTHY:
			dt.Health = deploy.Unhealthy
		}
		if tg, poll := e.applyTargetHealth(ctx, p, svc, &tasks[i], &dt); poll {
			recheckAt(&wait, lbPoll)
			if tg != "" {
				elbFailing[id] = tg
			}
		}
		inst := tasks[i].view.InstanceID
		if j, ok := p.byID[inst]; ok && !p.view[j].Active {
			dt.Draining = true
		}
		if since, ok := p.gone[inst]; ok {
			if lost := since.Add(p.cfg.LostAfter); !p.now.Before(lost) {
				dt.Lost = true
			} else {
				recheckAt(&wait, lost.Sub(p.now))
			}
		}
		in.Tasks = append(in.Tasks, dt)
	}
	// Throttle launches after repeated failures to reach RUNNING.
	n := 0
	for _, at := range launchFailures {
		if at.After(lastRunning) {
			n++
			if at.After(lastFailure) {
				lastFailure = at
			}
		}
	}
	var events []string
	name := ecsapi.Value(svc.ServiceName)
	if delay := deploy.ThrottleDelay(n, p.cfg.ThrottleBase, p.cfg.ThrottleMax); delay > 0 {
		if until := lastFailure.Add(delay); p.now.Before(until) {
			in.HoldStarts = true
			if n != state.Throttled {
				events = append(events, fmt.Sprintf("(service %s) is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", name))
				state.Throttled = n
			}
			defer func() { recheckAt(&wait, until.Sub(p.now)) }()
		}
	} else {
		state.Throttled = 0
	}

	// Held stops whose targets are deregistered go ahead (services_lb.go).
	relConds, relOps, err := e.releaseHolds(ctx, p, tasks, &wait)
	if err != nil {
		return 0, err
	}

	// The deployment circuit breaker.
	if cb := circuitBreaker(svc); cb != nil && cb.Enable && ecsapi.Value(svc.Deployments[0].RolloutState) == ecsapi.DeploymentRolloutStateINPROGRESS &&
		int(failed[primary]) >= deploy.CircuitThreshold(int(svc.DesiredCount)) {
		// The failed deployment keeps its final counts in deployments[].
		dep := &svc.Deployments[0]
		dep.FailedTasks, dep.RunningCount, dep.PendingCount = failed[primary], 0, 0
		for _, t := range in.Tasks {
			switch {
			case t.Deployment != primary || t.State == deploy.Stopping:
			case t.State == deploy.Running:
				dep.RunningCount++
			default:
				dep.PendingCount++
			}
		}
		events = append(events, e.tripCircuitBreaker(p, svc, &state, cb.Rollback)...)
		rec.Controller = mustJSON(state)
		return wait, e.writeService(ctx, rec, kv, relConds, relOps, events, p.now)
	}
	if ecsapi.Value(svc.Deployments[0].RolloutState) == ecsapi.DeploymentRolloutStateFAILED {
		in.HoldStarts = true // failed without a deployment to roll back to: stalled
	}

	var d deploy.Decision
	var startOn []string
	if ecsapi.Value(svc.SchedulingStrategy) == ecsapi.SchedulingStrategyDAEMON {
		eligible, err := e.daemonInstances(ctx, p, svc)
		if err != nil {
			return 0, err
		}
		dd := deploy.Daemon(deploy.DaemonInput{Input: in, Eligible: eligible, InstanceOf: instanceOf})
		d, startOn = dd.Decision, dd.StartOn
		if !in.Deleting {
			svc.DesiredCount = int32(len(eligible))
		}
	} else {
		d = deploy.Plan(in)
	}
	recheckAt(&wait, d.Recheck)

	conds, ops := relConds, relOps

	// Stops: a task with registered targets waits DEACTIVATING for them
	// to drain before its agent stops it.
	var stopped []string
	for _, s := range d.Stop {
		st := byID[s.TaskID]
		kv, err := e.st.Get(ctx, st.key)
		if err != nil {
			return 0, err
		}
		if kv.ModRev != st.rev {
			return 0, store.ErrConflict // changed since the pass read it: read again
		}
		var tr taskRecord
		if err := json.Unmarshal(kv.Value, &tr); err != nil {
			return 0, err
		}
		reason := fmt.Sprintf(deploy.ReasonScaling, primary)
		if tg := elbFailing[s.TaskID]; s.Unhealthy && tg != "" {
			var ev string
			reason, ev = elbStop(name, s.TaskID, tg)
			events = append(events, ev)
		} else if s.Unhealthy {
			reason = deploy.ReasonUnhealthy
			events = append(events, fmt.Sprintf("(service %s) (task %s) failed container health checks.", name, s.TaskID))
		}
		stopTaskRecord(&tr, lifecycle.CodeServiceSchedulerInitiated, reason)
		if e.holdStop(ctx, p, &tr, state.Targets) {
			recheckAt(&wait, deactivatePoll)
		}
		conds = append(conds, store.Cond{Key: st.key, ModRev: st.rev})
		ops = append(ops, store.Put(st.key, mustJSON(tr)))
		stopped = append(stopped, "(task "+s.TaskID+")")
	}
	if len(stopped) > 0 {
		events = append(events, fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", name, len(stopped), strings.Join(stopped, " ")))
	}

	// Starts.
	var touched []int
	if d.Start > 0 || len(startOn) > 0 {
		placed, msg, err := e.startServiceTasks(ctx, p, svc, d.Start, startOn)
		if err != nil {
			return 0, err
		}
		if len(placed.tasks) > 0 {
			var ids []string
			for _, t := range placed.tasks {
				ids = append(ids, "(task "+lastSegment(ecsapi.Value(t.TaskArn))+")")
			}
			events = append(events, fmt.Sprintf("(service %s) has started %d tasks: %s.", name, len(ids), strings.Join(ids, " ")))
			conds = append(conds, placed.conds...)
			ops = append(ops, placed.ops...)
			touched = placed.touched
			c := d.Counts[primary]
			c.Pending += len(placed.tasks)
			d.Counts[primary] = c
		}
		if msg != "" && (msg != state.PlaceEvent || p.now.Sub(state.PlaceEventAt) >= placeEventEvery) {
			events = append(events, msg)
			state.PlaceEvent, state.PlaceEventAt = msg, p.now
		}
	}

	// The service record: counts, deployments, rollout, events.
	changed := false
	var running, pending int32
	deps := svc.Deployments[:0:0]
	for i, dep := range svc.Deployments {
		id := ecsapi.Value(dep.Id)
		if i > 0 && slices.Contains(d.Retired, id) {
			continue
		}
		c := d.Counts[id]
		running += int32(c.Running)
		pending += int32(c.Pending)
		nd := dep
		nd.RunningCount, nd.PendingCount, nd.FailedTasks = int32(c.Running), int32(c.Pending), failed[id]
		if i == 0 {
			nd.DesiredCount = svc.DesiredCount
			if d.Steady && ecsapi.Value(nd.RolloutState) == ecsapi.DeploymentRolloutStateINPROGRESS {
				nd.RolloutState = ecsapi.Ptr(ecsapi.DeploymentRolloutStateCOMPLETED)
				nd.RolloutStateReason = ecsapi.Ptr("ECS deployment " + id + " completed.")
				events = append(events, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", name, id))
			}
			if ecsapi.Value(nd.RolloutState) == ecsapi.DeploymentRolloutStateCOMPLETED {
				c := nd
				state.LastCompleted = &c
			}
		} else {
			nd.DesiredCount = int32(c.Running + c.Pending)
		}
		if nd.RunningCount != dep.RunningCount || nd.PendingCount != dep.PendingCount || nd.DesiredCount != dep.DesiredCount || nd.FailedTasks != dep.FailedTasks || nd.RolloutState != dep.RolloutState {
			nd.UpdatedAt = ecsapi.Time(p.now)
			changed = true
		}
		deps = append(deps, nd)
	}
	svc.Deployments = deps
	svc.RunningCount, svc.PendingCount = running, pending
	if d.Steady && !state.Steady {
		events = append(events, fmt.Sprintf("(service %s) has reached a steady state.", name))
	}
	state.Steady = d.Steady
	if in.Deleting && len(in.Tasks) == 0 {
		svc.Status = ecsapi.Ptr(statusInactive)
		svc.DesiredCount = 0
	}
	stopping := map[string]bool{}
	for _, s := range d.Stop {
		stopping[s.TaskID] = true
	}
	e.syncTargets(ctx, p, svc, tasks, stopping, &state, &wait)
	if err := e.syncRegistries(ctx, p, svc, tasks, &state); err != nil {
		return 0, err
	}
	if st := mustJSON(state); string(st) != string(rec.Controller) {
		rec.Controller, changed = st, true
	}
	changed = changed || len(ops) > 0 || len(events) > 0 || len(svc.Deployments) != before.deployments ||
		svc.DesiredCount != before.desired || svc.RunningCount != before.running || svc.PendingCount != before.pending ||
		ecsapi.Value(svc.Status) != before.status
	if !changed {
		return wait, nil // a steady service costs no encoding and no write
	}
	if err := e.writeService(ctx, rec, kv, conds, ops, events, p.now); err != nil {
		return 0, err
	}
	if len(touched) > 0 {
		// The instances' records changed: their revisions are now the
		// store's, which the next service of this pass conditions on.
		rev, err := e.st.Rev(ctx)
		if err != nil {
			return 0, err
		}
		for _, i := range touched {
			p.revs[i] = rev
		}
	}
	return wait, nil
}

// recheckAt lowers *wait to w when w is sooner (0 means never).
func recheckAt(wait *time.Duration, w time.Duration) {
	if w > 0 && (*wait == 0 || w < *wait) {
		*wait = w
	}
}

// writeService prepends events to the service and commits it with the
// pass's other writes, unless nothing changed at all.
func (e *ECS) writeService(ctx context.Context, rec serviceRecord, kv store.KV, conds []store.Cond, ops []store.Op, events []string, now time.Time) error {
	svc := &rec.Service
	for _, msg := range events {
		svc.Events = append([]ecsapi.ServiceEvent{{Id: ecsapi.Ptr(newUUID()), CreatedAt: ecsapi.Time(now), Message: ecsapi.Ptr(msg)}}, svc.Events...)
	}
	if len(svc.Events) > maxServiceEvents {
		svc.Events = svc.Events[:maxServiceEvents]
	}
	b := mustJSON(rec)
	if len(ops) == 0 && string(b) == string(kv.Value) {
		return nil
	}
	conds = append(conds, store.Cond{Key: kv.Key, ModRev: kv.ModRev})
	ops = append(ops, store.Put(kv.Key, b))
	_, err := e.st.Txn(ctx, conds, ops)
	return err
}

// taskFailed says whether a stopped task counts as a failure of its
// deployment: it failed to start, an essential container exited, or the
// scheduler stopped it for failing its health checks.
func taskFailed(tk *ecsapi.Task) bool {
	switch ecsapi.Value(tk.StopCode) {
	case lifecycle.CodeTaskFailedToStart, lifecycle.CodeEssentialContainerExited:
		return true
	case lifecycle.CodeServiceSchedulerInitiated:
		return ecsapi.Value(tk.StoppedReason) == deploy.ReasonUnhealthy || isELBUnhealthyReason(ecsapi.Value(tk.StoppedReason))
	}
	return false
}

func circuitBreaker(svc *ecsapi.Service) *ecsapi.DeploymentCircuitBreaker {
	if svc.DeploymentConfiguration == nil {
		return nil
	}
	return svc.DeploymentConfiguration.DeploymentCircuitBreaker
}

// tripCircuitBreaker fails the primary deployment and, with rollback on and
// a completed deployment to return to, starts a deployment of it.
func (e *ECS) tripCircuitBreaker(p *pass, svc *ecsapi.Service, state *controllerState, rollback bool) []string {
	name := ecsapi.Value(svc.ServiceName)
	failedDep := &svc.Deployments[0]
	id := ecsapi.Value(failedDep.Id)
	failedDep.RolloutState = ecsapi.Ptr(ecsapi.DeploymentRolloutStateFAILED)
	failedDep.RolloutStateReason = ecsapi.Ptr("ECS deployment circuit breaker: tasks failed to start.")
	failedDep.UpdatedAt = ecsapi.Time(p.now)
	events := []string{fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", name, id)}
	last := state.LastCompleted
	if !rollback || last == nil || ecsapi.Value(last.Id) == id {
		return events
	}
	back := *last
	back.Id = ecsapi.Ptr("ecs-svc/" + randomDigits(19))
	back.Status = ecsapi.Ptr("PRIMARY")
	back.DesiredCount = svc.DesiredCount
	back.RunningCount, back.PendingCount, back.FailedTasks = 0, 0, 0
	back.CreatedAt, back.UpdatedAt = ecsapi.Time(p.now), ecsapi.Time(p.now)
	back.RolloutState = ecsapi.Ptr(ecsapi.DeploymentRolloutStateINPROGRESS)
	back.RolloutStateReason = ecsapi.Ptr("ECS deployment circuit breaker: rolling back to deploymentId " + ecsapi.Value(last.Id) + ".")
	failedDep.Status = ecsapi.Ptr("ACTIVE")
	svc.Deployments = append([]ecsapi.Deployment{back}, svc.Deployments...)
	svc.TaskDefinition = back.TaskDefinition
	return append(events, fmt.Sprintf("(service %s) rolling back to deployment %s.", name, ecsapi.Value(last.Id)))
}

// daemonInstances are the instances a DAEMON service runs on: ACTIVE, of
// its launch type, meeting its constraints and its definition's.
func (e *ECS) daemonInstances(ctx context.Context, p *pass, svc *ecsapi.Service) ([]string, error) {
	l, err := e.serviceLaunch(ctx, p, svc)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := range p.view {
		in := &p.view[i]
		lt := in.LaunchType
		if lt == "" {
			lt = placement.LaunchEC2
		}
		if !in.Active || lt != l.launchType {
			continue
		}
		ok := true
		for _, c := range l.constraints {
			if c.Expr != nil && !c.Expr.Match(placement.Subject(in)) {
				ok = false
			}
		}
		if ok {
			out = append(out, in.ID)
		}
	}
	return out, nil
}

// placedBatch is what starting a service's tasks adds to its transaction.
type placedBatch struct {
	tasks   []ecsapi.Task
	conds   []store.Cond
	ops     []store.Op
	touched []int
}

// serviceLaunch is the launch of the service's primary deployment.
func (e *ECS) serviceLaunch(ctx context.Context, p *pass, svc *ecsapi.Service) (*taskLaunch, error) {
	name := ecsapi.Value(svc.ServiceName)
	dep := &svc.Deployments[0]
	rec, _, err := e.loadTaskDef(ctx, ecsapi.Value(dep.TaskDefinition))
	if err != nil {
		return nil, err
	}
	c, _, err := e.activeCluster(ctx, &p.cluster, false)
	if err != nil {
		return nil, err
	}
	def := rec.TaskDefinition
	l := &taskLaunch{
		cluster:     c,
		def:         &def,
		defTags:     rec.Tags,
		group:       "service:" + name,
		startedBy:   dep.Id,
		execCommand: svc.EnableExecuteCommand,
		netConfig:   dep.NetworkConfiguration,
		demand:      taskDemand(&def, nil),
	}
	if svc.PropagateTags != nil {
		l.propagate = *svc.PropagateTags
	}
	if l.propagate == ecsapi.PropagateTagsSERVICE {
		l.tags = slices.Clone(svc.Tags)
	}
	if svc.EnableECSManagedTags {
		l.tags = append(l.tags,
			ecsapi.Tag{Key: ecsapi.Ptr("aws:ecs:serviceName"), Value: ecsapi.Ptr(name)},
			ecsapi.Tag{Key: ecsapi.Ptr("aws:ecs:clusterName"), Value: ecsapi.Ptr(p.cluster)})
	}
	if err := l.setPlacement(ecsapi.Value(dep.LaunchType), svc.PlacementConstraints, svc.PlacementStrategy); err != nil {
		return nil, err
	}
	if len(svc.PlacementStrategy) == 0 && l.launchType != placement.LaunchFargate {
		l.strategy = placement.DefaultServiceStrategy
	}
	return l, nil
}

// startServiceTasks places n tasks of the service's primary deployment on
// the pass's snapshot, or one on each instance of on (DAEMON). It returns
// the writes to commit and, when some could not be placed, the event ECS
// would show.
func (e *ECS) startServiceTasks(ctx context.Context, p *pass, svc *ecsapi.Service, n int, on []string) (placedBatch, string, error) {
	var out placedBatch
	name := ecsapi.Value(svc.ServiceName)
	dep := &svc.Deployments[0]
	l, err := e.serviceLaunch(ctx, p, svc)
	if err != nil {
		return out, "", err
	}
	var placed []placedTask
	var failures []placement.Failure
	if len(on) > 0 {
		g := &leg{launchType: l.launchType}
		for _, id := range on {
			i, ok := p.byID[id]
			if !ok {
				continue
			}
			req := l.request(1)
			req.LaunchType = l.launchType
			req.Seed = placementSeed(ctx, 0)
			plan := placement.Place(p.view[i:i+1], req)
			if len(plan.Placements) == 0 {
				failures = append(failures, plan.Failures...)
				continue
			}
			plan.Placements[0].Instance = i
			placement.Commit(p.view, req, plan)
			placed = append(placed, placedTask{plan.Placements[0], g})
		}
	} else {
		legs, err := e.capacityLegs(ctx, l, dep.LaunchType, dep.CapacityProviderStrategy, n)
		if err != nil {
			return out, "", err
		}
		if checkCapacity(p.view, legs) != nil {
			return out, fmt.Sprintf("(service %s) was unable to place a task. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", name), nil
		}
		for i := range legs {
			g := &legs[i]
			req := l.request(g.count)
			req.LaunchType, req.Pool = g.launchType, g.pool
			req.Seed = placementSeed(ctx, 0)
			plan := placement.Place(p.view, req)
			placement.Commit(p.view, req, plan)
			failures = append(failures, plan.Failures...)
			for _, pl := range plan.Placements {
				placed = append(placed, placedTask{pl, g})
			}
		}
	}
	if len(placed) > 0 {
		resp := &ecsapi.RunTaskResponse{}
		out.conds, out.ops = e.placeTasks(l, p.insts, p.revs, placed, resp)
		out.tasks = resp.Tasks
		for _, pt := range placed {
			if !slices.Contains(out.touched, pt.Instance) {
				out.touched = append(out.touched, pt.Instance)
			}
		}
	}
	msg := ""
	if len(failures) > 0 {
		msg = unableToPlace(name, failures)
	}
	return out, msg, nil
}

// unableToPlace is ECS's event for a task no instance could take, naming
// the instance that came closest.
func unableToPlace(service string, fs []placement.Failure) string {
	rank := map[string]int{placement.ReasonAgent: 0, placement.ReasonCPU: 1, placement.ReasonMemory: 2, placement.ReasonPorts: 3, placement.ReasonPortsUDP: 4, placement.ReasonGPU: 5, placement.ReasonAttribute: 6}
	best := fs[0]
	for _, f := range fs[1:] {
		if rank[f.Reason] > rank[best.Reason] {
			best = f
		}
	}
	var why string
	switch best.Reason {
	case placement.ReasonCPU:
		why = "has insufficient CPU units available"
	case placement.ReasonMemory:
		why = "has insufficient memory available"
	case placement.ReasonPorts, placement.ReasonPortsUDP:
		why = "is already using a port required by your task"
	case placement.ReasonGPU:
		why = "has insufficient GPU available"
	case placement.ReasonAgent:
		why = "is not connected to the cluster (its agent is disconnected)"
	default:
		why = fmt.Sprintf("encountered error %q", best.Detail)
	}
	return fmt.Sprintf("(service %s) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance %s) %s. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", service, lastSegment(best.ARN), why)
}
