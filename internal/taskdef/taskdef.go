// Package taskdef holds ECS's own rules for task definitions, beyond what the
// API model can express: Validate checks a RegisterTaskDefinition request the
// way ECS does (container names and references, memory, network modes, port
// mappings, Fargate's requirements, the 64 KiB size limit) and Build turns a
// valid request into the TaskDefinition ECS stores and returns, with the
// defaults and computed members (compatibilities, requiresAttributes,
// normalised cpu and memory) filled in.
//
// The package is pure: no IO, no clock, no store. Errors are ECS errors made
// with ecsapi.Errorf, so callers return them unchanged.
package taskdef

import (
	"slices"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// Limits of a task definition.
const (
	// MaxContainers is the number of container definitions a task
	// definition may have.
	MaxContainers = 10
	// MaxSize is the largest task definition ECS accepts, in bytes of JSON.
	MaxSize = 64 << 10
	// MinContainerMemory is the smallest container memory or memory
	// reservation, in MiB, that Docker 20.10 and later accepts.
	MinContainerMemory = 6

	maxNameLen = 255
)

func clientErr(format string, args ...any) error {
	return ecsapi.Errorf(ecsapi.CodeClientException, format, args...)
}

// networkMode returns the task's network mode; ECS uses bridge when the
// request has none.
func networkMode(p *ecsapi.NetworkMode) ecsapi.NetworkMode {
	if p == nil || *p == "" {
		return ecsapi.NetworkModeBridge
	}
	return *p
}

// EffectiveNetworkMode returns the network mode a task definition's tasks
// run with: its networkMode, or bridge when it has none (ECS stores and
// returns no networkMode then, so readers must apply the default).
func EffectiveNetworkMode(td *ecsapi.TaskDefinition) ecsapi.NetworkMode {
	if td == nil {
		return ecsapi.NetworkModeBridge
	}
	return networkMode(td.NetworkMode)
}

// requires reports whether the request lists c in requiresCompatibilities.
func requires(in *ecsapi.RegisterTaskDefinitionRequest, c ecsapi.Compatibility) bool {
	return slices.Contains(in.RequiresCompatibilities, c)
}

// essential reports whether a container is essential: ECS treats an absent
// essential as true.
func essential(c *ecsapi.ContainerDefinition) bool {
	return c.Essential == nil || *c.Essential
}
