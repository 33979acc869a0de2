package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/sigv4"
)

// agentFlags registers the agent's flags on fs over cfg.
func agentFlags(fs *flag.FlagSet, cfg *agent.Config) {
	fs.StringVar(&cfg.Cluster, "cluster", cfg.Cluster, "cluster `NAME` to join (ECS_CLUSTER)")
	fs.StringVar(&cfg.InstanceID, "instance-id", cfg.InstanceID, "ec2InstanceId-style `ID` of this host (generated once and kept when empty)")
	fs.StringVar(&cfg.AvailabilityZone, "availability-zone", cfg.AvailabilityZone, "`ZONE` reported as the ecs.availability-zone attribute")
	fs.StringVar(&cfg.InstanceType, "instance-type", cfg.InstanceType, "`TYPE` reported as the ecs.instance-type attribute")
	fs.StringVar(&cfg.IntrospectionAddr, "introspection-addr", cfg.IntrospectionAddr, "`HOST:PORT` of the introspection API")
	fs.StringVar(&cfg.MetadataAddr, "metadata-addr", cfg.MetadataAddr, "`HOST:PORT` of the task metadata endpoint (default: 169.254.170.2, port 80, as in ECS when run as root on Linux; else the Docker bridge gateway, any port)")
	fs.StringVar(&cfg.AwsvpcSubnet, "awsvpc-subnet", cfg.AwsvpcSubnet, "`CIDR` of the network awsvpc tasks get addresses on (default: Docker chooses)")
	fs.DurationVar(&cfg.TaskCleanupWait, "task-cleanup-wait", cfg.TaskCleanupWait, "how long stopped task containers are kept")
	fs.StringVar(&cfg.Pool, "pool", cfg.Pool, "agent pool `NAME`, registered as the berth.pool attribute: the capacity provider whose Auto Scaling group is named NAME places tasks here (BERTH_POOL)")
	fs.Func("task-dns", "`IP`s (comma-separated) task containers use as DNS servers unless their definition sets dnsServers, e.g. berth's DNS server (server --dns-listen IP:53) so service discovery names resolve in tasks (BERTH_TASK_DNS)", func(v string) error {
		cfg.TaskDNS = strings.Split(v, ",")
		return nil
	})
	fs.StringVar(&cfg.HostAddress, "host-address", cfg.HostAddress, "IPv4 `IP` of this host that tasks and other hosts reach, registered as the berth.host-address attribute: bridge and host mode tasks of services with serviceRegistries are registered in Cloud Map (SRV) at it with their host ports (BERTH_HOST_ADDRESS; default: the Docker bridge gateway)")
	fs.StringVar(&cfg.GPUs, "gpus", cfg.GPUs, "NVIDIA GPUs registered as the GPU resource tasks' resourceRequirements reserve: auto (the ones nvidia-smi lists, if any), none, or comma-separated `IDS` registered as given (BERTH_GPUS; ECS_ENABLE_GPU_SUPPORT=true|false when unset; default auto)")
	fs.IntVar(&cfg.MaxConcurrentStarts, "max-concurrent-starts", cfg.MaxConcurrentStarts, "container create and start `CALLS` the agent sends Docker at once; a burst of tasks finishes sooner than with every call at once (BERTH_MAX_CONCURRENT_STARTS; default 8)")
	fs.StringVar(&cfg.LaunchType, "launch-type", cfg.LaunchType, "`TYPE` of capacity this agent is: EC2, EXTERNAL or FARGATE (serves the FARGATE and FARGATE_SPOT capacity providers), registered as berth.launch-type (BERTH_LAUNCH_TYPE; default EC2)")
}

func runAgent(ctx context.Context, args []string, log *slog.Logger) error {
	cfg := agent.Config{Version: version}
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return err
	}
	fs := flag.NewFlagSet("berth agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.ServerURL, "server", cfg.ServerURL, "`URL` of the berth server (BERTH_SERVER)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "`DIR` for the agent's state (ECS_DATADIR)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region `NAME` to sign requests for")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "control session heartbeat interval")
	configFile := fs.String("config", "", "ecs.config-style `FILE` of KEY=VALUE settings (ECS_CLUSTER, ECS_RESERVED_MEMORY, ...)")
	credFile := fs.String("credentials", "", "AWS shared-credentials `FILE` whose first key signs the agent's requests (default: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	agentFlags(fs, &cfg)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		vals, err := agent.LoadFile(*configFile)
		if err != nil {
			return err
		}
		// The file sets what flags and the environment left unset.
		file := agent.Config{}
		if err := file.ApplyEnv(func(k string) string { return vals[k] }); err != nil {
			return fmt.Errorf("%s: %w", *configFile, err)
		}
		mergeUnset(&cfg, file)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(defaultDataDir(), "agent")
	}
	if err := agentCredentials(&cfg, *credFile); err != nil {
		return err
	}
	return agent.Run(ctx, cfg, log)
}

// mergeUnset copies into cfg the fields a config file set that flags and
// the environment did not.
func mergeUnset(cfg *agent.Config, file agent.Config) {
	setS := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	setS(&cfg.Cluster, file.Cluster)
	setS(&cfg.ServerURL, file.ServerURL)
	setS(&cfg.DataDir, file.DataDir)
	setS(&cfg.AccessKey, file.AccessKey)
	setS(&cfg.SecretKey, file.SecretKey)
	setS(&cfg.InstanceID, file.InstanceID)
	setS(&cfg.AvailabilityZone, file.AvailabilityZone)
	setS(&cfg.InstanceType, file.InstanceType)
	setS(&cfg.Pool, file.Pool)
	setS(&cfg.LaunchType, file.LaunchType)
	setS(&cfg.HostAddress, file.HostAddress)
	setS(&cfg.GPUs, file.GPUs)
	if cfg.EnableGPUSupport == nil {
		cfg.EnableGPUSupport = file.EnableGPUSupport
	}
	if cfg.TaskDNS == nil {
		cfg.TaskDNS = file.TaskDNS
	}
	if cfg.ReservedMemory == 0 {
		cfg.ReservedMemory = file.ReservedMemory
	}
	if cfg.ReservedPorts == nil {
		cfg.ReservedPorts = file.ReservedPorts
	}
	if cfg.ReservedPortsUDP == nil {
		cfg.ReservedPortsUDP = file.ReservedPortsUDP
	}
	if cfg.Attributes == nil {
		cfg.Attributes = file.Attributes
	}
	if cfg.TaskCleanupWait == 0 {
		cfg.TaskCleanupWait = file.TaskCleanupWait
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = file.StopTimeout
	}
}

func agentCredentials(cfg *agent.Config, file string) error {
	if file != "" {
		creds, err := sigv4.LoadCredentialsFile(file)
		if err != nil {
			return err
		}
		for k, s := range creds {
			cfg.AccessKey, cfg.SecretKey = k, s
			break
		}
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return errors.New("the agent has no credentials to sign its requests: pass --credentials FILE or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	return nil
}

var errHelp = errors.New("help requested")

// upAgent runs the agent of `berth up` against the server at addr.
func upAgent(ctx context.Context, cfg agent.Config, addr string, creds map[string]string, dataDir string, log *slog.Logger) error {
	cfg.ServerURL = "http://" + addr
	cfg.DataDir = filepath.Join(dataDir, "agent")
	cfg.Version = version
	cfg.AccessKey, cfg.SecretKey = "berth-up", "berth-up"
	for k, s := range creds {
		cfg.AccessKey, cfg.SecretKey = k, s
		break
	}
	start := time.Now()
	err := agent.Run(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("agent (after %s): %w", time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}
