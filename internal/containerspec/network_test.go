package containerspec

import (
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

func port(s string) network.Port { return network.MustParsePort(s) }

func mode(m string) func(*Input) {
	return func(in *Input) {
		in.NetworkMode = m
		if m == "awsvpc" {
			in.PauseContainerID = testPauseID
		}
	}
}

func TestBuildNetworkModes(t *testing.T) {
	runBuildCases(t, []buildCase{
		{name: "bridge", in: mode("bridge")},
		{
			name: "empty mode defaults to bridge",
			in:   mode(""),
		},
		{
			name: "empty mode falls back to the task definition's",
			in: func(in *Input) {
				in.NetworkMode = ""
				in.Task.NetworkMode = ecsapi.Ptr(ecsapi.NetworkModeHost)
			},
			want: func(s *runtime.Spec) { s.HostConfig.NetworkMode = "host" },
		},
		{
			name: "host",
			in:   mode("host"),
			want: func(s *runtime.Spec) { s.HostConfig.NetworkMode = "host" },
		},
		{
			name: "none",
			in:   mode("none"),
			want: func(s *runtime.Spec) { s.HostConfig.NetworkMode = "none" },
		},
		{
			name: "awsvpc joins the pause container",
			in:   mode("awsvpc"),
			want: func(s *runtime.Spec) { s.HostConfig.NetworkMode = "container:" + testPauseID },
		},
		{
			name: "nil task definition",
			in:   func(in *Input) { in.Task = nil },
		},
	})
}

func TestBuildHostname(t *testing.T) {
	withHostname := func(m string) func(*Input) {
		return func(in *Input) {
			mode(m)(in)
			in.Container.Hostname = str("web-1")
		}
	}
	runBuildCases(t, []buildCase{
		{
			name: "bridge",
			in:   withHostname("bridge"),
			want: func(s *runtime.Spec) { s.Config.Hostname = "web-1" },
		},
		{
			name: "none",
			in:   withHostname("none"),
			want: func(s *runtime.Spec) {
				s.HostConfig.NetworkMode = "none"
				s.Config.Hostname = "web-1"
			},
		},
		{
			name:  "host ignores it",
			in:    withHostname("host"),
			want:  func(s *runtime.Spec) { s.HostConfig.NetworkMode = "host" },
			warns: []string{"hostname is ignored in network mode host"},
		},
		{
			name:  "awsvpc ignores it",
			in:    withHostname("awsvpc"),
			want:  func(s *runtime.Spec) { s.HostConfig.NetworkMode = "container:" + testPauseID },
			warns: []string{"hostname is ignored in network mode awsvpc"},
		},
	})
}

func TestBuildDNSAndHosts(t *testing.T) {
	set := func(m string) func(*Input) {
		return func(in *Input) {
			mode(m)(in)
			in.Container.DnsServers = []string{"10.0.0.2", "2001:db8::53"}
			in.Container.DnsSearchDomains = []string{"corp.example", "example.com"}
			in.Container.ExtraHosts = []ecsapi.HostEntry{
				{Hostname: "db.local", IpAddress: "10.0.0.5"},
				{Hostname: "v6.local", IpAddress: "2001:db8::5"},
			}
		}
	}
	applied := func(nm container.NetworkMode) func(*runtime.Spec) {
		return func(s *runtime.Spec) {
			s.HostConfig.NetworkMode = nm
			s.HostConfig.DNS = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::53")}
			s.HostConfig.DNSSearch = []string{"corp.example", "example.com"}
			s.HostConfig.ExtraHosts = []string{"db.local:10.0.0.5", "v6.local:2001:db8::5"}
		}
	}
	runBuildCases(t, []buildCase{
		{name: "bridge", in: set("bridge"), want: applied("bridge")},
		{name: "host", in: set("host"), want: applied("host")},
		{name: "none", in: set("none"), want: applied("none")},
		{
			name:  "awsvpc leaves them to the pause container",
			in:    set("awsvpc"),
			want:  func(s *runtime.Spec) { s.HostConfig.NetworkMode = "container:" + testPauseID },
			warns: []string{"apply to the task's pause container"},
		},
	})
}

func TestBuildSystemControls(t *testing.T) {
	sysctls := func(m string, ipc ecsapi.IpcMode) func(*Input) {
		return func(in *Input) {
			mode(m)(in)
			if ipc != "" {
				in.Task.IpcMode = &ipc
			}
			in.Container.SystemControls = []ecsapi.SystemControl{
				{Namespace: str("net.core.somaxconn"), Value: str("1024")},
				{Namespace: str("kernel.shmmax"), Value: str("68719476736")},
				{Namespace: str("fs.mqueue.msg_max"), Value: str("20")},
				{Value: str("orphan")},
			}
		}
	}
	all := map[string]string{"net.core.somaxconn": "1024", "kernel.shmmax": "68719476736", "fs.mqueue.msg_max": "20"}
	runBuildCases(t, []buildCase{
		{
			name: "bridge takes all",
			in:   sysctls("bridge", ""),
			want: func(s *runtime.Spec) { s.HostConfig.Sysctls = all },
		},
		{
			name: "host mode leaves net.* out",
			in:   sysctls("host", ""),
			want: func(s *runtime.Spec) {
				s.HostConfig.NetworkMode = "host"
				s.HostConfig.Sysctls = map[string]string{"kernel.shmmax": "68719476736", "fs.mqueue.msg_max": "20"}
			},
			warns: []string{"net.core.somaxconn is left out: the container uses the host's network namespace"},
		},
		{
			name: "awsvpc leaves net.* to the pause container",
			in:   sysctls("awsvpc", ""),
			want: func(s *runtime.Spec) {
				s.HostConfig.NetworkMode = "container:" + testPauseID
				s.HostConfig.Sysctls = map[string]string{"kernel.shmmax": "68719476736", "fs.mqueue.msg_max": "20"}
			},
			warns: []string{"net.core.somaxconn is left out: network sysctls apply to the task's pause container"},
		},
		{
			name: "ipcMode host leaves IPC sysctls out",
			in:   sysctls("bridge", ecsapi.IpcModeHost),
			want: func(s *runtime.Spec) {
				s.HostConfig.IpcMode = "host"
				s.HostConfig.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
			},
			warns: []string{"kernel.shmmax is left out", "fs.mqueue.msg_max is left out"},
		},
	})
}

func TestBuildPortMappings(t *testing.T) {
	mappings := func(m string) func(*Input) {
		return func(in *Input) {
			mode(m)(in)
			in.Container.PortMappings = []ecsapi.PortMapping{
				{ContainerPort: i32(80), HostPort: i32(8080)},
				{ContainerPort: i32(443)},
				{ContainerPort: i32(9000), HostPort: i32(0), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)},
				{ContainerPort: i32(53), HostPort: i32(5353), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolUdp)},
				{ContainerPort: i32(80), HostPort: i32(8081)},
			}
		}
	}
	exposed := network.PortSet{
		port("80/tcp"): {}, port("443/tcp"): {}, port("9000/tcp"): {}, port("53/udp"): {},
	}
	runBuildCases(t, []buildCase{
		{
			name: "bridge publishes, absent or 0 host port is dynamic",
			in:   mappings("bridge"),
			want: func(s *runtime.Spec) {
				s.Config.ExposedPorts = exposed
				s.HostConfig.PortBindings = network.PortMap{
					port("80/tcp"):   {{HostPort: "8080"}, {HostPort: "8081"}},
					port("443/tcp"):  {{HostPort: ""}},
					port("9000/tcp"): {{HostPort: ""}},
					port("53/udp"):   {{HostPort: "5353"}},
				}
			},
		},
		{
			name: "host exposes only",
			in:   mappings("host"),
			want: func(s *runtime.Spec) {
				s.HostConfig.NetworkMode = "host"
				s.Config.ExposedPorts = exposed
			},
		},
		{
			name: "awsvpc leaves ports to the pause container",
			in:   mappings("awsvpc"),
			want: func(s *runtime.Spec) { s.HostConfig.NetworkMode = "container:" + testPauseID },
		},
		{
			name:  "none has no ports",
			in:    mappings("none"),
			want:  func(s *runtime.Spec) { s.HostConfig.NetworkMode = "none" },
			warns: []string{"portMappings are ignored in network mode none"},
		},
		{
			name: "containerPortRange is exposed port by port with dynamic host ports",
			in: func(in *Input) {
				in.Container.PortMappings = []ecsapi.PortMapping{
					{ContainerPortRange: str("7000-7002"), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolUdp)},
				}
			},
			want: func(s *runtime.Spec) {
				s.Config.ExposedPorts = network.PortSet{port("7000/udp"): {}, port("7001/udp"): {}, port("7002/udp"): {}}
				s.HostConfig.PortBindings = network.PortMap{
					port("7000/udp"): {{}}, port("7001/udp"): {{}}, port("7002/udp"): {{}},
				}
			},
		},
	})
}

func TestBuildLinks(t *testing.T) {
	links := func(m string, l ...string) func(*Input) {
		return func(in *Input) {
			mode(m)(in)
			in.Container.Links = l
		}
	}
	runBuildCases(t, []buildCase{
		{
			name: "links map names to Docker ids",
			in:   links("bridge", "db:database", "sidecar"),
			want: func(s *runtime.Spec) { s.HostConfig.Links = []string{"db0123456789:database", "sc0123456789:sidecar"} },
		},
		{
			name:  "links outside bridge mode are ignored",
			in:    links("host", "db:database"),
			want:  func(s *runtime.Spec) { s.HostConfig.NetworkMode = "host" },
			warns: []string{"links are ignored in network mode host"},
		},
	})
}

func TestBuildNamespaces(t *testing.T) {
	task := func(pid ecsapi.PidMode, ipc ecsapi.IpcMode) func(*Input) {
		return func(in *Input) {
			if pid != "" {
				in.Task.PidMode = &pid
			}
			if ipc != "" {
				in.Task.IpcMode = &ipc
			}
		}
	}
	runBuildCases(t, []buildCase{
		{
			name: "pid and ipc host",
			in:   task(ecsapi.PidModeHost, ecsapi.IpcModeHost),
			want: func(s *runtime.Spec) {
				s.HostConfig.PidMode = "host"
				s.HostConfig.IpcMode = "host"
			},
		},
		{
			name: "ipc none",
			in:   task("", ecsapi.IpcModeNone),
			want: func(s *runtime.Spec) { s.HostConfig.IpcMode = "none" },
		},
		{
			name:  "task namespaces are not supported yet",
			in:    task(ecsapi.PidModeTask, ecsapi.IpcModeTask),
			warns: []string{`pidMode "task"`, `ipcMode "task"`},
		},
	})
}
