package containerspec

import (
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

func TestBuildCPU(t *testing.T) {
	shares := func(cpu int32, want int64) buildCase {
		return buildCase{
			name: "cpu " + strconv.Itoa(int(cpu)),
			in:   func(in *Input) { in.Container.Cpu = cpu },
			want: func(s *runtime.Spec) { s.HostConfig.CPUShares = want },
		}
	}
	runBuildCases(t, []buildCase{
		shares(0, 2), // Docker would read 0 as 1024
		shares(1, 2), // the kernel's minimum is 2
		shares(2, 2),
		shares(-5, 2),
		shares(256, 256),
		shares(10240, 10240),
	})
}

func TestBuildMemory(t *testing.T) {
	runBuildCases(t, []buildCase{
		{
			name: "memory is the hard limit in bytes",
			in:   func(in *Input) { in.Container.Memory = i32(512) },
			want: func(s *runtime.Spec) { s.HostConfig.Memory = 512 << 20 },
		},
		{
			name: "memoryReservation is the soft limit",
			in:   func(in *Input) { in.Container.MemoryReservation = i32(128) },
			want: func(s *runtime.Spec) { s.HostConfig.MemoryReservation = 128 << 20 },
		},
		{
			name: "both",
			in: func(in *Input) {
				in.Container.Memory = i32(2048)
				in.Container.MemoryReservation = i32(1024)
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.Memory = 2048 << 20
				s.HostConfig.MemoryReservation = 1024 << 20
			},
		},
		{
			name: "largest memory does not overflow",
			in:   func(in *Input) { in.Container.Memory = i32(1<<31 - 1) },
			want: func(s *runtime.Spec) { s.HostConfig.Memory = (1<<31 - 1) << 20 },
		},
		{
			name: "task-level memory only leaves the container unbounded",
			in:   func(in *Input) { in.Task.Memory, in.Task.Cpu = str("1024"), str("512") },
		},
		{
			name: "zero memory is unset",
			in:   func(in *Input) { in.Container.Memory, in.Container.MemoryReservation = i32(0), i32(0) },
		},
	})
}

func TestBuildUlimits(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name: "ulimits in order",
		in: func(in *Input) {
			in.Container.Ulimits = []ecsapi.Ulimit{
				{Name: ecsapi.UlimitNameNofile, SoftLimit: 1024, HardLimit: 65536},
				{Name: ecsapi.UlimitNameCore, SoftLimit: 0, HardLimit: 0},
			}
		},
		want: func(s *runtime.Spec) {
			s.HostConfig.Ulimits = []*container.Ulimit{
				{Name: "nofile", Soft: 1024, Hard: 65536},
				{Name: "core"},
			}
		},
	}})
}

func TestBuildLinuxParameters(t *testing.T) {
	lp := func(p ecsapi.LinuxParameters) func(*Input) {
		return func(in *Input) { in.Container.LinuxParameters = &p }
	}
	runBuildCases(t, []buildCase{
		{name: "empty linuxParameters", in: lp(ecsapi.LinuxParameters{})},
		{
			name: "capabilities as-is",
			in: lp(ecsapi.LinuxParameters{Capabilities: &ecsapi.KernelCapabilities{
				Add: []string{"NET_ADMIN", "SYS_TIME"}, Drop: []string{"ALL"},
			}}),
			want: func(s *runtime.Spec) {
				s.HostConfig.CapAdd = []string{"NET_ADMIN", "SYS_TIME"}
				s.HostConfig.CapDrop = []string{"ALL"}
			},
		},
		{
			name: "devices",
			in: lp(ecsapi.LinuxParameters{Devices: []ecsapi.Device{
				{HostPath: "/dev/fuse"},
				{HostPath: "/dev/sda", ContainerPath: str("/dev/xvdc"), Permissions: []ecsapi.DeviceCgroupPermission{"mknod", "read"}},
				{HostPath: "/dev/ttyUSB0", Permissions: []ecsapi.DeviceCgroupPermission{"write", "read", "mknod"}},
				{HostPath: "/dev/null", Permissions: []ecsapi.DeviceCgroupPermission{"write"}},
			}}),
			want: func(s *runtime.Spec) {
				s.HostConfig.Devices = []container.DeviceMapping{
					{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
					{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvdc", CgroupPermissions: "rm"},
					{PathOnHost: "/dev/ttyUSB0", PathInContainer: "/dev/ttyUSB0", CgroupPermissions: "rwm"},
					{PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "w"},
				}
			},
		},
		{
			name: "initProcessEnabled",
			in:   lp(ecsapi.LinuxParameters{InitProcessEnabled: bptr(true)}),
			want: func(s *runtime.Spec) { s.HostConfig.Init = bptr(true) },
		},
		{
			name: "initProcessEnabled false is explicit",
			in:   lp(ecsapi.LinuxParameters{InitProcessEnabled: bptr(false)}),
			want: func(s *runtime.Spec) { s.HostConfig.Init = bptr(false) },
		},
		{
			name: "sharedMemorySize",
			in:   lp(ecsapi.LinuxParameters{SharedMemorySize: i32(256)}),
			want: func(s *runtime.Spec) { s.HostConfig.ShmSize = 256 << 20 },
		},
		{
			name: "tmpfs",
			in: lp(ecsapi.LinuxParameters{Tmpfs: []ecsapi.Tmpfs{
				{ContainerPath: "/run", Size: 64},
				{ContainerPath: "/tmp", Size: 128, MountOptions: []string{"noexec", "nosuid", "mode=1777"}},
			}}),
			want: func(s *runtime.Spec) {
				s.HostConfig.Tmpfs = map[string]string{
					"/run": "size=64m",
					"/tmp": "size=128m,noexec,nosuid,mode=1777",
				}
			},
		},
	})
}

func TestBuildSwap(t *testing.T) {
	swap := func(memory, maxSwap, swappiness *int32) func(*Input) {
		return func(in *Input) {
			in.Container.Memory = memory
			in.Container.LinuxParameters = &ecsapi.LinuxParameters{MaxSwap: maxSwap, Swappiness: swappiness}
		}
	}
	ptr64 := ecsapi.Ptr[int64]
	runBuildCases(t, []buildCase{
		{
			name: "maxSwap adds to memory, swappiness defaults to 60",
			in:   swap(i32(512), i32(1024), nil),
			want: func(s *runtime.Spec) {
				s.HostConfig.Memory = 512 << 20
				s.HostConfig.MemorySwap = (512 + 1024) << 20
				s.HostConfig.MemorySwappiness = ptr64(60)
			},
		},
		{
			name: "maxSwap 0 means no swap",
			in:   swap(i32(512), i32(0), i32(10)),
			want: func(s *runtime.Spec) {
				s.HostConfig.Memory = 512 << 20
				s.HostConfig.MemorySwap = 512 << 20
				s.HostConfig.MemorySwappiness = ptr64(10)
			},
		},
		{
			name: "swappiness 0 is kept",
			in:   swap(i32(256), i32(256), i32(0)),
			want: func(s *runtime.Spec) {
				s.HostConfig.Memory = 256 << 20
				s.HostConfig.MemorySwap = 512 << 20
				s.HostConfig.MemorySwappiness = ptr64(0)
			},
		},
		{
			name:  "swappiness without maxSwap is ignored",
			in:    swap(i32(512), nil, i32(10)),
			want:  func(s *runtime.Spec) { s.HostConfig.Memory = 512 << 20 },
			warns: []string{"swappiness is ignored without maxSwap"},
		},
		{
			name:  "maxSwap without a memory limit",
			in:    swap(nil, i32(512), nil),
			want:  func(s *runtime.Spec) { s.HostConfig.MemorySwappiness = ptr64(60) },
			warns: []string{"maxSwap needs the container's 'memory' limit"},
		},
	})
}

func TestBuildGPU(t *testing.T) {
	gpu := []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "2"}}
	runBuildCases(t, []buildCase{
		{
			name: "reserved GPUs become an nvidia device request",
			in: func(in *Input) {
				in.Container.ResourceRequirements = gpu
				in.GPUIDs = []string{"GPU-aaaa", "GPU-bbbb"}
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.DeviceRequests = []container.DeviceRequest{{
					Driver:       "nvidia",
					DeviceIDs:    []string{"GPU-aaaa", "GPU-bbbb"},
					Capabilities: [][]string{{"gpu"}},
				}}
			},
		},
		{
			name:  "GPU requirement without reserved GPUs",
			in:    func(in *Input) { in.Container.ResourceRequirements = gpu },
			warns: []string{"requires GPUs but none were reserved"},
		},
		{
			name: "inference accelerators are not supported",
			in: func(in *Input) {
				in.Container.ResourceRequirements = []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeInferenceAccelerator, Value: "device_1"}}
			},
			warns: []string{`"InferenceAccelerator"`},
		},
	})
}
