package containerspec

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

// PauseContainerName is the ECS container name of an awsvpc task's pause
// container (the LabelContainerName value), as the ECS agent names it. No
// task container can have it: ECS names cannot contain '~'.
const PauseContainerName = "~internal~ecs~pause"

// PauseInput describes an awsvpc task's pause container: the holder of the
// task's network namespace, which every container of the task joins.
type PauseInput struct {
	Cluster    string
	TaskARN    string
	InstanceID string
	// Name is the Docker container name the agent chose.
	Name string
	// Image and Cmd are what the pause container runs (something that
	// sleeps until killed).
	Image string
	Cmd   []string
	// Network is the user-defined network the task's namespace joins.
	Network string
	// PortMappings are the task containers' port mappings: exposed (the
	// task has its own address), never published on the host.
	PortMappings []ecsapi.PortMapping
	// Labels are added to the container; the ECS and berth labels win.
	Labels map[string]string
	// ExtraHosts ("host:ip"), DNS and DNSSearch configure the namespace's
	// /etc/hosts and /etc/resolv.conf, which the task containers share.
	// DNS entries that are not IP addresses and port mappings Docker
	// cannot express are left out.
	ExtraHosts, DNS, DNSSearch []string
	// Family and Revision are the task definition's (the ECS labels).
	Family   string
	Revision int32
	// Sysctls are the task's network (net.*) systemControls, which Build
	// leaves out of awsvpc task containers.
	Sysctls map[string]string
}

// PauseSpec is the Docker container of an awsvpc task's pause container.
func PauseSpec(in PauseInput) runtime.Spec {
	cfg := &container.Config{
		Image:        in.Image,
		Cmd:          slices.Clone(in.Cmd),
		Labels:       pauseLabels(in),
		ExposedPorts: pauseExposedPorts(in.PortMappings),
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(in.Network),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources:     container.Resources{CPUShares: minCPUShares},
		ExtraHosts:    slices.Clone(in.ExtraHosts),
		DNS:           validAddrs(in.DNS),
		DNSSearch:     slices.Clone(in.DNSSearch),
		Sysctls:       copyStrings(in.Sysctls),
	}
	var networking *network.NetworkingConfig
	if in.Network != "" {
		networking = &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{in.Network: {}},
		}
	}
	return runtime.Spec{Name: in.Name, Config: cfg, HostConfig: host, Networking: networking}
}

// pauseLabels is in.Labels overlaid with the ECS labels and berth's.
func pauseLabels(in PauseInput) map[string]string {
	labels := maps.Clone(in.Labels)
	if labels == nil {
		labels = make(map[string]string)
	}
	maps.Copy(labels, ecsLabels(in.Cluster, in.TaskARN, PauseContainerName, in.Family, in.Revision))
	labels[LabelInstance] = in.InstanceID
	labels[LabelRole] = RolePause
	return labels
}

// pauseExposedPorts exposes every valid port mapping.
func pauseExposedPorts(pms []ecsapi.PortMapping) network.PortSet {
	var exposed network.PortSet
	for _, pm := range pms {
		ports, err := containerPorts(pm)
		if err != nil {
			continue
		}
		if exposed == nil {
			exposed = make(network.PortSet)
		}
		for _, p := range ports {
			exposed[p] = struct{}{}
		}
	}
	return exposed
}

// validAddrs parses the addresses that are IP addresses.
func validAddrs(ss []string) []netip.Addr {
	var addrs []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	return addrs
}
