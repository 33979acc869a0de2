package containerspec

import (
	"slices"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// ApplyOverride applies a RunTask/StartTask container override to a
// container definition with ECS's semantics: command replaces (an explicit
// empty list too); environment entries merge by name, the override winning
// and new names appended in order; environmentFiles are appended; cpu,
// memory and memoryReservation replace; resourceRequirements replace those
// of the same type. The override's name only selects the container. def and
// o are not modified: every changed slice is a new one.
func ApplyOverride(def ecsapi.ContainerDefinition, o *ecsapi.ContainerOverride) ecsapi.ContainerDefinition {
	if o == nil {
		return def
	}
	if o.Command != nil {
		def.Command = slices.Clone(o.Command)
	}
	if len(o.Environment) > 0 {
		def.Environment = mergeEnvironment(def.Environment, o.Environment)
	}
	if len(o.EnvironmentFiles) > 0 {
		def.EnvironmentFiles = slices.Concat(def.EnvironmentFiles, o.EnvironmentFiles)
	}
	if o.Cpu != nil {
		def.Cpu = *o.Cpu
	}
	if o.Memory != nil {
		def.Memory = ecsapi.Ptr(*o.Memory)
	}
	if o.MemoryReservation != nil {
		def.MemoryReservation = ecsapi.Ptr(*o.MemoryReservation)
	}
	if len(o.ResourceRequirements) > 0 {
		def.ResourceRequirements = mergeRequirements(def.ResourceRequirements, o.ResourceRequirements)
	}
	return def
}

// mergeEnvironment returns a copy of base where each named override entry
// replaces the entries of its name, or is appended when the name is new.
func mergeEnvironment(base, over []ecsapi.KeyValuePair) []ecsapi.KeyValuePair {
	out := slices.Clone(base)
	for _, kv := range over {
		if kv.Name == nil {
			continue
		}
		replaced := false
		for i := range out {
			if out[i].Name != nil && *out[i].Name == *kv.Name {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// mergeRequirements keeps base's requirements of the types over does not
// name, followed by over's.
func mergeRequirements(base, over []ecsapi.ResourceRequirement) []ecsapi.ResourceRequirement {
	out := make([]ecsapi.ResourceRequirement, 0, len(base)+len(over))
	for _, rr := range base {
		if !slices.ContainsFunc(over, func(o ecsapi.ResourceRequirement) bool { return o.Type == rr.Type }) {
			out = append(out, rr)
		}
	}
	return append(out, over...)
}
