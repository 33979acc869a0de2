package api

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
)

// DescribeTasks returns tasks by ARN or id; unknown ones are failures.
func (e *ECS) DescribeTasks(ctx context.Context, in *ecsapi.DescribeTasksRequest) (*ecsapi.DescribeTasksResponse, error) {
	if len(in.Tasks) == 0 {
		return nil, invalidParam("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, invalidParam("Tasks can have at most 100 items.")
	}
	c, _, err := e.activeCluster(ctx, in.Cluster, true)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(c.ClusterName)
	withTags := slices.Contains(in.Include, ecsapi.TaskFieldTAGS)
	out := &ecsapi.DescribeTasksResponse{Tasks: []ecsapi.Task{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.Tasks {
		rec, err := e.loadTaskView(ctx, cluster, ref)
		if err != nil {
			if isCode(err, ecsapi.CodeInvalidParameterException) {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(e.taskARNFor(cluster, ref)), Reason: ecsapi.Ptr("MISSING")})
				continue
			}
			return nil, err
		}
		t := rec.Task
		if !withTags {
			t.Tags = nil
		}
		out.Tasks = append(out.Tasks, t)
	}
	return out, nil
}

func (e *ECS) taskARNFor(cluster, ref string) string {
	if arn.IsARN(ref) {
		return ref
	}
	return e.names.Resource("task/" + cluster + "/" + ref)
}

// ListTasks lists task ARNs filtered as ECS does; desiredStatus defaults to
// RUNNING (which includes tasks still starting).
func (e *ECS) ListTasks(ctx context.Context, in *ecsapi.ListTasksRequest) (*ecsapi.ListTasksResponse, error) {
	c, _, err := e.activeCluster(ctx, in.Cluster, true)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(c.ClusterName)
	if in.ServiceName != nil && in.StartedBy != nil {
		return nil, invalidParam("Cannot specify both startedBy and serviceName.")
	}
	if in.Family != nil && in.ServiceName != nil {
		return nil, invalidParam("Cannot specify both family and serviceName.")
	}
	prefix := tasksPrefix(cluster)
	page, err := parsePage(in.NextToken, in.MaxResults, prefix, 100, 100)
	if err != nil {
		return nil, err
	}
	desired := string(ecsapi.Value(in.DesiredStatus))
	if desired == "" {
		desired = lifecycle.Running
	}
	var instID string
	if in.ContainerInstance != nil {
		instID = lastSegment(*in.ContainerInstance)
	}
	match := func(rec *taskView) bool {
		t := &rec.Task
		want := ecsapi.Value(t.DesiredStatus)
		if desired == lifecycle.Running && want != lifecycle.Running || desired == lifecycle.Stopped && want != lifecycle.Stopped || desired == string(ecsapi.DesiredStatusPENDING) && ecsapi.Value(t.LastStatus) != lifecycle.Pending {
			return false
		}
		if instID != "" && rec.InstanceID != instID {
			return false
		}
		if in.Family != nil && familyOfARN(ecsapi.Value(t.TaskDefinitionArn)) != *in.Family {
			return false
		}
		if in.StartedBy != nil && ecsapi.Value(t.StartedBy) != *in.StartedBy {
			return false
		}
		if in.ServiceName != nil && ecsapi.Value(t.Group) != "service:"+lastSegment(*in.ServiceName) {
			return false
		}
		if in.LaunchType != nil && ecsapi.Value(t.LaunchType) != *in.LaunchType {
			return false
		}
		return true
	}
	out := &ecsapi.ListTasksResponse{TaskArns: []string{}}
	after := page.after
	for len(out.TaskArns) < page.limit {
		kvs, _, err := e.st.List(ctx, prefix, store.ListOptions{After: after, Limit: 256})
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			after = kv.Key
			rec, err := e.tasks.view(kv.Key, kv.ModRev, kv.Value)
			if err != nil {
				return nil, err
			}
			if !match(&rec) {
				continue
			}
			out.TaskArns = append(out.TaskArns, ecsapi.Value(rec.Task.TaskArn))
			if len(out.TaskArns) == page.limit {
				out.NextToken = pageToken(kv.Key)
				return out, nil
			}
		}
		if len(kvs) < 256 {
			break
		}
	}
	return out, nil
}

func isCode(err error, code string) bool {
	var ae *awsjson.Error
	return errors.As(err, &ae) && ae.Code == code
}

// taskView is the part of a task record the read calls return: decoding it
// skips the task definition snapshot, most of a record's bytes.
type taskView struct {
	Task       ecsapi.Task `json:"task"`
	InstanceID string      `json:"instanceId"`
}

func (e *ECS) loadTaskView(ctx context.Context, cluster, ref string) (taskView, error) {
	key := taskKey(cluster, lastSegment(ref))
	kv, err := e.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return taskView{}, invalidParam("The referenced task was not found.")
	}
	if err != nil {
		return taskView{}, err
	}
	return e.tasks.view(key, kv.ModRev, kv.Value)
}

// familyOfARN is the family of a task definition ARN
// (arn:...:task-definition/<family>:<revision>).
func familyOfARN(tdARN string) string {
	name := lastSegment(tdARN)
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}
