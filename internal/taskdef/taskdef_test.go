package taskdef

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
)

type request = ecsapi.RegisterTaskDefinitionRequest

func i32(n int32) *int32   { return &n }
func str(s string) *string { return &s }

// ec2Request is a valid EC2 task definition in the default (bridge) network
// mode: one web container with a static host port.
func ec2Request() *request {
	return &request{
		Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name:         str("web"),
			Image:        str("nginx:latest"),
			Memory:       i32(256),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: i32(80), HostPort: i32(8080)}},
		}},
	}
}

// fargateRequest is a valid Fargate task definition.
func fargateRequest() *request {
	return &request{
		Family:                  "web",
		NetworkMode:             ecsapi.Ptr(ecsapi.NetworkModeAwsvpc),
		RequiresCompatibilities: []ecsapi.Compatibility{ecsapi.CompatibilityFARGATE},
		Cpu:                     str("256"),
		Memory:                  str("512"),
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name:         str("web"),
			Image:        str("nginx:latest"),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: i32(80)}},
		}},
	}
}

// twoContainers is ec2Request with a second container, "db".
func twoContainers() *request {
	r := ec2Request()
	r.ContainerDefinitions = append(r.ContainerDefinitions, ecsapi.ContainerDefinition{
		Name: str("db"), Image: str("postgres:16"), Memory: i32(512),
	})
	return r
}

func withVolume(r *request, v ecsapi.Volume) *request {
	r.Volumes = append(r.Volumes, v)
	return r
}

func c0(r *request) *ecsapi.ContainerDefinition { return &r.ContainerDefinitions[0] }
func c1(r *request) *ecsapi.ContainerDefinition { return &r.ContainerDefinitions[1] }

// wantError checks err is an ECS error with code whose message contains
// fragment.
func wantError(t *testing.T, err error, code, fragment string) {
	t.Helper()
	var ae *awsjson.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want an *awsjson.Error", err, err)
	}
	if ae.Code != code || !strings.Contains(ae.Message, fragment) {
		t.Fatalf("err = %s: %q, want %s containing %q", ae.Code, ae.Message, code, fragment)
	}
	if ae.HTTPStatus() != 400 {
		t.Errorf("status = %d, want 400", ae.HTTPStatus())
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		req  *request
		mut  func(r *request)
	}{
		{"ec2 bridge", ec2Request(), nil},
		{"fargate", fargateRequest(), nil},
		{"family of 255 allowed characters", ec2Request(), func(r *request) { r.Family = strings.Repeat("aZ9_-", 51) }},
		{"container name of 255 characters", ec2Request(), func(r *request) { c0(r).Name = str(strings.Repeat("n", 255)) }},
		{"ten containers", ec2Request(), func(r *request) {
			for i := 1; i < MaxContainers; i++ {
				r.ContainerDefinitions = append(r.ContainerDefinitions, ecsapi.ContainerDefinition{Name: str("c" + string(rune('0'+i))), Image: str("busybox"), Memory: i32(6)})
			}
		}},
		{"memoryReservation only", ec2Request(), func(r *request) { c0(r).Memory, c0(r).MemoryReservation = nil, i32(128) }},
		{"memory equal to memoryReservation", ec2Request(), func(r *request) { c0(r).MemoryReservation = i32(256) }},
		{"memory above memoryReservation", ec2Request(), func(r *request) { c0(r).MemoryReservation = i32(128) }},
		{"memory of 6 MiB", ec2Request(), func(r *request) { c0(r).Memory = i32(MinContainerMemory) }},
		{"task memory instead of container memory", ec2Request(), func(r *request) { c0(r).Memory, r.Memory = nil, str("1 GB") }},
		{"fargate container without memory", fargateRequest(), nil},
		{"ec2 task size in units", ec2Request(), func(r *request) { r.Cpu, r.Memory = str("0.125 vCPU"), str("0.5GB") }},
		{"ec2 task cpu at 192 vCPU", ec2Request(), func(r *request) { r.Cpu = str("192 vcpu") }},
		{"ec2 and fargate", fargateRequest(), func(r *request) {
			r.RequiresCompatibilities = []ecsapi.Compatibility{ecsapi.CompatibilityEC2, ecsapi.CompatibilityFARGATE}
		}},
		{"fargate size in units", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("0.25 vCPU"), str("0.5 GB") }},
		{"fargate largest size", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("16 vCPU"), str("120 GB") }},
		{"fargate privileged false", fargateRequest(), func(r *request) { c0(r).Privileged = ecsapi.Ptr(false) }},
		{"fargate disableNetworking false", fargateRequest(), func(r *request) { c0(r).DisableNetworking = ecsapi.Ptr(false) }},
		{"fargate pidMode task", fargateRequest(), func(r *request) { r.PidMode = ecsapi.Ptr(ecsapi.PidModeTask) }},
		{"fargate adds SYS_PTRACE", fargateRequest(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{Capabilities: &ecsapi.KernelCapabilities{Add: []string{"SYS_PTRACE"}, Drop: []string{"ALL"}}, InitProcessEnabled: ecsapi.Ptr(true)}
		}},
		{"fargate bind mount", fargateRequest(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("scratch")})
			withVolume(r, ecsapi.Volume{Name: str("scratch2"), Host: &ecsapi.HostVolumeProperties{}})
			c0(r).MountPoints = []ecsapi.MountPoint{{SourceVolume: str("scratch"), ContainerPath: str("/scratch")}}
		}},
		{"fargate splunk logs", fargateRequest(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverSplunk}
		}},
		{"ec2 host volume and docker volume", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("logs"), Host: &ecsapi.HostVolumeProperties{SourcePath: str("/var/log")}})
			withVolume(r, ecsapi.Volume{Name: str("cache"), DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: ecsapi.Ptr(ecsapi.ScopeTask)}})
			c0(r).MountPoints = []ecsapi.MountPoint{{SourceVolume: str("logs"), ContainerPath: str("/logs")}, {SourceVolume: str("cache"), ContainerPath: str("/cache"), ReadOnly: ecsapi.Ptr(true)}}
		}},
		{"link with alias", twoContainers(), func(r *request) { c0(r).Links = []string{"db:database"} }},
		{"link without alias", twoContainers(), func(r *request) { c0(r).Links = []string{"db"} }},
		{"bridge dynamic host port", ec2Request(), func(r *request) { c0(r).PortMappings[0].HostPort = nil }},
		{"bridge host port 0", ec2Request(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(0) }},
		{"awsvpc host port equal", fargateRequest(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(80) }},
		{"awsvpc host port 0", fargateRequest(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(0) }},
		{"host mode port", ec2Request(), func(r *request) {
			r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost)
			c0(r).PortMappings[0].HostPort = i32(80)
		}},
		{"none mode without ports", ec2Request(), func(r *request) {
			r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeNone)
			c0(r).PortMappings = nil
		}},
		{"port range", ec2Request(), func(r *request) {
			c0(r).PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("8000-8010")}}
		}},
		{"named ports", twoContainers(), func(r *request) {
			c0(r).PortMappings[0].Name = str("http")
			c1(r).PortMappings = []ecsapi.PortMapping{{ContainerPort: i32(5432), Name: str("pg")}}
		}},
		{"one essential of two", twoContainers(), func(r *request) { c1(r).Essential = ecsapi.Ptr(false) }},
		{"essential defaults to true", twoContainers(), func(r *request) { c0(r).Essential = ecsapi.Ptr(false) }},
		{"depends on START", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}}
		}},
		{"depends on SUCCESS of a non-essential", twoContainers(), func(r *request) {
			c1(r).Essential = ecsapi.Ptr(false)
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSUCCESS}}
		}},
		{"depends on HEALTHY with a health check", twoContainers(), func(r *request) {
			c1(r).HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "pg_isready"}}
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionHEALTHY}}
		}},
		{"dependency chain", func() *request {
			r := twoContainers()
			r.ContainerDefinitions = append(r.ContainerDefinitions, ecsapi.ContainerDefinition{Name: str("init"), Image: str("busybox"), Memory: i32(16), Essential: ecsapi.Ptr(false)})
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}, {ContainerName: "init", Condition: ecsapi.ContainerConditionCOMPLETE}}
			c1(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "init", Condition: ecsapi.ContainerConditionSUCCESS}}
			return r
		}(), nil},
		{"volumesFrom", twoContainers(), func(r *request) {
			c0(r).VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("db"), ReadOnly: ecsapi.Ptr(true)}}
		}},
		{"awslogs with options", fargateRequest(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g", "awslogs-region": "us-east-1"}}
		}},
		{"container cpu equal to task cpu", fargateRequest(), func(r *request) { c0(r).Cpu = 256 }},
		{"container memory equal to task memory", fargateRequest(), func(r *request) { c0(r).Memory = i32(512) }},
		{"proxy configuration", twoContainers(), func(r *request) {
			r.ProxyConfiguration = &ecsapi.ProxyConfiguration{ContainerName: "db"}
		}},
		{"external bridge", ec2Request(), func(r *request) {
			r.RequiresCompatibilities = []ecsapi.Compatibility{ecsapi.CompatibilityEXTERNAL}
		}},
		{"just under the size limit", ec2Request(), func(r *request) {
			c0(r).Environment = []ecsapi.KeyValuePair{{Name: str("PAD"), Value: str("")}}
			b, _ := json.Marshal(r)
			c0(r).Environment[0].Value = str(strings.Repeat("x", MaxSize-len(b)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			if tt.mut != nil {
				tt.mut(r)
			}
			if err := Validate(r); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	const client = ecsapi.CodeClientException
	tests := []struct {
		name     string
		req      *request
		mut      func(r *request)
		fragment string
	}{
		// Family.
		{"blank family", ec2Request(), func(r *request) { r.Family = "" }, "Family can not be blank."},
		{"family too long", ec2Request(), func(r *request) { r.Family = strings.Repeat("f", 256) }, "Family is too long"},
		{"family with a space", ec2Request(), func(r *request) { r.Family = "bad family!" }, "Family contains invalid characters."},
		{"family with a slash", ec2Request(), func(r *request) { r.Family = "a/b" }, "Family contains invalid characters."},
		{"family with a colon", ec2Request(), func(r *request) { r.Family = "web:1" }, "Family contains invalid characters."},

		// Containers.
		{"no containers", ec2Request(), func(r *request) { r.ContainerDefinitions = nil }, "Container list cannot be empty."},
		{"empty container list", ec2Request(), func(r *request) { r.ContainerDefinitions = []ecsapi.ContainerDefinition{} }, "Container list cannot be empty."},
		{"eleven containers", ec2Request(), func(r *request) {
			for i := 1; i <= MaxContainers; i++ {
				r.ContainerDefinitions = append(r.ContainerDefinitions, ecsapi.ContainerDefinition{Name: str("c" + strings.Repeat("x", i)), Image: str("busybox"), Memory: i32(6)})
			}
		}, "at most 10 container definitions"},
		{"container without name", ec2Request(), func(r *request) { c0(r).Name = nil }, "Container.name should not be null or empty."},
		{"container with empty name", ec2Request(), func(r *request) { c0(r).Name = str("") }, "Container.name should not be null or empty."},
		{"container name with a space", ec2Request(), func(r *request) { c0(r).Name = str("my web") }, "Container.name contains invalid characters."},
		{"container name with a dot", ec2Request(), func(r *request) { c0(r).Name = str("web.1") }, "Container.name contains invalid characters."},
		{"container name too long", ec2Request(), func(r *request) { c0(r).Name = str(strings.Repeat("n", 256)) }, "Container.name is too long"},
		{"container without image", ec2Request(), func(r *request) { c0(r).Image = nil }, "Container.image should not be null or empty."},
		{"container with blank image", ec2Request(), func(r *request) { c0(r).Image = str("  ") }, "Container.image should not be null or empty."},
		{"duplicate container names", twoContainers(), func(r *request) { c1(r).Name = str("web") }, "Duplicate container name 'web'"},

		// Restart policies.
		{"restart period too short", ec2Request(), func(r *request) {
			c0(r).RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: true, RestartAttemptPeriod: i32(59)}
		}, "restartAttemptPeriod must be from 60 to 1800 seconds, got 59"},
		{"restart period too long", ec2Request(), func(r *request) {
			c0(r).RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: true, RestartAttemptPeriod: i32(1801)}
		}, "restartAttemptPeriod must be from 60 to 1800 seconds, got 1801"},
		{"too many ignored exit codes", ec2Request(), func(r *request) {
			c0(r).RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: true, IgnoredExitCodes: make([]int32, 51)}
		}, "ignoredExitCodes can hold at most 50 exit codes, got 51"},

		// Container memory and cpu.
		{"no memory on ec2", ec2Request(), func(r *request) { c0(r).Memory = nil },
			"Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."},
		{"no memory with requiresCompatibilities EC2", ec2Request(), func(r *request) {
			c0(r).Memory = nil
			r.RequiresCompatibilities = []ecsapi.Compatibility{ecsapi.CompatibilityEC2}
		}, "At least one of 'memory' or 'memoryReservation' must be specified."},
		{"no memory on the second container", twoContainers(), func(r *request) { c1(r).Memory = nil }, "Invalid setting for container 'db'."},
		{"memory below 6 MiB", ec2Request(), func(r *request) { c0(r).Memory = i32(5) }, "Invalid 'memory' setting for container 'web'. The minimum is 6 MiB."},
		{"memory 0", ec2Request(), func(r *request) { c0(r).Memory = i32(0) }, "Invalid 'memory' setting for container 'web'."},
		{"memoryReservation below 6 MiB", ec2Request(), func(r *request) { c0(r).MemoryReservation = i32(4) }, "Invalid 'memoryReservation' setting for container 'web'."},
		{"memory below memoryReservation", ec2Request(), func(r *request) { c0(r).MemoryReservation = i32(512) },
			"'memory' must be greater than or equal to 'memoryReservation'"},
		{"negative container cpu", ec2Request(), func(r *request) { c0(r).Cpu = -1 }, "Invalid 'cpu' setting for container 'web'."},

		// Task size.
		{"task cpu not a number", ec2Request(), func(r *request) { r.Cpu = str("lots") }, "Invalid 'cpu' setting for task."},
		{"task cpu empty", ec2Request(), func(r *request) { r.Cpu = str("") }, "Invalid 'cpu' setting for task."},
		{"task cpu fraction without unit", ec2Request(), func(r *request) { r.Cpu = str("1.5") }, "Invalid 'cpu' setting for task."},
		{"task cpu not whole units", ec2Request(), func(r *request) { r.Cpu = str("0.1 vCPU") }, "Invalid 'cpu' setting for task."},
		{"task cpu negative", ec2Request(), func(r *request) { r.Cpu = str("-1024") }, "Invalid 'cpu' setting for task."},
		{"task cpu wrong unit", ec2Request(), func(r *request) { r.Cpu = str("1 GB") }, "Invalid 'cpu' setting for task."},
		{"ec2 task cpu below 128", ec2Request(), func(r *request) { r.Cpu = str("64") }, "between 128 CPU units"},
		{"ec2 task cpu above 192 vCPU", ec2Request(), func(r *request) { r.Cpu = str("193 vCPU") }, "between 128 CPU units"},
		{"task memory not a number", ec2Request(), func(r *request) { r.Memory = str("big") }, "Invalid 'memory' setting for task."},
		{"task memory 0", ec2Request(), func(r *request) { r.Memory = str("0") }, "Invalid 'memory' setting for task."},
		{"task memory in MiB with unit", ec2Request(), func(r *request) { r.Memory = str("512 MiB") }, "Invalid 'memory' setting for task."},
		{"task memory too large", ec2Request(), func(r *request) { r.Memory = str("3000000 GB") }, "Invalid 'memory' setting for task."},

		// Fargate.
		{"fargate without network mode", fargateRequest(), func(r *request) { r.NetworkMode = nil }, "Fargate only supports network mode ‘awsvpc’."},
		{"fargate bridge", fargateRequest(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeBridge) }, "Fargate only supports network mode"},
		{"fargate host", fargateRequest(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost) }, "Fargate only supports network mode"},
		{"fargate with EC2 still needs awsvpc", fargateRequest(), func(r *request) {
			r.NetworkMode = nil
			r.RequiresCompatibilities = []ecsapi.Compatibility{ecsapi.CompatibilityEC2, ecsapi.CompatibilityFARGATE}
		}, "Fargate only supports network mode"},
		{"fargate without cpu", fargateRequest(), func(r *request) { r.Cpu = nil }, "Fargate requires that 'cpu' be defined at the task level."},
		{"fargate without memory", fargateRequest(), func(r *request) { r.Memory = nil }, "Fargate requires that 'memory' be defined at the task level."},
		{"fargate 256 with 4096", fargateRequest(), func(r *request) { r.Memory = str("4096") }, "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{"fargate 1024 with 1024", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("1 vCPU"), str("1 GB") }, "No Fargate configuration exists for given values: 1024 CPU, 1024 memory."},
		{"fargate 512 off step", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("512"), str("1536") }, "No Fargate configuration exists"},
		{"fargate 8192 off step", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("8192"), str("18432") }, "No Fargate configuration exists"},
		{"fargate 16384 off step", fargateRequest(), func(r *request) { r.Cpu, r.Memory = str("16384"), str("36864") }, "No Fargate configuration exists"},
		{"fargate unknown cpu", fargateRequest(), func(r *request) { r.Cpu = str("128") }, "No Fargate configuration exists for given values: 128 CPU, 512 memory."},
		{"fargate privileged", fargateRequest(), func(r *request) { c0(r).Privileged = ecsapi.Ptr(true) },
			"Invalid setting for container 'web'. Tasks using the Fargate launch type do not support privileged."},
		{"fargate links", fargateRequest(), func(r *request) {
			r.ContainerDefinitions = append(r.ContainerDefinitions, ecsapi.ContainerDefinition{Name: str("db"), Image: str("postgres")})
			c0(r).Links = []string{"db"}
		}, "do not support links"},
		{"fargate disableNetworking", fargateRequest(), func(r *request) { c0(r).DisableNetworking = ecsapi.Ptr(true) }, "do not support disableNetworking"},
		{"fargate dnsServers", fargateRequest(), func(r *request) { c0(r).DnsServers = []string{"10.0.0.2"} }, "do not support dnsServers"},
		{"fargate dnsSearchDomains", fargateRequest(), func(r *request) { c0(r).DnsSearchDomains = []string{"corp"} }, "do not support dnsSearchDomains"},
		{"fargate dockerSecurityOptions", fargateRequest(), func(r *request) { c0(r).DockerSecurityOptions = []string{"no-new-privileges"} }, "do not support dockerSecurityOptions"},
		{"fargate extraHosts", fargateRequest(), func(r *request) { c0(r).ExtraHosts = []ecsapi.HostEntry{{Hostname: "db", IpAddress: "10.0.0.3"}} }, "do not support extraHosts"},
		{"fargate gpu", fargateRequest(), func(r *request) {
			c0(r).ResourceRequirements = []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "1"}}
		}, "do not support GPU"},
		{"fargate devices", fargateRequest(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{Devices: []ecsapi.Device{{HostPath: "/dev/fuse"}}}
		}, "do not support linuxParameters.devices"},
		{"fargate sharedMemorySize", fargateRequest(), func(r *request) { c0(r).LinuxParameters = &ecsapi.LinuxParameters{SharedMemorySize: i32(64)} }, "linuxParameters.sharedMemorySize"},
		{"fargate tmpfs", fargateRequest(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{Tmpfs: []ecsapi.Tmpfs{{ContainerPath: "/tmp", Size: 64}}}
		}, "linuxParameters.tmpfs"},
		{"fargate maxSwap", fargateRequest(), func(r *request) { c0(r).LinuxParameters = &ecsapi.LinuxParameters{MaxSwap: i32(0)} }, "linuxParameters.maxSwap"},
		{"fargate swappiness", fargateRequest(), func(r *request) { c0(r).LinuxParameters = &ecsapi.LinuxParameters{Swappiness: i32(10)} }, "linuxParameters.swappiness"},
		{"fargate adds NET_ADMIN", fargateRequest(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{Capabilities: &ecsapi.KernelCapabilities{Add: []string{"NET_ADMIN"}}}
		}, "adding the capability 'NET_ADMIN'"},
		{"fargate json-file logs", fargateRequest(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverJsonFile}
		}, "the log driver 'json-file'"},
		{"fargate ipcMode", fargateRequest(), func(r *request) { r.IpcMode = ecsapi.Ptr(ecsapi.IpcModeTask) }, "Tasks using the Fargate launch type do not support ipcMode."},
		{"fargate pidMode host", fargateRequest(), func(r *request) { r.PidMode = ecsapi.Ptr(ecsapi.PidModeHost) }, "do not support pidMode 'host'"},
		{"fargate placement constraints", fargateRequest(), func(r *request) {
			r.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{{Type: ecsapi.Ptr(ecsapi.TaskDefinitionPlacementConstraintTypeMemberOf), Expression: str("attribute:ecs.instance-type =~ t3.*")}}
		}, "do not support placementConstraints"},
		{"placement constraint syntax", ec2Request(), func(r *request) {
			r.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{{Type: ecsapi.Ptr(ecsapi.TaskDefinitionPlacementConstraintTypeMemberOf), Expression: str("attribute:rack == (r1")}}
		}, `Invalid placement constraint expression "attribute:rack == (r1"`},
		{"placement constraint without expression", ec2Request(), func(r *request) {
			r.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{{Type: ecsapi.Ptr(ecsapi.TaskDefinitionPlacementConstraintTypeMemberOf)}}
		}, "Constraint expression is required"},
		{"fargate host path volume", fargateRequest(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("data"), Host: &ecsapi.HostVolumeProperties{SourcePath: str("/srv/data")}})
		}, "do not support host volumes with a sourcePath (volume 'data')"},
		{"fargate docker volume", fargateRequest(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("data"), DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{}})
		}, "do not support dockerVolumeConfiguration (volume 'data')"},
		{"external awsvpc", ec2Request(), func(r *request) {
			r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeAwsvpc)
			c0(r).PortMappings[0].HostPort = nil
			r.RequiresCompatibilities = []ecsapi.Compatibility{ecsapi.CompatibilityEXTERNAL}
		}, "EXTERNAL launch type do not support network mode 'awsvpc'"},

		// Volumes.
		{"volume without name", ec2Request(), func(r *request) { withVolume(r, ecsapi.Volume{}) }, "Volume.name should not be null or empty."},
		{"volume name with a space", ec2Request(), func(r *request) { withVolume(r, ecsapi.Volume{Name: str("my data")}) }, "Volume.name contains invalid characters."},
		{"volume name too long", ec2Request(), func(r *request) { withVolume(r, ecsapi.Volume{Name: str(strings.Repeat("v", 256))}) }, "Volume.name is too long"},
		{"duplicate volume names", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("data")})
			withVolume(r, ecsapi.Volume{Name: str("data")})
		}, "Duplicate volume name 'data'"},
		{"efs volume", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("shared"), EfsVolumeConfiguration: &ecsapi.EFSVolumeConfiguration{FileSystemId: "fs-12345678"}})
		}, "Volume 'shared' uses efsVolumeConfiguration: berth does not support"},
		{"fsx volume", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("win"), FsxWindowsFileServerVolumeConfiguration: &ecsapi.FSxWindowsFileServerVolumeConfiguration{}})
		}, "Volume 'win' uses fsxWindowsFileServerVolumeConfiguration: berth does not support"},
		{"s3 files volume", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("objects"), S3filesVolumeConfiguration: &ecsapi.S3FilesVolumeConfiguration{}})
		}, "Volume 'objects' uses s3filesVolumeConfiguration: berth does not support"},
		{"host and docker volume", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("data"), Host: &ecsapi.HostVolumeProperties{}, DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{}})
		}, "Volume 'data' cannot specify both host and dockerVolumeConfiguration."},

		// Network mode.
		{"hostname with awsvpc", fargateRequest(), func(r *request) { c0(r).Hostname = str("web") }, "hostname is not supported on container when networkMode=awsvpc."},
		{"links with awsvpc", twoContainers(), func(r *request) {
			r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeAwsvpc)
			c0(r).PortMappings[0].HostPort = nil
			c0(r).Links = []string{"db"}
		}, "Links are not supported when networkMode=awsvpc."},
		{"links with host", twoContainers(), func(r *request) {
			r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost)
			c0(r).PortMappings[0].HostPort = nil
			c0(r).Links = []string{"db"}
		}, "Links are not supported when networkMode=host."},
		{"link to an unknown container", twoContainers(), func(r *request) { c0(r).Links = []string{"cache"} }, "Invalid link 'cache' for container 'web'."},
		{"aliased link to an unknown container", twoContainers(), func(r *request) { c0(r).Links = []string{"cache:db"} }, "Invalid link 'cache:db'"},
		{"link to itself", twoContainers(), func(r *request) { c0(r).Links = []string{"web"} }, "Invalid link 'web' for container 'web'."},
		{"empty link", twoContainers(), func(r *request) { c0(r).Links = []string{""} }, "Invalid link ''"},

		// Port mappings.
		{"ports with network mode none", ec2Request(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeNone) },
			"Port mappings are not supported when networkMode=none."},
		{"port mapping without containerPort", ec2Request(), func(r *request) { c0(r).PortMappings[0].ContainerPort = nil }, "Invalid 'containerPort' setting for container 'web'."},
		{"containerPort 0", ec2Request(), func(r *request) { c0(r).PortMappings[0].ContainerPort = i32(0) }, "Invalid 'containerPort' setting"},
		{"containerPort 65536", ec2Request(), func(r *request) { c0(r).PortMappings[0].ContainerPort = i32(65536) }, "Invalid 'containerPort' setting"},
		{"negative hostPort", ec2Request(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(-1) }, "Invalid 'hostPort' setting for container 'web'."},
		{"hostPort 70000", ec2Request(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(70000) }, "Invalid 'hostPort' setting"},
		{"awsvpc port mismatch", fargateRequest(), func(r *request) { c0(r).PortMappings[0].HostPort = i32(8080) },
			"When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"host port mismatch", ec2Request(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost) },
			"When networkMode=host, the host ports and container ports in port mappings must match."},
		{"duplicate port names", twoContainers(), func(r *request) {
			c0(r).PortMappings[0].Name = str("http")
			c1(r).PortMappings = []ecsapi.PortMapping{{ContainerPort: i32(8081), Name: str("http")}}
		}, "Duplicate port mapping name 'http'"},
		{"duplicate port names in a container", ec2Request(), func(r *request) {
			c0(r).PortMappings[0].Name = str("http")
			c0(r).PortMappings = append(c0(r).PortMappings, ecsapi.PortMapping{ContainerPort: i32(81), Name: str("http")})
		}, "Duplicate port mapping name 'http'"},
		{"port range and containerPort", ec2Request(), func(r *request) { c0(r).PortMappings[0].ContainerPortRange = str("8000-8010") },
			"Specify either containerPort or containerPortRange"},
		{"port range without dash", ec2Request(), func(r *request) {
			c0(r).PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("8000")}}
		}, "Invalid 'containerPortRange' setting for container 'web'."},
		{"port range backwards", ec2Request(), func(r *request) {
			c0(r).PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("9010-9000")}}
		}, "Invalid 'containerPortRange'"},
		{"port range from 0", ec2Request(), func(r *request) {
			c0(r).PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("0-10")}}
		}, "Invalid 'containerPortRange'"},
		{"port range not numbers", ec2Request(), func(r *request) {
			c0(r).PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("a-b")}}
		}, "Invalid 'containerPortRange'"},

		// Essential.
		{"no essential container", twoContainers(), func(r *request) {
			c0(r).Essential = ecsapi.Ptr(false)
			c1(r).Essential = ecsapi.Ptr(false)
		}, "Task definition doesn't have any essential container."},

		// dependsOn.
		{"depends on an unknown container", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "ghost", Condition: ecsapi.ContainerConditionSTART}}
		}, "Invalid dependsOn for container 'web'. Container 'ghost' is not defined in the task definition."},
		{"depends on itself", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "web", Condition: ecsapi.ContainerConditionSTART}}
		}, "A container cannot depend on itself."},
		{"SUCCESS of an essential container", twoContainers(), func(r *request) {
			c1(r).Essential = ecsapi.Ptr(true)
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSUCCESS}}
		}, "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"},
		{"COMPLETE of a default-essential container", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionCOMPLETE}}
		}, "cannot be an essential container"},
		{"HEALTHY without a health check", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionHEALTHY}}
		}, "The HEALTHY condition requires container 'db' to have a healthCheck."},
		{"dependency cycle", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}}
			c1(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "web", Condition: ecsapi.ContainerConditionSTART}}
		}, "dependency cycle"},

		// volumesFrom.
		{"volumesFrom an unknown container", twoContainers(), func(r *request) {
			c0(r).VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("ghost")}}
		}, "Invalid volumesFrom for container 'web'. sourceContainer 'ghost'"},
		{"volumesFrom without sourceContainer", twoContainers(), func(r *request) {
			c0(r).VolumesFrom = []ecsapi.VolumeFrom{{}}
		}, "Invalid volumesFrom for container 'web'. sourceContainer ''"},
		{"volumesFrom itself", twoContainers(), func(r *request) {
			c0(r).VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("web")}}
		}, "sourceContainer 'web' must name another container"},

		// mountPoints.
		{"mount of an undeclared volume", ec2Request(), func(r *request) {
			c0(r).MountPoints = []ecsapi.MountPoint{{SourceVolume: str("ghost"), ContainerPath: str("/data")}}
		}, "Invalid mountPoints for container 'web'. The sourceVolume 'ghost' is not a volume of this task definition."},
		{"mount without sourceVolume", ec2Request(), func(r *request) {
			c0(r).MountPoints = []ecsapi.MountPoint{{ContainerPath: str("/data")}}
		}, "sourceVolume should not be null or empty."},
		{"mount without containerPath", ec2Request(), func(r *request) {
			withVolume(r, ecsapi.Volume{Name: str("data")})
			c0(r).MountPoints = []ecsapi.MountPoint{{SourceVolume: str("data")}}
		}, "containerPath should not be null or empty."},

		// Logging.
		{"awslogs without region", ec2Request(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g"}}
		}, "Log driver awslogs requires options: awslogs-region (container 'web')."},
		{"awslogs without options", ec2Request(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs}
		}, "Log driver awslogs requires options: awslogs-group, awslogs-region"},

		// Totals.
		{"container cpu above task cpu", fargateRequest(), func(r *request) { c0(r).Cpu = 512 },
			"The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."},
		{"container memory above task memory", twoContainers(), func(r *request) { r.Memory = str("512") },
			"768 MiB, cannot be greater than the value of the task 'memory', 512 MiB."},
		{"reservations count before memory", twoContainers(), func(r *request) {
			r.Memory = str("600")
			c0(r).MemoryReservation = i32(100)
			c1(r).Memory, c1(r).MemoryReservation = i32(2048), i32(501)
		}, "601 MiB"},

		// Proxy.
		{"proxy for an unknown container", ec2Request(), func(r *request) {
			r.ProxyConfiguration = &ecsapi.ProxyConfiguration{ContainerName: "envoy"}
		}, "Invalid proxyConfiguration. Container 'envoy' is not defined in the task definition."},

		// Size.
		{"over 64 KiB", ec2Request(), func(r *request) {
			c0(r).Environment = []ecsapi.KeyValuePair{{Name: str("PAD"), Value: str(strings.Repeat("x", MaxSize))}}
		}, "Max allowed length is '65536' bytes."},
		{"one byte over 64 KiB", ec2Request(), func(r *request) {
			c0(r).Environment = []ecsapi.KeyValuePair{{Name: str("PAD"), Value: str("")}}
			b, _ := json.Marshal(r)
			c0(r).Environment[0].Value = str(strings.Repeat("x", MaxSize-len(b)+1))
		}, "Actual length: '65537'."},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate case %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			tt.mut(r)
			wantError(t, Validate(r), client, tt.fragment)
		})
	}
}

func TestValidateNil(t *testing.T) {
	wantError(t, Validate(nil), ecsapi.CodeClientException, "empty")
}

func TestFargateSizes(t *testing.T) {
	valid := map[int64][]int64{
		256:   {512, 1024, 2048},
		512:   seq(1024, 4096, 1024),
		1024:  seq(2048, 8192, 1024),
		2048:  seq(4096, 16384, 1024),
		4096:  seq(8192, 30720, 1024),
		8192:  seq(16384, 61440, 4096),
		16384: seq(32768, 122880, 8192),
	}
	for _, cpu := range []int64{128, 256, 384, 512, 1024, 2048, 3072, 4096, 8192, 16384, 32768} {
		want := map[int64]bool{}
		for _, m := range valid[cpu] {
			want[m] = true
		}
		for mem := int64(256); mem <= 131072; mem += 256 {
			if got := fargateSizeOK(cpu, mem); got != want[mem] {
				t.Errorf("fargateSizeOK(%d, %d) = %v, want %v", cpu, mem, got, want[mem])
			}
		}
	}
	if len(valid[2048]) != 13 || len(valid[8192]) != 12 || len(valid[16384]) != 12 {
		t.Fatal("table sanity")
	}
}

func seq(from, to, step int64) []int64 {
	var out []int64
	for n := from; n <= to; n += step {
		out = append(out, n)
	}
	return out
}

func TestParseSizes(t *testing.T) {
	cpu := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{" 2048 ", 2048, true},
		{"1 vCPU", 1024, true},
		{"1 vcpu", 1024, true},
		{"1vCPU", 1024, true},
		{"0.25 vCPU", 256, true},
		{".5 vCPU", 0, false},
		{"0.5 VCPU", 512, true},
		{"0.125 vCPU", 128, true},
		{"16 vCPU", 16384, true},
		{"0.1 vCPU", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"vCPU", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"1,024", 0, false},
		{"1 GB", 0, false},
		{"2097152 vCPU", 0, false}, // beyond int32
		{"99999999999999999999999999999999999", 0, false},
	}
	for _, tt := range cpu {
		got, ok := ParseCPU(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	mem := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512", 512, true},
		{"2 GB", 2048, true},
		{"2GB", 2048, true},
		{"2 gb", 2048, true},
		{"0.5 GB", 512, true},
		{"0.5GB", 512, true},
		{"1.25 GB", 1280, true},
		{"120 GB", 122880, true},
		{"0.0001 GB", 0, false},
		{"1 GiB", 0, false},
		{"512 MiB", 0, false},
		{"1 vCPU", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
		{"0 GB", 0, false},
	}
	for _, tt := range mem {
		got, ok := ParseMemory(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

var registered = time.Date(2025, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
