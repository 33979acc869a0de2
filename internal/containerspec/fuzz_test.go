package containerspec

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// FuzzBuild feeds JSON container definitions (and a network mode) to Build:
// it must not panic, must be deterministic, and every container it builds
// carries the ECS and berth labels with their values.
func FuzzBuild(f *testing.F) {
	seeds := []ecsapi.ContainerDefinition{
		baseInput().Container,
		richInput().Container,
		{
			Name:         str("web"),
			Image:        str("nginx"),
			PortMappings: []ecsapi.PortMapping{{ContainerPortRange: str("7000-7003")}},
			HealthCheck:  &ecsapi.HealthCheck{Command: []string{"true"}},
			LinuxParameters: &ecsapi.LinuxParameters{
				MaxSwap: i32(0), Swappiness: i32(5), SharedMemorySize: i32(64),
				InitProcessEnabled: bptr(true),
			},
			LogConfiguration: &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverAwslogs},
			DockerLabels:     map[string]string{LabelRole: "pause"},
		},
	}
	for _, mode := range []string{"bridge", "host", "awsvpc", "none", ""} {
		for _, c := range seeds {
			b, err := json.Marshal(c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, mode)
		}
	}
	f.Add([]byte(`{"name":"x","links":["db:a:b"],"mountPoints":[{"sourceVolume":"nope"}]}`), "bridge")
	f.Add([]byte(`{"portMappings":[{"containerPort":-1,"hostPort":99999}],"cpu":-7}`), "bridge")

	f.Fuzz(func(t *testing.T, data []byte, mode string) {
		var c ecsapi.ContainerDefinition
		if json.Unmarshal(data, &c) != nil {
			return
		}
		in := baseInput()
		in.Container = c
		in.NetworkMode = mode
		in.PauseContainerID = testPauseID
		out, err := Build(in)
		again, errAgain := Build(in)
		if (err == nil) != (errAgain == nil) || !reflect.DeepEqual(out, again) {
			t.Fatalf("Build is not deterministic")
		}
		if err != nil {
			return
		}
		want := map[string]string{
			LabelCluster:        in.Cluster,
			LabelTaskARN:        in.TaskARN,
			LabelContainerName:  ecsapi.Value(c.Name),
			LabelTaskDefFamily:  in.Family,
			LabelTaskDefVersion: strconv.Itoa(int(in.Revision)),
			LabelInstance:       in.InstanceID,
			LabelRole:           RoleContainer,
		}
		for k, v := range want {
			if got, ok := out.Spec.Config.Labels[k]; !ok || got != v {
				t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
			}
		}
		if out.Spec.HostConfig.CPUShares < minCPUShares {
			t.Errorf("CPUShares = %d, below the minimum", out.Spec.HostConfig.CPUShares)
		}
	})
}
