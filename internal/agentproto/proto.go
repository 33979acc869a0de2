// Package agentproto defines berth's control session between the server and
// each agent: the messages, their JSON encoding and the sequencing rules.
// It is pure (no IO); the server side lives in internal/session, the agent
// side in internal/agent.
//
// The session is a WebSocket at SessionPath, opened by the agent with a
// SigV4-signed GET (service "ecs") naming its cluster and container
// instance. Every message is one JSON text frame:
//
//   - server → agent "tasks": the desired state of tasks placed on the
//     instance, with Seq = the store revision it was read at. A "sync"
//     message (Full set) lists every live task and comes first on every
//     session; the agent stops tasks it runs that a full sync does not name.
//     The agent applies a message only if its Seq is newer than the last one
//     it applied for that task (stale and replayed messages are dropped) and
//     answers "ack" with the Seq.
//   - agent → server "state": a task's observed state (forward-only: the
//     server ignores a status older than the one it has), with the agent's
//     own Seq; the server answers "ack" with that Seq once it is durable.
//     Unacknowledged states are resent after a reconnect.
//   - both ways "heartbeat" every HeartbeatInterval; a side that hears
//     nothing for MissedHeartbeats intervals closes the session. The server
//     then marks the instance agentConnected=false.
package agentproto

import (
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// SessionPath is the HTTP path of the session endpoint.
const SessionPath = "/berth/agent/v1/session"

// Query parameters of the session request.
const (
	QueryCluster  = "cluster"
	QueryInstance = "containerInstance"
)

// Timing defaults.
const (
	HeartbeatInterval = 10 * time.Second
	MissedHeartbeats  = 3
)

// Message types.
const (
	TypeSync      = "sync"
	TypeTasks     = "tasks"
	TypeState     = "state"
	TypeAck       = "ack"
	TypeHeartbeat = "heartbeat"
	TypeError     = "error"
)

// Message is one frame.
type Message struct {
	Type  string         `json:"type"`
	Seq   int64          `json:"seq,omitempty"`
	Tasks []TaskManifest `json:"tasks,omitempty"`
	State *TaskState     `json:"state,omitempty"`
	// Error is a reason the peer is closing the session (TypeError).
	Error string `json:"error,omitempty"`
	// HeartbeatMillis, on the server's sync, is the server's heartbeat
	// interval: the agent waits MissedHeartbeats of the longer of its own
	// and this before it gives the session up.
	HeartbeatMillis int64 `json:"heartbeatMs,omitempty"`
}

// TaskManifest is a task's desired state as the server sends it.
type TaskManifest struct {
	TaskARN       string                 `json:"taskArn"`
	Cluster       string                 `json:"cluster"`
	DesiredStatus string                 `json:"desiredStatus"`
	Definition    *ecsapi.TaskDefinition `json:"definition"`
	Overrides     *ecsapi.TaskOverride   `json:"overrides,omitempty"`
	// StopReason says why the task is to stop (for the agent's log).
	StopReason string    `json:"stopReason,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	// Seq is the store revision this manifest was last changed at.
	Seq int64 `json:"seq"`
	// Extra fields the agent echoes into metadata.
	Group            string       `json:"group,omitempty"`
	LaunchType       string       `json:"launchType,omitempty"`
	AvailabilityZone string       `json:"availabilityZone,omitempty"`
	Tags             []ecsapi.Tag `json:"tags,omitempty"`
	// GPUIDs are the GPUs the scheduler reserved, by container name
	// (Container.gpuIds).
	GPUIDs map[string][]string `json:"gpuIds,omitempty"`
}

// TaskState is a task's observed state as the agent reports it.
type TaskState struct {
	TaskARN string `json:"taskArn"`
	// Status is the task's lastStatus (a lifecycle.Status name).
	Status string `json:"status"`
	// StopCode and Reason explain a STOPPED task (e.g. EssentialContainerExited,
	// "Essential container in task exited").
	StopCode           string           `json:"stopCode,omitempty"`
	Reason             string           `json:"reason,omitempty"`
	HealthStatus       string           `json:"healthStatus,omitempty"`
	PullStartedAt      *time.Time       `json:"pullStartedAt,omitempty"`
	PullStoppedAt      *time.Time       `json:"pullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time       `json:"executionStoppedAt,omitempty"`
	Containers         []ContainerState `json:"containers,omitempty"`
	// PrivateIP is the awsvpc task's address on the task network.
	PrivateIP  string `json:"privateIp,omitempty"`
	MacAddress string `json:"macAddress,omitempty"`
	SubnetCIDR string `json:"subnetCidr,omitempty"`
	Gateway    string `json:"gateway,omitempty"`
}

// ContainerState is one container's observed state.
type ContainerState struct {
	Name            string                  `json:"name"`
	RuntimeID       string                  `json:"runtimeId,omitempty"`
	ImageDigest     string                  `json:"imageDigest,omitempty"`
	Status          string                  `json:"status"` // PENDING, RUNNING, STOPPED
	ExitCode        *int32                  `json:"exitCode,omitempty"`
	Reason          string                  `json:"reason,omitempty"`
	HealthStatus    string                  `json:"healthStatus,omitempty"`
	NetworkBindings []ecsapi.NetworkBinding `json:"networkBindings,omitempty"`
}
