package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
)

// preparePause creates and starts the awsvpc task's pause container on the
// task network (or adopts it) and records the task's address.
func (t *task) preparePause(ctx context.Context) error {
	netw, image, err := t.e.awsvpcNetwork(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	if t.cp.Pause == nil {
		t.cp.Pause = &containerCheckpoint{DockerName: dockerName(t.cp.Manifest, "internalecspause")}
	}
	pc := *t.cp.Pause
	err = t.e.cp.saveTask(t.cp)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	var ports []ecsapi.PortMapping
	for _, cd := range t.def().ContainerDefinitions {
		ports = append(ports, cd.PortMappings...)
	}
	id, err := t.ensureContainer(ctx, pc, containerspec.PauseSpec(containerspec.PauseInput{
		Cluster: t.cp.Manifest.Cluster, TaskARN: t.cp.Manifest.TaskARN, InstanceID: t.e.instanceID,
		Name: pc.DockerName, Image: image, Cmd: []string{"/pause"}, Network: netw.Name, PortMappings: ports,
		Family: ecsapi.Value(t.def().Family), Revision: t.def().Revision, DNS: t.pauseDNS(),
	}))
	if err != nil {
		return err
	}
	st, err := t.e.rt.InspectContainer(ctx, id)
	if err != nil {
		return err
	}
	if !st.Running {
		if err := t.e.startContainer(ctx, id); err != nil {
			return err
		}
		if st, err = t.e.rt.InspectContainer(ctx, id); err != nil {
			return err
		}
	}
	ep := st.Networks[netw.Name]
	t.mu.Lock()
	t.cp.Pause.ID = id
	t.cp.State.PrivateIP = ep.IPAddress
	t.cp.State.MacAddress = ep.MacAddress
	t.cp.State.SubnetCIDR = netw.Subnet
	t.cp.State.Gateway = ep.Gateway
	t.mu.Unlock()
	return nil
}

// ensureContainer returns the id of the container named cc.DockerName,
// creating it from spec unless it exists (adoption after a restart).
func (t *task) ensureContainer(ctx context.Context, cc containerCheckpoint, spec runtime.Spec) (string, error) {
	if cc.ID != "" {
		if _, err := t.e.rt.InspectContainer(ctx, cc.ID); err == nil {
			return cc.ID, nil
		}
	}
	// A task this agent process launched cannot have containers yet; only
	// an adopted one (the agent restarted) may have created them before it
	// could record the id.
	if t.adopt {
		if st, err := t.e.rt.InspectContainer(ctx, cc.DockerName); err == nil {
			return st.ID, nil
		}
	}
	id, err := t.e.createContainer(ctx, spec)
	if err != nil {
		// The name is taken: it is ours (names are unique per task).
		if st, ierr := t.e.rt.InspectContainer(ctx, cc.DockerName); ierr == nil {
			return st.ID, nil
		}
	}
	return id, err
}

// createContainers creates every container not created yet, in an order
// where links and volumesFrom name containers that exist. Names are
// checkpointed before any is created.
func (t *task) createContainers(ctx context.Context, volumes map[string]containerspec.VolumeSource) error {
	t.mu.Lock()
	err := t.e.cp.saveTask(t.cp)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	ids := map[string]string{}
	pending := slices.Clone(t.order)
	for len(pending) > 0 {
		progressed := false
		for i := 0; i < len(pending); i++ {
			name := pending[i]
			c := t.ctrs[name]
			if !createDepsMet(c.def, ids) {
				continue
			}
			if err := t.createOne(ctx, name, c, volumes, ids); err != nil {
				return err
			}
			pending = slices.Delete(pending, i, i+1)
			i--
			progressed = true
		}
		if !progressed {
			return fmt.Errorf("links or volumesFrom of %v form a cycle", pending)
		}
	}
	return nil
}

func createDepsMet(cd ecsapi.ContainerDefinition, ids map[string]string) bool {
	for _, l := range cd.Links {
		name, _, _ := strings.Cut(l, ":")
		if ids[name] == "" {
			return false
		}
	}
	for _, vf := range cd.VolumesFrom {
		if ids[ecsapi.Value(vf.SourceContainer)] == "" {
			return false
		}
	}
	return true
}

func (t *task) createOne(ctx context.Context, name string, c *ctr, volumes map[string]containerspec.VolumeSource, ids map[string]string) (err error) {
	defer func() {
		// The container says why it was not created, as the task does.
		if err != nil && ctx.Err() == nil {
			t.mu.Lock()
			c.reason = truncate("CannotCreateContainerError: "+err.Error(), 255)
			t.mu.Unlock()
		}
	}()
	t.mu.Lock()
	cc := *t.cp.Containers[name]
	pauseID := ""
	if t.cp.Pause != nil {
		pauseID = t.cp.Pause.ID
	}
	t.mu.Unlock()
	fileEnv, err := loadEnvironmentFiles(ctx, c.def.EnvironmentFiles)
	if err != nil {
		return err
	}
	in, err := t.specInput(c, cc, pauseID, volumes, ids, fileEnv)
	if err != nil {
		return err
	}
	out, err := containerspec.Build(in)
	if err != nil {
		return err
	}
	for _, w := range out.Warnings {
		t.log.Warn("container setting not applied", "container", name, "warning", w)
	}
	id, err := t.ensureContainer(ctx, cc, out.Spec)
	if err != nil {
		return err
	}
	ids[name] = id
	t.mu.Lock()
	// Not checkpointed at once: the name already is, and adoption finds the
	// container by name.
	t.cp.Containers[name].ID = id
	t.mu.Unlock()
	if !t.adopt {
		return nil // a container just created has nothing to read back
	}
	return t.refresh(ctx, name)
}

// specInput is what containerspec.Build makes the container from: its
// definition with the GPUs reserved for it (withGPUs), the agent's
// environment (metadata endpoint, region) and the task's other containers
// and volumes.
func (t *task) specInput(c *ctr, cc containerCheckpoint, pauseID string, volumes map[string]containerspec.VolumeSource, ids map[string]string, fileEnv map[string]string) (containerspec.Input, error) {
	def, err := withGPUs(c.def, c.gpuIDs)
	if err != nil {
		return containerspec.Input{}, err
	}
	env := map[string]string{
		"ECS_CONTAINER_METADATA_URI_V4": t.e.metadataBase + "/v4/" + cc.MetadataID,
		"ECS_CONTAINER_METADATA_URI":    t.e.metadataBase + "/v3/" + cc.MetadataID,
		"AWS_EXECUTION_ENV":             "AWS_ECS_EC2",
	}
	if r := t.e.cfg.Region; r != "" {
		env["AWS_REGION"], env["AWS_DEFAULT_REGION"] = r, r
	}
	return containerspec.Input{
		Cluster: t.cp.Manifest.Cluster, TaskARN: t.cp.Manifest.TaskARN, InstanceID: t.e.instanceID,
		Family: ecsapi.Value(t.def().Family), Revision: t.def().Revision, Task: t.def(), Container: def,
		Name: cc.DockerName, PauseContainerID: pauseID, Volumes: volumes, ContainerIDs: ids, Env: env, FileEnv: fileEnv,
		DefaultDNS: t.e.cfg.TaskDNS, GPUIDs: slices.Clone(c.gpuIDs),
	}, nil
}

// refresh reads a container's state from the runtime into the task.
func (t *task) refresh(ctx context.Context, name string) error {
	t.mu.Lock()
	id := t.cp.Containers[name].ID
	t.mu.Unlock()
	if id == "" {
		return nil
	}
	st, err := t.e.rt.InspectContainer(ctx, id)
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.ctrs[name]
	if errors.Is(err, runtime.ErrNotFound) {
		if c.status != lifecycle.Stopped {
			c.status = lifecycle.Stopped
			c.reason = "Docker container was removed outside the agent"
			c.finishedAt = time.Now()
		}
		return nil
	}
	if err != nil {
		return err
	}
	applyRuntimeState(c, st)
	return nil
}

// applyRuntimeState maps the engine's view of a container onto ECS's.
func applyRuntimeState(c *ctr, st runtime.State) {
	switch {
	case st.Running:
		c.status = lifecycle.Running
		c.startedAt = st.StartedAt
	case !st.StartedAt.IsZero() && (st.Status == "exited" || st.Status == "dead"):
		if c.status != lifecycle.Stopped {
			c.status = lifecycle.Stopped
			code := int32(st.ExitCode)
			c.exitCode = &code
			c.finishedAt = st.FinishedAt
			if st.OOMKilled {
				c.reason = "OutOfMemoryError: Container killed due to memory usage"
			}
		}
	}
	switch st.Health {
	case "healthy":
		c.health = string(ecsapi.HealthStatusHEALTHY)
	case "unhealthy":
		c.health = string(ecsapi.HealthStatusUNHEALTHY)
	default:
		c.health = string(ecsapi.HealthStatusUNKNOWN)
	}
	if st.Running && len(c.bindings) == 0 {
		c.bindings = networkBindings(st.Ports)
	}
}

// networkBindings reports the IPv4 bindings of published ports.
func networkBindings(ports []runtime.PortBinding) []ecsapi.NetworkBinding {
	var out []ecsapi.NetworkBinding
	seen := map[string]bool{}
	for _, p := range ports {
		if p.HostPort == 0 || p.HostIP == "::" {
			continue
		}
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		key := ip + "/" + strconv.Itoa(int(p.HostPort)) + p.Protocol
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, ecsapi.NetworkBinding{
			BindIP: ecsapi.Ptr(ip), ContainerPort: ecsapi.Ptr(int32(p.ContainerPort)), HostPort: ecsapi.Ptr(int32(p.HostPort)),
			Protocol: ecsapi.Ptr(ecsapi.TransportProtocol(p.Protocol)),
		})
	}
	return out
}

// cleanupAfterWait removes the stopped task's containers, volumes and
// scratch space after the configured wait, then forgets the task.
func (t *task) cleanupAfterWait(ctx context.Context) {
	t.mu.Lock()
	stoppedAt := t.cp.StoppedAt
	t.mu.Unlock()
	wait := time.Until(stoppedAt.Add(t.e.cfg.TaskCleanupWait))
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
	t.mu.Lock()
	var ids []string
	for _, name := range t.order {
		if id := t.cp.Containers[name].ID; id != "" {
			ids = append(ids, id)
		}
	}
	if t.cp.Pause != nil && t.cp.Pause.ID != "" {
		ids = append(ids, t.cp.Pause.ID)
	}
	vols, scratch := t.cp.Volumes, t.cp.ScratchDir
	t.mu.Unlock()
	for _, id := range ids {
		if err := t.e.rt.RemoveContainer(ctx, id); err != nil {
			t.log.Warn("remove stopped container", "id", id, "err", err)
			return // retried after the next agent start
		}
	}
	for _, v := range vols {
		if err := t.e.rt.RemoveVolume(ctx, v); err != nil {
			t.log.Warn("remove task volume", "volume", v, "err", err)
		}
	}
	if scratch != "" {
		_ = os.RemoveAll(scratch)
	}
	if err := t.e.cp.deleteTask(t.cp.Manifest.TaskARN); err != nil {
		t.log.Warn("forget task", "err", err)
	}
}

// pauseDNS are the DNS servers of an awsvpc task's namespace: the
// containers' dnsServers, else the agent's --task-dns.
func (t *task) pauseDNS() []string {
	var out []string
	for _, cd := range t.def().ContainerDefinitions {
		for _, d := range cd.DnsServers {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	if len(out) == 0 {
		out = t.e.cfg.TaskDNS
	}
	return out
}
