package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnvAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecs.config")
	content := `# berth agent
ECS_CLUSTER=prod
ECS_RESERVED_MEMORY=256
ECS_RESERVED_PORTS=[8000, "8001"]
ECS_RESERVED_PORTS_UDP=53
ECS_INSTANCE_ATTRIBUTES={"stack": "blue", "team":"core"}
ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10m
ECS_CONTAINER_STOP_TIMEOUT="45s"
ECS_AVAILABILITY_ZONE=us-east-1b
BERTH_HOST_ADDRESS=192.0.2.10
BERTH_TASK_DNS=192.0.2.53
BERTH_GPUS=GPU-test-0,GPU-test-1
ECS_ENABLE_GPU_SUPPORT=true
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	vals, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := c.ApplyEnv(func(k string) string { return vals[k] }); err != nil {
		t.Fatal(err)
	}
	enableGPU := true
	want := Config{
		Cluster: "prod", ReservedMemory: 256, ReservedPorts: []uint16{8000, 8001}, ReservedPortsUDP: []uint16{53},
		Attributes:      map[string]string{"stack": "blue", "team": "core"},
		TaskCleanupWait: 10 * time.Minute, StopTimeout: 45 * time.Second, AvailabilityZone: "us-east-1b",
		HostAddress: "192.0.2.10", TaskDNS: []string{"192.0.2.53"},
		GPUs: "GPU-test-0,GPU-test-1", EnableGPUSupport: &enableGPU,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
	c.Defaults()
	if c.Cluster != "prod" || c.IntrospectionAddr != "127.0.0.1:51678" || c.Region != "us-east-1" {
		t.Errorf("defaults overrode or missed: %+v", c)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"ECS_RESERVED_MEMORY":                   {"ECS_RESERVED_MEMORY": "lots"},
		"ECS_RESERVED_PORTS":                    {"ECS_RESERVED_PORTS": "[80, http]"},
		"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": {"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "3 hours"},
		"ECS_INSTANCE_ATTRIBUTES":               {"ECS_INSTANCE_ATTRIBUTES": "{novalue}"},
		"BERTH_GPUS":                            {"BERTH_GPUS": "GPU-a,,GPU-b"},
		"ECS_ENABLE_GPU_SUPPORT":                {"ECS_ENABLE_GPU_SUPPORT": "yes please"},
		"BERTH_MAX_CONCURRENT_STARTS":           {"BERTH_MAX_CONCURRENT_STARTS": "0"},
	} {
		var c Config
		err := c.ApplyEnv(func(k string) string { return env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), name) {
			t.Errorf("%s: error %v does not name the setting", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.config")
	if err := os.WriteFile(path, []byte("ECS_CLUSTER prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil {
		t.Error("a line without = was accepted")
	}
}

func TestConfigHostAddress(t *testing.T) {
	for addr, ok := range map[string]bool{"": true, "192.0.2.10": true, "172.17.0.1": true, "::1": false, "host.local": false, "192.0.2.10:53": false} {
		c := Config{HostAddress: addr}
		if err := c.checkHostAddress(); (err == nil) != ok {
			t.Errorf("host address %q: error %v, want ok %v", addr, err, ok)
		}
	}
}

// BERTH_GPUS (or --gpus) decides when set; ECS_ENABLE_GPU_SUPPORT only
// when it is not; neither means auto.
func TestConfigGPUResolution(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want gpuPlan
	}{
		{"neither: auto", nil, gpuPlan{detect: true, setting: "--gpus auto"}},
		{"BERTH_GPUS list", map[string]string{"BERTH_GPUS": "GPU-test-0,GPU-test-1"}, gpuPlan{ids: []string{"GPU-test-0", "GPU-test-1"}, setting: "--gpus"}},
		{"BERTH_GPUS none", map[string]string{"BERTH_GPUS": "none"}, gpuPlan{setting: "--gpus none"}},
		{"ECS_ENABLE_GPU_SUPPORT true", map[string]string{"ECS_ENABLE_GPU_SUPPORT": "true"}, gpuPlan{detect: true, required: true, setting: "ECS_ENABLE_GPU_SUPPORT=true"}},
		{"ECS_ENABLE_GPU_SUPPORT false", map[string]string{"ECS_ENABLE_GPU_SUPPORT": "false"}, gpuPlan{setting: "ECS_ENABLE_GPU_SUPPORT=false"}},
		{"BERTH_GPUS over ECS_ENABLE_GPU_SUPPORT", map[string]string{"BERTH_GPUS": "auto", "ECS_ENABLE_GPU_SUPPORT": "false"}, gpuPlan{detect: true, setting: "--gpus auto"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := c.ApplyEnv(func(k string) string { return tc.env[k] }); err != nil {
				t.Fatal(err)
			}
			got, err := planGPUs(c.GPUs, c.EnableGPUSupport)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestConfigMaxConcurrentStarts(t *testing.T) {
	var c Config
	c.Defaults()
	if c.MaxConcurrentStarts != DefaultMaxConcurrentStarts {
		t.Fatalf("default %d, want %d", c.MaxConcurrentStarts, DefaultMaxConcurrentStarts)
	}
	if err := c.ApplyEnv(func(k string) string { return map[string]string{"BERTH_MAX_CONCURRENT_STARTS": "3"}[k] }); err != nil {
		t.Fatal(err)
	}
	if c.MaxConcurrentStarts != 3 {
		t.Fatalf("got %d, want 3", c.MaxConcurrentStarts)
	}
}
