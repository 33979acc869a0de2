package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/capacity"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/docker"
	"github.com/berth-dev/berth/internal/sdkclient"
)

// Agent is one running agent.
type Agent struct {
	cfg         Config
	log         *slog.Logger
	rt          runtime.Runtime
	cp          *checkpoint
	client      *ecs.Client
	engine      *engine
	ec2ID       string
	instanceARN string
	host        runtime.HostInfo
	gpus        []string // the GPU ids registered (gpu.go)
}

// HostAddressAttribute is the container instance attribute holding
// Config.HostAddress (api.HostAddressAttribute reads it).
const HostAddressAttribute = "berth.host-address"

// reservedPorts are the TCP ports ECS reserves on every instance.
var reservedPorts = []uint16{22, 2375, 2376, 51678, 51679}

// Run runs an agent until ctx ends. Running task containers are left
// running when it returns; the next start adopts them.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	cfg.Defaults()
	if err := cfg.checkCapacity(); err != nil {
		return err
	}
	if err := cfg.checkHostAddress(); err != nil {
		return err
	}
	gpus, err := planGPUs(cfg.GPUs, cfg.EnableGPUSupport)
	if err != nil {
		return fmt.Errorf("--gpus %q: %w", cfg.GPUs, err)
	}
	if cfg.ServerURL == "" {
		return errors.New("no server: pass --server URL (the berth server's endpoint, e.g. http://10.0.0.5:7300)")
	}
	if cfg.DataDir == "" {
		return errors.New("no data dir: pass --data-dir DIR")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create agent data dir: %w", err)
	}
	cp, err := openCheckpoint(filepath.Join(cfg.DataDir, "agent.db"))
	if err != nil {
		return err
	}
	defer cp.Close()
	rt, err := docker.New(ctx)
	if err != nil {
		return err
	}
	a := &Agent{cfg: cfg, log: log.With("component", "agent"), rt: rt, cp: cp}
	a.client = sdkclient.ECS(&http.Client{Timeout: 30 * time.Second}, cfg.ServerURL, cfg.Region, cfg.AccessKey, cfg.SecretKey)
	if a.host, err = rt.Info(ctx); err != nil {
		return err
	}
	if a.cfg.HostAddress == "" {
		a.cfg.HostAddress = a.host.BridgeGateway
	}
	if a.cfg.HostAddress == "" {
		a.log.Warn("this host's address is unknown (Docker reports no default bridge gateway): bridge and host mode service tasks here will not be registered in Cloud Map; pass --host-address IP")
	}
	if err := a.identity(); err != nil {
		return err
	}
	if a.gpus, err = findGPUs(ctx, gpus, detectGPUs, a.log); err != nil {
		return err
	}
	if len(a.gpus) > 0 {
		a.log.Info("registering GPUs", "gpus", a.gpus)
	}
	if err := a.registerWithRetry(ctx); err != nil {
		return err
	}
	endpoints, metaBase, err := a.listenEndpoints(ctx)
	if err != nil {
		return err
	}
	out := newOutbox()
	a.engine = &engine{rt: rt, cp: cp, cfg: &a.cfg, log: a.log, instanceID: a.ec2ID, cluster: cfg.Cluster, metadataBase: metaBase, report: out.put}
	if err := a.engine.start(ctx); err != nil {
		return err
	}
	srvDone := a.serveEndpoints(ctx, endpoints)
	sc := &sessionClient{a: a, out: out}
	sc.run(ctx)
	a.engine.wait()
	<-srvDone
	return nil
}

// identity loads or creates the ec2InstanceId-style id and the instance
// ARN kept from an earlier registration.
func (a *Agent) identity() error {
	a.ec2ID = a.cfg.InstanceID
	if a.ec2ID == "" {
		a.ec2ID = a.cp.meta("ec2InstanceId")
	}
	if a.ec2ID == "" {
		a.ec2ID = "i-" + newHex(17)
	}
	if err := a.cp.setMeta("ec2InstanceId", a.ec2ID); err != nil {
		return err
	}
	if a.cp.meta("cluster") == a.cfg.Cluster {
		a.instanceARN = a.cp.meta("containerInstanceArn")
	}
	return nil
}

func (a *Agent) registerWithRetry(ctx context.Context) error {
	b := newBackoff(250*time.Millisecond, 10*time.Second)
	for attempt := 1; ; attempt++ {
		err := a.register(ctx)
		if err == nil {
			return nil
		}
		var apiErr interface{ ErrorCode() string }
		if errors.As(err, &apiErr) && apiErr.ErrorCode() != "ServerException" {
			return fmt.Errorf("register container instance: %w", err)
		}
		a.log.Warn("server not reachable; retrying registration", "server", a.cfg.ServerURL, "attempt", attempt, "err", err)
		b.wait(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// register registers (or re-registers) this host as a container instance.
func (a *Agent) register(ctx context.Context) error {
	in := a.registration()
	out, err := a.client.RegisterContainerInstance(ctx, in)
	if err != nil && in.ContainerInstanceArn != nil {
		// The server may have lost or retired the old record: register anew.
		a.log.Warn("re-registration refused; registering a new container instance", "err", err)
		in.ContainerInstanceArn = nil
		out, err = a.client.RegisterContainerInstance(ctx, in)
	}
	if err != nil {
		return err
	}
	a.instanceARN = aws.ToString(out.ContainerInstance.ContainerInstanceArn)
	if err := a.cp.setMeta("cluster", a.cfg.Cluster); err != nil {
		return err
	}
	if err := a.cp.setMeta("containerInstanceArn", a.instanceARN); err != nil {
		return err
	}
	a.log.Info("registered container instance", "cluster", a.cfg.Cluster, "arn", a.instanceARN, "ec2InstanceId", a.ec2ID)
	return nil
}

func (a *Agent) registration() *ecs.RegisterContainerInstanceInput {
	cpu := int32(a.host.NCPU * 1024)
	mem := int32(a.host.MemTotal/(1<<20) - a.cfg.ReservedMemory)
	ports := func(extra []uint16, base []uint16) []string {
		all := slices.Clone(base)
		for _, p := range extra {
			if !slices.Contains(all, p) {
				all = append(all, p)
			}
		}
		out := []string{}
		for _, p := range all {
			out = append(out, strconv.Itoa(int(p)))
		}
		return out
	}
	iid, _ := json.Marshal(map[string]string{
		"instanceId": a.ec2ID, "region": a.cfg.Region, "availabilityZone": a.cfg.AvailabilityZone,
		"instanceType": a.cfg.InstanceType, "architecture": a.arch(),
	})
	in := &ecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String(a.cfg.Cluster),
		InstanceIdentityDocument: aws.String(string(iid)),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: cpu},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: mem},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: ports(a.cfg.ReservedPorts, reservedPorts)},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: ports(a.cfg.ReservedPortsUDP, nil)},
		},
		VersionInfo: &types.VersionInfo{
			AgentVersion:  aws.String(a.cfg.Version),
			AgentHash:     aws.String("berth"),
			DockerVersion: aws.String("DockerVersion: " + a.host.ServerVersion),
		},
		Attributes: a.attributes(),
	}
	if len(a.gpus) > 0 {
		in.TotalResources = append(in.TotalResources, types.Resource{Name: aws.String(gpuResourceName), Type: aws.String("STRINGSET"), StringSetValue: slices.Clone(a.gpus)})
		for _, id := range a.gpus {
			in.PlatformDevices = append(in.PlatformDevices, types.PlatformDevice{Id: aws.String(id), Type: types.PlatformDeviceTypeGpu})
		}
	}
	if a.instanceARN != "" {
		in.ContainerInstanceArn = aws.String(a.instanceARN)
	}
	return in
}

func (a *Agent) arch() string {
	if a.host.Architecture == "aarch64" || a.host.Architecture == "arm64" {
		return "arm64"
	}
	return "x86_64"
}

// capabilities are the ECS capability attributes for what this agent does.
var capabilities = []string{
	"com.amazonaws.ecs.capability.privileged-container",
	"com.amazonaws.ecs.capability.docker-remote-api.1.17",
	"com.amazonaws.ecs.capability.docker-remote-api.1.18",
	"com.amazonaws.ecs.capability.docker-remote-api.1.19",
	"com.amazonaws.ecs.capability.docker-remote-api.1.21",
	"com.amazonaws.ecs.capability.docker-remote-api.1.22",
	"com.amazonaws.ecs.capability.docker-remote-api.1.24",
	"com.amazonaws.ecs.capability.docker-remote-api.1.25",
	"com.amazonaws.ecs.capability.docker-remote-api.1.29",
	"com.amazonaws.ecs.capability.docker-remote-api.1.32",
	"com.amazonaws.ecs.capability.docker-remote-api.1.41",
	"com.amazonaws.ecs.capability.logging-driver.json-file",
	"com.amazonaws.ecs.capability.logging-driver.syslog",
	"com.amazonaws.ecs.capability.logging-driver.journald",
	"com.amazonaws.ecs.capability.logging-driver.gelf",
	"com.amazonaws.ecs.capability.logging-driver.fluentd",
	"com.amazonaws.ecs.capability.logging-driver.none",
	// awslogs is accepted (logs stay in Docker until awslogs support lands,
	// with a warning), so task definitions written for ECS still place.
	"com.amazonaws.ecs.capability.logging-driver.awslogs",
	"ecs.capability.execution-role-awslogs",
	"ecs.capability.task-eni",
	"ecs.capability.container-health-check",
	"ecs.capability.container-ordering",
	"ecs.capability.docker-plugin.local",
	"ecs.capability.env-files.host",
	"ecs.capability.increased-task-cpu-limit",
	"ecs.capability.pid-ipc-namespace-sharing",
	"ecs.capability.private-registry-authentication",
	"ecs.capability.task-cpu-mem-limit",
	"ecs.capability.container-restart-policy",
}

func (a *Agent) attributes() []types.Attribute {
	attr := func(name, value string) types.Attribute {
		t := types.Attribute{Name: aws.String(name)}
		if value != "" {
			t.Value = aws.String(value)
		}
		return t
	}
	out := []types.Attribute{
		attr("ecs.os-type", "linux"),
		attr("ecs.os-family", "LINUX"),
		attr("ecs.cpu-architecture", a.arch()),
		attr("ecs.instance-type", a.cfg.InstanceType),
	}
	if a.cfg.AvailabilityZone != "" {
		out = append(out, attr("ecs.availability-zone", a.cfg.AvailabilityZone))
	}
	// The capacity providers' view of this agent (capacity.PoolAttribute).
	out = append(out, attr(capacity.LaunchTypeAttribute, a.cfg.LaunchType))
	if a.cfg.Pool != "" {
		out = append(out, attr(capacity.PoolAttribute, a.cfg.Pool))
	}
	// Where Cloud Map registers this host's bridge and host mode tasks.
	if a.cfg.HostAddress != "" {
		out = append(out, attr(HostAddressAttribute, a.cfg.HostAddress))
	}
	for _, c := range capabilities {
		out = append(out, attr(c, ""))
	}
	names := make([]string, 0, len(a.cfg.Attributes))
	for k := range a.cfg.Attributes {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		out = append(out, attr(k, a.cfg.Attributes[k]))
	}
	return out
}

// listenEndpoints opens the introspection and metadata listeners and
// returns the metadata endpoint's base URL for containers. The metadata
// endpoint listens where planMetadata says (linklocal.go): 169.254.170.2 as
// in ECS when the agent can serve there, else the default bridge's gateway,
// unless configured.
func (a *Agent) listenEndpoints(ctx context.Context) (endpointListeners, string, error) {
	var l endpointListeners
	var err error
	if l.introspection, err = net.Listen("tcp", a.cfg.IntrospectionAddr); err != nil {
		// Another agent on this host holds the port: serve on any port
		// rather than not at all, and say where.
		if l.introspection, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return l, "", fmt.Errorf("introspection endpoint: %w", err)
		}
		a.log.Warn("introspection address busy; serving elsewhere (set --introspection-addr)", "wanted", a.cfg.IntrospectionAddr, "addr", l.introspection.Addr().String())
	}
	f := metadataFacts{Configured: a.cfg.MetadataAddr, OS: goruntime.GOOS, Root: os.Geteuid() == 0, Gateway: a.host.BridgeGateway}
	var own net.Listener // linkLocalIP:linkLocalPort, when this agent holds it
	if f.tryLinkLocal() {
		if f.AddrErr = addLinkLocalAddress(); f.AddrErr == nil {
			if own, f.PortErr = net.Listen("tcp", net.JoinHostPort(linkLocalIP, strconv.Itoa(linkLocalPort))); f.PortErr == nil {
				f.RedirectErr = ensureMetadataRedirect(ctx)
			}
		}
	}
	p := planMetadata(f)
	if own != nil && own.Addr().String() == p.Listen {
		l.metadata = own
	} else {
		if own != nil {
			own.Close()
		}
		if l.metadata, err = net.Listen("tcp", p.Listen); err != nil {
			l.introspection.Close()
			return l, "", fmt.Errorf("task metadata endpoint on %s: %w", p.Listen, err)
		}
	}
	base := p.Base
	if base == "" {
		base = "http://" + l.metadata.Addr().String()
	}
	if p.Note != "" {
		a.log.Log(ctx, p.Level, p.Note, "url", base, "listen", l.metadata.Addr().String())
	}
	return l, base, nil
}

type endpointListeners struct {
	introspection net.Listener
	metadata      net.Listener
}

// serveEndpoints serves the introspection and metadata APIs until ctx ends.
func (a *Agent) serveEndpoints(ctx context.Context, l endpointListeners) <-chan struct{} {
	done := make(chan struct{})
	intro := &http.Server{Handler: a.introspectionHandler(), ReadHeaderTimeout: 5 * time.Second}
	meta := &http.Server{Handler: a.metadataHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = intro.Serve(l.introspection) }()
	go func() { _ = meta.Serve(l.metadata) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = intro.Shutdown(sctx)
		_ = meta.Shutdown(sctx)
		close(done)
	}()
	return done
}
