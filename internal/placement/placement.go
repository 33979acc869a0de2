// Package placement decides which container instance runs each task, with
// ECS's semantics: resources (cpu, memory, tcp and udp host ports, GPUs),
// required attributes, constraints (distinctInstance, memberOf with the
// cluster query language) and a chain of strategies (binpack, spread,
// random).
//
// It is pure: it sees an immutable snapshot of the cluster's instances and
// a request, and returns a plan or ECS's failure reasons. Randomness is an
// input (Request.Seed), so every decision can be replayed.
package placement

import (
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/berth-dev/berth/internal/clusterquery"
)

// Launch types an instance offers.
const (
	LaunchEC2      = "EC2"
	LaunchExternal = "EXTERNAL"
	LaunchFargate  = "FARGATE"
)

// Instance is a container instance as placement sees it. Place never
// changes an Instance; Commit applies a plan's reservations.
type Instance struct {
	// The fields every placement reads for every instance come first, so a
	// scan over 10,000 instances touches about one cache line each.

	// Remaining resources.
	CPU        int64
	Memory     int64
	Active     bool   // status ACTIVE (not DRAINING or INACTIVE)
	Connected  bool   // agentConnected
	LaunchType string // LaunchEC2 when empty
	// Groups counts the instance's live tasks (not STOPPED) by task group.
	Groups     map[string]int
	Attributes map[string]string

	// UsedTCP and UsedUDP are host ports reserved or in use.
	UsedTCP  map[uint16]bool
	UsedUDP  map[uint16]bool
	FreeGPUs []string
	Pool     string // the capacity pool the agent was started in

	ARN           string
	ID            string // container instance id (the ARN's last segment)
	EC2InstanceID string
	AgentVersion  string
	RegisteredAt  time.Time
	RunningTasks  int
}

func (in *Instance) launchType() string {
	if in.LaunchType == "" {
		return LaunchEC2
	}
	return in.LaunchType
}

// subject is an Instance as the cluster query language sees it.
type subject struct{ *Instance }

func (s subject) Attribute(name string) (string, bool) {
	v, ok := s.Attributes[name]
	return v, ok
}
func (s subject) EC2InstanceID() string        { return s.Instance.EC2InstanceID }
func (s subject) RegisteredAt() time.Time      { return s.Instance.RegisteredAt }
func (s subject) RunningTasksCount() int       { return s.RunningTasks }
func (s subject) AgentConnected() bool         { return s.Connected }
func (s subject) AgentVersion() string         { return s.Instance.AgentVersion }
func (s subject) TaskGroups() iter.Seq[string] { return maps.Keys(s.Groups) }

// Subject returns in as the cluster query language sees it (for
// ListContainerInstances --filter).
func Subject(in *Instance) clusterquery.Subject { return subject{in} }

// Demand is what one task needs.
type Demand struct {
	CPU    int64
	Memory int64
	// TCP and UDP are the static host ports the task binds.
	TCP []uint16
	UDP []uint16
	// DynamicTCP and DynamicUDP count the container ports that get a host
	// port picked by placement from the ephemeral range.
	DynamicTCP int
	DynamicUDP int
	GPUs       int
}

// The range dynamic host ports are picked from, as the ECS agent's default.
const (
	DynamicPortFirst = 49153
	DynamicPortLast  = 65535
)

// Constraint is a placement constraint. A nil Expr is distinctInstance.
type Constraint struct {
	Expr *clusterquery.Expr // memberOf
}

// DistinctInstance is the distinctInstance constraint.
var DistinctInstance = Constraint{}

// MemberOf is a memberOf constraint.
func MemberOf(e *clusterquery.Expr) Constraint { return Constraint{Expr: e} }

// Attr is a required attribute (a task definition's requiresAttributes): an
// empty Value only requires the name to be present.
type Attr struct{ Name, Value string }

// Request is one placement call: count tasks of the same demand.
type Request struct {
	Demand      Demand
	Count       int
	Group       string // the tasks' group: spread, distinctInstance and task:group count it
	Requires    []Attr
	Constraints []Constraint
	Strategy    []Strategy
	LaunchType  string // LaunchEC2 when empty
	Pool        string // only instances of this pool when set
	Seed        uint64
}

// Failure reasons, as ECS reports them in failures[].
const (
	ReasonCPU       = "RESOURCE:CPU"
	ReasonMemory    = "RESOURCE:MEMORY"
	ReasonPorts     = "RESOURCE:PORTS"
	ReasonPortsUDP  = "RESOURCE:PORTS_UDP"
	ReasonGPU       = "RESOURCE:GPU"
	ReasonAgent     = "AGENT"
	ReasonAttribute = "ATTRIBUTE"
)

// Details of an ATTRIBUTE failure.
const (
	DetailMemberOf = "MemberOf placement constraint unsatisfied."
	DetailDistinct = "DistinctInstance placement constraint unsatisfied."
)

// Failure is one instance that could not take a task, and why.
type Failure struct {
	ARN    string
	Reason string
	Detail string // for ATTRIBUTE: which constraint or "MissingAttribute: <name>"
}

// Placement is one placed task.
type Placement struct {
	Instance int // index into the snapshot
	// DynamicTCP and DynamicUDP are the host ports picked for the task's
	// dynamic port mappings, in order.
	DynamicTCP []uint16
	DynamicUDP []uint16
	GPUs       []string
}

// Plan is the outcome of Place. Failures is set when fewer than Count tasks
// were placed: one entry per eligible instance, with the reason it refused
// the first task that could not be placed.
type Plan struct {
	Placements []Placement
	Failures   []Failure
}

// Place plans req over insts without changing them.
func Place(insts []Instance, req Request) Plan {
	p := newPlanner(insts, &req)
	defer p.release()
	var plan Plan
	for n := 0; n < req.Count; n++ {
		i, ok := p.choose()
		if !ok {
			plan.Failures = p.failures()
			break
		}
		plan.Placements = append(plan.Placements, p.reserve(i))
	}
	return plan
}

// Commit applies a plan's reservations to insts (the snapshot Place saw),
// so the next Place sees them.
func Commit(insts []Instance, req Request, plan Plan) {
	for _, pl := range plan.Placements {
		reserveOn(&insts[pl.Instance], &req, pl)
	}
}

// Check says why in cannot take one task of req, or returns nil if it can
// (its status and launch type are the caller's business). StartTask uses it: it names its instances, so no
// strategy applies, but resources, required attributes and memberOf
// constraints do.
func Check(in *Instance, req Request) *Failure {
	if reason, detail := newPlanner([]Instance{*in}, &req).refuse(0); reason != "" {
		return &Failure{ARN: in.ARN, Reason: reason, Detail: detail}
	}
	return nil
}

// reserveOn takes a placement's resources from in. It replaces the maps
// and slices it changes rather than writing to them, so snapshots may share
// them.
func reserveOn(in *Instance, req *Request, pl Placement) {
	d := &req.Demand
	in.CPU -= d.CPU
	in.Memory -= d.Memory
	in.UsedTCP = addPorts(in.UsedTCP, d.TCP, pl.DynamicTCP)
	in.UsedUDP = addPorts(in.UsedUDP, d.UDP, pl.DynamicUDP)
	if len(pl.GPUs) > 0 {
		in.FreeGPUs = slices.DeleteFunc(slices.Clone(in.FreeGPUs), func(g string) bool { return slices.Contains(pl.GPUs, g) })
	}
	groups := maps.Clone(in.Groups)
	if groups == nil {
		groups = map[string]int{}
	}
	groups[req.Group]++
	in.Groups = groups
}

// addPorts returns a copy of set with the listed ports added.
func addPorts(set map[uint16]bool, lists ...[]uint16) map[uint16]bool {
	set = maps.Clone(set)
	if set == nil {
		set = map[uint16]bool{}
	}
	for _, l := range lists {
		for _, p := range l {
			set[p] = true
		}
	}
	return set
}

// pickPorts returns n free ports of the dynamic range that are neither in
// used nor in static, scanning upward from start (wrapping around). Hosts
// may have other listeners in the range, so picks start at a random place
// rather than always at the bottom.
func pickPorts(used map[uint16]bool, static []uint16, n, start int) ([]uint16, bool) {
	if n == 0 {
		return nil, true
	}
	const size = DynamicPortLast - DynamicPortFirst + 1
	out := make([]uint16, 0, n)
	for k := 0; k < size && len(out) < n; k++ {
		p := uint16(DynamicPortFirst + (start+k)%size)
		if !used[p] && !slices.Contains(static, p) {
			out = append(out, p)
		}
	}
	return out, len(out) == n
}
