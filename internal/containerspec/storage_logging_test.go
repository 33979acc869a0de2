package containerspec

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

func TestBuildMounts(t *testing.T) {
	runBuildCases(t, []buildCase{
		{
			name: "host path and Docker volume, read-only",
			in: func(in *Input) {
				in.Container.MountPoints = []ecsapi.MountPoint{
					{SourceVolume: str("data"), ContainerPath: str("/data")},
					{SourceVolume: str("cache"), ContainerPath: str("/cache"), ReadOnly: bptr(true)},
					{SourceVolume: str("data"), ContainerPath: str("/ro-data"), ReadOnly: bptr(true)},
				}
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.Mounts = []mount.Mount{
					{Type: mount.TypeBind, Source: "/srv/data", Target: "/data", BindOptions: &mount.BindOptions{CreateMountpoint: true}},
					{Type: mount.TypeVolume, Source: "ecs-web-3-cache-0a1b", Target: "/cache", ReadOnly: true},
					{Type: mount.TypeBind, Source: "/srv/data", Target: "/ro-data", ReadOnly: true, BindOptions: &mount.BindOptions{CreateMountpoint: true}},
				}
			},
		},
		{
			name: "host path wins when a source has both",
			in: func(in *Input) {
				in.Volumes["both"] = VolumeSource{HostPath: "/h", DockerVolume: "v"}
				in.Container.MountPoints = []ecsapi.MountPoint{{SourceVolume: str("both"), ContainerPath: str("/b")}}
			},
			want: func(s *runtime.Spec) {
				s.HostConfig.Mounts = []mount.Mount{
					{Type: mount.TypeBind, Source: "/h", Target: "/b", BindOptions: &mount.BindOptions{CreateMountpoint: true}},
				}
			},
		},
	})
}

func TestBuildVolumesFrom(t *testing.T) {
	runBuildCases(t, []buildCase{{
		name: "volumesFrom by Docker id, read-only as :ro",
		in: func(in *Input) {
			in.Container.VolumesFrom = []ecsapi.VolumeFrom{
				{SourceContainer: str("db")},
				{SourceContainer: str("sidecar"), ReadOnly: bptr(true)},
				{SourceContainer: str("db"), ReadOnly: bptr(false)},
			}
		},
		want: func(s *runtime.Spec) {
			s.HostConfig.VolumesFrom = []string{"db0123456789", "sc0123456789:ro", "db0123456789"}
		},
	}})
}

func TestBuildLogging(t *testing.T) {
	logs := func(driver ecsapi.LogDriver, opts map[string]string, secrets ...ecsapi.Secret) func(*Input) {
		return func(in *Input) {
			in.Container.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: driver, Options: opts, SecretOptions: secrets}
		}
	}
	passThrough := func(driver ecsapi.LogDriver, opts map[string]string) buildCase {
		return buildCase{
			name: string(driver),
			in:   logs(driver, opts),
			want: func(s *runtime.Spec) {
				s.HostConfig.LogConfig = container.LogConfig{Type: string(driver), Config: opts}
			},
		}
	}
	jsonFile := func(s *runtime.Spec) { s.HostConfig.LogConfig = container.LogConfig{Type: "json-file"} }
	runBuildCases(t, []buildCase{
		passThrough(ecsapi.LogDriverJsonFile, map[string]string{"max-size": "10m", "max-file": "3"}),
		passThrough(ecsapi.LogDriverSyslog, map[string]string{"syslog-address": "udp://10.0.0.1:514"}),
		passThrough(ecsapi.LogDriverJournald, nil),
		passThrough(ecsapi.LogDriverGelf, map[string]string{"gelf-address": "udp://10.0.0.9:12201"}),
		passThrough(ecsapi.LogDriverFluentd, map[string]string{"fluentd-address": "localhost:24224", "tag": "web"}),
		passThrough(ecsapi.LogDriverSplunk, map[string]string{"splunk-url": "https://splunk:8088", "splunk-token": "t"}),
		{
			name:  "awslogs falls back to json-file without its options",
			in:    logs(ecsapi.LogDriverAwslogs, map[string]string{"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}),
			want:  jsonFile,
			warns: []string{"awslogs is not supported yet: logs stay in Docker (docker logs)"},
		},
		{
			name:  "awsfirelens falls back to json-file",
			in:    logs(ecsapi.LogDriverAwsfirelens, map[string]string{"Name": "cloudwatch"}),
			want:  jsonFile,
			warns: []string{"awsfirelens is not supported"},
		},
		{
			name: "secretOptions warn",
			in:   logs(ecsapi.LogDriverSplunk, map[string]string{"splunk-url": "https://splunk:8088"}, ecsapi.Secret{Name: "splunk-token", ValueFrom: "arn:aws:ssm:us-east-1:000000000000:parameter/t"}),
			want: func(s *runtime.Spec) {
				s.HostConfig.LogConfig = container.LogConfig{Type: "splunk", Config: map[string]string{"splunk-url": "https://splunk:8088"}}
			},
			warns: []string{"secretOptions are not supported"},
		},
		{
			name: "empty options are nil",
			in:   logs(ecsapi.LogDriverSyslog, map[string]string{}),
			want: func(s *runtime.Spec) { s.HostConfig.LogConfig = container.LogConfig{Type: "syslog"} },
		},
	})
}

func TestBuildHealthCheck(t *testing.T) {
	hc := func(h ecsapi.HealthCheck) func(*Input) {
		return func(in *Input) { in.Container.HealthCheck = &h }
	}
	health := func(h container.HealthConfig) func(*runtime.Spec) {
		return func(s *runtime.Spec) { s.Config.Healthcheck = &h }
	}
	runBuildCases(t, []buildCase{
		{
			name: "CMD-SHELL with ECS defaults",
			in:   hc(ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}}),
			want: health(container.HealthConfig{
				Test:     []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"},
				Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			}),
		},
		{
			name: "CMD with every timing",
			in: hc(ecsapi.HealthCheck{
				Command:  []string{"CMD", "/bin/check", "--fast"},
				Interval: i32(10), Timeout: i32(2), Retries: i32(5), StartPeriod: i32(60),
			}),
			want: health(container.HealthConfig{
				Test:     []string{"CMD", "/bin/check", "--fast"},
				Interval: 10 * time.Second, Timeout: 2 * time.Second, Retries: 5, StartPeriod: time.Minute,
			}),
		},
		{
			name: "startPeriod 0 is off",
			in:   hc(ecsapi.HealthCheck{Command: []string{"CMD", "true"}, StartPeriod: i32(0)}),
			want: health(container.HealthConfig{
				Test: []string{"CMD", "true"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			}),
		},
		{
			name: "NONE disables the image's",
			in:   hc(ecsapi.HealthCheck{Command: []string{"NONE"}}),
			want: health(container.HealthConfig{
				Test: []string{"NONE"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			}),
		},
		{
			name: "a command without CMD is run directly",
			in:   hc(ecsapi.HealthCheck{Command: []string{"/bin/check"}}),
			want: health(container.HealthConfig{
				Test: []string{"CMD", "/bin/check"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			}),
			warns: []string{"does not start with CMD or CMD-SHELL"},
		},
		{
			name: "negative timings take the defaults",
			in:   hc(ecsapi.HealthCheck{Command: []string{"CMD", "true"}, Interval: i32(-1), Retries: i32(-1)}),
			want: health(container.HealthConfig{
				Test: []string{"CMD", "true"}, Interval: 30 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			}),
		},
		{
			name: "empty command means no health check",
			in:   hc(ecsapi.HealthCheck{Interval: i32(10)}),
		},
	})
}
