package containerspec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

// RoleContainer and RolePause are the values of LabelRole.
const (
	RoleContainer = "container"
	RolePause     = "pause"
)

// builder accumulates the Docker configuration of one container and the
// warnings about what could not be expressed.
type builder struct {
	in       Input
	c        *ecsapi.ContainerDefinition
	mode     ecsapi.NetworkMode // effective network mode, never empty
	cfg      *container.Config
	host     *container.HostConfig
	warnings []string
}

// Build translates in.Container into the Docker container to create, the way
// the Amazon ECS container agent does. It returns an error only when the
// input is inconsistent: a mount point naming an unknown volume, a link or
// volumesFrom naming a container that was not created, an awsvpc task
// without its pause container, a value Docker cannot parse. Fields Docker
// cannot express (or berth does not support yet) are left out and named in
// Output.Warnings.
func Build(in Input) (Output, error) {
	mode, err := effectiveNetworkMode(in)
	if err != nil {
		return Output{}, err
	}
	b := &builder{
		in:   in,
		c:    &in.Container,
		mode: mode,
		cfg:  &container.Config{},
		host: &container.HostConfig{
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		},
	}
	steps := []func() error{
		b.process,
		b.resources,
		b.linuxParameters,
		b.networking,
		b.ports,
		b.links,
		b.volumesFrom,
		b.mounts,
		b.logging,
		b.healthCheck,
		b.namespaces,
		b.unsupported,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Output{}, fmt.Errorf("containerspec: container %q: %w", ecsapi.Value(b.c.Name), err)
		}
	}
	return Output{
		Spec:     runtime.Spec{Name: in.Name, Config: b.cfg, HostConfig: b.host},
		Warnings: b.warnings,
	}, nil
}

// warnf records a field that was left out.
func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// effectiveNetworkMode is in.NetworkMode, else the task definition's, else
// bridge (the ECS default on Linux).
func effectiveNetworkMode(in Input) (ecsapi.NetworkMode, error) {
	mode := ecsapi.NetworkMode(in.NetworkMode)
	if mode == "" && in.Task != nil {
		mode = ecsapi.Value(in.Task.NetworkMode)
	}
	switch mode {
	case "":
		return ecsapi.NetworkModeBridge, nil
	case ecsapi.NetworkModeBridge, ecsapi.NetworkModeHost, ecsapi.NetworkModeNone:
		return mode, nil
	case ecsapi.NetworkModeAwsvpc:
		if in.PauseContainerID == "" {
			return "", fmt.Errorf("containerspec: container %q: network mode awsvpc needs the task's pause container id", ecsapi.Value(in.Container.Name))
		}
		return mode, nil
	default:
		return "", fmt.Errorf("containerspec: container %q: unknown network mode %q", ecsapi.Value(in.Container.Name), mode)
	}
}

// process sets what runs and how: image, entry point, command, environment,
// user, working directory, terminal, labels and stop timeout.
func (b *builder) process() error {
	c := b.c
	b.cfg.Image = ecsapi.Value(c.Image)
	b.cfg.Entrypoint = slices.Clone(c.EntryPoint)
	b.cfg.Cmd = slices.Clone(c.Command)
	b.cfg.Env = b.environment()
	b.cfg.WorkingDir = ecsapi.Value(c.WorkingDirectory)
	b.cfg.User = ecsapi.Value(c.User)
	b.cfg.Tty = ecsapi.Value(c.PseudoTerminal)
	b.cfg.OpenStdin = ecsapi.Value(c.Interactive)
	b.cfg.NetworkDisabled = ecsapi.Value(c.DisableNetworking)
	b.cfg.Labels = b.labels()
	if c.StopTimeout != nil {
		b.cfg.StopTimeout = ecsapi.Ptr(int(*c.StopTimeout))
	}
	b.host.Privileged = ecsapi.Value(c.Privileged)
	b.host.ReadonlyRootfs = ecsapi.Value(c.ReadonlyRootFilesystem)
	b.host.SecurityOpt = slices.Clone(c.DockerSecurityOptions)
	return nil
}

// environment merges in.Env, in.FileEnv and the definition's environment
// (later sources win; within environment the last entry of a name wins) and
// returns it as NAME=value sorted by name.
func (b *builder) environment() []string {
	env := maps.Clone(b.in.Env)
	if env == nil {
		env = make(map[string]string)
	}
	maps.Copy(env, b.in.FileEnv)
	for _, kv := range b.c.Environment {
		if kv.Name == nil {
			continue
		}
		env[*kv.Name] = ecsapi.Value(kv.Value)
	}
	if len(env) == 0 {
		return nil
	}
	out := make([]string, 0, len(env))
	for _, name := range slices.Sorted(maps.Keys(env)) {
		out = append(out, name+"="+env[name])
	}
	return out
}

// labels is the definition's dockerLabels overlaid with the ECS labels and
// berth's own: the labels the agent relies on cannot be overridden.
func (b *builder) labels() map[string]string {
	labels := maps.Clone(b.c.DockerLabels)
	if labels == nil {
		labels = make(map[string]string)
	}
	maps.Copy(labels, ecsLabels(b.in.Cluster, b.in.TaskARN, ecsapi.Value(b.c.Name), b.in.Family, b.in.Revision))
	labels[LabelInstance] = b.in.InstanceID
	labels[LabelRole] = RoleContainer
	return labels
}

// ecsLabels are the labels the ECS agent writes on the containers it
// creates.
func ecsLabels(cluster, taskARN, containerName, family string, revision int32) map[string]string {
	return map[string]string{
		LabelCluster:        cluster,
		LabelTaskARN:        taskARN,
		LabelContainerName:  containerName,
		LabelTaskDefFamily:  family,
		LabelTaskDefVersion: strconv.FormatInt(int64(revision), 10),
	}
}

// namespaces applies the task's pidMode and ipcMode. "task" (one namespace
// shared by the task's containers) needs a namespace-holder container the
// agent does not create yet.
func (b *builder) namespaces() error {
	t := b.in.Task
	if t == nil {
		return nil
	}
	switch pid := ecsapi.Value(t.PidMode); pid {
	case "":
	case ecsapi.PidModeHost:
		b.host.PidMode = container.PidMode(pid)
	default:
		b.warnf("pidMode %q is not supported yet: the container gets its own PID namespace", pid)
	}
	switch ipc := ecsapi.Value(t.IpcMode); ipc {
	case "":
	case ecsapi.IpcModeHost, ecsapi.IpcModeNone:
		b.host.IpcMode = container.IpcMode(ipc)
	default:
		b.warnf("ipcMode %q is not supported yet: the container gets Docker's default IPC namespace", ipc)
	}
	return nil
}

// unsupported warns about fields that need a component berth does not have.
// Fields the agent itself handles (repositoryCredentials, secrets,
// environmentFiles, dependsOn, essential, startTimeout, restartPolicy,
// versionConsistency) are not Docker's business and pass silently.
func (b *builder) unsupported() error {
	if b.c.FirelensConfiguration != nil {
		b.warnf("firelensConfiguration is not supported: no log router is configured")
	}
	if len(b.c.CredentialSpecs) > 0 {
		b.warnf("credentialSpecs are not supported: the container runs without a gMSA credential spec")
	}
	return nil
}

// copyStrings returns a copy of m, nil when m is empty.
func copyStrings(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
