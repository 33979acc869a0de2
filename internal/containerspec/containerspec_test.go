package containerspec

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

const (
	testTaskARN  = "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef"
	testName     = "ecs-web-3-app-0a1b2c"
	testInstance = "ci-0f1e2d"
	testPauseID  = "pause0123456789"
)

var (
	str  = ecsapi.Ptr[string]
	i32  = ecsapi.Ptr[int32]
	bptr = ecsapi.Ptr[bool]
)

// baseInput is a minimal bridge-mode container: every case starts from it.
func baseInput() Input {
	return Input{
		Cluster:    "default",
		TaskARN:    testTaskARN,
		InstanceID: testInstance,
		Family:     "web",
		Revision:   3,
		Task:       &ecsapi.TaskDefinition{Family: str("web"), Revision: 3},
		Container: ecsapi.ContainerDefinition{
			Name:  str("app"),
			Image: str("nginx:1.27"),
		},
		Name:        testName,
		NetworkMode: "bridge",
		Volumes: map[string]VolumeSource{
			"data":  {HostPath: "/srv/data"},
			"cache": {DockerVolume: "ecs-web-3-cache-0a1b"},
			"empty": {},
		},
		ContainerIDs: map[string]string{"db": "db0123456789", "sidecar": "sc0123456789"},
	}
}

// baseLabels are the labels of baseInput's container.
func baseLabels() map[string]string {
	return map[string]string{
		LabelCluster:        "default",
		LabelTaskARN:        testTaskARN,
		LabelContainerName:  "app",
		LabelTaskDefFamily:  "web",
		LabelTaskDefVersion: "3",
		LabelInstance:       testInstance,
		LabelRole:           "container",
	}
}

// baseSpec is what Build makes of baseInput.
func baseSpec() runtime.Spec {
	return runtime.Spec{
		Name:   testName,
		Config: &container.Config{Image: "nginx:1.27", Labels: baseLabels()},
		HostConfig: &container.HostConfig{
			NetworkMode:   "bridge",
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			Resources:     container.Resources{CPUShares: 2},
		},
	}
}

// buildCase changes baseInput and the expected spec alike: the whole spec
// is compared, so a case also proves nothing else changed.
type buildCase struct {
	name string
	in   func(*Input)
	want func(*runtime.Spec)
	// warns are substrings of the expected warnings, in order; none
	// expected when empty.
	warns []string
}

func runBuildCases(t *testing.T, cases []buildCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			if tc.in != nil {
				tc.in(&in)
			}
			got, err := Build(in)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			want := baseSpec()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(got.Spec, want) {
				t.Errorf("spec mismatch\n got: %s\nwant: %s", dump(t, got.Spec), dump(t, want))
			}
			checkWarnings(t, got.Warnings, tc.warns)
		})
	}
}

func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings = %q, want %d matching %q", got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func dump(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildBase(t *testing.T) {
	runBuildCases(t, []buildCase{{name: "minimal container"}})
}

func TestBuildProcess(t *testing.T) {
	runBuildCases(t, []buildCase{
		{
			name: "entryPoint and command",
			in: func(in *Input) {
				in.Container.EntryPoint = []string{"/bin/sh", "-c"}
				in.Container.Command = []string{"echo hi"}
			},
			want: func(s *runtime.Spec) {
				s.Config.Entrypoint = []string{"/bin/sh", "-c"}
				s.Config.Cmd = []string{"echo hi"}
			},
		},
		{
			name: "explicit empty command clears the image's",
			in:   func(in *Input) { in.Container.Command = []string{} },
			want: func(s *runtime.Spec) { s.Config.Cmd = []string{} },
		},
		{
			name: "workingDirectory and user",
			in: func(in *Input) {
				in.Container.WorkingDirectory = str("/app")
				in.Container.User = str("1000:1000")
			},
			want: func(s *runtime.Spec) {
				s.Config.WorkingDir = "/app"
				s.Config.User = "1000:1000"
			},
		},
		{
			name: "pseudoTerminal and interactive",
			in: func(in *Input) {
				in.Container.PseudoTerminal = bptr(true)
				in.Container.Interactive = bptr(true)
			},
			want: func(s *runtime.Spec) {
				s.Config.Tty = true
				s.Config.OpenStdin = true
			},
		},
		{
			name: "disableNetworking",
			in:   func(in *Input) { in.Container.DisableNetworking = bptr(true) },
			want: func(s *runtime.Spec) { s.Config.NetworkDisabled = true },
		},
		{
			name: "privileged and readonlyRootFilesystem",
			in: func(in *Input) {
				in.Container.Privileged = bptr(true)
				in.Container.ReadonlyRootFilesystem = bptr(true)
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.Privileged = true
				s.HostConfig.ReadonlyRootfs = true
			},
		},
		{
			name: "false booleans stay unset",
			in: func(in *Input) {
				in.Container.Privileged = bptr(false)
				in.Container.PseudoTerminal = bptr(false)
			},
		},
		{
			name: "dockerSecurityOptions",
			in: func(in *Input) {
				in.Container.DockerSecurityOptions = []string{"no-new-privileges", "apparmor:docker-default"}
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.SecurityOpt = []string{"no-new-privileges", "apparmor:docker-default"}
			},
		},
		{
			name: "stopTimeout",
			in:   func(in *Input) { in.Container.StopTimeout = i32(90) },
			want: func(s *runtime.Spec) { s.Config.StopTimeout = ecsapi.Ptr(90) },
		},
		{
			name: "agent-only fields change nothing",
			in: func(in *Input) {
				c := &in.Container
				c.StartTimeout = i32(60)
				c.Essential = bptr(false)
				c.RestartPolicy = &ecsapi.ContainerRestartPolicy{Enabled: true}
				c.RepositoryCredentials = &ecsapi.RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-east-1:000000000000:secret:x"}
				c.Secrets = []ecsapi.Secret{{Name: "PASSWORD", ValueFrom: "arn:aws:ssm:us-east-1:000000000000:parameter/p"}}
				c.DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}}
				c.EnvironmentFiles = []ecsapi.EnvironmentFile{{Value: "arn:aws:s3:::b/x.env", Type: ecsapi.EnvironmentFileTypeS3}}
			},
		},
		{
			name: "firelensConfiguration and credentialSpecs warn",
			in: func(in *Input) {
				in.Container.FirelensConfiguration = &ecsapi.FirelensConfiguration{Type: ecsapi.FirelensConfigurationTypeFluentbit}
				in.Container.CredentialSpecs = []string{"credentialspecdomainless:arn:aws:s3:::b/spec.json"}
			},
			warns: []string{"firelensConfiguration", "credentialSpecs"},
		},
	})
}

func TestBuildEnvironment(t *testing.T) {
	kv := func(name, value string) ecsapi.KeyValuePair {
		return ecsapi.KeyValuePair{Name: str(name), Value: str(value)}
	}
	runBuildCases(t, []buildCase{
		{
			name: "environment sorted by name",
			in: func(in *Input) {
				in.Container.Environment = []ecsapi.KeyValuePair{kv("ZED", "1"), kv("ALPHA", "2"), kv("MID", "a=b")}
			},
			want: func(s *runtime.Spec) { s.Config.Env = []string{"ALPHA=2", "MID=a=b", "ZED=1"} },
		},
		{
			name: "last entry of a name wins",
			in: func(in *Input) {
				in.Container.Environment = []ecsapi.KeyValuePair{kv("A", "1"), kv("A", "2")}
			},
			want: func(s *runtime.Spec) { s.Config.Env = []string{"A=2"} },
		},
		{
			name: "missing value is empty, missing name skipped",
			in: func(in *Input) {
				in.Container.Environment = []ecsapi.KeyValuePair{{Name: str("EMPTY")}, {Value: str("orphan")}}
			},
			want: func(s *runtime.Spec) { s.Config.Env = []string{"EMPTY="} },
		},
		{
			name: "Env added, definition wins on a clash",
			in: func(in *Input) {
				in.Env = map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x", "SHARED": "agent"}
				in.Container.Environment = []ecsapi.KeyValuePair{kv("SHARED", "definition")}
			},
			want: func(s *runtime.Spec) {
				s.Config.Env = []string{"ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/x", "SHARED=definition"}
			},
		},
		{
			name: "environment beats environment files, which beat Env",
			in: func(in *Input) {
				in.Env = map[string]string{"A": "env", "B": "env", "C": "env"}
				in.FileEnv = map[string]string{"B": "file", "C": "file", "D": "file"}
				in.Container.Environment = []ecsapi.KeyValuePair{kv("C", "definition")}
			},
			want: func(s *runtime.Spec) { s.Config.Env = []string{"A=env", "B=file", "C=definition", "D=file"} },
		},
	})
}

func TestBuildLabels(t *testing.T) {
	runBuildCases(t, []buildCase{
		{
			name: "dockerLabels kept",
			in:   func(in *Input) { in.Container.DockerLabels = map[string]string{"team": "web", "tier": "front"} },
			want: func(s *runtime.Spec) {
				s.Config.Labels["team"] = "web"
				s.Config.Labels["tier"] = "front"
			},
		},
		{
			name: "ECS and berth labels win over dockerLabels",
			in: func(in *Input) {
				in.Container.DockerLabels = map[string]string{
					LabelCluster: "evil", LabelTaskARN: "evil", LabelContainerName: "evil",
					LabelTaskDefFamily: "evil", LabelTaskDefVersion: "evil",
					LabelInstance: "evil", LabelRole: "pause", "keep": "me",
				}
			},
			want: func(s *runtime.Spec) { s.Config.Labels["keep"] = "me" },
		},
	})
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name string
		in   func(*Input)
		want string
		is   error
	}{
		{"unknown volume", func(in *Input) {
			in.Container.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("nope"), ContainerPath: str("/x")}}
		}, `"nope"`, errUnknownVolume},
		{"volume without source", func(in *Input) {
			in.Container.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("empty"), ContainerPath: str("/x")}}
		}, "neither a host path nor a Docker volume", nil},
		{"mount point without containerPath", func(in *Input) {
			in.Container.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("data")}}
		}, "no containerPath", nil},
		{"unknown link", func(in *Input) { in.Container.Links = []string{"ghost:g"} }, `"ghost"`, errNoContainer},
		{"bad link", func(in *Input) { in.Container.Links = []string{"db:a:b"} }, "name:alias", nil},
		{"unknown volumesFrom", func(in *Input) {
			in.Container.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("ghost")}}
		}, `"ghost"`, errNoContainer},
		{"volumesFrom without source", func(in *Input) {
			in.Container.VolumesFrom = []ecsapi.VolumeFrom{{}}
		}, "volumesFrom", errNoContainer},
		{"awsvpc without pause container", func(in *Input) { in.NetworkMode = "awsvpc" }, "pause container", nil},
		{"unknown network mode", func(in *Input) { in.NetworkMode = "overlay" }, `"overlay"`, nil},
		{"bad DNS server", func(in *Input) { in.Container.DnsServers = []string{"dns.example"} }, "dns.example", nil},
		{"missing containerPort", func(in *Input) {
			in.Container.PortMappings = []ecsapi.PortMapping{{HostPort: i32(80)}}
		}, "containerPort", nil},
		{"containerPort out of range", func(in *Input) {
			in.Container.PortMappings = []ecsapi.PortMapping{{ContainerPort: i32(70000)}}
		}, "containerPort 70000", nil},
		{"bad containerPortRange", func(in *Input) {
			in.Container.PortMappings = []ecsapi.PortMapping{{ContainerPortRange: str("9-1")}}
		}, `"9-1"`, nil},
		{"unknown protocol", func(in *Input) {
			in.Container.PortMappings = []ecsapi.PortMapping{{ContainerPort: i32(80), Protocol: ecsapi.Ptr(ecsapi.TransportProtocol("sctp"))}}
		}, `"sctp"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.in(&in)
			out, err := Build(in)
			if err == nil {
				t.Fatalf("Build succeeded: %s", dump(t, out.Spec))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `containerspec: container "app": `) || !strings.Contains(msg, tc.want) {
				t.Errorf("error = %q, want the container named and %q", msg, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error = %v, want it to wrap %v", err, tc.is)
			}
			if !reflect.DeepEqual(out, Output{}) {
				t.Errorf("output on error = %+v, want zero", out)
			}
		})
	}
}

// richInput sets most fields, for the determinism and aliasing tests.
func richInput() Input {
	in := baseInput()
	c := &in.Container
	c.EntryPoint = []string{"/entry"}
	c.Command = []string{"serve", "--port", "80"}
	c.Environment = []ecsapi.KeyValuePair{{Name: str("B"), Value: str("2")}, {Name: str("A"), Value: str("1")}}
	c.DockerLabels = map[string]string{"team": "web"}
	c.Cpu, c.Memory, c.MemoryReservation = 256, i32(512), i32(256)
	c.Links = []string{"db:database", "sidecar"}
	c.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("sidecar"), ReadOnly: bptr(true)}}
	c.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("data"), ContainerPath: str("/data")}}
	c.PortMappings = []ecsapi.PortMapping{{ContainerPort: i32(80), HostPort: i32(8080)}, {ContainerPort: i32(53), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolUdp)}}
	c.DnsServers, c.DnsSearchDomains = []string{"10.0.0.2"}, []string{"corp.example"}
	c.ExtraHosts = []ecsapi.HostEntry{{Hostname: "db.local", IpAddress: "10.0.0.5"}}
	c.Ulimits = []ecsapi.Ulimit{{Name: ecsapi.UlimitNameNofile, SoftLimit: 1024, HardLimit: 4096}}
	c.SystemControls = []ecsapi.SystemControl{{Namespace: str("net.core.somaxconn"), Value: str("1024")}}
	c.LinuxParameters = &ecsapi.LinuxParameters{
		Capabilities: &ecsapi.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
		Devices:      []ecsapi.Device{{HostPath: "/dev/fuse"}},
		Tmpfs:        []ecsapi.Tmpfs{{ContainerPath: "/run", Size: 64, MountOptions: []string{"noexec"}}},
	}
	c.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverGelf, Options: map[string]string{"gelf-address": "udp://10.0.0.9:12201"}}
	c.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}}
	in.Env = map[string]string{"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}
	in.GPUIDs = []string{"GPU-0"}
	return in
}

func TestBuildDeterministic(t *testing.T) {
	first, err := Build(richInput())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := Build(richInput())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) || dump(t, first) != dump(t, again) {
			t.Fatalf("Build is not deterministic:\n%s\n%s", dump(t, first), dump(t, again))
		}
	}
	if want := []string{"A=1", "B=2", "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/x"}; !reflect.DeepEqual(first.Spec.Config.Env, want) {
		t.Errorf("Env = %q, want %q", first.Spec.Config.Env, want)
	}
}

// TestBuildDoesNotAlias: changing the output must not change the input, and
// the input must come out of Build unchanged.
func TestBuildDoesNotAlias(t *testing.T) {
	in := richInput()
	before := dump(t, in)
	out, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if dump(t, in) != before {
		t.Fatal("Build changed its input")
	}
	cfg, host := out.Spec.Config, out.Spec.HostConfig
	cfg.Entrypoint[0], cfg.Cmd[0] = "x", "x"
	cfg.Labels["team"] = "x"
	host.DNSSearch[0], host.CapAdd[0], host.CapDrop[0] = "x", "x", "x"
	host.DeviceRequests[0].DeviceIDs[0] = "x"
	host.LogConfig.Config["gelf-address"] = "x"
	cfg.Healthcheck.Test[0] = "x"
	if dump(t, in) != before {
		t.Fatal("the output shares memory with the input")
	}
}
