// Package server wires the berth control plane: it opens the store, builds
// the API services, authenticates requests with SigV4 and serves them over
// HTTP until its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/awsquery"
	"github.com/berth-dev/berth/internal/cloudmap"
	"github.com/berth-dev/berth/internal/dnsserver"
	"github.com/berth-dev/berth/internal/elb"
	"github.com/berth-dev/berth/internal/lb"
	"github.com/berth-dev/berth/internal/servicectl"
	"github.com/berth-dev/berth/internal/session"
	"github.com/berth-dev/berth/internal/sigv4"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

// Config configures a control plane.
type Config struct {
	Listen    string // host:port of the API endpoint
	DataDir   string // holds berth.db
	AccountID string
	Region    string
	// Credentials maps access key ids to secrets. Requests signed with any
	// other key are refused unless Relaxed.
	Credentials map[string]string
	// Relaxed accepts any well-formed signature without checking it. Only
	// `berth up` bound to loopback sets it.
	Relaxed bool
	Log     *slog.Logger
	// Ready, when set, is called with the bound address once the server
	// accepts connections.
	Ready func(addr string)
	// Heartbeat is the agent session heartbeat interval (10 s when 0).
	Heartbeat time.Duration
	// Controller tunes the service controller.
	Controller api.ControllerConfig
	// StoppedTaskRetention is how long STOPPED tasks stay describable
	// (api.DefaultStoppedTaskRetention when 0).
	StoppedTaskRetention time.Duration
	// DNSListen, when set, is the host:port of the built-in DNS server
	// that answers Cloud Map names (UDP and TCP).
	DNSListen string
	// LBAddress is the address load balancer listeners open their ports
	// on (the host of Listen when empty).
	LBAddress string
	// LBCertificates is the directory of HTTPS and TLS listeners'
	// certificates (<certificate id>.pem); see lbcerts.go.
	LBCertificates string
}

// Run serves the API until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if !cfg.Relaxed && len(cfg.Credentials) == 0 {
		return errors.New("no API credentials configured: pass --credentials FILE (AWS shared-credentials format) so clients can sign requests")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "berth.db"), boltstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	ecs := api.New(st, api.Config{Region: cfg.Region, AccountID: cfg.AccountID, Log: log})
	verifier := &sigv4.Verifier{Lookup: lookup(cfg.Credentials), Relaxed: cfg.Relaxed}
	mux := http.NewServeMux()
	mux.Handle(agentproto.SessionPath, &session.Server{
		Backend:     ecs,
		Store:       st,
		Decode:      api.Manifest,
		TasksPrefix: api.TasksPrefix,
		Authenticate: func(r *http.Request) error {
			_, err := verifier.Verify(r, nil)
			return err
		},
		Permanent: api.PermanentStateError,
		Log:       log,
		Heartbeat: cfg.Heartbeat,
	})
	// AWS Query requests (form-encoded, with an Action: ELBv2) and AWS JSON
	// requests (X-Amz-Target: ECS) share the endpoint.
	elbv2 := elb.New(st, elb.Config{Region: cfg.Region, AccountID: cfg.AccountID})
	cm := cloudmap.New(st, cloudmap.Config{Region: cfg.Region, AccountID: cfg.AccountID})
	ecs.SetServiceRegistry(cm)
	ecs.SetLoadBalancers(elbv2.ServiceTargets())
	mux.Handle("/", awsquery.Route(&awsquery.Server{
		Services: []awsquery.Service{elbv2.Service()},
		Auth:     &authenticator{v: verifier},
		Log:      log,
	}, &awsjson.Server{
		Services: []awsjson.Service{ecs.Service(), cm.Service()},
		Auth:     &authenticator{v: verifier},
		Log:      log,
	}))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	ecs.SetEndpoint("http://" + ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ctl := &servicectl.Controller{
		Store: st,
		Rec: servicectl.ReconcilerFunc(func(ctx context.Context, cluster string) (time.Duration, error) {
			return ecs.ReconcileCluster(ctx, cluster, cfg.Controller)
		}),
		Log: log,
	}
	ctlCtx, stopCtl := context.WithCancel(ctx)
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		if err := ctl.Run(ctlCtx); err != nil {
			log.Error("service controller stopped", "err", err)
		}
	}()
	defer func() { stopCtl(); <-ctlDone }()
	go pruneStoppedTasks(ctlCtx, ecs, cfg.StoppedTaskRetention, log)
	lbHost := cfg.LBAddress
	if lbHost == "" {
		lbHost, _, _ = net.SplitHostPort(cfg.Listen)
	}
	lbs := &lbSync{elb: elbv2, st: st, log: log, host: lbHost, instHost: "127.0.0.1", certs: lbCerts{dir: cfg.LBCertificates}}
	lbs.plane = lb.New(log, lbs)
	lbDone := make(chan struct{})
	go func() { defer close(lbDone); lbs.run(ctlCtx) }()
	defer func() { stopCtl(); <-lbDone; _ = lbs.plane.Close() }()
	if cfg.DNSListen != "" {
		cache := newDNSCache(cm)
		go cache.enable(ctlCtx, st, log)
		dnsSrv := &dnsserver.Server{Addr: cfg.DNSListen, Lookup: cache.lookup, Upstreams: dnsserver.HostUpstreams("/etc/resolv.conf"), Log: log}
		dnsDone := make(chan struct{})
		go func() {
			defer close(dnsDone)
			if err := dnsSrv.Run(ctlCtx, func(addr string) { log.Info("berth DNS listening", "addr", addr) }); err != nil {
				log.Error("DNS server stopped: service discovery names will not resolve", "addr", cfg.DNSListen, "err", err)
			}
		}()
		defer func() { stopCtl(); <-dnsDone }()
	}
	log.Info("berth API listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir, "region", cfg.Region, "account", cfg.AccountID)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func lookup(creds map[string]string) func(string) (string, bool) {
	return func(id string) (string, bool) {
		s, ok := creds[id]
		return s, ok
	}
}

// authenticator adapts the SigV4 verifier to awsjson, turning its errors
// into wire errors.
type authenticator struct{ v *sigv4.Verifier }

func (a *authenticator) Authenticate(r *http.Request, body []byte) (awsjson.Caller, error) {
	id, err := a.v.Verify(r, body)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return awsjson.Caller{}, &awsjson.Error{Code: se.Code, Message: se.Message, Status: authStatus(se.Code)}
		}
		return awsjson.Caller{}, err
	}
	return awsjson.Caller{AccessKeyID: id.AccessKeyID, Region: id.Region, Service: id.Service}, nil
}

// authStatus is the HTTP status AWS sends with each authentication error.
func authStatus(code string) int {
	switch code {
	case "IncompleteSignatureException":
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// pruneStoppedTasks deletes STOPPED tasks past their retention once a
// minute, as ECS stops showing them.
func pruneStoppedTasks(ctx context.Context, ecs *api.ECS, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		retention = api.DefaultStoppedTaskRetention
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := ecs.PruneStoppedTasks(ctx, retention); err != nil && ctx.Err() == nil {
				log.Warn("pruning stopped tasks failed; retrying in a minute", "err", err)
			} else if n > 0 {
				log.Debug("pruned stopped tasks", "count", n)
			}
		}
	}
}
