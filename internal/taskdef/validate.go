package taskdef

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/clusterquery"
	"github.com/berth-dev/berth/internal/ecsapi"
)

// nameRE is what ECS allows in family, container and volume names (their
// length, 1 to 255, is checked apart so the message can say which is wrong).
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// fargateLogDrivers are the log drivers tasks on Fargate can use.
var fargateLogDrivers = map[ecsapi.LogDriver]bool{
	ecsapi.LogDriverAwslogs:     true,
	ecsapi.LogDriverSplunk:      true,
	ecsapi.LogDriverAwsfirelens: true,
}

// Validate checks a RegisterTaskDefinition request beyond the model's own
// required/enum checks. It returns an *awsjson.Error (via ecsapi.Errorf).
//
// Like ECS it reports the first problem it finds, as a ClientException
// whose message names the container, volume or setting at fault.
func Validate(in *ecsapi.RegisterTaskDefinitionRequest) error {
	if in == nil {
		return clientErr("The task definition request is empty.")
	}
	v := validation{in: in, nm: networkMode(in.NetworkMode), fargate: requires(in, ecsapi.CompatibilityFARGATE)}
	for _, check := range []func() error{
		v.size,
		v.family,
		v.containerNames,
		v.taskSize,
		v.launchTypes,
		v.volumes,
		v.containers,
		v.dependencies,
		v.totals,
		v.proxy,
		v.placementConstraints,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// placementConstraints checks the definition's memberOf constraints: at
// most 10, each a valid cluster query language expression.
func (v *validation) placementConstraints() error {
	if len(v.in.PlacementConstraints) > 10 {
		return clientErr("A task definition can have at most 10 placement constraints.")
	}
	for _, c := range v.in.PlacementConstraints {
		expr := ecsapi.Value(c.Expression)
		if strings.TrimSpace(expr) == "" {
			return clientErr("Constraint expression is required for the memberOf constraint type.")
		}
		if _, err := clusterquery.Parse(expr); err != nil {
			return clientErr("Invalid placement constraint expression %q: %v", expr, err)
		}
	}
	return nil
}

// validation is the state of one Validate call: the request and what is
// derived from it as the checks go.
type validation struct {
	in      *ecsapi.RegisterTaskDefinitionRequest
	nm      ecsapi.NetworkMode
	fargate bool

	cpu, memory int64             // task-level sizes; 0 when not set
	byName      map[string]int    // container name to index
	volumeNames map[string]bool   // declared volumes
	portNames   map[string]string // port mapping name to its container
}

func (v *validation) size() error {
	b, err := json.Marshal(v.in)
	if err != nil {
		return clientErr("The task definition cannot be encoded: %v.", err)
	}
	if len(b) > MaxSize {
		return clientErr("Actual length: '%d'. Max allowed length is '%d' bytes.", len(b), MaxSize)
	}
	return nil
}

func (v *validation) family() error {
	f := v.in.Family
	switch {
	case f == "":
		return clientErr("Family can not be blank.")
	case len(f) > maxNameLen:
		return clientErr("Family is too long: up to %d letters, numbers, hyphens and underscores are allowed.", maxNameLen)
	case !nameRE.MatchString(f):
		return clientErr("Family contains invalid characters.")
	}
	return nil
}

// containerNames checks the number of containers, their names and images,
// and indexes them by name for the checks that follow.
func (v *validation) containerNames() error {
	cds := v.in.ContainerDefinitions
	if len(cds) == 0 {
		return clientErr("Container list cannot be empty.")
	}
	if len(cds) > MaxContainers {
		return clientErr("Too many containers: a task definition can have at most %d container definitions, this one has %d.", MaxContainers, len(cds))
	}
	v.byName = make(map[string]int, len(cds))
	for i := range cds {
		c := &cds[i]
		name := ecsapi.Value(c.Name)
		switch {
		case name == "":
			return clientErr("Container.name should not be null or empty.")
		case len(name) > maxNameLen:
			return clientErr("Container.name is too long: up to %d letters, numbers, hyphens and underscores are allowed.", maxNameLen)
		case !nameRE.MatchString(name):
			return clientErr("Container.name contains invalid characters.")
		}
		if strings.TrimSpace(ecsapi.Value(c.Image)) == "" {
			return clientErr("Container.image should not be null or empty.")
		}
		if _, dup := v.byName[name]; dup {
			return clientErr("Duplicate container name '%s'. Container names must be unique within a task definition.", name)
		}
		v.byName[name] = i
	}
	return nil
}

// taskSize parses the task-level cpu and memory and checks them against
// the launch types.
func (v *validation) taskSize() error {
	if v.in.Cpu != nil {
		n, ok := ParseCPU(*v.in.Cpu)
		if !ok {
			return clientErr("Invalid 'cpu' setting for task. Use CPU units (for example '1024') or vCPUs (for example '1 vCPU').")
		}
		if !v.fargate && (n < minTaskCPU || n > maxTaskCPU) {
			return clientErr("Invalid 'cpu' setting for task. Supported values are between %d CPU units (0.125 vCPUs) and %d CPU units (192 vCPUs).", minTaskCPU, maxTaskCPU)
		}
		v.cpu = n
	}
	if v.in.Memory != nil {
		n, ok := ParseMemory(*v.in.Memory)
		if !ok {
			return clientErr("Invalid 'memory' setting for task. Use MiB (for example '2048') or GB (for example '2 GB').")
		}
		v.memory = n
	}
	if !v.fargate {
		return nil
	}
	if v.nm != ecsapi.NetworkModeAwsvpc {
		return clientErr("Fargate only supports network mode ‘awsvpc’.")
	}
	if v.in.Cpu == nil {
		return clientErr("Fargate requires that 'cpu' be defined at the task level.")
	}
	if v.in.Memory == nil {
		return clientErr("Fargate requires that 'memory' be defined at the task level.")
	}
	if !fargateSizeOK(v.cpu, v.memory) {
		return clientErr("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.", v.cpu, v.memory)
	}
	return nil
}

// launchTypes checks the task-level settings the required launch types do
// not support.
func (v *validation) launchTypes() error {
	in := v.in
	if requires(in, ecsapi.CompatibilityEXTERNAL) && v.nm == ecsapi.NetworkModeAwsvpc {
		return clientErr("Tasks using the EXTERNAL launch type do not support network mode 'awsvpc'.")
	}
	if !v.fargate {
		return nil
	}
	return v.fargateSettings()
}

// fargateSettings checks the settings Fargate does not support.
func (v *validation) fargateSettings() error {
	in := v.in
	unsupported := func(what string) error {
		return clientErr("Tasks using the Fargate launch type do not support %s.", what)
	}
	switch {
	case in.IpcMode != nil:
		return unsupported("ipcMode")
	case in.PidMode != nil && *in.PidMode == ecsapi.PidModeHost:
		return unsupported("pidMode 'host'")
	case len(in.PlacementConstraints) > 0:
		return unsupported("placementConstraints")
	}
	for i := range in.Volumes {
		vol := &in.Volumes[i]
		name := ecsapi.Value(vol.Name)
		if vol.Host != nil && ecsapi.Value(vol.Host.SourcePath) != "" {
			return unsupported(fmt.Sprintf("host volumes with a sourcePath (volume '%s')", name))
		}
		if vol.DockerVolumeConfiguration != nil {
			return unsupported(fmt.Sprintf("dockerVolumeConfiguration (volume '%s')", name))
		}
	}
	for i := range in.ContainerDefinitions {
		if err := v.fargateContainer(&in.ContainerDefinitions[i]); err != nil {
			return err
		}
	}
	return nil
}

// fargateContainer checks the container settings Fargate does not support.
func (v *validation) fargateContainer(c *ecsapi.ContainerDefinition) error {
	unsupported := func(what string) error {
		return clientErr("Invalid setting for container '%s'. Tasks using the Fargate launch type do not support %s.", ecsapi.Value(c.Name), what)
	}
	switch {
	case ecsapi.Value(c.Privileged):
		return unsupported("privileged")
	case ecsapi.Value(c.DisableNetworking):
		return unsupported("disableNetworking")
	case len(c.DnsServers) > 0:
		return unsupported("dnsServers")
	case len(c.DnsSearchDomains) > 0:
		return unsupported("dnsSearchDomains")
	case len(c.DockerSecurityOptions) > 0:
		return unsupported("dockerSecurityOptions")
	case len(c.ExtraHosts) > 0:
		return unsupported("extraHosts")
	case len(c.Links) > 0:
		return unsupported("links")
	}
	for _, r := range c.ResourceRequirements {
		if r.Type == ecsapi.ResourceTypeGPU {
			return unsupported("GPU resource requirements")
		}
	}
	if lp := c.LinuxParameters; lp != nil {
		switch {
		case len(lp.Devices) > 0:
			return unsupported("linuxParameters.devices")
		case lp.SharedMemorySize != nil:
			return unsupported("linuxParameters.sharedMemorySize")
		case len(lp.Tmpfs) > 0:
			return unsupported("linuxParameters.tmpfs")
		case lp.MaxSwap != nil:
			return unsupported("linuxParameters.maxSwap")
		case lp.Swappiness != nil:
			return unsupported("linuxParameters.swappiness")
		}
		if lp.Capabilities != nil {
			for _, add := range lp.Capabilities.Add {
				if add != "SYS_PTRACE" && add != "CAP_SYS_PTRACE" {
					return unsupported(fmt.Sprintf("adding the capability '%s' (only SYS_PTRACE can be added)", add))
				}
			}
		}
	}
	if lc := c.LogConfiguration; lc != nil && !fargateLogDrivers[lc.LogDriver] {
		return unsupported(fmt.Sprintf("the log driver '%s' (use awslogs, splunk or awsfirelens)", lc.LogDriver))
	}
	return nil
}

// volumes checks the task's volumes and indexes their names.
func (v *validation) volumes() error {
	v.volumeNames = make(map[string]bool, len(v.in.Volumes))
	for i := range v.in.Volumes {
		vol := &v.in.Volumes[i]
		name := ecsapi.Value(vol.Name)
		switch {
		case name == "":
			return clientErr("Volume.name should not be null or empty.")
		case len(name) > maxNameLen:
			return clientErr("Volume.name is too long: up to %d letters, numbers, hyphens and underscores are allowed.", maxNameLen)
		case !nameRE.MatchString(name):
			return clientErr("Volume.name contains invalid characters.")
		case v.volumeNames[name]:
			return clientErr("Duplicate volume name '%s'. Volume names must be unique within a task definition.", name)
		}
		v.volumeNames[name] = true
		switch {
		case vol.EfsVolumeConfiguration != nil:
			return clientErr("Volume '%s' uses efsVolumeConfiguration: berth does not support Amazon EFS volumes yet.", name)
		case vol.FsxWindowsFileServerVolumeConfiguration != nil:
			return clientErr("Volume '%s' uses fsxWindowsFileServerVolumeConfiguration: berth does not support Amazon FSx for Windows File Server volumes yet.", name)
		case vol.S3filesVolumeConfiguration != nil:
			return clientErr("Volume '%s' uses s3filesVolumeConfiguration: berth does not support Amazon S3 Files volumes yet.", name)
		case vol.Host != nil && vol.DockerVolumeConfiguration != nil:
			return clientErr("Volume '%s' cannot specify both host and dockerVolumeConfiguration.", name)
		}
	}
	return nil
}

// containers checks each container's own settings and its references to
// other containers and to volumes.
func (v *validation) containers() error {
	v.portNames = map[string]string{}
	anyEssential := false
	for i := range v.in.ContainerDefinitions {
		c := &v.in.ContainerDefinitions[i]
		anyEssential = anyEssential || essential(c)
		for _, check := range []func(*ecsapi.ContainerDefinition) error{
			v.containerMemory,
			v.containerNetwork,
			v.portMappings,
			v.containerRefs,
			v.mountPoints,
			v.logging,
			restartPolicy,
		} {
			if err := check(c); err != nil {
				return err
			}
		}
	}
	if !anyEssential {
		return clientErr("Task definition doesn't have any essential container.")
	}
	return nil
}

// restartPolicy applies ContainerRestartPolicy's documented limits: at most
// 50 ignored exit codes, an attempt period of 60 to 1,800 seconds.
func restartPolicy(c *ecsapi.ContainerDefinition) error {
	rp := c.RestartPolicy
	if rp == nil {
		return nil
	}
	name := ecsapi.Value(c.Name)
	if len(rp.IgnoredExitCodes) > 50 {
		return clientErr("Invalid restartPolicy for container '%s': ignoredExitCodes can hold at most 50 exit codes, got %d.", name, len(rp.IgnoredExitCodes))
	}
	if p := rp.RestartAttemptPeriod; p != nil && (*p < 60 || *p > 1800) {
		return clientErr("Invalid restartPolicy for container '%s': restartAttemptPeriod must be from 60 to 1800 seconds, got %d.", name, *p)
	}
	return nil
}

func (v *validation) containerMemory(c *ecsapi.ContainerDefinition) error {
	name := ecsapi.Value(c.Name)
	if c.Cpu < 0 {
		return clientErr("Invalid 'cpu' setting for container '%s'. It must not be negative.", name)
	}
	if c.Memory != nil && *c.Memory < MinContainerMemory {
		return clientErr("Invalid 'memory' setting for container '%s'. The minimum is %d MiB.", name, MinContainerMemory)
	}
	if c.MemoryReservation != nil && *c.MemoryReservation < MinContainerMemory {
		return clientErr("Invalid 'memoryReservation' setting for container '%s'. The minimum is %d MiB.", name, MinContainerMemory)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.Memory < *c.MemoryReservation {
		return clientErr("Invalid setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", name)
	}
	if !v.fargate && v.in.Memory == nil && c.Memory == nil && c.MemoryReservation == nil {
		return clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", name)
	}
	return nil
}

func (v *validation) containerNetwork(c *ecsapi.ContainerDefinition) error {
	name := ecsapi.Value(c.Name)
	if v.nm == ecsapi.NetworkModeAwsvpc && c.Hostname != nil {
		return clientErr("hostname is not supported on container when networkMode=awsvpc.")
	}
	if len(c.Links) > 0 && v.nm != ecsapi.NetworkModeBridge {
		return clientErr("Links are not supported when networkMode=%s.", v.nm)
	}
	for _, link := range c.Links {
		target, _, _ := strings.Cut(link, ":")
		if _, ok := v.byName[target]; !ok || target == name {
			return clientErr("Invalid link '%s' for container '%s'. A link must name another container of this task definition.", link, name)
		}
	}
	return nil
}

func (v *validation) portMappings(c *ecsapi.ContainerDefinition) error {
	name := ecsapi.Value(c.Name)
	if len(c.PortMappings) > 0 && v.nm == ecsapi.NetworkModeNone {
		return clientErr("Invalid setting for container '%s'. Port mappings are not supported when networkMode=none.", name)
	}
	for i := range c.PortMappings {
		pm := &c.PortMappings[i]
		if pm.ContainerPortRange != nil {
			if pm.ContainerPort != nil || pm.HostPort != nil {
				return clientErr("Invalid port mapping for container '%s'. Specify either containerPort or containerPortRange, and no hostPort with containerPortRange.", name)
			}
			if !portRangeOK(*pm.ContainerPortRange) {
				return clientErr("Invalid 'containerPortRange' setting for container '%s'.", name)
			}
		} else {
			if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > 65535 {
				return clientErr("Invalid 'containerPort' setting for container '%s'.", name)
			}
			if pm.HostPort != nil {
				hp := *pm.HostPort
				if hp < 0 || hp > 65535 {
					return clientErr("Invalid 'hostPort' setting for container '%s'.", name)
				}
				if (v.nm == ecsapi.NetworkModeAwsvpc || v.nm == ecsapi.NetworkModeHost) && hp != 0 && hp != *pm.ContainerPort {
					return clientErr("When networkMode=%s, the host ports and container ports in port mappings must match.", v.nm)
				}
			}
		}
		if pm.Name != nil {
			if other, dup := v.portNames[*pm.Name]; dup {
				return clientErr("Duplicate port mapping name '%s' (containers '%s' and '%s'). Port mapping names must be unique within a task definition.", *pm.Name, other, name)
			}
			v.portNames[*pm.Name] = name
		}
	}
	return nil
}

// portRangeOK reports whether s is "first-last" with 1 <= first < last <=
// 65535.
func portRangeOK(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	return err1 == nil && err2 == nil && lo >= 1 && lo < hi && hi <= 65535
}

// containerRefs checks dependsOn and volumesFrom name containers of this
// task definition.
func (v *validation) containerRefs(c *ecsapi.ContainerDefinition) error {
	name := ecsapi.Value(c.Name)
	cds := v.in.ContainerDefinitions
	for _, d := range c.DependsOn {
		j, ok := v.byName[d.ContainerName]
		switch {
		case !ok:
			return clientErr("Invalid dependsOn for container '%s'. Container '%s' is not defined in the task definition.", name, d.ContainerName)
		case d.ContainerName == name:
			return clientErr("Invalid dependsOn for container '%s'. A container cannot depend on itself.", name)
		case (d.Condition == ecsapi.ContainerConditionSUCCESS || d.Condition == ecsapi.ContainerConditionCOMPLETE) && essential(&cds[j]):
			return clientErr("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container (container '%s' depends on '%s').", name, d.ContainerName)
		case d.Condition == ecsapi.ContainerConditionHEALTHY && cds[j].HealthCheck == nil:
			return clientErr("Invalid dependsOn for container '%s'. The HEALTHY condition requires container '%s' to have a healthCheck.", name, d.ContainerName)
		}
	}
	for _, vf := range c.VolumesFrom {
		src := ecsapi.Value(vf.SourceContainer)
		if _, ok := v.byName[src]; !ok || src == name {
			return clientErr("Invalid volumesFrom for container '%s'. sourceContainer '%s' must name another container of this task definition.", name, src)
		}
	}
	return nil
}

func (v *validation) mountPoints(c *ecsapi.ContainerDefinition) error {
	name := ecsapi.Value(c.Name)
	for _, mp := range c.MountPoints {
		src := ecsapi.Value(mp.SourceVolume)
		switch {
		case src == "":
			return clientErr("Invalid mountPoints for container '%s'. sourceVolume should not be null or empty.", name)
		case !v.volumeNames[src]:
			return clientErr("Invalid mountPoints for container '%s'. The sourceVolume '%s' is not a volume of this task definition.", name, src)
		case ecsapi.Value(mp.ContainerPath) == "":
			return clientErr("Invalid mountPoints for container '%s'. containerPath should not be null or empty.", name)
		}
	}
	return nil
}

func (v *validation) logging(c *ecsapi.ContainerDefinition) error {
	lc := c.LogConfiguration
	if lc == nil || lc.LogDriver != ecsapi.LogDriverAwslogs {
		return nil
	}
	var missing []string
	for _, opt := range []string{"awslogs-group", "awslogs-region"} {
		if lc.Options[opt] == "" {
			missing = append(missing, opt)
		}
	}
	if len(missing) > 0 {
		return clientErr("Log driver awslogs requires options: %s (container '%s').", strings.Join(missing, ", "), ecsapi.Value(c.Name))
	}
	return nil
}

// dependencies rejects cycles in dependsOn, which would keep the task from
// ever starting.
func (v *validation) dependencies() error {
	cds := v.in.ContainerDefinitions
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(cds))
	var visit func(i int) error
	visit = func(i int) error {
		state[i] = visiting
		for _, d := range cds[i].DependsOn {
			j := v.byName[d.ContainerName]
			switch state[j] {
			case visiting:
				return clientErr("Invalid dependsOn: containers '%s' and '%s' are part of a dependency cycle.", ecsapi.Value(cds[i].Name), d.ContainerName)
			case unvisited:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		state[i] = done
		return nil
	}
	for i := range cds {
		if state[i] == unvisited {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// totals checks the containers' cpu and memory fit the task's.
func (v *validation) totals() error {
	var cpu, mem int64
	for i := range v.in.ContainerDefinitions {
		c := &v.in.ContainerDefinitions[i]
		cpu += int64(c.Cpu)
		switch {
		case c.MemoryReservation != nil:
			mem += int64(*c.MemoryReservation)
		case c.Memory != nil:
			mem += int64(*c.Memory)
		}
	}
	if v.cpu > 0 && cpu > v.cpu {
		return clientErr("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if v.memory > 0 && mem > v.memory {
		return clientErr("The sum of all container memory reservations ('memoryReservation', or 'memory' when it is not set), %d MiB, cannot be greater than the value of the task 'memory', %d MiB.", mem, v.memory)
	}
	return nil
}

func (v *validation) proxy() error {
	pc := v.in.ProxyConfiguration
	if pc == nil {
		return nil
	}
	if _, ok := v.byName[pc.ContainerName]; !ok {
		return clientErr("Invalid proxyConfiguration. Container '%s' is not defined in the task definition.", pc.ContainerName)
	}
	return nil
}
