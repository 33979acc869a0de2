package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
)

// ErrWrongInstance: an agent reported a task that is not placed on it.
var ErrWrongInstance = errors.New("task is not placed on this container instance")

// PermanentStateError reports whether an ApplyTaskState error can never go
// away by resending: the task is unknown or placed on another instance.
func PermanentStateError(err error) bool {
	return errors.Is(err, ErrWrongInstance) || isCode(err, ecsapi.CodeInvalidParameterException)
}

// taskClass is how a status counts on its instance.
type taskClass int

const (
	classPending taskClass = iota
	classRunning
	classStopped
)

func classOf(status string) taskClass {
	switch {
	case status == lifecycle.Stopped:
		return classStopped
	case lifecycle.Rank(status) >= lifecycle.Rank(lifecycle.Running):
		return classRunning
	}
	return classPending
}

// ApplyTaskState merges an agent's report into the stored task, forward
// only, and keeps the instance's task counts and remaining resources in
// step in the same transaction. instanceID "" skips the placement check
// (reports through the public SubmitTaskStateChange call).
func (e *ECS) ApplyTaskState(ctx context.Context, cluster, instanceID string, st agentproto.TaskState) error {
	return retry(ctx, func() error {
		rec, rev, err := e.loadTask(ctx, cluster, st.TaskARN)
		if err != nil {
			return err
		}
		if instanceID != "" && rec.InstanceID != instanceID {
			return fmt.Errorf("%w: %s", ErrWrongInstance, st.TaskARN)
		}
		// Forward only: a held task's RUNNING reports leave it DEACTIVATING.
		ch := lifecycle.Apply(&rec.Task, st, e.now())
		if !ch.Changed {
			return nil
		}
		if rec.Hold != nil && lifecycle.Rank(ecsapi.Value(rec.Task.LastStatus)) > lifecycle.Rank(lifecycle.Deactivating) {
			rec.Hold = nil // it stops by itself (its containers exited): nothing to hold
		}
		id := lastSegment(ecsapi.Value(rec.Task.TaskArn))
		conds := []store.Cond{{Key: taskKey(cluster, id), ModRev: rev}}
		ops := []store.Op{store.Put(taskKey(cluster, id), mustJSON(rec))}
		if before, after := classOf(ch.From), classOf(ecsapi.Value(rec.Task.LastStatus)); before != after {
			ikey := instanceKey(cluster, rec.InstanceID)
			var ci ecsapi.ContainerInstance
			irev, err := e.getJSON(ctx, ikey, &ci)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// The instance is gone: nothing to account.
			case err != nil:
				return err
			default:
				countTask(&ci, before, -1)
				countTask(&ci, after, +1)
				if after == classStopped {
					adjustRemaining(&ci, rec.Reserved, -1)
				}
				ci.Version++
				conds = append(conds, store.Cond{Key: ikey, ModRev: irev})
				ops = append(ops, store.Put(ikey, mustJSON(ci)))
			}
			if after == classStopped {
				ops = append(ops, store.Delete(instTasksPrefix(cluster, rec.InstanceID)+id))
			}
		}
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
}

func countTask(ci *ecsapi.ContainerInstance, c taskClass, d int32) {
	switch c {
	case classPending:
		ci.PendingTasksCount = max(0, ci.PendingTasksCount+d)
	case classRunning:
		ci.RunningTasksCount = max(0, ci.RunningTasksCount+d)
	}
}

// stopHold holds a service task's stop while its load balancer targets
// drain (ECS's DEACTIVATING): the task is desired STOPPED and DEACTIVATING,
// but its agent is told RUNNING, so its containers keep serving the
// requests in flight, until the service controller releases it (every
// target's deregistration completed, or Until passed). It is stored with
// the task, so a restarted server resumes the wait; it is never part of
// the API shape.
type stopHold struct {
	Until time.Time `json:"until"`
	// Targets are the task's targets being deregistered.
	Targets []lbTarget `json:"targets,omitempty"`
}

// Manifest is the agent's view of a stored task: a task whose stop is held
// (stopHold) is still desired RUNNING there.
func Manifest(value []byte, modRev int64) (m agentproto.TaskManifest, instanceID string, err error) {
	var rec taskRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return m, "", fmt.Errorf("decode task: %w", err)
	}
	t := &rec.Task
	m = agentproto.TaskManifest{
		TaskARN:          ecsapi.Value(t.TaskArn),
		Cluster:          lastSegment(ecsapi.Value(t.ClusterArn)),
		DesiredStatus:    ecsapi.Value(t.DesiredStatus),
		Definition:       rec.Definition,
		Overrides:        t.Overrides,
		Seq:              modRev,
		Group:            ecsapi.Value(t.Group),
		LaunchType:       string(ecsapi.Value(t.LaunchType)),
		AvailabilityZone: ecsapi.Value(t.AvailabilityZone),
		Tags:             t.Tags,
		StopReason:       ecsapi.Value(t.StoppedReason),
	}
	if t.CreatedAt != nil {
		m.CreatedAt = t.CreatedAt.Time
	}
	for _, c := range t.Containers {
		if len(c.GpuIds) > 0 {
			if m.GPUIDs == nil {
				m.GPUIDs = map[string][]string{}
			}
			m.GPUIDs[ecsapi.Value(c.Name)] = c.GpuIds
		}
	}
	if rec.Hold != nil && m.DesiredStatus == lifecycle.Stopped {
		m.DesiredStatus, m.StopReason = lifecycle.Running, ""
	}
	return m, rec.InstanceID, nil
}

// InstanceTasks returns the manifests of the live tasks placed on an
// instance and the store revision they were read at (at least).
func (e *ECS) InstanceTasks(ctx context.Context, cluster, instanceID string) ([]agentproto.TaskManifest, int64, error) {
	kvs, rev, err := e.st.List(ctx, instTasksPrefix(cluster, instanceID), store.ListOptions{KeysOnly: true})
	if err != nil {
		return nil, 0, err
	}
	out := make([]agentproto.TaskManifest, 0, len(kvs))
	for _, kv := range kvs {
		id := kv.Key[len(instTasksPrefix(cluster, instanceID)):]
		tkv, err := e.st.Get(ctx, taskKey(cluster, id))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		m, _, err := Manifest(tkv.Value, tkv.ModRev)
		if err != nil {
			return nil, 0, err
		}
		rev = max(rev, tkv.ModRev)
		out = append(out, m)
	}
	return out, rev, nil
}

// SetAgentConnected records whether an instance's agent holds a session.
func (e *ECS) SetAgentConnected(ctx context.Context, cluster, instanceID string, connected bool) error {
	key := instanceKey(cluster, instanceID)
	return retry(ctx, func() error {
		var ci ecsapi.ContainerInstance
		rev, err := e.getJSON(ctx, key, &ci)
		if err != nil {
			return err
		}
		if ci.AgentConnected == connected {
			return nil
		}
		ci.AgentConnected = connected
		ci.Version++
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(ci))})
		return err
	})
}

// SubmitTaskStateChange accepts a task state report through the API, as the
// ECS agent sends it. berth's own agent reports over its session; both end
// in ApplyTaskState.
func (e *ECS) SubmitTaskStateChange(ctx context.Context, in *ecsapi.SubmitTaskStateChangeRequest) (*ecsapi.SubmitTaskStateChangeResponse, error) {
	cluster, err := clusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Task == nil {
		return nil, invalidParam("task is required.")
	}
	st := agentproto.TaskState{TaskARN: *in.Task, Status: ecsapi.Value(in.Status), Reason: ecsapi.Value(in.Reason)}
	if st.Status != "" && !lifecycle.Valid(st.Status) {
		return nil, invalidParam("Invalid task status %q.", st.Status)
	}
	st.PullStartedAt = timeOf(in.PullStartedAt)
	st.PullStoppedAt = timeOf(in.PullStoppedAt)
	st.ExecutionStoppedAt = timeOf(in.ExecutionStoppedAt)
	for _, c := range in.Containers {
		st.Containers = append(st.Containers, containerChange(c))
	}
	if err := e.ApplyTaskState(ctx, cluster, "", st); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitTaskStateChangeResponse{Acknowledgment: ecsapi.Ptr("ACK")}, nil
}

// SubmitContainerStateChange accepts one container's state report.
func (e *ECS) SubmitContainerStateChange(ctx context.Context, in *ecsapi.SubmitContainerStateChangeRequest) (*ecsapi.SubmitContainerStateChangeResponse, error) {
	cluster, err := clusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Task == nil || in.ContainerName == nil {
		return nil, invalidParam("task and containerName are required.")
	}
	c := containerChange(ecsapi.ContainerStateChange{ContainerName: in.ContainerName, RuntimeId: in.RuntimeId, Status: in.Status, ExitCode: in.ExitCode, Reason: in.Reason, NetworkBindings: in.NetworkBindings})
	if err := e.ApplyTaskState(ctx, cluster, "", agentproto.TaskState{TaskARN: *in.Task, Containers: []agentproto.ContainerState{c}}); err != nil {
		return nil, err
	}
	return &ecsapi.SubmitContainerStateChangeResponse{Acknowledgment: ecsapi.Ptr("ACK")}, nil
}

func containerChange(c ecsapi.ContainerStateChange) agentproto.ContainerState {
	return agentproto.ContainerState{
		Name: ecsapi.Value(c.ContainerName), RuntimeID: ecsapi.Value(c.RuntimeId), ImageDigest: ecsapi.Value(c.ImageDigest),
		Status: ecsapi.Value(c.Status), ExitCode: c.ExitCode, Reason: ecsapi.Value(c.Reason), NetworkBindings: c.NetworkBindings,
	}
}

func timeOf(t *ecsapi.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}
