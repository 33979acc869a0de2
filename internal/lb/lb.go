// Package lb is the data plane of berth's built-in load balancer: it opens
// the listeners of the ELBv2 configuration, routes HTTP requests by listener
// rules, proxies TCP connections, health-checks targets and drains
// deregistered ones. It knows nothing of the ELBv2 API; the control plane
// hands it a Config and the target groups through Apply, and learns target
// health back through a Reporter.
package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config is the data plane's view of every listener of every load balancer.
type Config struct {
	Listeners []Listener
}

// Listener is one socket to open.
type Listener struct {
	Key      string // unique, stable across Apply calls
	Protocol string // HTTP or TCP
	Addr     string // host:port to open; port 0 picks one (see Plane.Addr)
	Default  Action
	Rules    []Rule // in priority order; HTTP only
	// TLS, when set, terminates TLS on the socket: HTTP becomes HTTPS (an
	// ALB's HTTPS listener), TCP becomes TLS (an NLB's TLS listener).
	// TLSKey identifies the certificates: a listener whose TLSKey changes
	// is opened again.
	TLS    *tls.Config
	TLSKey string
}

// Rule routes the requests matching all of its conditions. An empty
// condition list matches everything; values within one list are ORed.
type Rule struct {
	PathPatterns []string // case-sensitive, * and ? wildcards, matched against the path
	HostHeaders  []string // case-insensitive, * and ? wildcards, port ignored
	Action       Action
}

// Action forwards to a target group (by key), to one of several drawn by
// weight for each request (Weighted), or answers with Fixed.
type Action struct {
	TargetGroup string
	Weighted    []WeightedGroup
	Fixed       *FixedResponse
}

// WeightedGroup is one target group of a weighted forward action.
type WeightedGroup struct {
	TargetGroup string
	Weight      int // 0–999, as ELB allows
}

// FixedResponse is a fixed-response action.
type FixedResponse struct {
	StatusCode  int
	ContentType string
	Body        string
}

// TargetGroup is a group with its registered targets.
type TargetGroup struct {
	Key                 string
	Protocol            string // HTTP, HTTPS or TCP
	HealthCheck         HealthCheck
	DeregistrationDelay time.Duration
	Targets             []Target
}

// HealthCheck is a target group's health check settings. Zero values take
// ELB's defaults (path /, traffic port, interval 30s, timeout 5s,
// thresholds 5 and 2, matcher 200).
type HealthCheck struct {
	Enabled                              bool
	Protocol                             string // HTTP, HTTPS or TCP; empty: the group's protocol
	Path                                 string
	Port                                 string // "traffic-port" or a number
	Interval, Timeout                    time.Duration
	HealthyThreshold, UnhealthyThreshold int
	Matcher                              string // "200", "200-299", "200,302"
}

// Target is one registered target. A target is identified by ID and Addr
// together: the same ID on another port is another target.
type Target struct {
	ID   string
	Addr string // ip:port to dial
}

// Reporter receives every change of a target's health state. It is called
// synchronously from the plane's goroutines and must not call back into the
// Plane.
type Reporter interface {
	Report(tgKey string, t Target, state, reason, description string)
}

// Target health states and reasons, as ELB words them.
const (
	StateInitial     = "initial"
	StateHealthy     = "healthy"
	StateUnhealthy   = "unhealthy"
	StateDraining    = "draining"
	StateUnavailable = "unavailable"
	// StateUnused is reported once when a draining target's deregistration
	// completes (no request in flight, or the delay passed).
	StateUnused = "unused"

	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
	ReasonHealthCheckDisabled      = "Target.HealthCheckDisabled"
	ReasonNotRegistered            = "Target.NotRegistered"
)

type nopReporter struct{}

func (nopReporter) Report(string, Target, string, string, string) {}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("lb: plane closed")

// Plane is the running data plane. Its methods are safe for concurrent use.
type Plane struct {
	log *slog.Logger
	rep Reporter

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every background goroutine

	hcClient *http.Client
	hcTr     *http.Transport

	mu        sync.Mutex
	closed    bool
	listeners map[string]*listenerRT
	groups    map[string]*group
	snap      atomicMap // copy of groups for the request path
}

// New returns a plane with nothing open. log and rep may be nil.
func New(log *slog.Logger, rep Reporter) *Plane {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if rep == nil {
		rep = nopReporter{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{
		DialContext:       (&net.Dialer{}).DialContext,
		DisableKeepAlives: true,
		TLSClientConfig:   insecureTLS(),
	}
	p := &Plane{
		log:    log,
		rep:    rep,
		ctx:    ctx,
		cancel: cancel,
		hcTr:   tr,
		hcClient: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		listeners: map[string]*listenerRT{},
		groups:    map[string]*group{},
	}
	p.snap.Store(&map[string]*group{})
	return p
}

// Apply makes the plane serve cfg with groups. It is idempotent: listeners
// that appeared are opened, listeners that went (or changed protocol or
// address) are closed, routes and targets of the others are updated in
// place without disturbing connections. Targets that left a group are
// drained. An error names the listeners or groups that could not be applied;
// everything else is applied anyway.
func (p *Plane) Apply(cfg Config, groups []TargetGroup) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	var errs []error

	// Target groups first, so that new routes find their groups.
	next := make(map[string]*group, len(groups))
	for _, tg := range groups {
		if tg.Key == "" {
			errs = append(errs, errors.New("lb: target group with empty key"))
			continue
		}
		if _, dup := next[tg.Key]; dup {
			errs = append(errs, fmt.Errorf("lb: duplicate target group %q", tg.Key))
			continue
		}
		g := p.groups[tg.Key]
		if g == nil {
			g = newGroup(p, tg.Key)
		}
		g.update(tg)
		next[tg.Key] = g
	}
	for k, g := range p.groups {
		if next[k] == nil {
			g.update(TargetGroup{Key: k, DeregistrationDelay: g.cfg.Load().DeregistrationDelay})
		}
	}
	p.groups = next
	cp := make(map[string]*group, len(next))
	for k, g := range next {
		cp[k] = g
	}
	p.snap.Store(&cp)

	// Listeners.
	want := make(map[string]Listener, len(cfg.Listeners))
	var order []Listener
	for _, l := range cfg.Listeners {
		l.Protocol = strings.ToUpper(l.Protocol)
		switch {
		case l.Key == "":
			errs = append(errs, errors.New("lb: listener with empty key"))
			continue
		case l.Protocol != "HTTP" && l.Protocol != "TCP":
			errs = append(errs, fmt.Errorf("lb: listener %q: unsupported protocol %q", l.Key, l.Protocol))
			continue
		}
		if _, dup := want[l.Key]; dup {
			errs = append(errs, fmt.Errorf("lb: duplicate listener %q", l.Key))
			continue
		}
		want[l.Key] = l
		order = append(order, l)
	}
	for k, lr := range p.listeners {
		if l, ok := want[k]; !ok || l.Protocol != lr.protocol || l.Addr != lr.addr || l.TLSKey != lr.tlsKey || (l.TLS != nil) != lr.tls {
			lr.close(true)
			delete(p.listeners, k)
		}
	}
	for _, l := range order {
		if lr := p.listeners[l.Key]; lr != nil {
			lr.setConfig(l)
			continue
		}
		lr, err := p.openListener(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("lb: listener %q: %w", l.Key, err))
			continue
		}
		p.listeners[l.Key] = lr
	}
	return errors.Join(errs...)
}

// Addr is the address listener key is bound to, "" if it is not open.
func (p *Plane) Addr(listenerKey string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lr := p.listeners[listenerKey]; lr != nil {
		return lr.ln.Addr().String()
	}
	return ""
}

// Close closes every listener and connection and stops health checks. It
// waits for the plane's goroutines.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for k, lr := range p.listeners {
		lr.close(false)
		delete(p.listeners, k)
	}
	for _, g := range p.groups {
		g.shutdown()
	}
	p.groups = map[string]*group{}
	p.snap.Store(&map[string]*group{})
	p.cancel()
	p.mu.Unlock()
	p.wg.Wait()
	p.hcTr.CloseIdleConnections()
	return nil
}

func (p *Plane) group(key string) *group {
	return (*p.snap.Load())[key]
}
