package taskdef

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// Build returns the stored/returned TaskDefinition for a validated request:
// a deep copy (no aliasing of the request's slices/pointers).
//
// Besides the identity (ARN, family, revision, ACTIVE status, registeredAt,
// registeredBy) it fills in what ECS adds on registration:
//   - cpu and memory normalised to plain numbers ("1 vCPU" -> "1024",
//     "2 GB" -> "2048");
//   - compatibilities and requiresAttributes (see compatibilities and
//     requiredAttributes);
//   - container defaults: essential true, portMappings, environment,
//     mountPoints, volumesFrom and systemControls as empty lists, port
//     mappings' protocol tcp and, in the host and awsvpc network modes, a
//     hostPort equal to the containerPort (0, a dynamic port, in bridge);
//   - volumes and placementConstraints as empty lists.
//
// A request without networkMode keeps none, as ECS returns none; its tasks
// use bridge (EffectiveNetworkMode).
//
// Build does not validate: on a request Validate rejects it still returns a
// definition, never panics, but the result is unspecified.
func Build(in *ecsapi.RegisterTaskDefinitionRequest, arn string, revision int32, registeredAt time.Time, registeredBy string) *ecsapi.TaskDefinition {
	td := &ecsapi.TaskDefinition{}
	if in == nil {
		in = &ecsapi.RegisterTaskDefinitionRequest{}
	}
	// The request and the definition share their JSON member names, so a
	// JSON round trip is a deep copy that also drops what a definition does
	// not hold (tags). Neither can fail on the generated types; on the
	// impossible error td just lacks the copied members.
	if b, err := json.Marshal(in); err == nil {
		_ = json.Unmarshal(b, td)
	}

	td.TaskDefinitionArn = ecsapi.Ptr(arn)
	td.Family = ecsapi.Ptr(in.Family)
	td.Revision = revision
	td.Status = ecsapi.Ptr(ecsapi.TaskDefinitionStatusACTIVE)
	td.RegisteredAt = ecsapi.Time(registeredAt)
	td.RegisteredBy = nil
	if registeredBy != "" {
		td.RegisteredBy = ecsapi.Ptr(registeredBy)
	}
	td.DeregisteredAt, td.DeleteRequestedAt = nil, nil

	if td.Cpu != nil {
		if n, ok := ParseCPU(*td.Cpu); ok {
			td.Cpu = ecsapi.Ptr(strconv.FormatInt(n, 10))
		}
	}
	if td.Memory != nil {
		if n, ok := ParseMemory(*td.Memory); ok {
			td.Memory = ecsapi.Ptr(strconv.FormatInt(n, 10))
		}
	}
	if td.Volumes == nil {
		td.Volumes = []ecsapi.Volume{}
	}
	if td.PlacementConstraints == nil {
		td.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{}
	}

	nm := networkMode(td.NetworkMode)
	for i := range td.ContainerDefinitions {
		containerDefaults(&td.ContainerDefinitions[i], nm)
	}
	td.Compatibilities = compatibilities(in, td)
	td.RequiresAttributes = requiredAttributes(td)
	return td
}

// containerDefaults fills in the members ECS returns for every container.
func containerDefaults(c *ecsapi.ContainerDefinition, nm ecsapi.NetworkMode) {
	if c.Essential == nil {
		c.Essential = ecsapi.Ptr(true)
	}
	if c.PortMappings == nil {
		c.PortMappings = []ecsapi.PortMapping{}
	}
	if c.Environment == nil {
		c.Environment = []ecsapi.KeyValuePair{}
	}
	if c.MountPoints == nil {
		c.MountPoints = []ecsapi.MountPoint{}
	}
	if c.VolumesFrom == nil {
		c.VolumesFrom = []ecsapi.VolumeFrom{}
	}
	if c.SystemControls == nil {
		c.SystemControls = []ecsapi.SystemControl{}
	}
	for i := range c.PortMappings {
		pm := &c.PortMappings[i]
		if pm.Protocol == nil {
			pm.Protocol = ecsapi.Ptr(ecsapi.TransportProtocolTcp)
		}
		if pm.ContainerPort == nil {
			continue // a containerPortRange: its host ports are chosen at run time
		}
		switch {
		case (nm == ecsapi.NetworkModeAwsvpc || nm == ecsapi.NetworkModeHost) && ecsapi.Value(pm.HostPort) == 0:
			pm.HostPort = ecsapi.Ptr(*pm.ContainerPort)
		case pm.HostPort == nil:
			pm.HostPort = ecsapi.Ptr(int32(0))
		}
	}
}

// compatibilities returns the launch types a task definition can be used
// with, as ECS computes them on registration, in this order:
//   - EC2: always; every valid definition runs on EC2 instances.
//   - FARGATE: when the network mode is awsvpc and the definition meets
//     Fargate's requirements (a valid task size, no Fargate-unsupported
//     settings), so an awsvpc definition registered without
//     requiresCompatibilities still reads ["EC2", "FARGATE"] like on ECS.
//   - EXTERNAL (ECS Anywhere): when the network mode is not awsvpc, which
//     external instances do not support.
//   - MANAGED_INSTANCES: only when the request requires it; berth does not
//     model that launch type's constraints.
func compatibilities(in *ecsapi.RegisterTaskDefinitionRequest, td *ecsapi.TaskDefinition) []ecsapi.Compatibility {
	out := []ecsapi.Compatibility{ecsapi.CompatibilityEC2}
	if networkMode(in.NetworkMode) == ecsapi.NetworkModeAwsvpc {
		if fargateCompatible(in) {
			out = append(out, ecsapi.CompatibilityFARGATE)
		}
	} else {
		out = append(out, ecsapi.CompatibilityEXTERNAL)
	}
	if requires(in, ecsapi.CompatibilityMANAGEDINSTANCES) {
		out = append(out, ecsapi.CompatibilityMANAGEDINSTANCES)
	}
	return out
}

// fargateCompatible reports whether the request would pass Validate's
// Fargate checks if it required FARGATE.
func fargateCompatible(in *ecsapi.RegisterTaskDefinitionRequest) bool {
	v := validation{in: in, nm: networkMode(in.NetworkMode), fargate: true}
	return v.taskSize() == nil && v.fargateSettings() == nil
}

// ecrImage matches images in Amazon ECR private registries.
var ecrImage = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)

// Container instance attributes a definition requires, by the feature that
// needs them.
const (
	attrDockerAPI118      = "com.amazonaws.ecs.capability.docker-remote-api.1.18" // logConfiguration, ulimits, dockerLabels
	attrDockerAPI119      = "com.amazonaws.ecs.capability.docker-remote-api.1.19" // log driver options
	attrDockerAPI121      = "com.amazonaws.ecs.capability.docker-remote-api.1.21" // memoryReservation
	attrDockerAPI124      = "com.amazonaws.ecs.capability.docker-remote-api.1.24" // healthCheck
	attrDockerAPI125      = "com.amazonaws.ecs.capability.docker-remote-api.1.25" // linuxParameters.initProcessEnabled
	attrLoggingDriver     = "com.amazonaws.ecs.capability.logging-driver."        // + the driver
	attrTaskIAMRole       = "com.amazonaws.ecs.capability.task-iam-role"
	attrECRAuth           = "com.amazonaws.ecs.capability.ecr-auth"
	attrTaskENI           = "ecs.capability.task-eni"
	attrExecRoleAwslogs   = "ecs.capability.execution-role-awslogs"
	attrExecRoleECRPull   = "ecs.capability.execution-role-ecr-pull"
	attrContainerOrdering = "ecs.capability.container-ordering"
	attrHealthCheck       = "ecs.capability.container-health-check"
	attrPrivateRegistry   = "com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"
	attrSecretsASM        = "ecs.capability.secrets.asm.environment-variables"
	attrSecretsSSM        = "ecs.capability.secrets.ssm.environment-variables"
	attrEnvFilesS3        = "ecs.capability.env-files.s3"
	attrFirelens          = "ecs.capability.firelens." // + fluentd or fluentbit
)

// requiredAttributes returns the container instance attributes the
// definition's features need, as ECS lists them in requiresAttributes,
// sorted by name. It covers a well-known set of features; anything else
// adds nothing.
func requiredAttributes(td *ecsapi.TaskDefinition) []ecsapi.Attribute {
	set := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			set[n] = true
		}
	}
	hasExecRole := ecsapi.Value(td.ExecutionRoleArn) != ""
	if ecsapi.Value(td.TaskRoleArn) != "" {
		add(attrTaskIAMRole)
	}
	if networkMode(td.NetworkMode) == ecsapi.NetworkModeAwsvpc {
		add(attrTaskENI)
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if ecrImage.MatchString(ecsapi.Value(c.Image)) {
			add(attrECRAuth)
			if hasExecRole {
				add(attrExecRoleECRPull)
			}
		}
		if c.RepositoryCredentials != nil {
			add(attrPrivateRegistry)
		}
		if c.MemoryReservation != nil {
			add(attrDockerAPI121)
		}
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver != "" {
			add(attrDockerAPI118, attrLoggingDriver+string(lc.LogDriver))
			if len(lc.Options) > 0 {
				add(attrDockerAPI119)
			}
			if lc.LogDriver == ecsapi.LogDriverAwslogs && hasExecRole {
				add(attrExecRoleAwslogs)
			}
		}
		if len(c.Ulimits) > 0 || len(c.DockerLabels) > 0 {
			add(attrDockerAPI118)
		}
		if c.HealthCheck != nil {
			add(attrDockerAPI124, attrHealthCheck)
		}
		if lp := c.LinuxParameters; lp != nil && ecsapi.Value(lp.InitProcessEnabled) {
			add(attrDockerAPI125)
		}
		if len(c.DependsOn) > 0 {
			add(attrContainerOrdering)
		}
		for _, s := range c.Secrets {
			if strings.Contains(s.ValueFrom, ":secretsmanager:") {
				add(attrSecretsASM)
			} else {
				add(attrSecretsSSM)
			}
		}
		if len(c.EnvironmentFiles) > 0 {
			add(attrEnvFilesS3)
		}
		if fc := c.FirelensConfiguration; fc != nil && fc.Type != "" {
			add(attrFirelens + string(fc.Type))
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]ecsapi.Attribute, len(names))
	for i, n := range names {
		out[i] = ecsapi.Attribute{Name: n}
	}
	return out
}
