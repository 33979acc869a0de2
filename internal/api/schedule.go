package api

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/capacity"
	"github.com/berth-dev/berth/internal/clusterquery"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
)

// Limits ECS puts on a call's placement settings.
const (
	maxPlacementConstraints = 10
	maxConstraintExpression = 2000
)

// parseConstraints validates a call's placement constraints (and a task
// definition's, which may only be memberOf) into placement's form.
func parseConstraints(run []ecsapi.PlacementConstraint, def []ecsapi.TaskDefinitionPlacementConstraint) ([]placement.Constraint, error) {
	if len(run) > maxPlacementConstraints {
		return nil, invalidParam("placementConstraints can have at most %d items.", maxPlacementConstraints)
	}
	var out []placement.Constraint
	add := func(typ, expr string, distinctOK bool) error {
		switch typ {
		case "distinctInstance":
			if !distinctOK {
				return invalidParam("distinctInstance is not a valid task definition placement constraint: use it in RunTask or a service.")
			}
			if expr != "" {
				return invalidParam("Constraint expression must be empty for the distinctInstance constraint type.")
			}
			out = append(out, placement.DistinctInstance)
		case "memberOf":
			if strings.TrimSpace(expr) == "" {
				return invalidParam("Constraint expression is required for the memberOf constraint type.")
			}
			if len(expr) > maxConstraintExpression {
				return invalidParam("Constraint expression can be up to %d characters long.", maxConstraintExpression)
			}
			e, err := clusterquery.Parse(expr)
			if err != nil {
				return invalidParam("Invalid constraint expression %q: %v", expr, err)
			}
			out = append(out, placement.MemberOf(e))
		default:
			return invalidParam("Invalid placement constraint type %q: use distinctInstance or memberOf.", typ)
		}
		return nil
	}
	for _, c := range def {
		if err := add(string(ecsapi.Value(c.Type)), ecsapi.Value(c.Expression), false); err != nil {
			return nil, err
		}
	}
	for _, c := range run {
		if err := add(string(ecsapi.Value(c.Type)), ecsapi.Value(c.Expression), true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseStrategy validates a call's placement strategy chain.
func parseStrategy(in []ecsapi.PlacementStrategy) ([]placement.Strategy, error) {
	if len(in) > placement.MaxStrategies {
		return nil, invalidParam("placementStrategy can have at most %d items.", placement.MaxStrategies)
	}
	out := make([]placement.Strategy, 0, len(in))
	for _, s := range in {
		ps, err := placement.ParseStrategy(string(ecsapi.Value(s.Type)), ecsapi.Value(s.Field))
		if err != nil {
			return nil, invalidParam("%v", err)
		}
		out = append(out, ps)
	}
	return out, nil
}

// placementSeed derives a placement's random seed from the call's request
// id, so a decision can be replayed from the logs.
// In-process callers without a request id get a random seed (logged with
// the plan like any other).
func placementSeed(ctx context.Context, attempt int) uint64 {
	id := awsjson.RequestIDFrom(ctx)
	if id == "" {
		return rand.Uint64()
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{byte(attempt)})
	return h.Sum64()
}

// cachedInstance is a decoded instance record and its placement view
// (without task groups, which snapshot adds per call).
type cachedInstance struct {
	ci   ecsapi.ContainerInstance
	view placement.Instance
}

// snapshot reads a cluster's container instances and turns them into
// placement's view, with the task groups live on each. Records unchanged
// since the last call come from the cache without being read or decoded;
// the revisions returned are those the plan's transaction is conditioned on.
func (e *ECS) snapshot(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, []int64, []placement.Instance, error) {
	keys, _, err := e.st.List(ctx, instancesPrefix(cluster), store.ListOptions{KeysOnly: true})
	if err != nil {
		return nil, nil, nil, err
	}
	groups, err := e.instanceGroups(ctx, cluster)
	if err != nil {
		return nil, nil, nil, err
	}
	insts := make([]ecsapi.ContainerInstance, 0, len(keys))
	revs := make([]int64, 0, len(keys))
	view := make([]placement.Instance, 0, len(keys))
	for _, k := range keys {
		c, ok := e.instances.get(k.Key, k.ModRev)
		rev := k.ModRev
		if !ok {
			kv, err := e.st.Get(ctx, k.Key)
			if errors.Is(err, store.ErrNotFound) {
				continue // deregistered and removed since the list
			} else if err != nil {
				return nil, nil, nil, err
			}
			if err := json.Unmarshal(kv.Value, &c.ci); err != nil {
				return nil, nil, nil, err
			}
			c.view = placementInstance(&c.ci, nil)
			rev = kv.ModRev
			e.instances.put(k.Key, rev, c)
		}
		v := c.view
		v.Groups = groups[v.ID]
		insts = append(insts, c.ci)
		revs = append(revs, rev)
		view = append(view, v)
	}
	return insts, revs, view, nil
}

// instanceGroups counts the live tasks of each instance by group, from the
// /insttasks index (whose values hold the task's group).
func (e *ECS) instanceGroups(ctx context.Context, cluster string) (map[string]map[string]int, error) {
	prefix := "/insttasks/" + cluster + "/"
	kvs, _, err := e.st.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	for _, kv := range kvs {
		inst, _, _ := strings.Cut(kv.Key[len(prefix):], "/")
		m := out[inst]
		if m == nil {
			m = map[string]int{}
			out[inst] = m
		}
		m[string(kv.Value)]++
	}
	return out, nil
}

// placementInstance is one stored instance as placement sees it.
func placementInstance(ci *ecsapi.ContainerInstance, groups map[string]int) placement.Instance {
	p := placement.Instance{
		ARN:           ecsapi.Value(ci.ContainerInstanceArn),
		ID:            instanceIDOfRecord(*ci),
		EC2InstanceID: ecsapi.Value(ci.Ec2InstanceId),
		Active:        ecsapi.Value(ci.Status) == statusActive,
		Connected:     ci.AgentConnected,
		RunningTasks:  int(ci.RunningTasksCount),
		Attributes:    make(map[string]string, len(ci.Attributes)),
		UsedTCP:       map[uint16]bool{},
		UsedUDP:       map[uint16]bool{},
		Groups:        groups,
	}
	if ci.VersionInfo != nil {
		p.AgentVersion = ecsapi.Value(ci.VersionInfo.AgentVersion)
	}
	if ci.RegisteredAt != nil {
		p.RegisteredAt = ci.RegisteredAt.Time
	}
	for _, a := range ci.Attributes {
		p.Attributes[a.Name] = ecsapi.Value(a.Value)
	}
	p.LaunchType = p.Attributes["berth.launch-type"]
	p.Pool = p.Attributes["berth.pool"]
	for _, r := range ci.RemainingResources {
		switch ecsapi.Value(r.Name) {
		case "CPU":
			p.CPU = int64(r.IntegerValue)
		case "MEMORY":
			p.Memory = int64(r.IntegerValue)
		case "PORTS":
			addPorts(p.UsedTCP, r.StringSetValue)
		case "PORTS_UDP":
			addPorts(p.UsedUDP, r.StringSetValue)
		case "GPU":
			p.FreeGPUs = r.StringSetValue
		}
	}
	return p
}

func addPorts(set map[uint16]bool, ports []string) {
	for _, s := range ports {
		if n, err := strconv.ParseUint(s, 10, 16); err == nil {
			set[uint16(n)] = true
		}
	}
}

// checkCapacity fails a RunTask whose capacity has no ACTIVE instance at
// all: ECS answers an error then, not failures[].
func checkCapacity(view []placement.Instance, legs []leg) error {
	for _, g := range legs {
		for i := range view {
			lt := view[i].LaunchType
			if lt == "" {
				lt = placement.LaunchEC2
			}
			if view[i].Active && lt == g.launchType && (g.pool == "" || view[i].Pool == g.pool) {
				return nil
			}
		}
	}
	switch g := legs[0]; {
	case g.launchType == placement.LaunchFargate:
		return invalidParam("No Container Instances were found in your cluster: Fargate capacity comes from agents started with --launch-type FARGATE.")
	case g.pool != "":
		return invalidParam("No Container Instances were found in your cluster: capacity provider %s places on agents started with --pool %s.", g.provider, g.pool)
	}
	return invalidParam("No Container Instances were found in your cluster.")
}

func failuresOf(fs []placement.Failure) []ecsapi.Failure {
	out := make([]ecsapi.Failure, 0, len(fs))
	for _, f := range fs {
		ef := ecsapi.Failure{Arn: ecsapi.Ptr(f.ARN), Reason: ecsapi.Ptr(f.Reason)}
		if f.Detail != "" {
			ef.Detail = ecsapi.Ptr(f.Detail)
		}
		out = append(out, ef)
	}
	return out
}

func logPlacement(ctx context.Context, req *placement.Request, plan placement.Plan) {
	slog.DebugContext(ctx, "placement", "requestId", awsjson.RequestIDFrom(ctx), "seed", req.Seed,
		"count", req.Count, "group", req.Group, "placed", len(plan.Placements), "failures", len(plan.Failures))
}

// withDynamicPorts returns a copy of def whose bridge-mode port mappings
// without a host port get the ports placement picked, in order.
func withDynamicPorts(def *ecsapi.TaskDefinition, tcp, udp []uint16) *ecsapi.TaskDefinition {
	if len(tcp) == 0 && len(udp) == 0 {
		return def
	}
	var cp ecsapi.TaskDefinition
	b, _ := json.Marshal(def)
	_ = json.Unmarshal(b, &cp)
	for ci := range cp.ContainerDefinitions {
		for pi := range cp.ContainerDefinitions[ci].PortMappings {
			pm := &cp.ContainerDefinitions[ci].PortMappings[pi]
			if ecsapi.Value(pm.HostPort) != 0 || pm.ContainerPortRange != nil {
				continue
			}
			list := &tcp
			if ecsapi.Value(pm.Protocol) == ecsapi.TransportProtocolUdp {
				list = &udp
			}
			if len(*list) > 0 {
				pm.HostPort = ecsapi.Ptr(int32((*list)[0]))
				*list = (*list)[1:]
			}
		}
	}
	return &cp
}

// leg is the part of a RunTask that one capacity provider (or the plain
// launch type) places.
type leg struct {
	provider   string // "" for a launch type
	launchType string // placement.Launch*
	pool       string
	count      int
}

// capacityLegs resolves a RunTask's capacity: the call's provider strategy,
// else its launch type, else the cluster's default provider strategy, else
// EC2. It returns one leg per provider that receives tasks.
func (e *ECS) capacityLegs(ctx context.Context, l *taskLaunch, launchType *ecsapi.LaunchType, items []ecsapi.CapacityProviderStrategyItem, count int) ([]leg, error) {
	if launchType == nil && len(items) == 0 {
		items = l.cluster.DefaultCapacityProviderStrategy
	}
	if len(items) == 0 {
		return []leg{{launchType: l.launchType, count: count}}, nil
	}
	strategy := make([]capacity.Item, len(items))
	for i, it := range items {
		strategy[i] = capacity.Item{Provider: it.CapacityProvider, Base: int(it.Base), Weight: int(it.Weight)}
	}
	if msg := capacity.ValidateStrategy(strategy); msg != "" {
		return nil, invalidParam("%s", msg)
	}
	kinds := map[string]leg{}
	for _, it := range strategy {
		if !slices.Contains(l.cluster.CapacityProviders, it.Provider) {
			return nil, invalidParam("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
		k := leg{provider: it.Provider, launchType: placement.LaunchFargate}
		if !isFargateProvider(it.Provider) {
			cp, _, err := e.loadCapacityProvider(ctx, it.Provider)
			if err != nil || ecsapi.Value(cp.Status) != statusActive {
				return nil, invalidParam("The specified capacity provider %s was not found. Specify a valid capacity provider and try again.", it.Provider)
			}
			k.launchType = placement.LaunchEC2
			if cp.AutoScalingGroupProvider != nil {
				k.pool, _ = capacity.PoolOf(cp.AutoScalingGroupProvider.AutoScalingGroupArn)
			}
		}
		kinds[it.Provider] = k
	}
	fargate := 0
	for _, k := range kinds {
		if k.launchType == placement.LaunchFargate {
			fargate++
		}
	}
	if fargate > 0 && fargate < len(kinds) {
		return nil, invalidParam("The specified capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.")
	}
	if fargate > 0 {
		if err := l.fargate(); err != nil {
			return nil, err
		}
		l.constraints, l.strategy = nil, nil
	}
	var legs []leg
	for _, p := range capacity.Distribute(strategy, count, nil) {
		i := slices.IndexFunc(legs, func(g leg) bool { return g.provider == p })
		if i < 0 {
			legs = append(legs, kinds[p])
			i = len(legs) - 1
		}
		legs[i].count++
	}
	return legs, nil
}
