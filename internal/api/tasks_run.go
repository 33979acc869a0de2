package api

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/berth-dev/berth/internal/capacity"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// RunTask places count tasks on the cluster's instances with ECS's
// placement semantics and stores them for their agents to start.
func (e *ECS) RunTask(ctx context.Context, in *ecsapi.RunTaskRequest) (*ecsapi.RunTaskResponse, error) {
	count := int(ecsapi.Value(in.Count))
	if in.Count == nil {
		count = 1
	}
	if count < 1 || count > 10 {
		return nil, invalidParam("count must be between 1 and 10.")
	}
	if len(in.CapacityProviderStrategy) > 0 && in.LaunchType != nil {
		return nil, invalidParam("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	l, err := e.prepareLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags, in.NetworkConfiguration, in.EnableExecuteCommand)
	if err != nil {
		return nil, err
	}
	if err := l.setPlacement(ecsapi.Value(in.LaunchType), in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return nil, err
	}
	legs, err := e.capacityLegs(ctx, l, in.LaunchType, in.CapacityProviderStrategy, count)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(l.cluster.ClusterName)
	var call tokenCall
	token := ecsapi.Value(in.ClientToken)
	if token != "" {
		params := *in
		params.ClientToken = nil
		c, prior, err := e.lookupToken(ctx, cluster, "RunTask", token, &params)
		if err != nil {
			return nil, err
		}
		if prior != nil {
			var out ecsapi.RunTaskResponse
			return &out, json.Unmarshal(prior, &out)
		}
		call = c
	}
	var out *ecsapi.RunTaskResponse
	attempt := 0
	err = retry(ctx, func() error {
		insts, revs, view, err := e.snapshot(ctx, cluster)
		if err != nil {
			return err
		}
		if err := checkCapacity(view, legs); err != nil {
			return err
		}
		out = &ecsapi.RunTaskResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
		var placed []placedTask
		for i := range legs {
			g := &legs[i]
			req := l.request(g.count)
			req.LaunchType, req.Pool = g.launchType, g.pool
			req.Seed = placementSeed(ctx, attempt)
			attempt++
			plan := placement.Place(view, req)
			logPlacement(ctx, &req, plan)
			placement.Commit(view, req, plan)
			out.Failures = append(out.Failures, failuresOf(plan.Failures)...)
			for _, pl := range plan.Placements {
				placed = append(placed, placedTask{pl, g})
			}
		}
		if len(placed) == 0 {
			return nil // nothing to write: ECS answers 200 with failures
		}
		conds, ops := e.placeTasks(l, insts, revs, placed, out)
		if token != "" {
			return e.commitWithToken(ctx, call, out, conds, ops)
		}
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// setPlacement validates a call's launch type, constraints and strategy.
func (l *taskLaunch) setPlacement(launchType ecsapi.LaunchType, constraints []ecsapi.PlacementConstraint, strategy []ecsapi.PlacementStrategy) error {
	switch launchType {
	case "", ecsapi.LaunchTypeEC2:
		l.launchType = placement.LaunchEC2
	case ecsapi.LaunchTypeEXTERNAL:
		l.launchType = placement.LaunchExternal
	case ecsapi.LaunchTypeFARGATE:
		if err := l.fargate(); err != nil {
			return err
		}
		if len(constraints) > 0 {
			return invalidParam("Task placement constraints are not supported for the FARGATE launch type.")
		}
		// AWS ignores strategies for Fargate.
		return nil
	default:
		return invalidParam("Launch type %s is not supported: use EC2, EXTERNAL or FARGATE.", string(launchType))
	}
	var err error
	if l.constraints, err = parseConstraints(constraints, l.def.PlacementConstraints); err != nil {
		return err
	}
	l.strategy, err = parseStrategy(strategy)
	return err
}

// fargate checks that the task definition can run on Fargate capacity.
func (l *taskLaunch) fargate() error {
	if !slices.Contains(l.def.Compatibilities, ecsapi.CompatibilityFARGATE) {
		return invalidParam("Task definition does not support launch_type FARGATE.")
	}
	if taskdef.EffectiveNetworkMode(l.def) != ecsapi.NetworkModeAwsvpc {
		return invalidParam("Fargate only supports network mode 'awsvpc'.")
	}
	if ok, msg := capacity.FargateSizeOK(l.demand.CPU, l.demand.Memory); !ok {
		return clientErr("%s", msg)
	}
	l.launchType = placement.LaunchFargate
	return nil
}

// placedTask is one task of a plan and the capacity it was placed with.
type placedTask struct {
	placement.Placement
	leg *leg
}

// placeTasks builds the transaction that stores the tasks placed on insts
// and reserves their resources, appending the tasks to out. Its conditions
// are the revisions of the instances the plan touches.
func (e *ECS) placeTasks(l *taskLaunch, insts []ecsapi.ContainerInstance, revs []int64, placed []placedTask, out *ecsapi.RunTaskResponse) ([]store.Cond, []store.Op) {
	cluster := ecsapi.Value(l.cluster.ClusterName)
	var conds []store.Cond
	var ops []store.Op
	touched := map[int]bool{}
	for _, p := range placed {
		pl := p.Placement
		ci := &insts[pl.Instance]
		if !touched[pl.Instance] {
			// Records may come from the instance cache: change a copy.
			ci.RemainingResources = slices.Clone(ci.RemainingResources)
		}
		rec := e.newTask(l, ci, pl, p.leg)
		adjustRemaining(ci, rec.Reserved, +1)
		ci.PendingTasksCount++
		ci.Version++
		touched[pl.Instance] = true
		id := lastSegment(ecsapi.Value(rec.Task.TaskArn))
		ops = append(ops,
			store.Put(taskKey(cluster, id), mustJSON(rec)),
			store.Put(instTasksPrefix(cluster, rec.InstanceID)+id, []byte(l.group)),
		)
		out.Tasks = append(out.Tasks, rec.Task)
	}
	for i := range touched {
		key := instanceKey(cluster, instanceIDOfRecord(insts[i]))
		conds = append(conds, store.Cond{Key: key, ModRev: revs[i]})
		ops = append(ops, store.Put(key, mustJSON(insts[i])))
	}
	return conds, ops
}

// StartTask starts one task on each named container instance: no strategy
// applies, but resources, required attributes and the task definition's
// constraints do.
func (e *ECS) StartTask(ctx context.Context, in *ecsapi.StartTaskRequest) (*ecsapi.StartTaskResponse, error) {
	if len(in.ContainerInstances) < 1 || len(in.ContainerInstances) > 10 {
		return nil, invalidParam("containerInstances must list between 1 and 10 container instances.")
	}
	l, err := e.prepareLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags, in.NetworkConfiguration, in.EnableExecuteCommand)
	if err != nil {
		return nil, err
	}
	if err := l.setPlacement("", nil, nil); err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(l.cluster.ClusterName)
	var out *ecsapi.RunTaskResponse
	err = retry(ctx, func() error {
		all, allRevs, view, err := e.snapshot(ctx, cluster)
		if err != nil {
			return err
		}
		out = &ecsapi.RunTaskResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
		var placed []placedTask
		for _, ref := range in.ContainerInstances {
			id := lastSegment(ref)
			i := slices.IndexFunc(all, func(ci ecsapi.ContainerInstance) bool { return instanceIDOfRecord(ci) == id })
			if i < 0 {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr("MISSING")})
				continue
			}
			if !view[i].Active {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: all[i].ContainerInstanceArn, Reason: ecsapi.Ptr("INACTIVE")})
				continue
			}
			req := l.request(1)
			if f := placement.Check(&view[i], req); f != nil {
				out.Failures = append(out.Failures, failuresOf([]placement.Failure{*f})...)
				continue
			}
			plan := placement.Plan{Placements: []placement.Placement{{Instance: i}}}
			if d := req.Demand; d.DynamicTCP+d.DynamicUDP+d.GPUs > 0 {
				plan = placement.Place(view[i:i+1], req)
				plan.Placements[0].Instance = i
			}
			placement.Commit(view, req, plan)
			placed = append(placed, placedTask{plan.Placements[0], &leg{launchType: placement.LaunchEC2}})
		}
		if len(placed) == 0 {
			return nil
		}
		conds, ops := e.placeTasks(l, all, allRevs, placed, out)
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.StartTaskResponse{Tasks: out.Tasks, Failures: out.Failures}, nil
}

// StopTask sets a task's desired status to STOPPED; its agent stops it.
func (e *ECS) StopTask(ctx context.Context, in *ecsapi.StopTaskRequest) (*ecsapi.StopTaskResponse, error) {
	if in.Reason != nil && len(*in.Reason) > 255 {
		return nil, invalidParam("reason can be up to 255 characters long.")
	}
	cluster, err := clusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, _, err := e.activeCluster(ctx, in.Cluster, false); err != nil {
		return nil, err
	}
	var out ecsapi.Task
	err = retry(ctx, func() error {
		rec, rev, err := e.loadTask(ctx, cluster, in.Task)
		if err != nil {
			return err
		}
		out = rec.Task
		if ecsapi.Value(rec.Task.DesiredStatus) == lifecycle.Stopped {
			return nil
		}
		reason := lifecycle.ReasonStoppedByUser
		if in.Reason != nil && *in.Reason != "" {
			reason = *in.Reason
		}
		stopTaskRecord(&rec, lifecycle.CodeUserInitiated, reason)
		out = rec.Task
		key := taskKey(cluster, lastSegment(ecsapi.Value(rec.Task.TaskArn)))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(rec))})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.StopTaskResponse{Task: &out}, nil
}

// stopTaskRecord marks a task to stop with ECS's stop code and reason.
func stopTaskRecord(rec *taskRecord, code, reason string) {
	rec.Task.DesiredStatus = ecsapi.Ptr(lifecycle.Stopped)
	rec.Task.StopCode = ecsapi.Ptr(ecsapi.TaskStopCode(code))
	rec.Task.StoppedReason = ecsapi.Ptr(reason)
	rec.Task.Version++
}
