package containerspec

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// networking sets the network mode, hostname, DNS, extra hosts and sysctls.
// In awsvpc the container joins the pause container's namespaces, where
// Docker refuses a hostname, DNS settings and host entries: those belong to
// the pause container (PauseInput).
func (b *builder) networking() error {
	c := b.c
	switch b.mode {
	case ecsapi.NetworkModeAwsvpc:
		b.host.NetworkMode = container.NetworkMode("container:" + b.in.PauseContainerID)
	default:
		b.host.NetworkMode = container.NetworkMode(b.mode)
	}

	if c.Hostname != nil {
		if b.mode == ecsapi.NetworkModeAwsvpc || b.mode == ecsapi.NetworkModeHost {
			b.warnf("hostname is ignored in network mode %s", b.mode)
		} else {
			b.cfg.Hostname = *c.Hostname
		}
	}

	if b.mode == ecsapi.NetworkModeAwsvpc {
		if len(c.DnsServers) > 0 || len(c.DnsSearchDomains) > 0 || len(c.ExtraHosts) > 0 {
			b.warnf("dnsServers, dnsSearchDomains and extraHosts apply to the task's pause container in network mode awsvpc")
		}
	} else {
		servers := c.DnsServers
		if len(servers) == 0 {
			servers = b.in.DefaultDNS
		}
		dns, err := parseDNS(servers)
		if err != nil {
			return err
		}
		b.host.DNS = dns
		b.host.DNSSearch = slices.Clone(c.DnsSearchDomains)
		for _, h := range c.ExtraHosts {
			b.host.ExtraHosts = append(b.host.ExtraHosts, h.Hostname+":"+h.IpAddress)
		}
	}
	b.sysctls()
	return nil
}

// parseDNS parses DNS server addresses.
func parseDNS(servers []string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, s := range servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("dnsServers: %q is not an IP address", s)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// ipcSysctls are the namespaced kernel parameters of the IPC namespace
// (fs.mqueue.* too).
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true,
	"kernel.sem": true, "kernel.shmall": true, "kernel.shmmax": true,
	"kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// sysctls sets systemControls, leaving out those of a namespace the
// container shares: net.* in host mode (the host's) and in awsvpc (the
// pause container's), IPC ones with ipcMode host.
func (b *builder) sysctls() {
	for _, sc := range b.c.SystemControls {
		name := ecsapi.Value(sc.Namespace)
		if name == "" {
			continue
		}
		if why := b.sysctlConflict(name); why != "" {
			b.warnf("systemControls %s is left out: %s", name, why)
			continue
		}
		if b.host.Sysctls == nil {
			b.host.Sysctls = make(map[string]string)
		}
		b.host.Sysctls[name] = ecsapi.Value(sc.Value)
	}
}

// sysctlConflict says why a sysctl cannot be set on this container, or "".
func (b *builder) sysctlConflict(name string) string {
	if strings.HasPrefix(name, "net.") {
		switch b.mode {
		case ecsapi.NetworkModeHost:
			return "the container uses the host's network namespace"
		case ecsapi.NetworkModeAwsvpc:
			return "network sysctls apply to the task's pause container in network mode awsvpc"
		}
	}
	ipc := ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue.")
	if ipc && b.in.Task != nil && ecsapi.Value(b.in.Task.IpcMode) == ecsapi.IpcModeHost {
		return "the container uses the host's IPC namespace"
	}
	return ""
}

// ports exposes the container ports and, in bridge mode, publishes them. A
// host port that is absent or 0 (and every port of a containerPortRange) is
// left to Docker, which picks one from the ephemeral range. In host mode the
// ports are the host's already; in awsvpc they are the pause container's.
func (b *builder) ports() error {
	switch b.mode {
	case ecsapi.NetworkModeAwsvpc:
		return nil
	case ecsapi.NetworkModeNone:
		if len(b.c.PortMappings) > 0 {
			b.warnf("portMappings are ignored in network mode none")
		}
		return nil
	}
	exposed, bindings, err := portMaps(b.c.PortMappings)
	if err != nil {
		return err
	}
	b.cfg.ExposedPorts = exposed
	if b.mode == ecsapi.NetworkModeBridge {
		b.host.PortBindings = bindings
	}
	return nil
}

// portMaps returns the exposed ports and their host bindings.
func portMaps(pms []ecsapi.PortMapping) (network.PortSet, network.PortMap, error) {
	if len(pms) == 0 {
		return nil, nil, nil
	}
	exposed := make(network.PortSet)
	bindings := make(network.PortMap)
	for _, pm := range pms {
		ports, err := containerPorts(pm)
		if err != nil {
			return nil, nil, err
		}
		hostPort := ""
		if hp := ecsapi.Value(pm.HostPort); hp > 0 && pm.ContainerPortRange == nil {
			hostPort = strconv.Itoa(int(hp))
		}
		for _, p := range ports {
			exposed[p] = struct{}{}
			bindings[p] = append(bindings[p], network.PortBinding{HostPort: hostPort})
		}
	}
	return exposed, bindings, nil
}

// containerPorts is the Docker port (or ports, for a containerPortRange) of
// a port mapping.
func containerPorts(pm ecsapi.PortMapping) ([]network.Port, error) {
	proto := ecsapi.Value(pm.Protocol)
	switch proto {
	case "":
		proto = ecsapi.TransportProtocolTcp
	case ecsapi.TransportProtocolTcp, ecsapi.TransportProtocolUdp:
	default:
		return nil, fmt.Errorf("portMappings: unknown protocol %q", proto)
	}
	lo, hi, err := portRange(pm)
	if err != nil {
		return nil, err
	}
	ports := make([]network.Port, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		p, _ := network.PortFrom(uint16(n), network.IPProtocol(proto))
		ports = append(ports, p)
	}
	return ports, nil
}

// portRange is the first and last container port of a mapping.
func portRange(pm ecsapi.PortMapping) (lo, hi int, err error) {
	if pm.ContainerPortRange == nil {
		n := int(ecsapi.Value(pm.ContainerPort))
		if !validPort(n) {
			return 0, 0, fmt.Errorf("portMappings: invalid containerPort %d", n)
		}
		return n, n, nil
	}
	r := *pm.ContainerPortRange
	a, z, ok := strings.Cut(r, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(z)
	if !ok || err1 != nil || err2 != nil || !validPort(lo) || !validPort(hi) || lo > hi {
		return 0, 0, fmt.Errorf("portMappings: invalid containerPortRange %q", r)
	}
	return lo, hi, nil
}

func validPort(n int) bool { return n >= 1 && n <= 65535 }

// links maps "name[:alias]" links to "<docker id>:<alias>" (Docker accepts
// a container id where a name goes; the alias defaults to the name, as in
// ECS). Links exist only on Docker's default bridge.
func (b *builder) links() error {
	if len(b.c.Links) == 0 {
		return nil
	}
	if b.mode != ecsapi.NetworkModeBridge {
		b.warnf("links are ignored in network mode %s", b.mode)
		return nil
	}
	for _, link := range b.c.Links {
		name, alias, hasAlias := strings.Cut(link, ":")
		if strings.Contains(alias, ":") {
			return fmt.Errorf("links: %q is not name or name:alias", link)
		}
		if !hasAlias {
			alias = name
		}
		id, err := b.containerID(name)
		if err != nil {
			return fmt.Errorf("links: %w", err)
		}
		b.host.Links = append(b.host.Links, id+":"+alias)
	}
	return nil
}

// errNoContainer: a link or volumesFrom names a container that was not
// created.
var errNoContainer = errors.New("no such container in the task")

// containerID is the Docker id of another container of the task.
func (b *builder) containerID(name string) (string, error) {
	id, ok := b.in.ContainerIDs[name]
	if !ok || id == "" {
		return "", fmt.Errorf("%w: %q", errNoContainer, name)
	}
	return id, nil
}
