package containerspec

import (
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/ecsapi"
)

const (
	// minCPUShares is what the ECS agent gives a container with cpu 0 or 1:
	// Docker reads 0 as its default of 1024 shares and the kernel's minimum
	// is 2.
	minCPUShares = 2
	// defaultSwappiness is ECS's swappiness when maxSwap is set without it.
	defaultSwappiness = 60
	mebibyte          = 1 << 20
)

// mib converts MiB to bytes.
func mib(n int32) int64 { return int64(n) * mebibyte }

// cpuShares maps container cpu units to Docker CPU shares as the ECS agent
// does: anything below 2 becomes 2.
func cpuShares(cpu int32) int64 {
	return max(int64(cpu), minCPUShares)
}

// resources sets cpu shares, memory limit and reservation, ulimits and GPU
// device requests. A container without its own memory limit is bounded only
// by the task's (the agent's cgroup), so task-level memory is not copied here.
func (b *builder) resources() error {
	c := b.c
	b.host.CPUShares = cpuShares(c.Cpu)
	if m := ecsapi.Value(c.Memory); m > 0 {
		b.host.Memory = mib(m)
	}
	if r := ecsapi.Value(c.MemoryReservation); r > 0 {
		b.host.MemoryReservation = mib(r)
	}
	for _, u := range c.Ulimits {
		b.host.Ulimits = append(b.host.Ulimits, &container.Ulimit{
			Name: string(u.Name),
			Soft: int64(u.SoftLimit),
			Hard: int64(u.HardLimit),
		})
	}
	b.accelerators()
	return nil
}

// accelerators turns the GPUs the agent reserved into an NVIDIA device
// request.
func (b *builder) accelerators() {
	var wantGPU bool
	for _, rr := range b.c.ResourceRequirements {
		switch rr.Type {
		case ecsapi.ResourceTypeGPU:
			wantGPU = true
		default:
			b.warnf("resourceRequirements of type %q are not supported", rr.Type)
		}
	}
	if len(b.in.GPUIDs) > 0 {
		b.host.DeviceRequests = []container.DeviceRequest{{
			Driver:       "nvidia",
			DeviceIDs:    slices.Clone(b.in.GPUIDs),
			Capabilities: [][]string{{"gpu"}},
		}}
	} else if wantGPU {
		b.warnf("the container requires GPUs but none were reserved for it")
	}
}

// linuxParameters applies capabilities, devices, init, /dev/shm, tmpfs
// mounts and swap settings. It runs after resources (swap is relative to
// the memory limit).
func (b *builder) linuxParameters() error {
	lp := b.c.LinuxParameters
	if lp == nil {
		return nil
	}
	if caps := lp.Capabilities; caps != nil {
		b.host.CapAdd = slices.Clone(caps.Add)
		b.host.CapDrop = slices.Clone(caps.Drop)
	}
	for _, d := range lp.Devices {
		b.host.Devices = append(b.host.Devices, deviceMapping(d))
	}
	if lp.InitProcessEnabled != nil {
		b.host.Init = ecsapi.Ptr(*lp.InitProcessEnabled)
	}
	if shm := ecsapi.Value(lp.SharedMemorySize); shm > 0 {
		b.host.ShmSize = mib(shm)
	}
	for _, t := range lp.Tmpfs {
		if b.host.Tmpfs == nil {
			b.host.Tmpfs = make(map[string]string, len(lp.Tmpfs))
		}
		b.host.Tmpfs[t.ContainerPath] = tmpfsOptions(t)
	}
	b.swap(lp)
	return nil
}

// deviceMapping maps an ECS device; the container path defaults to the host
// path and the permissions to all three, as with docker run --device.
func deviceMapping(d ecsapi.Device) container.DeviceMapping {
	inContainer := ecsapi.Value(d.ContainerPath)
	if inContainer == "" {
		inContainer = d.HostPath
	}
	return container.DeviceMapping{
		PathOnHost:        d.HostPath,
		PathInContainer:   inContainer,
		CgroupPermissions: cgroupPermissions(d.Permissions),
	}
}

// cgroupPermissions renders read, write and mknod as Docker's "rwm" (in
// that order, whatever the order given); none given means all.
func cgroupPermissions(perms []ecsapi.DeviceCgroupPermission) string {
	if len(perms) == 0 {
		return "rwm"
	}
	var s string
	for _, p := range []struct {
		perm ecsapi.DeviceCgroupPermission
		flag string
	}{
		{ecsapi.DeviceCgroupPermissionRead, "r"},
		{ecsapi.DeviceCgroupPermissionWrite, "w"},
		{ecsapi.DeviceCgroupPermissionMknod, "m"},
	} {
		if slices.Contains(perms, p.perm) {
			s += p.flag
		}
	}
	return s
}

// tmpfsOptions renders a tmpfs mount's options: "size=<n>m" followed by the
// mount options.
func tmpfsOptions(t ecsapi.Tmpfs) string {
	var opts []string
	if t.Size > 0 {
		opts = append(opts, "size="+strconv.FormatInt(int64(t.Size), 10)+"m")
	}
	opts = append(opts, t.MountOptions...)
	return strings.Join(opts, ",")
}

// swap applies maxSwap and swappiness as ECS documents them: maxSwap N
// gives memory+N of memory and swap (0: no swap at all); swappiness is used
// only with maxSwap and defaults to 60 then.
func (b *builder) swap(lp *ecsapi.LinuxParameters) {
	if lp.MaxSwap == nil {
		if lp.Swappiness != nil {
			b.warnf("linuxParameters.swappiness is ignored without maxSwap")
		}
		return
	}
	swappiness := int64(defaultSwappiness)
	if lp.Swappiness != nil {
		swappiness = int64(*lp.Swappiness)
	}
	b.host.MemorySwappiness = &swappiness
	if b.host.Memory == 0 {
		b.warnf("linuxParameters.maxSwap needs the container's 'memory' limit: swap is left to the host's configuration")
		return
	}
	b.host.MemorySwap = b.host.Memory + mib(max(*lp.MaxSwap, 0))
}
