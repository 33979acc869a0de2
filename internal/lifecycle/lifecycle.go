// Package lifecycle is the ECS task and container state machine: the order
// of statuses, and how an agent's report is merged into the task the API
// returns. Pure: the server applies it inside a store transaction.
package lifecycle

import (
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
)

// Task statuses in lifecycle order, as ECS reports them.
const (
	Provisioning   = "PROVISIONING"
	Pending        = "PENDING"
	Activating     = "ACTIVATING"
	Running        = "RUNNING"
	Deactivating   = "DEACTIVATING"
	Stopping       = "STOPPING"
	Deprovisioning = "DEPROVISIONING"
	Stopped        = "STOPPED"
)

var taskOrder = map[string]int{
	Provisioning: 1, Pending: 2, Activating: 3, Running: 4,
	Deactivating: 5, Stopping: 6, Deprovisioning: 7, Stopped: 8,
}

// Rank is the position of a task status in the lifecycle (0 if unknown).
func Rank(status string) int { return taskOrder[status] }

// Valid reports whether s is a task status.
func Valid(s string) bool { return taskOrder[s] > 0 }

// containerOrder: containers go PENDING → RUNNING → STOPPED.
var containerOrder = map[string]int{Pending: 1, Running: 2, Stopped: 3}

// ContainerRank is the position of a container status (0 if unknown).
func ContainerRank(s string) int { return containerOrder[s] }

// Stop codes and reasons ECS reports.
const (
	CodeTaskFailedToStart         = "TaskFailedToStart"
	CodeEssentialContainerExited  = "EssentialContainerExited"
	CodeUserInitiated             = "UserInitiated"
	CodeServiceSchedulerInitiated = "ServiceSchedulerInitiated"
	ReasonEssentialExited         = "Essential container in task exited"
	ReasonStoppedByUser           = "Task stopped by user"
	ReasonContainerRemoved        = "Task container removed outside the agent (docker rm)"
)

// Change says what merging a report did.
type Change struct {
	Changed bool // anything changed (version was bumped)
	// Became names the status the task entered, if it moved.
	Became string
	From   string
}

// Apply merges an agent's report into t, forward-only: a task status older
// than the current one is ignored (its container details still merge, each
// container forward-only too). now stamps the transitions the server times.
func Apply(t *ecsapi.Task, st agentproto.TaskState, now time.Time) Change {
	ch := Change{From: ecsapi.Value(t.LastStatus)}
	ts := *ecsapi.Time(now)
	if Valid(st.Status) && Rank(st.Status) > Rank(ch.From) {
		t.LastStatus = ecsapi.Ptr(st.Status)
		ch.Became, ch.Changed = st.Status, true
		if Rank(st.Status) >= Rank(Running) && t.StartedAt == nil && Rank(ch.From) < Rank(Running) && st.Status == Running {
			t.StartedAt, t.ConnectivityAt = &ts, &ts
			t.Connectivity = ecsapi.Ptr(ecsapi.ConnectivityCONNECTED)
		}
		if Rank(st.Status) >= Rank(Deactivating) && t.StoppingAt == nil {
			t.StoppingAt = &ts
		}
		if st.Status == Stopped {
			t.StoppedAt = &ts
			t.DesiredStatus = ecsapi.Ptr(Stopped)
			if t.StopCode == nil && st.StopCode != "" {
				t.StopCode = ecsapi.Ptr(ecsapi.TaskStopCode(st.StopCode))
			}
			if t.StoppedReason == nil && st.Reason != "" {
				t.StoppedReason = ecsapi.Ptr(st.Reason)
			}
			if t.Connectivity != nil {
				t.Connectivity = ecsapi.Ptr(ecsapi.ConnectivityDISCONNECTED)
			}
		}
	}
	setTime := func(dst **ecsapi.Timestamp, v *time.Time) {
		if v != nil && *dst == nil {
			*dst = ecsapi.Time(*v)
			ch.Changed = true
		}
	}
	setTime(&t.PullStartedAt, st.PullStartedAt)
	setTime(&t.PullStoppedAt, st.PullStoppedAt)
	setTime(&t.ExecutionStoppedAt, st.ExecutionStoppedAt)
	if st.HealthStatus != "" && ecsapi.Value(t.HealthStatus) != ecsapi.HealthStatus(st.HealthStatus) {
		t.HealthStatus = ecsapi.Ptr(ecsapi.HealthStatus(st.HealthStatus))
		ch.Changed = true
	}
	for _, cs := range st.Containers {
		if mergeContainer(t, cs) {
			ch.Changed = true
		}
	}
	if st.PrivateIP != "" && mergeAttachment(t, st) {
		ch.Changed = true
	}
	if ch.Changed {
		t.Version++
	}
	return ch
}

func mergeContainer(t *ecsapi.Task, cs agentproto.ContainerState) bool {
	var c *ecsapi.Container
	for i := range t.Containers {
		if ecsapi.Value(t.Containers[i].Name) == cs.Name {
			c = &t.Containers[i]
		}
	}
	if c == nil {
		return false // not a container of this task: ignore
	}
	before := *c
	cur := ContainerRank(ecsapi.Value(c.LastStatus))
	next := ContainerRank(cs.Status)
	if next < cur {
		return false
	}
	if next > cur {
		c.LastStatus = ecsapi.Ptr(cs.Status)
	}
	changed := next > cur
	setStr := func(dst **string, v string) {
		if v != "" && ecsapi.Value(*dst) != v {
			*dst = ecsapi.Ptr(v)
			changed = true
		}
	}
	setStr(&c.RuntimeId, cs.RuntimeID)
	setStr(&c.ImageDigest, cs.ImageDigest)
	setStr(&c.Reason, cs.Reason)
	if cs.ExitCode != nil && (c.ExitCode == nil || *c.ExitCode != *cs.ExitCode) {
		c.ExitCode = ecsapi.Ptr(*cs.ExitCode)
		changed = true
	}
	if cs.HealthStatus != "" && ecsapi.Value(c.HealthStatus) != ecsapi.HealthStatus(cs.HealthStatus) {
		c.HealthStatus = ecsapi.Ptr(ecsapi.HealthStatus(cs.HealthStatus))
		changed = true
	}
	if len(cs.NetworkBindings) > 0 && len(before.NetworkBindings) == 0 {
		c.NetworkBindings = cs.NetworkBindings
		changed = true
	}
	return changed
}

// mergeAttachment fills the awsvpc task's ElasticNetworkInterface
// attachment and its containers' networkInterfaces with the task address.
func mergeAttachment(t *ecsapi.Task, st agentproto.TaskState) bool {
	for i := range t.Attachments {
		a := &t.Attachments[i]
		if ecsapi.Value(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if ecsapi.Value(d.Name) == "privateIPv4Address" {
				return false // already filled
			}
		}
		a.Status = ecsapi.Ptr("ATTACHED")
		a.Details = append(a.Details,
			ecsapi.KeyValuePair{Name: ecsapi.Ptr("macAddress"), Value: ecsapi.Ptr(st.MacAddress)},
			ecsapi.KeyValuePair{Name: ecsapi.Ptr("privateIPv4Address"), Value: ecsapi.Ptr(st.PrivateIP)},
		)
		if st.SubnetCIDR != "" {
			a.Details = append(a.Details, ecsapi.KeyValuePair{Name: ecsapi.Ptr("subnetCidrBlock"), Value: ecsapi.Ptr(st.SubnetCIDR)})
		}
		for j := range t.Containers {
			t.Containers[j].NetworkInterfaces = []ecsapi.NetworkInterface{{
				AttachmentId:       a.Id,
				PrivateIpv4Address: ecsapi.Ptr(st.PrivateIP),
			}}
		}
		return true
	}
	return false
}
