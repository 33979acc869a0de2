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
	want := Config{
		Cluster: "prod", ReservedMemory: 256, ReservedPorts: []uint16{8000, 8001}, ReservedPortsUDP: []uint16{53},
		Attributes:      map[string]string{"stack": "blue", "team": "core"},
		TaskCleanupWait: 10 * time.Minute, StopTimeout: 45 * time.Second, AvailabilityZone: "us-east-1b",
		HostAddress: "192.0.2.10", TaskDNS: []string{"192.0.2.53"},
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
