package containerspec

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

func pauseInput() PauseInput {
	return PauseInput{
		Cluster:    "default",
		TaskARN:    testTaskARN,
		InstanceID: testInstance,
		Name:       "ecs-web-3-pause-0a1b2c",
		Image:      "berth/pause:1",
		Cmd:        []string{"/pause"},
		Network:    "berth-task-0123",
		Family:     "web",
		Revision:   3,
	}
}

func pauseLabelsWant() map[string]string {
	return map[string]string{
		LabelCluster:        "default",
		LabelTaskARN:        testTaskARN,
		LabelContainerName:  PauseContainerName,
		LabelTaskDefFamily:  "web",
		LabelTaskDefVersion: "3",
		LabelInstance:       testInstance,
		LabelRole:           "pause",
	}
}

func pauseSpecWant() runtime.Spec {
	return runtime.Spec{
		Name: "ecs-web-3-pause-0a1b2c",
		Config: &container.Config{
			Image:  "berth/pause:1",
			Cmd:    []string{"/pause"},
			Labels: pauseLabelsWant(),
		},
		HostConfig: &container.HostConfig{
			NetworkMode:   "berth-task-0123",
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			Resources:     container.Resources{CPUShares: 2},
		},
		Networking: &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{"berth-task-0123": {}},
		},
	}
}

func TestPauseSpec(t *testing.T) {
	cases := []struct {
		name string
		in   func(*PauseInput)
		want func(*runtime.Spec)
	}{
		{name: "minimal"},
		{
			name: "labels: ECS and berth labels win",
			in: func(in *PauseInput) {
				in.Labels = map[string]string{"team": "web", LabelRole: "container", LabelContainerName: "app"}
			},
			want: func(s *runtime.Spec) { s.Config.Labels["team"] = "web" },
		},
		{
			name: "ports are exposed, never published",
			in: func(in *PauseInput) {
				in.PortMappings = []ecsapi.PortMapping{
					{ContainerPort: i32(80), HostPort: i32(80)},
					{ContainerPort: i32(53), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolUdp)},
					{ContainerPortRange: str("7000-7001")},
					{ContainerPort: i32(0)}, // invalid: left out
				}
			},
			want: func(s *runtime.Spec) {
				s.Config.ExposedPorts = network.PortSet{
					port("80/tcp"): {}, port("53/udp"): {}, port("7000/tcp"): {}, port("7001/tcp"): {},
				}
			},
		},
		{
			name: "hosts, DNS and sysctls of the namespace",
			in: func(in *PauseInput) {
				in.ExtraHosts = []string{"db.local:10.0.0.5"}
				in.DNS = []string{"10.0.0.2", "not-an-ip", "2001:db8::53"}
				in.DNSSearch = []string{"corp.example"}
				in.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.ExtraHosts = []string{"db.local:10.0.0.5"}
				s.HostConfig.DNS = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::53")}
				s.HostConfig.DNSSearch = []string{"corp.example"}
				s.HostConfig.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
			},
		},
		{
			name: "no network: Docker's default",
			in:   func(in *PauseInput) { in.Network = "" },
			want: func(s *runtime.Spec) {
				s.HostConfig.NetworkMode = ""
				s.Networking = nil
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := pauseInput()
			if tc.in != nil {
				tc.in(&in)
			}
			before := dump(t, in)
			got := PauseSpec(in)
			want := pauseSpecWant()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", dump(t, got), dump(t, want))
			}
			if dump(t, in) != before {
				t.Error("PauseSpec changed its input")
			}
		})
	}
}

// TestPauseSpecDoesNotAlias: the spec owns its slices and maps.
func TestPauseSpecDoesNotAlias(t *testing.T) {
	in := pauseInput()
	in.Labels = map[string]string{"team": "web"}
	in.ExtraHosts, in.DNSSearch = []string{"a:10.0.0.1"}, []string{"corp.example"}
	in.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
	before := dump(t, in)
	s := PauseSpec(in)
	s.Config.Cmd[0] = "x"
	s.Config.Labels["team"] = "x"
	s.HostConfig.ExtraHosts[0], s.HostConfig.DNSSearch[0] = "x", "x"
	s.HostConfig.Sysctls["net.ipv4.ip_forward"] = "x"
	if dump(t, in) != before {
		t.Error("the spec shares memory with the input")
	}
}
