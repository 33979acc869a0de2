package lb

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/sockopt"
)

type atomicMap = atomic.Pointer[map[string]*group]

// group is a target group at run time.
type group struct {
	p   *Plane
	key string
	cfg atomic.Pointer[TargetGroup] // without Targets

	mu      sync.Mutex
	targets map[string]*target // registered (not draining), by targetKey
	order   []*target          // registration order

	route atomic.Pointer[[]*target] // healthy targets, or all registered when none is (fail open)
	rr    atomic.Uint64
}

func newGroup(p *Plane, key string) *group {
	g := &group{p: p, key: key, targets: map[string]*target{}}
	g.route.Store(&[]*target{})
	return g
}

func targetKey(t Target) string { return t.ID + "\x00" + t.Addr }

// update replaces the group's settings and targets: new targets start in
// the initial state (health checks running), missing ones are drained.
// Called with p.mu held.
func (g *group) update(tg TargetGroup) {
	cfg := tg
	cfg.Targets = nil
	cfg.Protocol = strings.ToUpper(cfg.Protocol)
	g.cfg.Store(&cfg)

	g.mu.Lock()
	defer g.mu.Unlock()
	seen := make(map[string]bool, len(tg.Targets))
	order := make([]*target, 0, len(tg.Targets))
	for _, t := range tg.Targets {
		k := targetKey(t)
		if seen[k] {
			continue
		}
		seen[k] = true
		rt := g.targets[k]
		if rt == nil {
			rt = newTarget(g, t)
			g.targets[k] = rt
		}
		order = append(order, rt)
	}
	// Publish the new route before draining, so that a request that
	// picked a draining target finds a live one on its next try.
	g.order = order
	g.rebuildLocked()
	for k, rt := range g.targets {
		if !seen[k] {
			delete(g.targets, k)
			rt.drain(cfg.DeregistrationDelay)
		}
	}
}

// shutdown stops everything at once (Plane.Close). Called with p.mu held.
func (g *group) shutdown() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, rt := range g.targets {
		delete(g.targets, k)
		rt.stop()
	}
	g.order = nil
	g.rebuildLocked()
}

func (g *group) rebuild() {
	g.mu.Lock()
	g.rebuildLocked()
	g.mu.Unlock()
}

func (g *group) rebuildLocked() {
	var healthy []*target
	for _, t := range g.order {
		if t.routable.Load() {
			healthy = append(healthy, t)
		}
	}
	if len(healthy) == 0 {
		all := append([]*target(nil), g.order...)
		g.route.Store(&all)
		return
	}
	g.route.Store(&healthy)
}

// pick returns the next target round robin, acquired (release it), or nil
// when the group has no registered target.
func (g *group) pick() *target {
	for range 8 {
		rs := *g.route.Load()
		if len(rs) == 0 {
			return nil
		}
		t := rs[(g.rr.Add(1)-1)%uint64(len(rs))]
		if t.acquire() {
			return t
		}
	}
	return nil
}

// target is a registered (or draining) target at run time.
type target struct {
	g   *group
	t   Target
	hc  context.CancelFunc
	ctx context.Context // cancelled when the target's connections are to be closed

	kill     context.CancelFunc
	routable atomic.Bool

	// active counts in-flight requests and TCP connections; closed is set
	// once the target drains, after which acquire fails.
	active atomic.Int64
	closed atomic.Bool

	mu       sync.Mutex
	state    string
	reason   string
	draining bool
	stopped  bool
	conns    map[net.Conn]struct{} // every connection to the target, closed on kill

	poolMu     sync.Mutex
	idleConns  []*upstream // HTTP keep-alive connections, most recent last
	poolClosed bool
}

func insecureTLS() *tls.Config {
	// ELB does not verify the certificates of HTTPS targets.
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec
}

func newTarget(g *group, t Target) *target {
	p := g.p
	ctx, kill := context.WithCancel(p.ctx)
	rt := &target{g: g, t: t, ctx: ctx, kill: kill, conns: map[net.Conn]struct{}{}}
	cfg := g.cfg.Load()
	if cfg.HealthCheck.Enabled {
		rt.setState(StateInitial, ReasonInitialHealthChecking, "")
	} else {
		rt.setState(StateUnavailable, ReasonHealthCheckDisabled, "Health checks are disabled")
	}
	hctx, cancel := context.WithCancel(ctx)
	rt.hc = cancel
	p.wg.Add(1)
	go rt.healthLoop(hctx)
	return rt
}

// setState records and reports a state change; it reports nothing once the
// target is draining. It reports whether routability may have changed.
func (t *target) setState(state, reason, desc string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining || t.stopped || (t.state == state && t.reason == reason) {
		return false
	}
	t.state, t.reason = state, reason
	was := t.routable.Load()
	now := state == StateHealthy || state == StateUnavailable
	t.routable.Store(now)
	t.g.p.rep.Report(t.g.key, t.t, state, reason, desc)
	return was != now
}

// acquire counts a request or connection in, unless the target drains.
// closed is set before the drain looks at active, so a request either
// sees closed or is counted.
func (t *target) acquire() bool {
	if t.closed.Load() {
		return false
	}
	t.active.Add(1)
	if t.closed.Load() {
		t.active.Add(-1)
		return false
	}
	return true
}

func (t *target) release() { t.active.Add(-1) }

func (t *target) idle() bool { return t.active.Load() <= 0 }

func (t *target) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *target) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// drain stops new requests at once, reports draining, and closes the
// target's connections when it has none in flight or after delay; then it
// reports the target unused (Target.NotRegistered): ELB completes a
// deregistration as soon as the target has no request in flight.
// Called with g.mu held.
func (t *target) drain(delay time.Duration) {
	t.mu.Lock()
	t.draining = true
	t.closed.Store(true)
	t.routable.Store(false)
	t.state, t.reason = StateDraining, ReasonDeregistrationInProgress
	t.g.p.rep.Report(t.g.key, t.t, StateDraining, ReasonDeregistrationInProgress, "Target deregistration is in progress")
	t.mu.Unlock()
	t.hc()
	p := t.g.p
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		deadline := time.NewTimer(delay)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !t.idle() {
			select {
			case <-deadline.C:
				t.stop()
				p.rep.Report(t.g.key, t.t, StateUnused, ReasonNotRegistered, "Target is not registered to the target group")
				return
			case <-tick.C:
			case <-p.ctx.Done():
				t.stop()
				return
			}
		}
		t.stop()
		p.rep.Report(t.g.key, t.t, StateUnused, ReasonNotRegistered, "Target is not registered to the target group")
	}()
}

// stop closes every connection of the target and stops its health checks.
func (t *target) stop() {
	t.mu.Lock()
	t.stopped = true
	t.closed.Store(true)
	t.routable.Store(false)
	conns := t.conns
	t.conns = map[net.Conn]struct{}{}
	t.mu.Unlock()
	t.hc()
	t.kill()
	t.closePool()
	for c := range conns {
		sockopt.CloseNow(c)
	}
}
