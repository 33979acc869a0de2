package docker

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// CreateContainer creates a container (not started) and returns its id. A
// missing image matches runtime.ErrNotFound. The engine's warnings are
// dropped.
func (d *Docker) CreateContainer(ctx context.Context, spec runtime.Spec) (string, error) {
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             spec.Name,
		Config:           spec.Config,
		HostConfig:       spec.HostConfig,
		NetworkingConfig: spec.Networking,
	})
	if err != nil {
		return "", wrap(err, "create container %s", spec.Name)
	}
	return res.ID, nil
}

// StartContainer starts a created or stopped container; starting a running
// one is not an error.
func (d *Docker) StartContainer(ctx context.Context, id string) error {
	_, err := d.cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return wrap(err, "start container %s", id)
}

// StopContainer sends the container's stop signal (SIGTERM unless its
// configuration says otherwise) and, after timeout (rounded up to whole
// seconds; negative means 0), SIGKILL. It returns when the container has
// stopped, so ctx must allow for the timeout. Stopping a stopped container
// is not an error.
func (d *Docker) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(max(0, (timeout+time.Second-1)/time.Second))
	_, err := d.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	return wrap(err, "stop container %s", id)
}

// RemoveContainer force-removes a container and its anonymous volumes; a
// missing container is not an error.
func (d *Docker) RemoveContainer(ctx context.Context, id string) error {
	_, err := d.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return wrap(err, "remove container %s", id)
}

// InspectContainer returns everything the engine knows about a container,
// or an error matching runtime.ErrNotFound.
func (d *Docker) InspectContainer(ctx context.Context, id string) (runtime.State, error) {
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.State{}, wrap(err, "inspect container %s", id)
	}
	st, err := stateOf(res.Container)
	if err != nil {
		return runtime.State{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	return st, nil
}

// ListContainers lists all containers, running or not, that carry every
// given label (value "" matches any value), oldest first.
//
// The engine's list entries lack most of State (start and finish times,
// exit code, health, pid, networks' details), so each listed container is
// inspected: one list call plus one inspect per container. A container
// removed between the two is left out.
func (d *Docker) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.State, error) {
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, wrap(err, "list containers")
	}
	states := make([]runtime.State, 0, len(res.Items))
	for _, c := range res.Items {
		st, err := d.InspectContainer(ctx, c.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		states = append(states, st)
	}
	slices.SortStableFunc(states, func(a, b runtime.State) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return states, nil
}

// labelFilters is the engine's label filter: "key" matches any value,
// "key=value" one value.
func labelFilters(labels map[string]string) client.Filters {
	f := client.Filters{}
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	return f
}

// stateOf converts the engine's inspect response.
func stateOf(c container.InspectResponse) (runtime.State, error) {
	st := runtime.State{
		ID:           c.ID,
		Name:         strings.TrimPrefix(c.Name, "/"),
		ImageID:      c.Image,
		RestartCount: c.RestartCount,
	}
	var err error
	if st.CreatedAt, err = parseTime(c.Created); err != nil {
		return st, err
	}
	if c.Config != nil {
		st.Image = c.Config.Image
		st.Labels = maps.Clone(c.Config.Labels)
	}
	if s := c.State; s != nil {
		st.Status = string(s.Status)
		st.Running = s.Running
		st.ExitCode = s.ExitCode
		st.OOMKilled = s.OOMKilled
		st.Error = s.Error
		st.Pid = s.Pid
		if s.Health != nil && s.Health.Status != container.NoHealthcheck {
			st.Health = string(s.Health.Status)
		}
		if st.StartedAt, err = parseTime(s.StartedAt); err != nil {
			return st, err
		}
		if st.FinishedAt, err = parseTime(s.FinishedAt); err != nil {
			return st, err
		}
	}
	if ns := c.NetworkSettings; ns != nil {
		if st.Ports, err = portsOf(ns); err != nil {
			return st, err
		}
		if len(ns.Networks) > 0 {
			st.Networks = make(map[string]runtime.Endpoint, len(ns.Networks))
		}
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			e := runtime.Endpoint{
				NetworkID:  ep.NetworkID,
				MacAddress: ep.MacAddress.String(),
				PrefixLen:  ep.IPPrefixLen,
			}
			if ep.IPAddress.IsValid() {
				e.IPAddress = ep.IPAddress.String()
			}
			if ep.Gateway.IsValid() {
				e.Gateway = ep.Gateway.String()
			}
			st.Networks[name] = e
		}
	}
	return st, nil
}

// portsOf lists the published ports, sorted by container port, protocol
// and host address. An exposed port without a binding is left out; a port
// bound on both IPv4 and IPv6 appears twice.
func portsOf(ns *container.NetworkSettings) ([]runtime.PortBinding, error) {
	var ports []runtime.PortBinding
	for port, bindings := range ns.Ports {
		for _, b := range bindings {
			pb := runtime.PortBinding{ContainerPort: port.Num(), Protocol: string(port.Proto())}
			if b.HostIP.IsValid() {
				pb.HostIP = b.HostIP.String()
			}
			if b.HostPort != "" {
				n, err := strconv.ParseUint(b.HostPort, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("port %s: bad host port %q", port, b.HostPort)
				}
				pb.HostPort = uint16(n)
			}
			ports = append(ports, pb)
		}
	}
	slices.SortFunc(ports, func(a, b runtime.PortBinding) int {
		return cmp.Or(cmp.Compare(a.ContainerPort, b.ContainerPort),
			strings.Compare(a.Protocol, b.Protocol),
			strings.Compare(a.HostIP, b.HostIP),
			cmp.Compare(a.HostPort, b.HostPort))
	})
	return ports, nil
}

// parseTime parses the engine's RFC 3339 times; "" and Docker's zero time
// ("0001-01-01T00:00:00Z") are the zero time.Time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", s, err)
	}
	if t.IsZero() {
		return time.Time{}, nil
	}
	return t, nil
}
