// Package containerspec translates an ECS container definition (with the
// task's run-time overrides applied) into the Docker configuration the agent
// creates. It is pure: no IO, every decision is a function of Input.
package containerspec

import (
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

// Labels berth writes on every task container, as the ECS agent does, plus
// berth's own owner label.
const (
	LabelCluster        = "com.amazonaws.ecs.cluster"
	LabelTaskARN        = "com.amazonaws.ecs.task-arn"
	LabelContainerName  = "com.amazonaws.ecs.container-name"
	LabelTaskDefFamily  = "com.amazonaws.ecs.task-definition-family"
	LabelTaskDefVersion = "com.amazonaws.ecs.task-definition-version"
	LabelInstance       = "berth.instance" // the owning agent's container instance id
	LabelRole           = "berth.role"     // "container" or "pause"
)

// VolumeSource says where a task volume's data lives on the host.
type VolumeSource struct {
	// HostPath is a bind source (host.sourcePath, or the scratch directory
	// the agent made for an empty host volume).
	HostPath string
	// DockerVolume is the name of a Docker volume (dockerVolumeConfiguration).
	DockerVolume string
}

// Input is everything the translation needs.
type Input struct {
	Cluster    string
	TaskARN    string
	InstanceID string // berth container instance id: the LabelInstance value
	Family     string
	Revision   int32
	// Task is the task definition (volumes, network/pid/ipc mode, task-level
	// cpu and memory).
	Task *ecsapi.TaskDefinition
	// Container is the container definition with overrides already applied
	// (ApplyOverride).
	Container ecsapi.ContainerDefinition
	// Name is the Docker container name the agent chose (and checkpointed).
	Name string
	// NetworkMode is the effective network mode: bridge, host, none or awsvpc.
	NetworkMode string
	// PauseContainerID is the awsvpc task's pause container, whose network
	// namespace every container joins.
	PauseContainerID string
	// Volumes maps the task definition's volume names to their sources.
	Volumes map[string]VolumeSource
	// ContainerIDs maps the task's container names to the Docker ids of the
	// containers already created (for links and volumesFrom).
	ContainerIDs map[string]string
	// Env is added to the container's environment (metadata endpoint URIs);
	// the definition's own environment wins on a clash.
	Env map[string]string
	// FileEnv holds the variables of the container's environmentFiles, which
	// the agent downloads and parses (the first file naming a variable
	// wins, as in ECS). Variables of the definition's environment take
	// precedence over them, and they over Env.
	FileEnv map[string]string
	// DefaultDNS are the DNS servers a container gets when its definition
	// sets none (the agent's --task-dns).
	DefaultDNS []string
	// GPUIDs are the host GPUs reserved for this container.
	GPUIDs []string
}

// Output is what to create.
type Output struct {
	Spec runtime.Spec
	// Warnings name fields that could not be expressed and were left out
	// (for the agent's log), e.g. a log driver that is not available.
	Warnings []string
}
