// Package placement decides which container instance runs each task. It is
// pure: it sees an immutable snapshot of the cluster's instances and a
// task's demand, and returns a plan or ECS's failure reasons.
//
// This is the first-fit placement the agent issue ships; the scheduler issue
// replaces it with ECS's strategies and constraints.
package placement

import "slices"

// Instance is a container instance as placement sees it.
type Instance struct {
	ARN       string
	Active    bool // status ACTIVE (not DRAINING or INACTIVE)
	Connected bool // agentConnected
	CPU       int64
	Memory    int64
	// UsedTCP and UsedUDP are host ports reserved or in use.
	UsedTCP map[uint16]bool
	UsedUDP map[uint16]bool
}

// Demand is what one task needs.
type Demand struct {
	CPU    int64
	Memory int64
	// TCP and UDP are the static host ports the task binds.
	TCP []uint16
	UDP []uint16
}

// Failure reasons, as ECS reports them in failures[].
const (
	ReasonCPU      = "RESOURCE:CPU"
	ReasonMemory   = "RESOURCE:MEMORY"
	ReasonPorts    = "RESOURCE:PORTS"
	ReasonPortsUDP = "RESOURCE:PORTS_UDP"
	ReasonAgent    = "AGENT"
)

// Failure is one instance that could not take a task, and why.
type Failure struct {
	ARN    string
	Reason string
}

// Fits says why d does not fit on in, or "" if it does.
func Fits(in *Instance, d Demand) string {
	switch {
	case !in.Connected:
		return ReasonAgent
	case in.CPU < d.CPU:
		return ReasonCPU
	case in.Memory < d.Memory:
		return ReasonMemory
	}
	for _, p := range d.TCP {
		if in.UsedTCP[p] {
			return ReasonPorts
		}
	}
	for _, p := range d.UDP {
		if in.UsedUDP[p] {
			return ReasonPortsUDP
		}
	}
	return ""
}

// Reserve takes d's resources from in.
func Reserve(in *Instance, d Demand) {
	in.CPU -= d.CPU
	in.Memory -= d.Memory
	if in.UsedTCP == nil {
		in.UsedTCP = map[uint16]bool{}
	}
	if in.UsedUDP == nil {
		in.UsedUDP = map[uint16]bool{}
	}
	for _, p := range d.TCP {
		in.UsedTCP[p] = true
	}
	for _, p := range d.UDP {
		in.UsedUDP[p] = true
	}
}

// FirstFit places count tasks of demand d, each on the first ACTIVE
// instance (in the given order) with enough remaining resources, and
// reserves them in insts (the caller passes a copy it may change). It
// returns the chosen instance index of each placed task and, if some could
// not be placed, one failure per instance that was considered, with the
// reason it was refused for the first task that did not fit.
func FirstFit(insts []Instance, d Demand, count int) (placed []int, failures []Failure) {
	for n := 0; n < count; n++ {
		chosen := -1
		var refused []Failure
		for i := range insts {
			if !insts[i].Active {
				continue
			}
			if why := Fits(&insts[i], d); why != "" {
				refused = append(refused, Failure{ARN: insts[i].ARN, Reason: why})
				continue
			}
			chosen = i
			break
		}
		if chosen < 0 {
			return placed, dedupe(refused)
		}
		Reserve(&insts[chosen], d)
		placed = append(placed, chosen)
	}
	return placed, nil
}

func dedupe(fs []Failure) []Failure {
	slices.SortStableFunc(fs, func(a, b Failure) int {
		switch {
		case a.ARN < b.ARN:
			return -1
		case a.ARN > b.ARN:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(fs, func(a, b Failure) bool { return a.ARN == b.ARN })
}
