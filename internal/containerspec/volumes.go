package containerspec

import (
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// errUnknownVolume: a mount point names a volume the task does not have.
var errUnknownVolume = errors.New("no such volume in the task")

// volumesFrom mounts the volumes of other containers of the task, read-only
// when asked ("<id>:ro").
func (b *builder) volumesFrom() error {
	for _, vf := range b.c.VolumesFrom {
		id, err := b.containerID(ecsapi.Value(vf.SourceContainer))
		if err != nil {
			return fmt.Errorf("volumesFrom: %w", err)
		}
		if ecsapi.Value(vf.ReadOnly) {
			id += ":ro"
		}
		b.host.VolumesFrom = append(b.host.VolumesFrom, id)
	}
	return nil
}

// mounts turns mount points into bind mounts of host paths or mounts of
// Docker volumes. A missing host directory is created, as docker run -v
// (which the ECS agent uses) does.
func (b *builder) mounts() error {
	for _, mp := range b.c.MountPoints {
		m, err := b.mount(mp)
		if err != nil {
			return fmt.Errorf("mountPoints: %w", err)
		}
		b.host.Mounts = append(b.host.Mounts, m)
	}
	return nil
}

// mount resolves one mount point against in.Volumes.
func (b *builder) mount(mp ecsapi.MountPoint) (mount.Mount, error) {
	name := ecsapi.Value(mp.SourceVolume)
	target := ecsapi.Value(mp.ContainerPath)
	if target == "" {
		return mount.Mount{}, fmt.Errorf("volume %q has no containerPath", name)
	}
	src, ok := b.in.Volumes[name]
	if !ok {
		return mount.Mount{}, fmt.Errorf("%w: %q", errUnknownVolume, name)
	}
	m := mount.Mount{Target: target, ReadOnly: ecsapi.Value(mp.ReadOnly)}
	switch {
	case src.HostPath != "":
		m.Type = mount.TypeBind
		m.Source = src.HostPath
		m.BindOptions = &mount.BindOptions{CreateMountpoint: true}
	case src.DockerVolume != "":
		m.Type = mount.TypeVolume
		m.Source = src.DockerVolume
	default:
		return mount.Mount{}, fmt.Errorf("volume %q has neither a host path nor a Docker volume", name)
	}
	return m, nil
}
