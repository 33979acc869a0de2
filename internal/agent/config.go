// Package agent is berth's host agent: it registers the host as a container
// instance, holds the control session with the server, runs the tasks the
// server places on it on the local container runtime, and serves the
// introspection and task metadata endpoints.
package agent

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/capacity"
)

// Config is the agent's configuration. Fields mirror the ECS agent's
// ecs.config variables where one exists (named in comments).
type Config struct {
	Cluster   string // ECS_CLUSTER
	ServerURL string // berth: the control plane's base URL
	Region    string // AWS_DEFAULT_REGION
	AccessKey string // AWS_ACCESS_KEY_ID
	SecretKey string // AWS_SECRET_ACCESS_KEY
	DataDir   string // ECS_DATADIR
	// InstanceID is the ec2InstanceId-style id; generated once and kept in
	// the data dir when empty.
	InstanceID       string
	InstanceType     string            // berth: ecs.instance-type attribute
	AvailabilityZone string            // ecs.availability-zone attribute
	Attributes       map[string]string // ECS_INSTANCE_ATTRIBUTES (JSON object)
	ReservedMemory   int64             // ECS_RESERVED_MEMORY (MiB)
	ReservedPorts    []uint16          // ECS_RESERVED_PORTS (added to 22, 2375, 2376, 51678, 51679)
	ReservedPortsUDP []uint16          // ECS_RESERVED_PORTS_UDP
	// IntrospectionAddr is the introspection API's address (":51678").
	IntrospectionAddr string
	// MetadataAddr is the task metadata endpoint's host:port; when empty the
	// agent serves it at 169.254.170.2 as ECS does when it can (root on
	// Linux), else on the default bridge gateway, which containers in every
	// network mode reach (linklocal.go).
	MetadataAddr string
	// TaskCleanupWait is how long stopped task containers are kept
	// (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION, default 3h).
	TaskCleanupWait time.Duration
	// StopTimeout is the default container stop timeout
	// (ECS_CONTAINER_STOP_TIMEOUT, default 30s).
	StopTimeout time.Duration
	// AwsvpcSubnet is the subnet of the Docker network awsvpc tasks get
	// their addresses on ("" lets Docker choose).
	AwsvpcSubnet string
	// Pool is the agent pool (BERTH_POOL), registered as the attribute
	// berth.pool: the capacity provider whose Auto Scaling group is named
	// Pool places tasks here.
	Pool string
	// LaunchType is the capacity this agent is (BERTH_LAUNCH_TYPE): EC2,
	// the default, EXTERNAL or FARGATE, registered as the attribute
	// berth.launch-type. FARGATE agents serve the FARGATE and FARGATE_SPOT
	// capacity providers.
	LaunchType string
	// TaskDNS are the DNS servers task containers get unless their
	// definition sets dnsServers (BERTH_TASK_DNS, comma-separated): berth's
	// DNS server (berth server --dns-listen IP:53) makes service discovery
	// names resolve inside tasks.
	TaskDNS []string
	// MaxConcurrentStarts bounds the container create and start calls the
	// agent has in flight at once (BERTH_MAX_CONCURRENT_STARTS; 8 when 0).
	MaxConcurrentStarts int
	// HostAddress is the address of this host that tasks and other hosts
	// reach (BERTH_HOST_ADDRESS), registered as the attribute
	// berth.host-address: bridge and host mode tasks of services with
	// serviceRegistries are registered in Cloud Map at it. When empty, the
	// gateway of Docker's default bridge, which both the host and
	// containers on bridge networks reach (published ports bind 0.0.0.0).
	HostAddress string
	// GPUs are the NVIDIA GPUs registered as the resource "GPU"
	// (BERTH_GPUS, --gpus): "auto" or empty, the ones nvidia-smi lists
	// (none when it is missing); "none"; or comma-separated ids, registered
	// as given. When set it wins over EnableGPUSupport.
	GPUs string
	// EnableGPUSupport is ECS_ENABLE_GPU_SUPPORT (nil when unset): false
	// registers no GPUs, true the ones nvidia-smi lists, which must be at
	// least one.
	EnableGPUSupport *bool
	// Heartbeat is the session heartbeat interval (10s when 0).
	Heartbeat time.Duration
	Version   string
}

// DefaultMaxConcurrentStarts is how many container create and start calls
// the agent sends the engine at once unless configured: bench/agent found
// Docker finishes a burst of launches soonest with a handful in flight.
const DefaultMaxConcurrentStarts = 8

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Cluster == "" {
		c.Cluster = "default"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.IntrospectionAddr == "" {
		c.IntrospectionAddr = "127.0.0.1:51678"
	}
	if c.TaskCleanupWait == 0 {
		c.TaskCleanupWait = 3 * time.Hour
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.MaxConcurrentStarts <= 0 {
		c.MaxConcurrentStarts = DefaultMaxConcurrentStarts
	}
	if c.InstanceType == "" {
		c.InstanceType = "berth.host"
	}
	if c.LaunchType == "" {
		c.LaunchType = "EC2"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// ApplyEnv reads the ECS agent's variables from env (os.Getenv shape) over c.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("ECS_CLUSTER", &c.Cluster)
	set("BERTH_SERVER", &c.ServerURL)
	set("AWS_DEFAULT_REGION", &c.Region)
	set("AWS_REGION", &c.Region)
	set("AWS_ACCESS_KEY_ID", &c.AccessKey)
	set("AWS_SECRET_ACCESS_KEY", &c.SecretKey)
	set("ECS_DATADIR", &c.DataDir)
	set("BERTH_INSTANCE_ID", &c.InstanceID)
	set("ECS_AVAILABILITY_ZONE", &c.AvailabilityZone)
	set("ECS_INSTANCE_TYPE", &c.InstanceType)
	set("BERTH_POOL", &c.Pool)
	if v := getenv("BERTH_TASK_DNS"); v != "" {
		c.TaskDNS = strings.Split(v, ",")
	}
	set("BERTH_LAUNCH_TYPE", &c.LaunchType)
	set("BERTH_HOST_ADDRESS", &c.HostAddress)
	if v := getenv("BERTH_GPUS"); v != "" {
		if _, err := planGPUs(v, nil); err != nil {
			return fmt.Errorf("BERTH_GPUS=%q: %w", v, err)
		}
		c.GPUs = v
	}
	if v := getenv("ECS_ENABLE_GPU_SUPPORT"); v != "" {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("ECS_ENABLE_GPU_SUPPORT=%q: want true or false", v)
		}
		c.EnableGPUSupport = &on
	}
	if v := getenv("BERTH_MAX_CONCURRENT_STARTS"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return fmt.Errorf("BERTH_MAX_CONCURRENT_STARTS=%q: want a number of calls, at least 1", v)
		}
		c.MaxConcurrentStarts = n
	}
	if v := getenv("ECS_RESERVED_MEMORY"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("ECS_RESERVED_MEMORY=%q: want a number of MiB", v)
		}
		c.ReservedMemory = n
	}
	for name, dst := range map[string]*[]uint16{"ECS_RESERVED_PORTS": &c.ReservedPorts, "ECS_RESERVED_PORTS_UDP": &c.ReservedPortsUDP} {
		if v := getenv(name); v != "" {
			ports, err := parsePortList(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*dst = ports
		}
	}
	if v := getenv("ECS_INSTANCE_ATTRIBUTES"); v != "" {
		attrs, err := parseAttributes(v)
		if err != nil {
			return fmt.Errorf("ECS_INSTANCE_ATTRIBUTES: %w", err)
		}
		c.Attributes = attrs
	}
	for name, dst := range map[string]*time.Duration{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": &c.TaskCleanupWait, "ECS_CONTAINER_STOP_TIMEOUT": &c.StopTimeout} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*dst = d
		}
	}
	return nil
}

// poolRE is what a container instance attribute value may hold.
var poolRE = regexp.MustCompile(`^[A-Za-z0-9_.@/\\: -]{1,128}$`)

// checkCapacity validates the pool and launch type (after Defaults).
func (c *Config) checkCapacity() error {
	if !slices.Contains(capacity.LaunchTypes, c.LaunchType) {
		return fmt.Errorf("launch type %q: want one of %s", c.LaunchType, strings.Join(capacity.LaunchTypes, ", "))
	}
	if c.Pool != "" && !poolRE.MatchString(c.Pool) {
		return fmt.Errorf("pool %q: want up to 128 letters, numbers and _ . @ / \\ : - or spaces", c.Pool)
	}
	return nil
}

// checkHostAddress validates the host address: an IPv4 address, as Cloud
// Map's AWS_INSTANCE_IPV4 must be.
func (c *Config) checkHostAddress() error {
	if c.HostAddress == "" {
		return nil
	}
	if a, err := netip.ParseAddr(c.HostAddress); err != nil || !a.Is4() {
		return fmt.Errorf("host address %q: want an IPv4 address", c.HostAddress)
	}
	return nil
}

// LoadFile reads an ecs.config-style file (KEY=VALUE lines, # comments)
// into a map usable as ApplyEnv's source.
func LoadFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("agent config %s:%d: want KEY=VALUE, got %q", path, n, line)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, sc.Err()
}

func parsePortList(s string) ([]uint16, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		f = strings.Trim(strings.TrimSpace(f), `"`)
		if f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q is not a number between 0 and 65535", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// parseAttributes reads {"name":"value",...} or name=value,name=value.
func parseAttributes(s string) (map[string]string, error) {
	out := map[string]string{}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		s = strings.Trim(s, "{}")
	}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		sep := "="
		if strings.Contains(kv, ":") && !strings.Contains(kv, "=") {
			sep = ":"
		}
		k, v, ok := strings.Cut(kv, sep)
		if !ok {
			return nil, errors.New("want a JSON object of names to values")
		}
		out[strings.Trim(strings.TrimSpace(k), `"`)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, nil
}
