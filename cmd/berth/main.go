// Command berth is a self-hosted, ECS-compatible container orchestrator.
//
//	berth server   the control plane: the ECS API, the store, the controllers
//	berth agent    the per-host agent that runs tasks on Docker
//	berth up       server and agent in one process on the local Docker
//	berth version  print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/sigv4"
)

// defaultGCPercent replaces Go's default of 100 for the server (and up)
// unless GOGC is set; the agent keeps 100, where memory matters more than
// the API's latency tail (bench/agent: 37 MiB at 100 tasks vs 28). berth's
// live heap is small (records live in the store's mmap, not the heap), so at
// 100 the collector runs many times a second under API load and its pauses
// and stolen CPU are the latency tail; at 400 the heap stays in the tens of
// MiB and the p99 of a read call at one client drops by half (bench/api).
const defaultGCPercent = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `berth: a self-hosted, ECS-compatible container orchestrator.

Usage:
  berth server [flags]   run the control plane (ECS API with SigV4, durable store)
  berth up [flags]       run berth on this machine in one process (quick start)
  berth agent [flags]    run the host agent: join a cluster, run its tasks on Docker
  berth version          print the version

Run 'berth <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)

	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "server":
		tuneGC()
		err = runServer(ctx, args, log, false)
	case "up":
		tuneGC()
		err = runServer(ctx, args, log, true)
	case "agent":
		err = runAgent(ctx, args, log)
	case "version", "--version", "-version":
		fmt.Println("berth", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, errHelp) {
		err = nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
}

// Defaults documented in the README.
const (
	defaultListen  = "127.0.0.1:7300"
	defaultAccount = "000000000000"
	defaultRegion  = "us-east-1"
)

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "berth")
	}
	return "berth-data"
}

func runServer(ctx context.Context, args []string, log *slog.Logger, up bool) error {
	name := "server"
	if up {
		name = "up"
	}
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", defaultListen, "`HOST:PORT` of the API endpoint")
	dataDir := fs.String("data-dir", defaultDataDir(), "`DIR` for the durable state")
	account := fs.String("account-id", defaultAccount, "account `ID` in ARNs")
	region := fs.String("region", defaultRegion, "region `NAME` in ARNs")
	credFile := fs.String("credentials", os.Getenv("BERTH_CREDENTIALS"), "AWS shared-credentials `FILE` whose keys may sign requests")
	heartbeat := fs.Duration("agent-heartbeat", 0, "agent session heartbeat interval (default 10s)")
	healthyAfter := fs.Duration("service-healthy-after", api.DefaultHealthyAfter, "how long a service task without a health check runs before it counts as healthy (ECS: 40s)")
	lostAfter := fs.Duration("service-lost-host-grace", api.DefaultLostAfter, "how long an instance's agent may stay disconnected before its service tasks are replaced elsewhere")
	throttleBase := fs.Duration("service-throttle-base", api.DefaultThrottleBase, "first hold on launches after three service tasks in a row failed to start (doubles with each further failure)")
	lbAddress := fs.String("lb-address", "", "`HOST` load balancer listeners open their ports on (default: the host of --listen)")
	lbCerts := fs.String("lb-certificates", "", "`DIR` of HTTPS/TLS listener certificates: <certificate id>.pem with the chain and key (default: self-signed)")
	dnsHelp := "`HOST:PORT` of the built-in DNS server for Cloud Map names (off when empty)"
	if up {
		dnsHelp = "`HOST:PORT` of the built-in DNS server for Cloud Map names (default: port 53 of the Docker bridge gateway, which tasks then use as their DNS server unless --task-dns is given; empty: off)"
	}
	dnsListen := fs.String("dns-listen", "", dnsHelp)
	retention := fs.Duration("stopped-task-retention", api.DefaultStoppedTaskRetention, "how long STOPPED tasks stay describable before their records are deleted")
	throttleMax := fs.Duration("service-throttle-max", api.DefaultThrottleMax, "longest hold on launches of a failing service")
	var agentCfg agent.Config
	if up {
		agentFlags(fs, &agentCfg)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := server.Config{Listen: *listen, DataDir: *dataDir, AccountID: *account, Region: *region, Log: log, Heartbeat: *heartbeat,
		Controller:           api.ControllerConfig{HealthyAfter: *healthyAfter, LostAfter: *lostAfter, ThrottleBase: *throttleBase, ThrottleMax: *throttleMax},
		StoppedTaskRetention: *retention,
		DNSListen:            *dnsListen,
		LBAddress:            *lbAddress,
		LBCertificates:       *lbCerts}
	if *credFile != "" {
		creds, err := sigv4.LoadCredentialsFile(*credFile)
		if err != nil {
			return err
		}
		cfg.Credentials = creds
	}
	if up && len(cfg.Credentials) == 0 {
		if !isLoopback(*listen) {
			return fmt.Errorf("berth up on %s (not loopback) needs --credentials FILE: requests from other hosts must be signed with known keys", *listen)
		}
		cfg.Relaxed = true
		log.Warn("SIGNATURE CHECKS RELAXED: berth up on loopback accepts any well-formed SigV4 signature from any access key. Pass --credentials FILE to verify signatures.")
	}
	if !up {
		cfg.Ready = func(addr string) {
			fmt.Fprintf(os.Stderr, "\nberth is ready. Point the AWS CLI at it:\n  aws ecs list-clusters --endpoint-url http://%s --region %s\n\n", addr, *region)
		}
		return server.Run(ctx, cfg)
	}
	// berth up: the server, with DNS for its tasks, then an agent on the
	// local Docker joining the default cluster through it.
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	cfg.DNSListen = upDNS(ctx, log, *dnsListen, explicit["dns-listen"], explicit["task-dns"], &agentCfg)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	agentDone := make(chan error, 1)
	agentCfg.Region = *region
	agentCfg.Heartbeat = *heartbeat
	cfg.Ready = func(addr string) {
		fmt.Fprintf(os.Stderr, "berth: API listening on http://%s; starting the agent on the local Docker...\n", addr)
		go func() {
			err := upAgent(ctx, agentCfg, addr, cfg.Credentials, *dataDir, log)
			if err != nil {
				cancel(err)
			}
			agentDone <- err
		}()
	}
	err := server.Run(ctx, cfg)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if err != nil {
		return err
	}
	return nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
