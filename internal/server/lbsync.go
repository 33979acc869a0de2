package server

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/elb"
	"github.com/berth-dev/berth/internal/lb"
	"github.com/berth-dev/berth/internal/store"
)

// lbSync keeps the load balancer data plane (internal/lb) in step with the
// ELBv2 records (internal/elb): every change under /elb/ rebuilds the
// plane's configuration, and the plane's health verdicts are written back
// as the targets' health.
type lbSync struct {
	elb   *elb.ELB
	plane *lb.Plane
	st    store.Store
	log   *slog.Logger
	// host is the address listeners open on; instance targets are dialled
	// at instHost (the agents run on this host).
	host, instHost string
	certs          lbCerts
	ctx            context.Context
}

// Report is the plane's health verdict for a target: it becomes the
// target's health in DescribeTargetHealth.
func (s *lbSync) Report(tgKey string, t lb.Target, state, reason, description string) {
	_, port, _ := net.SplitHostPort(t.Addr)
	p, _ := strconv.Atoi(port)
	// A report may arrive while Apply holds the plane's lock: write it
	// from another goroutine.
	go func() {
		err := s.elb.SetTargetHealth(s.ctx, tgKey, elb.Target{ID: t.ID, Port: int32(p)}, state, reason, description)
		if err != nil && s.ctx.Err() == nil {
			s.log.Debug("load balancer: recording target health failed", "target_group", tgKey, "target", t.ID, "err", err)
		}
	}()
}

// run applies the configuration now and after every change under /elb/.
func (s *lbSync) run(ctx context.Context) {
	s.ctx = ctx
	rev, err := s.st.Rev(ctx)
	if err != nil {
		return
	}
	s.apply(ctx)
	for ctx.Err() == nil {
		events, err := s.st.Watch(ctx, elb.Prefix, rev)
		if err != nil {
			time.Sleep(time.Second)
			if rev, err = s.st.Rev(ctx); err == nil {
				s.apply(ctx)
			}
			continue
		}
		pending := false
		timer := time.NewTimer(time.Hour)
		timer.Stop()
	loop:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break loop
				}
				rev = ev.KV.ModRev
				if !pending {
					pending = true
					timer.Reset(20 * time.Millisecond) // gather a burst
				}
			case <-timer.C:
				pending = false
				s.apply(ctx)
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		s.apply(ctx)
	}
}

// apply rebuilds the plane's configuration from the records.
func (s *lbSync) apply(ctx context.Context) {
	listeners, err := s.elb.Listeners(ctx)
	if err != nil {
		s.log.Warn("load balancer: reading listeners failed", "err", err)
		return
	}
	groups, err := s.elb.TargetGroups(ctx)
	if err != nil {
		s.log.Warn("load balancer: reading target groups failed", "err", err)
		return
	}
	var cfg lb.Config
	for _, l := range listeners {
		proto := ""
		switch l.Protocol {
		case "HTTP", "HTTPS":
			proto = "HTTP"
		case "TCP", "TLS":
			proto = "TCP"
		default:
			continue // UDP is not served
		}
		ll := lb.Listener{Key: l.ARN, Protocol: proto, Addr: net.JoinHostPort(s.host, strconv.Itoa(int(l.Port))), Default: action(l.DefaultActions)}
		if l.Protocol == "HTTPS" || l.Protocol == "TLS" {
			cfg, key, err := s.certs.config(l.Certificates, []string{s.host}, func(arn string) {
				s.log.Warn("load balancer: serving a self-signed certificate; put the certificate chain and key in <lb-certificates>/<id>.pem to serve your own",
					"listener", l.ARN, "certificate", arn, "dir", s.certs.dir)
			})
			if err != nil {
				s.log.Error("load balancer: listener not opened: its certificate cannot be loaded", "listener", l.ARN, "err", err)
				continue
			}
			ll.TLS, ll.TLSKey = cfg, key
		}
		for _, r := range l.Rules {
			rule := lb.Rule{Action: action(r.Actions)}
			for _, c := range r.Conditions {
				switch c.Field {
				case "path-pattern":
					rule.PathPatterns = append(rule.PathPatterns, c.Values...)
				case "host-header":
					rule.HostHeaders = append(rule.HostHeaders, c.Values...)
				}
			}
			ll.Rules = append(ll.Rules, rule)
		}
		cfg.Listeners = append(cfg.Listeners, ll)
	}
	tgs := make([]lb.TargetGroup, 0, len(groups))
	for _, g := range groups {
		hc := g.HealthCheck
		tg := lb.TargetGroup{
			Key: g.ARN, Protocol: g.Protocol, DeregistrationDelay: g.DeregistrationDelay,
			HealthCheck: lb.HealthCheck{Enabled: hc.Enabled, Protocol: hc.Protocol, Path: hc.Path, Port: hc.Port,
				Interval: hc.Interval, Timeout: hc.Timeout, HealthyThreshold: hc.HealthyThreshold,
				UnhealthyThreshold: hc.UnhealthyThreshold, Matcher: hc.HTTPCodes},
		}
		for _, t := range g.Targets {
			if !t.DeregisteredAt.IsZero() {
				continue // the plane drains targets that leave the list
			}
			port := t.Port
			if port == 0 {
				port = g.Port
			}
			host := t.ID
			if g.TargetType == "instance" {
				host = s.instHost
			}
			tg.Targets = append(tg.Targets, lb.Target{ID: t.ID, Addr: net.JoinHostPort(host, strconv.Itoa(int(port)))})
		}
		tgs = append(tgs, tg)
	}
	if err := s.plane.Apply(cfg, tgs); err != nil {
		s.log.Warn("load balancer: some listeners or target groups could not be applied", "err", err)
	}
}

// action maps an ELB action to the plane's: a forward to several target
// groups is drawn by weight for each request.
func action(as []elb.Action) lb.Action {
	for _, a := range as {
		switch a.Type {
		case "fixed-response":
			return lb.Action{Fixed: &lb.FixedResponse{StatusCode: a.StatusCode, ContentType: a.ContentType, Body: a.MessageBody}}
		case "forward":
			if len(a.TargetGroups) == 1 {
				return lb.Action{TargetGroup: a.TargetGroups[0].ARN}
			}
			var out lb.Action
			for _, g := range a.TargetGroups {
				out.Weighted = append(out.Weighted, lb.WeightedGroup{TargetGroup: g.ARN, Weight: int(g.Weight)})
			}
			return out
		}
	}
	return lb.Action{}
}
