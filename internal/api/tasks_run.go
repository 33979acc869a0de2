package api

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
)

// RunTask places count tasks on the cluster's instances (first fit until
// the scheduler lands) and stores them for their agents to start.
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
	if len(in.CapacityProviderStrategy) > 0 {
		return nil, invalidParam("Capacity provider strategies are not supported yet: omit capacityProviderStrategy to run on the cluster's registered instances.")
	}
	switch lt := ecsapi.Value(in.LaunchType); lt {
	case "", ecsapi.LaunchTypeEC2, ecsapi.LaunchTypeEXTERNAL:
	default:
		return nil, invalidParam("Launch type %s is not supported yet: use EC2 or EXTERNAL, which run on the cluster's registered instances.", lt)
	}
	if len(in.PlacementConstraints) > 0 || len(in.PlacementStrategy) > 0 {
		return nil, invalidParam("Placement constraints and strategies are not supported yet: omit them to place tasks first fit.")
	}
	l, err := e.prepareLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags, in.NetworkConfiguration, in.EnableExecuteCommand)
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
	err = retry(ctx, func() error {
		insts, revs, err := e.listInstances(ctx, cluster)
		if err != nil {
			return err
		}
		view := placementView(insts)
		if !slices.ContainsFunc(view, func(p placement.Instance) bool { return p.Active }) {
			// None registered, or all DRAINING or deregistered.
			return invalidParam("No Container Instances were found in your cluster.")
		}
		placed, failures := placement.FirstFit(view, l.demand.demand(), count)
		out = &ecsapi.RunTaskResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
		for _, f := range failures {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(f.ARN), Reason: ecsapi.Ptr(f.Reason)})
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

// placeTasks builds the transaction that stores the tasks placed on insts
// (indexes into insts) and reserves their resources, appending the tasks to
// out.
func (e *ECS) placeTasks(l *taskLaunch, insts []ecsapi.ContainerInstance, revs []int64, placed []int, out *ecsapi.RunTaskResponse) ([]store.Cond, []store.Op) {
	cluster := ecsapi.Value(l.cluster.ClusterName)
	var conds []store.Cond
	var ops []store.Op
	touched := map[int]bool{}
	for _, i := range placed {
		ci := &insts[i]
		rec := e.newTask(l, ci)
		adjustRemaining(ci, l.demand, +1)
		ci.PendingTasksCount++
		ci.Version++
		touched[i] = true
		id := lastSegment(ecsapi.Value(rec.Task.TaskArn))
		ops = append(ops,
			store.Put(taskKey(cluster, id), mustJSON(rec)),
			store.Put(instTasksPrefix(cluster, rec.InstanceID)+id, []byte{}),
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

// StartTask starts one task on each named container instance.
func (e *ECS) StartTask(ctx context.Context, in *ecsapi.StartTaskRequest) (*ecsapi.StartTaskResponse, error) {
	if len(in.ContainerInstances) < 1 || len(in.ContainerInstances) > 10 {
		return nil, invalidParam("containerInstances must list between 1 and 10 container instances.")
	}
	l, err := e.prepareLaunch(ctx, in.Cluster, in.TaskDefinition, in.Overrides, in.Group, in.StartedBy, in.Tags, in.PropagateTags, in.NetworkConfiguration, in.EnableExecuteCommand)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(l.cluster.ClusterName)
	var out *ecsapi.RunTaskResponse
	err = retry(ctx, func() error {
		all, allRevs, err := e.listInstances(ctx, cluster)
		if err != nil {
			return err
		}
		out = &ecsapi.RunTaskResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
		view := placementView(all)
		var placed []int
		for _, ref := range in.ContainerInstances {
			id := lastSegment(ref)
			i := -1
			for j := range all {
				if instanceIDOfRecord(all[j]) == id {
					i = j
				}
			}
			if i < 0 {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr("MISSING")})
				continue
			}
			if why := placement.Fits(&view[i], l.demand.demand()); why != "" || !view[i].Active {
				if why == "" {
					why = "INACTIVE"
				}
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: all[i].ContainerInstanceArn, Reason: ecsapi.Ptr(why)})
				continue
			}
			placement.Reserve(&view[i], l.demand.demand())
			placed = append(placed, i)
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
