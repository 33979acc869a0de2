package taskdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
)

const testARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3"

func build(r *request) *ecsapi.TaskDefinition {
	return Build(r, testARN, 3, registered, "arn:aws:iam::000000000000:root")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// richRequest uses most of the pointer, slice and map members, so that the
// deep-copy test notices any aliasing.
func richRequest() *request {
	r := twoContainers()
	r.Tags = []ecsapi.Tag{{Key: str("team"), Value: str("web")}}
	r.TaskRoleArn = str("arn:aws:iam::000000000000:role/app")
	r.Cpu, r.Memory = str("1 vCPU"), str("2 GB")
	r.Volumes = []ecsapi.Volume{{Name: str("data"), Host: &ecsapi.HostVolumeProperties{SourcePath: str("/srv")}},
		{Name: str("cache"), DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{DriverOpts: map[string]string{"type": "tmpfs"}, Labels: map[string]string{"a": "b"}}}}
	r.PlacementConstraints = []ecsapi.TaskDefinitionPlacementConstraint{{Type: ecsapi.Ptr(ecsapi.TaskDefinitionPlacementConstraintTypeMemberOf), Expression: str("attribute:x == y")}}
	c := c0(r)
	c.Command = []string{"nginx", "-g", "daemon off;"}
	c.EntryPoint = []string{"/docker-entrypoint.sh"}
	c.Environment = []ecsapi.KeyValuePair{{Name: str("MODE"), Value: str("prod")}}
	c.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("data"), ContainerPath: str("/data"), ReadOnly: ecsapi.Ptr(true)}}
	c.VolumesFrom = []ecsapi.VolumeFrom{{SourceContainer: str("db")}}
	c.DockerLabels = map[string]string{"tier": "front"}
	c.Links = []string{"db:database"}
	c.Ulimits = []ecsapi.Ulimit{{Name: ecsapi.UlimitNameNofile, SoftLimit: 1024, HardLimit: 4096}}
	c.LinuxParameters = &ecsapi.LinuxParameters{Capabilities: &ecsapi.KernelCapabilities{Add: []string{"NET_ADMIN"}}, InitProcessEnabled: ecsapi.Ptr(true)}
	c.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g", "awslogs-region": "us-east-1"}}
	c.HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "true"}, Interval: i32(10)}
	c.DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}}
	c.Secrets = []ecsapi.Secret{{Name: "PW", ValueFrom: "arn:aws:ssm:us-east-1:000000000000:parameter/pw"}}
	return r
}

func TestBuildDeepCopy(t *testing.T) {
	r := richRequest()
	if err := Validate(r); err != nil {
		t.Fatal(err)
	}
	td := build(r)
	before := mustJSON(t, td)

	// Mutate everything reachable from the request.
	r.Family = "other"
	*r.TaskRoleArn = "changed"
	*r.Cpu, *r.Memory = "4096", "8192"
	*r.Volumes[0].Name = "changed"
	*r.Volumes[0].Host.SourcePath = "/changed"
	r.Volumes[1].DockerVolumeConfiguration.DriverOpts["type"] = "changed"
	*r.PlacementConstraints[0].Expression = "changed"
	c := c0(r)
	*c.Name, *c.Image, *c.Memory = "changed", "changed", 1
	c.Command[0], c.EntryPoint[0], c.Links[0] = "changed", "changed", "changed"
	*c.Environment[0].Value = "changed"
	*c.MountPoints[0].ReadOnly = false
	*c.VolumesFrom[0].SourceContainer = "changed"
	c.DockerLabels["tier"] = "changed"
	c.Ulimits[0].SoftLimit = 1
	c.LinuxParameters.Capabilities.Add[0] = "changed"
	c.LogConfiguration.Options["awslogs-group"] = "changed"
	c.HealthCheck.Command[1] = "changed"
	*c.HealthCheck.Interval = 99
	c.DependsOn[0].ContainerName = "changed"
	c.Secrets[0].ValueFrom = "changed"
	*c.PortMappings[0].ContainerPort = 1
	r.ContainerDefinitions = append(r.ContainerDefinitions[:1], ecsapi.ContainerDefinition{Name: str("new")})

	if after := mustJSON(t, td); after != before {
		t.Fatalf("Build output changed with its input:\nbefore %s\nafter  %s", before, after)
	}

	// And the other way: mutating the output leaves the request alone.
	r2 := richRequest()
	want := mustJSON(t, r2)
	td2 := build(r2)
	*td2.ContainerDefinitions[0].Image = "changed"
	td2.ContainerDefinitions[0].Environment[0].Value = str("changed")
	td2.ContainerDefinitions[0].DockerLabels["tier"] = "changed"
	*td2.Cpu = "1"
	if got := mustJSON(t, r2); got != want {
		t.Fatalf("request changed with Build's output:\nbefore %s\nafter  %s", want, got)
	}
}

func TestBuildIdentity(t *testing.T) {
	td := build(ec2Request())
	if ecsapi.Value(td.TaskDefinitionArn) != testARN || ecsapi.Value(td.Family) != "web" || td.Revision != 3 {
		t.Errorf("identity = %v %v %d", ecsapi.Value(td.TaskDefinitionArn), ecsapi.Value(td.Family), td.Revision)
	}
	if ecsapi.Value(td.Status) != ecsapi.TaskDefinitionStatusACTIVE {
		t.Errorf("status = %v", ecsapi.Value(td.Status))
	}
	if td.RegisteredAt == nil || !td.RegisteredAt.Equal(registered.Truncate(time.Millisecond)) {
		t.Errorf("registeredAt = %v", td.RegisteredAt)
	}
	if ecsapi.Value(td.RegisteredBy) != "arn:aws:iam::000000000000:root" {
		t.Errorf("registeredBy = %v", ecsapi.Value(td.RegisteredBy))
	}
	if td.DeregisteredAt != nil || td.DeleteRequestedAt != nil {
		t.Error("deregisteredAt or deleteRequestedAt set")
	}
	if td := Build(ec2Request(), testARN, 1, registered, ""); td.RegisteredBy != nil {
		t.Errorf("registeredBy = %q for an unknown caller, want none", *td.RegisteredBy)
	}
	if s := mustJSON(t, td); strings.Contains(s, `"tags"`) {
		t.Errorf("definition has tags: %s", s)
	}
}

func TestBuildDefaults(t *testing.T) {
	td := build(twoContainers())
	s := mustJSON(t, td)
	var doc struct {
		ContainerDefinitions []map[string]json.RawMessage `json:"containerDefinitions"`
		Volumes              json.RawMessage              `json:"volumes"`
		PlacementConstraints json.RawMessage              `json:"placementConstraints"`
		NetworkMode          json.RawMessage              `json:"networkMode"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc.Volumes) != "[]" || string(doc.PlacementConstraints) != "[]" {
		t.Errorf("volumes %s, placementConstraints %s; want []", doc.Volumes, doc.PlacementConstraints)
	}
	if doc.NetworkMode != nil {
		t.Errorf("networkMode = %s, want it absent like ECS", doc.NetworkMode)
	}
	if EffectiveNetworkMode(td) != ecsapi.NetworkModeBridge || EffectiveNetworkMode(nil) != ecsapi.NetworkModeBridge {
		t.Error("EffectiveNetworkMode is not bridge without a networkMode")
	}
	for i, c := range doc.ContainerDefinitions {
		for member, want := range map[string]string{
			"cpu": "0", "essential": "true", "environment": "[]", "mountPoints": "[]", "volumesFrom": "[]", "systemControls": "[]",
		} {
			if got := string(c[member]); got != want {
				t.Errorf("container %d %s = %s, want %s", i, member, got, want)
			}
		}
	}
	if got := string(doc.ContainerDefinitions[1]["portMappings"]); got != "[]" {
		t.Errorf("db portMappings = %s, want []", got)
	}
	for _, absent := range []string{"links", "dependsOn", "secrets", "ulimits", "logConfiguration", "memoryReservation"} {
		if _, ok := doc.ContainerDefinitions[0][absent]; ok {
			t.Errorf("unset %s is present", absent)
		}
	}

	// essential false is kept.
	r := twoContainers()
	c1(r).Essential = ecsapi.Ptr(false)
	if td := build(r); *td.ContainerDefinitions[0].Essential != true || *td.ContainerDefinitions[1].Essential != false {
		t.Error("essential not kept")
	}
	// Set lists are kept as they are.
	r = ec2Request()
	c0(r).Environment = []ecsapi.KeyValuePair{{Name: str("A"), Value: str("1")}}
	if td := build(r); len(td.ContainerDefinitions[0].Environment) != 1 {
		t.Error("environment lost")
	}
}

func TestBuildPortMappings(t *testing.T) {
	pm := func(container, host int32, proto ecsapi.TransportProtocol) ecsapi.PortMapping {
		m := ecsapi.PortMapping{ContainerPort: &container}
		if host >= 0 {
			m.HostPort = &host
		}
		if proto != "" {
			m.Protocol = &proto
		}
		return m
	}
	tests := []struct {
		name string
		mode *ecsapi.NetworkMode
		in   ecsapi.PortMapping
		host *int32
		prot ecsapi.TransportProtocol
	}{
		{"bridge dynamic", nil, pm(80, -1, ""), i32(0), "tcp"},
		{"bridge static", nil, pm(80, 8080, ""), i32(8080), "tcp"},
		{"bridge udp", ecsapi.Ptr(ecsapi.NetworkModeBridge), pm(53, 5353, "udp"), i32(5353), "udp"},
		{"awsvpc without hostPort", ecsapi.Ptr(ecsapi.NetworkModeAwsvpc), pm(80, -1, ""), i32(80), "tcp"},
		{"awsvpc hostPort 0", ecsapi.Ptr(ecsapi.NetworkModeAwsvpc), pm(80, 0, ""), i32(80), "tcp"},
		{"awsvpc hostPort set", ecsapi.Ptr(ecsapi.NetworkModeAwsvpc), pm(443, 443, "tcp"), i32(443), "tcp"},
		{"host without hostPort", ecsapi.Ptr(ecsapi.NetworkModeHost), pm(9000, -1, "udp"), i32(9000), "udp"},
		{"range", ecsapi.Ptr(ecsapi.NetworkModeAwsvpc), ecsapi.PortMapping{ContainerPortRange: str("8000-8010")}, nil, "tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ec2Request()
			r.NetworkMode = tt.mode
			c0(r).PortMappings = []ecsapi.PortMapping{tt.in}
			got := build(r).ContainerDefinitions[0].PortMappings[0]
			if !reflect.DeepEqual(got.HostPort, tt.host) || ecsapi.Value(got.Protocol) != tt.prot {
				t.Errorf("hostPort %v protocol %v; want %v %v", got.HostPort, ecsapi.Value(got.Protocol), tt.host, tt.prot)
			}
			if (tt.in.ContainerPort == nil) != (got.ContainerPort == nil) || ecsapi.Value(got.ContainerPort) != ecsapi.Value(tt.in.ContainerPort) {
				t.Errorf("containerPort changed: %v", got.ContainerPort)
			}
		})
	}
}

func TestBuildNormalisesTaskSize(t *testing.T) {
	tests := []struct{ cpu, mem, wantCPU, wantMem string }{
		{"1 vCPU", "2 GB", "1024", "2048"},
		{"0.25 vcpu", "0.5 GB", "256", "512"},
		{"0.5vCPU", "1GB", "512", "1024"},
		{" 2048 ", "4096", "2048", "4096"},
		{"16 vCPU", "120 GB", "16384", "122880"},
	}
	for _, tt := range tests {
		r := fargateRequest()
		r.Cpu, r.Memory = str(tt.cpu), str(tt.mem)
		if err := Validate(r); err != nil {
			t.Errorf("Validate(%q, %q) = %v", tt.cpu, tt.mem, err)
		}
		td := build(r)
		if ecsapi.Value(td.Cpu) != tt.wantCPU || ecsapi.Value(td.Memory) != tt.wantMem {
			t.Errorf("cpu %q memory %q -> %q %q; want %q %q", tt.cpu, tt.mem, ecsapi.Value(td.Cpu), ecsapi.Value(td.Memory), tt.wantCPU, tt.wantMem)
		}
		if *r.Cpu != tt.cpu {
			t.Errorf("request cpu changed to %q", *r.Cpu)
		}
	}
	if td := build(ec2Request()); td.Cpu != nil || td.Memory != nil {
		t.Errorf("cpu %v memory %v, want none", td.Cpu, td.Memory)
	}
}

func TestBuildCompatibilities(t *testing.T) {
	const (
		ec2      = ecsapi.CompatibilityEC2
		fargate  = ecsapi.CompatibilityFARGATE
		external = ecsapi.CompatibilityEXTERNAL
		managed  = ecsapi.CompatibilityMANAGEDINSTANCES
	)
	tests := []struct {
		name string
		req  *request
		mut  func(*request)
		want []ecsapi.Compatibility
	}{
		{"bridge by default", ec2Request(), nil, []ecsapi.Compatibility{ec2, external}},
		{"host", ec2Request(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost) }, []ecsapi.Compatibility{ec2, external}},
		{"none", ec2Request(), func(r *request) { r.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeNone) }, []ecsapi.Compatibility{ec2, external}},
		{"fargate", fargateRequest(), nil, []ecsapi.Compatibility{ec2, fargate}},
		{"awsvpc with a fargate size, not required", fargateRequest(), func(r *request) { r.RequiresCompatibilities = nil }, []ecsapi.Compatibility{ec2, fargate}},
		{"awsvpc without a task size", fargateRequest(), func(r *request) { r.RequiresCompatibilities, r.Cpu, r.Memory = nil, nil, nil }, []ecsapi.Compatibility{ec2}},
		{"awsvpc with a non-fargate size", fargateRequest(), func(r *request) { r.RequiresCompatibilities, r.Cpu = nil, str("128") }, []ecsapi.Compatibility{ec2}},
		{"awsvpc privileged", fargateRequest(), func(r *request) {
			r.RequiresCompatibilities = nil
			c0(r).Privileged = ecsapi.Ptr(true)
		}, []ecsapi.Compatibility{ec2}},
		{"managed instances", fargateRequest(), func(r *request) {
			r.RequiresCompatibilities = []ecsapi.Compatibility{managed}
		}, []ecsapi.Compatibility{ec2, fargate, managed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			if tt.mut != nil {
				tt.mut(r)
			}
			td := build(r)
			if !reflect.DeepEqual(td.Compatibilities, tt.want) {
				t.Errorf("compatibilities = %v, want %v", td.Compatibilities, tt.want)
			}
			if !reflect.DeepEqual(td.RequiresCompatibilities, r.RequiresCompatibilities) {
				t.Errorf("requiresCompatibilities = %v, want %v", td.RequiresCompatibilities, r.RequiresCompatibilities)
			}
		})
	}
}

func attrNames(td *ecsapi.TaskDefinition) []string {
	names := []string{}
	for _, a := range td.RequiresAttributes {
		if a.Value != nil || a.TargetType != nil || a.TargetId != nil {
			panic("attribute with more than a name")
		}
		names = append(names, a.Name)
	}
	return names
}

func TestBuildRequiresAttributes(t *testing.T) {
	tests := []struct {
		name string
		req  *request
		mut  func(*request)
		want []string
	}{
		{"nothing special", ec2Request(), nil, []string{}},
		{"memoryReservation", ec2Request(), func(r *request) { c0(r).MemoryReservation = i32(64) },
			[]string{attrDockerAPI121}},
		{"task role", ec2Request(), func(r *request) { r.TaskRoleArn = str("arn:aws:iam::000000000000:role/app") },
			[]string{attrTaskIAMRole}},
		{"awsvpc", fargateRequest(), nil, []string{attrTaskENI}},
		{"awslogs without execution role", ec2Request(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g", "awslogs-region": "r"}}
		}, []string{attrDockerAPI118, attrDockerAPI119, "com.amazonaws.ecs.capability.logging-driver.awslogs"}},
		{"awslogs with execution role", ec2Request(), func(r *request) {
			r.ExecutionRoleArn = str("arn:aws:iam::000000000000:role/exec")
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g", "awslogs-region": "r"}}
		}, []string{attrDockerAPI118, attrDockerAPI119, "com.amazonaws.ecs.capability.logging-driver.awslogs", attrExecRoleAwslogs}},
		{"syslog without options", ec2Request(), func(r *request) {
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverSyslog}
		}, []string{attrDockerAPI118, "com.amazonaws.ecs.capability.logging-driver.syslog"}},
		{"dependsOn", twoContainers(), func(r *request) {
			c0(r).DependsOn = []ecsapi.ContainerDependency{{ContainerName: "db", Condition: ecsapi.ContainerConditionSTART}}
		}, []string{attrContainerOrdering}},
		{"healthCheck", ec2Request(), func(r *request) { c0(r).HealthCheck = &ecsapi.HealthCheck{Command: []string{"CMD", "true"}} },
			[]string{attrDockerAPI124, attrHealthCheck}},
		{"ulimits and labels", ec2Request(), func(r *request) {
			c0(r).Ulimits = []ecsapi.Ulimit{{Name: ecsapi.UlimitNameNofile, SoftLimit: 1, HardLimit: 2}}
			c0(r).DockerLabels = map[string]string{"a": "b"}
		}, []string{attrDockerAPI118}},
		{"init process", ec2Request(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{InitProcessEnabled: ecsapi.Ptr(true)}
		}, []string{attrDockerAPI125}},
		{"init process off", ec2Request(), func(r *request) {
			c0(r).LinuxParameters = &ecsapi.LinuxParameters{InitProcessEnabled: ecsapi.Ptr(false)}
		}, []string{}},
		{"ecr image", ec2Request(), func(r *request) { c0(r).Image = str("000000000000.dkr.ecr.us-east-1.amazonaws.com/web:1") },
			[]string{attrECRAuth}},
		{"ecr image with execution role", ec2Request(), func(r *request) {
			r.ExecutionRoleArn = str("arn:aws:iam::000000000000:role/exec")
			c0(r).Image = str("000000000000.dkr.ecr.eu-west-1.amazonaws.com/team/web@sha256:abc")
		}, []string{attrECRAuth, attrExecRoleECRPull}},
		{"public ecr is not ecr auth", ec2Request(), func(r *request) { c0(r).Image = str("public.ecr.aws/docker/library/httpd:latest") },
			[]string{}},
		{"private registry", ec2Request(), func(r *request) {
			c0(r).RepositoryCredentials = &ecsapi.RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-east-1:000000000000:secret:reg"}
		}, []string{attrPrivateRegistry}},
		{"secrets", twoContainers(), func(r *request) {
			c0(r).Secrets = []ecsapi.Secret{{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:000000000000:secret:a"}}
			c1(r).Secrets = []ecsapi.Secret{{Name: "B", ValueFrom: "/app/b"}}
		}, []string{attrSecretsASM, attrSecretsSSM}},
		{"environment files", ec2Request(), func(r *request) {
			c0(r).EnvironmentFiles = []ecsapi.EnvironmentFile{{Type: ecsapi.EnvironmentFileTypeS3, Value: "arn:aws:s3:::bucket/app.env"}}
		}, []string{attrEnvFilesS3}},
		{"firelens", twoContainers(), func(r *request) {
			c1(r).FirelensConfiguration = &ecsapi.FirelensConfiguration{Type: ecsapi.FirelensConfigurationTypeFluentbit}
			c0(r).LogConfiguration = &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwsfirelens}
		}, []string{attrDockerAPI118, "com.amazonaws.ecs.capability.logging-driver.awsfirelens", "ecs.capability.firelens.fluentbit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			if tt.mut != nil {
				tt.mut(r)
			}
			if err := Validate(r); err != nil {
				t.Fatalf("Validate = %v", err)
			}
			td := build(r)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := attrNames(td); !reflect.DeepEqual(got, want) {
				t.Errorf("requiresAttributes = %v, want %v", got, want)
			}
			if s := mustJSON(t, td); !strings.Contains(s, `"requiresAttributes":[`) {
				t.Errorf("requiresAttributes missing from %s", s)
			}
		})
	}
}

// TestOmitzeroShape pins the encoding/json behaviour Build relies on: with
// omitzero a nil slice is left out and an empty one is written as [].
func TestOmitzeroShape(t *testing.T) {
	if s := mustJSON(t, ecsapi.ContainerDefinition{}); strings.Contains(s, "portMappings") || s != `{"cpu":0}` {
		t.Errorf("zero container = %s, want only cpu", s)
	}
	s := mustJSON(t, ecsapi.ContainerDefinition{PortMappings: []ecsapi.PortMapping{}, DockerLabels: map[string]string{}})
	if !strings.Contains(s, `"portMappings":[]`) || !strings.Contains(s, `"dockerLabels":{}`) {
		t.Errorf("empty lists = %s, want [] and {}", s)
	}
}

func loadFixture(t *testing.T) (*request, []byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/webapp-fargate.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // botocore rejects unknown members too
	var r request
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	return &r, b
}

func TestFixture(t *testing.T) {
	r, _ := loadFixture(t)
	if err := Validate(r); err != nil {
		t.Fatalf("Validate(fixture) = %v", err)
	}
	td := build(r)
	if ecsapi.Value(td.NetworkMode) != ecsapi.NetworkModeAwsvpc || ecsapi.Value(td.Cpu) != "256" || ecsapi.Value(td.Memory) != "512" {
		t.Errorf("fixture definition = %s", mustJSON(t, td))
	}
	if want := []ecsapi.Compatibility{ecsapi.CompatibilityEC2, ecsapi.CompatibilityFARGATE}; !reflect.DeepEqual(td.Compatibilities, want) {
		t.Errorf("compatibilities = %v, want %v", td.Compatibilities, want)
	}
	want := []string{
		attrDockerAPI118,
		attrDockerAPI119,
		"com.amazonaws.ecs.capability.logging-driver.awslogs",
		attrTaskIAMRole,
		attrExecRoleAwslogs,
		attrTaskENI,
	}
	if got := attrNames(td); !reflect.DeepEqual(got, want) {
		t.Errorf("requiresAttributes = %v, want %v", got, want)
	}
	c := td.ContainerDefinitions[0]
	if pm := c.PortMappings; len(pm) != 1 || ecsapi.Value(pm[0].HostPort) != 80 || ecsapi.Value(pm[0].Protocol) != "tcp" {
		t.Errorf("portMappings = %s", mustJSON(t, pm))
	}
	if len(c.EntryPoint) != 2 || len(c.Command) != 1 || !ecsapi.Value(c.Essential) {
		t.Errorf("container = %s", mustJSON(t, c))
	}
}

func FuzzValidate(f *testing.F) {
	if b, err := os.ReadFile("testdata/webapp-fargate.json"); err == nil {
		f.Add(b)
	}
	for _, r := range []*request{ec2Request(), fargateRequest(), twoContainers(), richRequest()} {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"i","dependsOn":[{"containerName":"a"}],"links":["a:b"],"volumesFrom":[{}],"mountPoints":[{}],"portMappings":[{"containerPortRange":"1-2"}]}]}`))
	f.Add([]byte(`{"family":"f","networkMode":"awsvpc","requiresCompatibilities":["FARGATE","EXTERNAL"],"cpu":"0.25 vcpu","memory":"0.5gb","containerDefinitions":[{"name":"a","image":"i","memory":-1,"cpu":-5}],"volumes":[{"name":"v","host":{"sourcePath":"/"},"dockerVolumeConfiguration":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r request
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		verr := Validate(&r)
		if verr != nil {
			var ae *awsjson.Error
			if !errors.As(verr, &ae) || ae.Code != ecsapi.CodeClientException || ae.Message == "" {
				t.Fatalf("Validate = %#v, want a ClientException", verr)
			}
		}
		before, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		td := Build(&r, testARN, 1, registered, "caller")
		out, err := json.Marshal(td)
		if err != nil {
			t.Fatalf("Build output does not encode: %v", err)
		}
		if after, _ := json.Marshal(&r); !bytes.Equal(before, after) {
			t.Fatalf("Build changed its input")
		}
		if verr == nil {
			if len(td.ContainerDefinitions) != len(r.ContainerDefinitions) || ecsapi.Value(td.Family) != r.Family {
				t.Fatalf("Build lost containers or family: %s", out)
			}
			for _, c := range td.ContainerDefinitions {
				if c.Essential == nil || c.PortMappings == nil || c.Environment == nil || c.MountPoints == nil || c.VolumesFrom == nil {
					t.Fatalf("container defaults missing: %s", out)
				}
			}
		}
	})
}
