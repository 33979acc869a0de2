package agent

import (
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/taskdef"
)

// The JSON shapes of the ECS agent's introspection API (v1) and task
// metadata endpoint (v3, v4), field for field as the ECS agent writes them
// (amazon-ecs-agent: ecs-agent/introspection/v1/response.go,
// agent/handlers/v2/response.go, ecs-agent/tmds/handlers/v4/state/response.go
// and ecs-agent/tmds/handlers/response/response.go).

// introAgentMetadata is GET /v1/metadata.
type introAgentMetadata struct {
	Cluster              string  `json:"Cluster"`
	ContainerInstanceArn *string `json:"ContainerInstanceArn"`
	Version              string  `json:"Version"`
}

// introTasks is GET /v1/tasks.
type introTasks struct {
	Tasks []*introTask `json:"Tasks"`
}

// introTask is one task of /v1/tasks, and the whole answer of
// /v1/tasks?dockerid= and ?taskarn= (its zero value is the error body).
type introTask struct {
	Arn           string           `json:"Arn"`
	DesiredStatus string           `json:"DesiredStatus,omitempty"`
	KnownStatus   string           `json:"KnownStatus"`
	Family        string           `json:"Family"`
	Version       string           `json:"Version"`
	Containers    []introContainer `json:"Containers"`
}

type introContainer struct {
	DockerID     string        `json:"DockerId"`
	DockerName   string        `json:"DockerName"`
	Name         string        `json:"Name"`
	Image        string        `json:"Image"`
	ImageID      string        `json:"ImageID"`
	StartedAt    *time.Time    `json:"StartedAt,omitempty"`
	Ports        []tmdsPort    `json:"Ports,omitempty"`
	Networks     []tmdsNetwork `json:"Networks,omitempty"`
	RestartCount *int          `json:"RestartCount,omitempty"`
}

// tmdsContainer is a container of the task metadata endpoint.
type tmdsContainer struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Ports         []tmdsPort        `json:"Ports,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        tmdsLimits        `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	Networks      []tmdsNetwork     `json:"Networks,omitempty"`
	Health        *tmdsHealth       `json:"Health,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`    // v4
	LogOptions    map[string]string `json:"LogOptions,omitempty"`   // v4
	RestartCount  *int              `json:"RestartCount,omitempty"` // v4
}

// tmdsLimits: a container's CPU units and hard memory limit (MiB), or a
// task's vCPUs and MiB.
type tmdsLimits struct {
	CPU    *float64 `json:"CPU,omitempty"`
	Memory *int64   `json:"Memory,omitempty"`
}

type tmdsHealth struct {
	Status string `json:"status,omitempty"`
}

type tmdsPort struct {
	ContainerPort uint16 `json:"ContainerPort,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	HostPort      uint16 `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"` // v4
}

// tmdsNetwork is a container's network; the fields after IPv4Addresses are
// v4's network interface properties (awsvpc only).
type tmdsNetwork struct {
	NetworkMode              string   `json:"NetworkMode,omitempty"`
	IPv4Addresses            []string `json:"IPv4Addresses,omitempty"`
	AttachmentIndex          *int     `json:"AttachmentIndex,omitempty"`
	MACAddress               string   `json:"MACAddress,omitempty"`
	IPv4SubnetCIDRBlock      string   `json:"IPv4SubnetCIDRBlock,omitempty"`
	PrivateDNSName           string   `json:"PrivateDNSName,omitempty"`
	SubnetGatewayIpv4Address string   `json:"SubnetGatewayIpv4Address,omitempty"`
}

// tmdsTask is a task of the task metadata endpoint.
type tmdsTask struct {
	Cluster            string            `json:"Cluster"`
	TaskARN            string            `json:"TaskARN"`
	Family             string            `json:"Family"`
	Revision           string            `json:"Revision"`
	DesiredStatus      string            `json:"DesiredStatus,omitempty"`
	KnownStatus        string            `json:"KnownStatus"`
	Containers         []tmdsContainer   `json:"Containers,omitempty"`
	Limits             *tmdsLimits       `json:"Limits,omitempty"`
	PullStartedAt      *time.Time        `json:"PullStartedAt,omitempty"`
	PullStoppedAt      *time.Time        `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time        `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone   string            `json:"AvailabilityZone,omitempty"`
	TaskTags           map[string]string `json:"TaskTags,omitempty"`    // v4 taskWithTags
	LaunchType         string            `json:"LaunchType,omitempty"`  // v4
	ServiceName        string            `json:"ServiceName,omitempty"` // v4
	// FaultInjectionEnabled is always present in v4, absent in v3.
	FaultInjectionEnabled *bool `json:"FaultInjectionEnabled,omitempty"`
}

// knownStatus is the task's status as the ECS agent names it (NONE,
// CREATED, RUNNING, STOPPED): RUNNING until every container stopped.
func (v *taskView) knownStatus() string {
	switch r := lifecycle.Rank(v.status); {
	case r >= lifecycle.Rank(lifecycle.Deprovisioning):
		return lifecycle.Stopped
	case r >= lifecycle.Rank(lifecycle.Running):
		return lifecycle.Running
	}
	for _, c := range v.ctrs {
		if c.dockerID == "" {
			return "NONE"
		}
	}
	if len(v.ctrs) == 0 {
		return "NONE"
	}
	return "CREATED"
}

func (v *taskView) revision() string {
	if v.def == nil {
		return ""
	}
	return strconv.FormatInt(int64(v.def.Revision), 10)
}

func (v *taskView) family() string {
	if v.def == nil {
		return ""
	}
	return ecsapi.Value(v.def.Family)
}

// introspection renders the task for /v1/tasks: statuses as the ECS
// backend names them, the desired status dropped where ECS drops it.
func (v *taskView) introspection() *introTask {
	known := v.knownStatus()
	if known != lifecycle.Running && known != lifecycle.Stopped {
		known = lifecycle.Pending
	}
	desired := v.desired
	if known == lifecycle.Stopped && desired != lifecycle.Stopped {
		desired = ""
	}
	out := &introTask{Arn: v.arn, DesiredStatus: desired, KnownStatus: known, Family: v.family(), Version: v.revision(), Containers: []introContainer{}}
	for i := range v.ctrs {
		c := &v.ctrs[i]
		out.Containers = append(out.Containers, introContainer{
			DockerID: c.dockerID, DockerName: c.dockerName, Name: c.name,
			Image: ecsapi.Value(c.def.Image), ImageID: c.imageIDOrDigest(),
			StartedAt: timePtr(c.startedAt), Ports: v.ports(c, false),
			Networks: v.networks(c, nil, false), RestartCount: c.restartCount(),
		})
	}
	return out
}

// task renders the task for /task (v4 when v4, else v3). states holds
// the runtime's view of the containers by Docker id (CreatedAt, bridge IP).
func (v *taskView) task(states map[string]runtime.State, v4, withTags bool) tmdsTask {
	out := tmdsTask{
		Cluster: v.cluster, TaskARN: v.arn, Family: v.family(), Revision: v.revision(),
		DesiredStatus: v.desired, KnownStatus: v.knownStatus(), Limits: v.taskLimits(),
		PullStartedAt: utcPtr(v.pullStarted), PullStoppedAt: utcPtr(v.pullStopped), ExecutionStoppedAt: utcPtr(v.execStopped),
		AvailabilityZone: v.az,
	}
	for i := range v.ctrs {
		c := &v.ctrs[i]
		out.Containers = append(out.Containers, v.container(c, stateOf(states, c.dockerID), v4))
	}
	if !v4 {
		return out
	}
	out.LaunchType = v.launchType
	if out.LaunchType == "" {
		out.LaunchType = string(ecsapi.LaunchTypeEC2)
	}
	if name, ok := strings.CutPrefix(v.group, "service:"); ok {
		out.ServiceName = name
	}
	fi := v.def != nil && ecsapi.Value(v.def.EnableFaultInjection)
	out.FaultInjectionEnabled = &fi
	if withTags && len(v.tags) > 0 {
		out.TaskTags = map[string]string{}
		for _, tag := range v.tags {
			out.TaskTags[ecsapi.Value(tag.Key)] = ecsapi.Value(tag.Value)
		}
	}
	return out
}

func stateOf(states map[string]runtime.State, id string) *runtime.State {
	if st, ok := states[id]; ok && id != "" {
		return &st
	}
	return nil
}

// container renders one container; st (may be nil) is its runtime state.
func (v *taskView) container(c *ctrView, st *runtime.State, v4 bool) tmdsContainer {
	cpu := float64(c.def.Cpu)
	if cpu < 2 {
		cpu = 2 // Docker gets 2 CPU shares for 0 or 1, and ECS reports that
	}
	mem := int64(ecsapi.Value(c.def.Memory))
	out := tmdsContainer{
		DockerID: c.dockerID, Name: c.name, DockerName: c.dockerName,
		Image: ecsapi.Value(c.def.Image), ImageID: c.imageIDOrDigest(),
		Ports: v.ports(c, v4), Labels: v.labels(c),
		DesiredStatus: c.desiredStatus(v.desired), KnownStatus: c.knownStatus(),
		Limits:    tmdsLimits{CPU: &cpu, Memory: &mem},
		StartedAt: timePtr(c.startedAt), FinishedAt: timePtr(c.finishedAt),
		Type: "NORMAL", Networks: v.networks(c, st, v4),
	}
	if c.exitCode != nil && c.status == lifecycle.Stopped {
		code := int(*c.exitCode)
		out.ExitCode = &code
	}
	if st != nil {
		out.CreatedAt = timePtr(st.CreatedAt)
	}
	if c.def.HealthCheck != nil {
		out.Health = &tmdsHealth{Status: c.health}
	}
	if v4 {
		if lc := c.def.LogConfiguration; lc != nil {
			out.LogDriver = string(lc.LogDriver)
			out.LogOptions = maps.Clone(lc.Options)
		}
		out.RestartCount = c.restartCount()
	}
	return out
}

// labels are the container's Docker labels: its dockerLabels under the
// labels the agent writes (containerspec.Build).
func (v *taskView) labels(c *ctrView) map[string]string {
	l := maps.Clone(c.def.DockerLabels)
	if l == nil {
		l = map[string]string{}
	}
	l[containerspec.LabelCluster] = v.cluster
	l[containerspec.LabelTaskARN] = v.arn
	l[containerspec.LabelContainerName] = c.name
	l[containerspec.LabelTaskDefFamily] = v.family()
	l[containerspec.LabelTaskDefVersion] = v.revision()
	l[containerspec.LabelInstance] = v.instanceID
	l[containerspec.LabelRole] = containerspec.RoleContainer
	return l
}

// ports are the published bindings, or, where the engine reports none
// (awsvpc and host mode, or not started yet), the port mappings; awsvpc
// and host ports are the container ports.
func (v *taskView) ports(c *ctrView, v4 bool) []tmdsPort {
	var out []tmdsPort
	if len(c.bindings) > 0 && v.mode != ecsapi.NetworkModeAwsvpc {
		for _, b := range c.bindings {
			p := tmdsPort{ContainerPort: uint16(ecsapi.Value(b.ContainerPort)), Protocol: string(ecsapi.Value(b.Protocol)), HostPort: uint16(ecsapi.Value(b.HostPort))}
			if v4 {
				p.HostIP = ecsapi.Value(b.BindIP)
			}
			out = append(out, p)
		}
		return out
	}
	for _, pm := range c.def.PortMappings {
		if pm.ContainerPort == nil {
			continue // a port range: no single port to show
		}
		p := tmdsPort{ContainerPort: uint16(*pm.ContainerPort), Protocol: string(ecsapi.Value(pm.Protocol)), HostPort: uint16(ecsapi.Value(pm.HostPort))}
		if p.Protocol == "" {
			p.Protocol = string(ecsapi.TransportProtocolTcp)
		}
		if v.mode == ecsapi.NetworkModeAwsvpc || v.mode == ecsapi.NetworkModeHost {
			p.HostPort = p.ContainerPort
		}
		out = append(out, p)
	}
	return out
}

// networks: awsvpc tasks show the task's address (and, in v4, the
// interface's properties); bridge containers their address on the default
// bridge when the runtime reported it. Host and none have none.
func (v *taskView) networks(c *ctrView, st *runtime.State, v4 bool) []tmdsNetwork {
	switch v.mode {
	case ecsapi.NetworkModeAwsvpc:
		if v.ip == "" {
			return nil
		}
		n := tmdsNetwork{NetworkMode: string(ecsapi.NetworkModeAwsvpc), IPv4Addresses: []string{v.ip}}
		if v4 {
			idx := 0
			n.AttachmentIndex = &idx
			n.MACAddress = v.mac
			n.IPv4SubnetCIDRBlock = v.subnet
			// The pause container's name resolves to the task's address
			// on the task network (Docker's embedded DNS).
			n.PrivateDNSName = v.pauseName
			n.SubnetGatewayIpv4Address = gatewayWithPrefix(v.gateway, v.subnet)
		}
		return []tmdsNetwork{n}
	case ecsapi.NetworkModeBridge:
		if st == nil {
			return nil
		}
		ip := st.Networks["bridge"].IPAddress
		if ip == "" {
			return nil
		}
		return []tmdsNetwork{{NetworkMode: string(ecsapi.NetworkModeBridge), IPv4Addresses: []string{ip}}}
	}
	return nil
}

// gatewayWithPrefix writes the gateway as ECS does: "10.0.2.1/24".
func gatewayWithPrefix(gw, subnet string) string {
	if gw == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(subnet); err == nil {
		return gw + "/" + strconv.Itoa(p.Bits())
	}
	return gw
}

// taskLimits are the task-level cpu (in vCPUs) and memory (MiB), or nil
// when the definition sets neither.
func (v *taskView) taskLimits() *tmdsLimits {
	if v.def == nil {
		return nil
	}
	var l tmdsLimits
	if units, ok := taskdef.ParseCPU(ecsapi.Value(v.def.Cpu)); ok {
		vcpu := float64(units) / 1024
		l.CPU = &vcpu
	}
	if mib, ok := taskdef.ParseMemory(ecsapi.Value(v.def.Memory)); ok {
		l.Memory = &mib
	}
	if l.CPU == nil && l.Memory == nil {
		return nil
	}
	return &l
}

// knownStatus is the container's status as the ECS agent names it.
func (c *ctrView) knownStatus() string {
	switch {
	case c.status == lifecycle.Running || c.status == lifecycle.Stopped:
		return c.status
	case c.dockerID != "":
		return "CREATED"
	case c.imageID != "":
		return "PULLED"
	}
	return "NONE"
}

func (c *ctrView) desiredStatus(taskDesired string) string {
	if taskDesired == lifecycle.Stopped || c.stopping {
		return lifecycle.Stopped
	}
	return lifecycle.Running
}

func (c *ctrView) imageIDOrDigest() string {
	if c.imageID != "" {
		return c.imageID
	}
	return c.digest
}

// restartCount is shown for containers with a restart policy, as ECS does.
func (c *ctrView) restartCount() *int {
	if rp := c.def.RestartPolicy; rp == nil || !rp.Enabled {
		return nil
	}
	n := c.restarts
	return &n
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return timePtr(*t)
}
