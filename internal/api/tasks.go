package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// Task records:
//
//	/tasks/<cluster>/<task id>                      taskRecord
//	/insttasks/<cluster>/<instance id>/<task id>    empty: the live tasks of an instance
//
// A task is placed in the transaction that reserves its resources on the
// instance record (CAS on both); the index entry goes when the task is
// STOPPED and its resources are given back in the same transaction.
func taskKey(cluster, id string) string { return tasksPrefix(cluster) + id }
func instTasksPrefix(cluster, instanceID string) string {
	return "/insttasks/" + cluster + "/" + instanceID + "/"
}

// taskRecord is a stored task: the API shape plus what the agent and the
// resource accounting need.
type taskRecord struct {
	Task       ecsapi.Task            `json:"task"`
	Definition *ecsapi.TaskDefinition `json:"definition"`
	InstanceID string                 `json:"instanceId"`
	Reserved   reservation            `json:"reserved"`
	// Hold holds a service task's stop while its load balancer targets
	// drain (tasks_state.go); every writer keeps it.
	Hold *stopHold `json:"stopHold,omitempty"`
}

// reservation is what a task holds on its instance until it is STOPPED:
// its host ports include the dynamic ones placement picked.
type reservation struct {
	CPU    int64    `json:"cpu"`
	Memory int64    `json:"memory"`
	TCP    []uint16 `json:"tcp,omitempty"`
	UDP    []uint16 `json:"udp,omitempty"`
	GPUs   []string `json:"gpus,omitempty"`
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// taskLaunch is one validated RunTask or StartTask call.
type taskLaunch struct {
	cluster     ecsapi.Cluster
	def         *ecsapi.TaskDefinition
	defTags     []ecsapi.Tag
	overrides   *ecsapi.TaskOverride
	demand      placement.Demand
	group       string
	constraints []placement.Constraint
	strategy    []placement.Strategy
	launchType  string
	startedBy   *string
	tags        []ecsapi.Tag
	propagate   ecsapi.PropagateTags
	execCommand bool
	netConfig   *ecsapi.NetworkConfiguration
}

// prepareLaunch validates what RunTask and StartTask share.
func (e *ECS) prepareLaunch(ctx context.Context, clusterRef *string, tdRef string, ov *ecsapi.TaskOverride, group, startedBy *string, tags []ecsapi.Tag, propagate *ecsapi.PropagateTags, netConf *ecsapi.NetworkConfiguration, execCmd bool) (*taskLaunch, error) {
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	if startedBy != nil && len(*startedBy) > 128 {
		return nil, invalidParam("startedBy can be up to 128 characters long.")
	}
	if group != nil && (len(*group) > 255 || !groupRE.MatchString(*group)) {
		return nil, invalidParam("Group name %q is invalid: up to 255 letters, numbers, hyphens, colons and underscores are allowed.", *group)
	}
	c, _, err := e.activeCluster(ctx, clusterRef, true)
	if err != nil {
		return nil, err
	}
	rec, _, err := e.loadTaskDef(ctx, tdRef)
	if err != nil {
		return nil, err
	}
	if rec.Status != statusActive {
		return nil, clientErr("TaskDefinition is inactive")
	}
	def := rec.TaskDefinition
	l := &taskLaunch{cluster: c, def: &def, defTags: rec.Tags, overrides: ov, startedBy: startedBy, tags: tags, execCommand: execCmd, netConfig: netConf}
	if propagate != nil {
		l.propagate = *propagate
	}
	if l.propagate == ecsapi.PropagateTagsSERVICE {
		return nil, invalidParam("propagateTags SERVICE is only valid for tasks started by a service.")
	}
	l.group = "family:" + ecsapi.Value(def.Family)
	if group != nil {
		l.group = *group
	}
	mode := taskdef.EffectiveNetworkMode(&def)
	switch {
	case mode == ecsapi.NetworkModeAwsvpc && (netConf == nil || netConf.AwsvpcConfiguration == nil):
		return nil, invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case mode != ecsapi.NetworkModeAwsvpc && netConf != nil && netConf.AwsvpcConfiguration != nil:
		return nil, invalidParam("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	if err := validateOverrides(&def, ov); err != nil {
		return nil, err
	}
	l.demand = taskDemand(&def, ov)
	return l, nil
}

// request is the placement request of count tasks of l.
func (l *taskLaunch) request(count int) placement.Request {
	req := placement.Request{
		Demand:      l.demand,
		Count:       count,
		Group:       l.group,
		Constraints: l.constraints,
		Strategy:    l.strategy,
		LaunchType:  l.launchType,
	}
	for _, a := range l.def.RequiresAttributes {
		req.Requires = append(req.Requires, placement.Attr{Name: a.Name, Value: ecsapi.Value(a.Value)})
	}
	return req
}

var groupRE = regexp.MustCompile(`^[A-Za-z0-9:_-]+$`)

func validateOverrides(def *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) error {
	if ov == nil {
		return nil
	}
	for _, co := range ov.ContainerOverrides {
		name := ecsapi.Value(co.Name)
		if !slices.ContainsFunc(def.ContainerDefinitions, func(c ecsapi.ContainerDefinition) bool { return ecsapi.Value(c.Name) == name }) {
			return invalidParam("Override for container named %s is not a container in the TaskDefinition.", name)
		}
	}
	if ov.Cpu != nil {
		if _, ok := taskdef.ParseCPU(*ov.Cpu); !ok {
			return invalidParam("Invalid 'cpu' setting for task override %q.", *ov.Cpu)
		}
	}
	if ov.Memory != nil {
		if _, ok := taskdef.ParseMemory(*ov.Memory); !ok {
			return invalidParam("Invalid 'memory' setting for task override %q.", *ov.Memory)
		}
	}
	return nil
}

func containerOverride(ov *ecsapi.TaskOverride, name string) *ecsapi.ContainerOverride {
	if ov == nil {
		return nil
	}
	for i := range ov.ContainerOverrides {
		if ecsapi.Value(ov.ContainerOverrides[i].Name) == name {
			return &ov.ContainerOverrides[i]
		}
	}
	return nil
}

// taskDemand is the resources a task reserves on its instance: task-level
// cpu and memory when set (overrides first), else the sum over containers
// (memory, else memoryReservation), its static host ports, the number of
// bridge-mode port mappings that need a dynamic host port, and its GPUs.
func taskDemand(def *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) placement.Demand {
	var r placement.Demand
	var sumCPU, sumMem int64
	mode := taskdef.EffectiveNetworkMode(def)
	for _, c := range def.ContainerDefinitions {
		cpu, mem, memRes := int64(c.Cpu), int64(ecsapi.Value(c.Memory)), int64(ecsapi.Value(c.MemoryReservation))
		if co := containerOverride(ov, ecsapi.Value(c.Name)); co != nil {
			if co.Cpu != nil {
				cpu = int64(*co.Cpu)
			}
			if co.Memory != nil {
				mem = int64(*co.Memory)
			}
			if co.MemoryReservation != nil {
				memRes = int64(*co.MemoryReservation)
			}
		}
		sumCPU += cpu
		if mem > 0 {
			sumMem += mem
		} else {
			sumMem += memRes
		}
		for _, rr := range c.ResourceRequirements {
			if rr.Type == ecsapi.ResourceTypeGPU {
				n, _ := strconv.Atoi(rr.Value)
				r.GPUs += n
			}
		}
		for _, pm := range c.PortMappings {
			var hp int32
			udp := ecsapi.Value(pm.Protocol) == ecsapi.TransportProtocolUdp
			switch mode {
			case ecsapi.NetworkModeBridge:
				hp = ecsapi.Value(pm.HostPort)
				if hp <= 0 && pm.ContainerPortRange == nil {
					if udp {
						r.DynamicUDP++
					} else {
						r.DynamicTCP++
					}
				}
			case ecsapi.NetworkModeHost:
				hp = ecsapi.Value(pm.ContainerPort)
			}
			if hp <= 0 {
				continue
			}
			if udp {
				r.UDP = append(r.UDP, uint16(hp))
			} else {
				r.TCP = append(r.TCP, uint16(hp))
			}
		}
	}
	r.CPU, r.Memory = sumCPU, sumMem
	cpuStr, memStr := def.Cpu, def.Memory
	if ov != nil && ov.Cpu != nil {
		cpuStr = ov.Cpu
	}
	if ov != nil && ov.Memory != nil {
		memStr = ov.Memory
	}
	if cpuStr != nil {
		if n, ok := taskdef.ParseCPU(*cpuStr); ok {
			r.CPU = n
		}
	}
	if memStr != nil {
		if n, ok := taskdef.ParseMemory(*memStr); ok {
			r.Memory = n
		}
	}
	return r
}

// adjustRemaining applies a reservation (sign +1 takes, -1 gives back) to an
// instance's remainingResources.
func adjustRemaining(ci *ecsapi.ContainerInstance, r reservation, sign int) {
	for i := range ci.RemainingResources {
		res := &ci.RemainingResources[i]
		switch ecsapi.Value(res.Name) {
		case "CPU":
			res.IntegerValue -= int32(sign) * int32(r.CPU)
		case "MEMORY":
			res.IntegerValue -= int32(sign) * int32(r.Memory)
		case "PORTS":
			res.StringSetValue = changePorts(res.StringSetValue, r.TCP, sign)
		case "PORTS_UDP":
			res.StringSetValue = changePorts(res.StringSetValue, r.UDP, sign)
		case "GPU":
			// Remaining GPUs are the free ones: taking removes them.
			res.StringSetValue = changeSet(res.StringSetValue, r.GPUs, -sign)
		}
	}
}

func changePorts(set []string, ports []uint16, sign int) []string {
	items := make([]string, len(ports))
	for i, p := range ports {
		items[i] = strconv.Itoa(int(p))
	}
	return changeSet(set, items, sign)
}

// changeSet adds (sign +1) or removes (-1) items of a string set.
func changeSet(set []string, items []string, sign int) []string {
	out := slices.Clone(set)
	for _, s := range items {
		if sign > 0 {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		} else {
			out = slices.DeleteFunc(out, func(x string) bool { return x == s })
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// listInstances reads a cluster's container instances with their revisions.
func (e *ECS) listInstances(ctx context.Context, cluster string) ([]ecsapi.ContainerInstance, []int64, error) {
	kvs, _, err := e.st.List(ctx, instancesPrefix(cluster), store.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	insts := make([]ecsapi.ContainerInstance, 0, len(kvs))
	revs := make([]int64, 0, len(kvs))
	for _, kv := range kvs {
		var ci ecsapi.ContainerInstance
		if err := json.Unmarshal(kv.Value, &ci); err != nil {
			return nil, nil, err
		}
		insts = append(insts, ci)
		revs = append(revs, kv.ModRev)
	}
	return insts, revs, nil
}

// lastSegment is what follows the last "/" of an ARN (a task, instance or
// service id, a cluster name); a bare name or id is returned as it is.
func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// newTask builds the stored record of a task placed on ci.
func (e *ECS) newTask(l *taskLaunch, ci *ecsapi.ContainerInstance, pl placement.Placement, g *leg) taskRecord {
	cluster := ecsapi.Value(l.cluster.ClusterName)
	id := newID()
	taskARN := e.names.Resource("task/" + cluster + "/" + id)
	now := ecsapi.Time(e.now())
	def := withDynamicPorts(l.def, slices.Clone(pl.DynamicTCP), slices.Clone(pl.DynamicUDP))
	t := ecsapi.Task{
		TaskArn:              ecsapi.Ptr(taskARN),
		ClusterArn:           l.cluster.ClusterArn,
		ContainerInstanceArn: ci.ContainerInstanceArn,
		TaskDefinitionArn:    def.TaskDefinitionArn,
		CreatedAt:            now,
		DesiredStatus:        ecsapi.Ptr(lifecycle.Running),
		LastStatus:           ecsapi.Ptr(lifecycle.Pending),
		LaunchType:           ecsapi.Ptr(ecsapi.LaunchType(g.launchType)),
		Group:                ecsapi.Ptr(l.group),
		StartedBy:            l.startedBy,
		EnableExecuteCommand: l.execCommand,
		HealthStatus:         ecsapi.Ptr(ecsapi.HealthStatusUNKNOWN),
		Cpu:                  def.Cpu,
		Memory:               def.Memory,
		Version:              1,
		Overrides:            echoOverrides(def, l.overrides),
		Attributes:           []ecsapi.Attribute{{Name: "ecs.cpu-architecture", Value: ecsapi.Ptr(attrValue(ci, "ecs.cpu-architecture", "x86_64"))}},
		AvailabilityZone:     ecsapi.Ptr(attrValue(ci, "ecs.availability-zone", "")),
		Attachments:          []ecsapi.Attachment{},
		Tags:                 e.taskTags(l),
	}
	if g.provider != "" {
		t.CapacityProviderName = ecsapi.Ptr(g.provider)
	}
	if g.launchType == placement.LaunchFargate {
		t.PlatformVersion, t.PlatformFamily = ecsapi.Ptr("1.4.0"), ecsapi.Ptr("Linux")
	}
	if ecsapi.Value(t.AvailabilityZone) == "" {
		t.AvailabilityZone = nil
	}
	if l.overrides != nil && l.overrides.Cpu != nil {
		t.Cpu = l.overrides.Cpu
	}
	if l.overrides != nil && l.overrides.Memory != nil {
		t.Memory = l.overrides.Memory
	}
	if taskdef.EffectiveNetworkMode(def) == ecsapi.NetworkModeAwsvpc {
		t.LastStatus = ecsapi.Ptr(lifecycle.Provisioning)
		t.Attachments = []ecsapi.Attachment{awsvpcAttachment(l.netConfig)}
	}
	gpus := pl.GPUs
	for _, cd := range def.ContainerDefinitions {
		name := ecsapi.Value(cd.Name)
		c := ecsapi.Container{
			ContainerArn:      ecsapi.Ptr(e.names.Resource("container/" + cluster + "/" + id + "/" + newID())),
			TaskArn:           ecsapi.Ptr(taskARN),
			Name:              cd.Name,
			Image:             cd.Image,
			LastStatus:        ecsapi.Ptr(lifecycle.Pending),
			NetworkInterfaces: []ecsapi.NetworkInterface{},
			HealthStatus:      ecsapi.Ptr(ecsapi.HealthStatusUNKNOWN),
			Cpu:               ecsapi.Ptr(strconv.Itoa(int(cd.Cpu))),
		}
		if cd.Memory != nil {
			c.Memory = ecsapi.Ptr(strconv.Itoa(int(*cd.Memory)))
		}
		if cd.MemoryReservation != nil {
			c.MemoryReservation = ecsapi.Ptr(strconv.Itoa(int(*cd.MemoryReservation)))
		}
		c.GpuIds, gpus = takeGPUs(cd, gpus)
		if co := containerOverride(l.overrides, name); co != nil {
			if co.Cpu != nil {
				c.Cpu = ecsapi.Ptr(strconv.Itoa(int(*co.Cpu)))
			}
			if co.Memory != nil {
				c.Memory = ecsapi.Ptr(strconv.Itoa(int(*co.Memory)))
			}
			if co.MemoryReservation != nil {
				c.MemoryReservation = ecsapi.Ptr(strconv.Itoa(int(*co.MemoryReservation)))
			}
		}
		t.Containers = append(t.Containers, c)
	}
	res := reservation{
		CPU:    l.demand.CPU,
		Memory: l.demand.Memory,
		TCP:    append(slices.Clone(l.demand.TCP), pl.DynamicTCP...),
		UDP:    append(slices.Clone(l.demand.UDP), pl.DynamicUDP...),
		GPUs:   pl.GPUs,
	}
	return taskRecord{Task: t, Definition: def, InstanceID: instanceIDOfRecord(*ci), Reserved: res}
}

// takeGPUs hands a container the GPU ids its resourceRequirements ask for
// from the task's assigned ones.
func takeGPUs(cd ecsapi.ContainerDefinition, gpus []string) (mine, rest []string) {
	n := 0
	for _, rr := range cd.ResourceRequirements {
		if rr.Type == ecsapi.ResourceTypeGPU {
			k, _ := strconv.Atoi(rr.Value)
			n += k
		}
	}
	n = min(n, len(gpus))
	if n == 0 {
		return nil, gpus
	}
	return gpus[:n], gpus[n:]
}

// echoOverrides is the overrides member ECS returns: every container named,
// with the call's overrides merged in.
func echoOverrides(def *ecsapi.TaskDefinition, ov *ecsapi.TaskOverride) *ecsapi.TaskOverride {
	out := &ecsapi.TaskOverride{ContainerOverrides: []ecsapi.ContainerOverride{}, InferenceAcceleratorOverrides: []ecsapi.InferenceAcceleratorOverride{}}
	if ov != nil {
		cp := *ov
		cp.ContainerOverrides = nil
		cp.InferenceAcceleratorOverrides = nonNil(ov.InferenceAcceleratorOverrides)
		*out = cp
		out.ContainerOverrides = []ecsapi.ContainerOverride{}
	}
	for _, cd := range def.ContainerDefinitions {
		if co := containerOverride(ov, ecsapi.Value(cd.Name)); co != nil {
			out.ContainerOverrides = append(out.ContainerOverrides, *co)
			continue
		}
		out.ContainerOverrides = append(out.ContainerOverrides, ecsapi.ContainerOverride{Name: cd.Name})
	}
	return out
}

func awsvpcAttachment(nc *ecsapi.NetworkConfiguration) ecsapi.Attachment {
	a := ecsapi.Attachment{Id: ecsapi.Ptr(newUUID()), Type: ecsapi.Ptr("ElasticNetworkInterface"), Status: ecsapi.Ptr("PRECREATED"), Details: []ecsapi.KeyValuePair{}}
	if nc != nil && nc.AwsvpcConfiguration != nil && len(nc.AwsvpcConfiguration.Subnets) > 0 {
		a.Details = append(a.Details, ecsapi.KeyValuePair{Name: ecsapi.Ptr("subnetId"), Value: ecsapi.Ptr(nc.AwsvpcConfiguration.Subnets[0])})
	}
	a.Details = append(a.Details, ecsapi.KeyValuePair{Name: ecsapi.Ptr("networkInterfaceId"), Value: ecsapi.Ptr("eni-" + newID()[:17])})
	return a
}

func newUUID() string {
	h := newID()
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func attrValue(ci *ecsapi.ContainerInstance, name, def string) string {
	for _, a := range ci.Attributes {
		if a.Name == name && a.Value != nil {
			return *a.Value
		}
	}
	return def
}

// taskTags are the call's tags plus, with propagateTags TASK_DEFINITION, the
// task definition's (the call's win on a clash).
func (e *ECS) taskTags(l *taskLaunch) []ecsapi.Tag {
	tags := slices.Clone(l.tags)
	if l.propagate == ecsapi.PropagateTagsTASKDEFINITION {
		for _, t := range l.defTags {
			if !slices.ContainsFunc(tags, func(x ecsapi.Tag) bool { return ecsapi.Value(x.Key) == ecsapi.Value(t.Key) }) {
				tags = append(tags, t)
			}
		}
	}
	if tags == nil {
		tags = []ecsapi.Tag{}
	}
	return tags
}

// loadTask resolves a task ARN or id in cluster.
func (e *ECS) loadTask(ctx context.Context, cluster, ref string) (taskRecord, int64, error) {
	var rec taskRecord
	rev, err := e.getJSON(ctx, taskKey(cluster, lastSegment(ref)), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, invalidParam("The referenced task was not found.")
	}
	return rec, rev, err
}

// TasksPrefix is the store prefix of a cluster's tasks (the session watches it).
func TasksPrefix(cluster string) string { return tasksPrefix(cluster) }
