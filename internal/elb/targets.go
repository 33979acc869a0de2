package elb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// Target is one target of a target group: an instance id (for target type
// instance, a container instance's ec2InstanceId), an IPv4 address, a
// Lambda ARN or an ALB ARN, and the port traffic goes to (the target
// group's port when zero).
type Target struct {
	ID               string `json:"Id"`
	Port             int32  `json:"Port,omitempty"`
	AvailabilityZone string `json:"AvailabilityZone,omitempty"`
}

// TargetHealth is a registered target with its health as DescribeTargetHealth
// reports it. The data plane routes new requests only to targets whose
// State is healthy (Routable), and lets connections to draining targets
// finish until DrainUntil, after which the target is gone.
type TargetHealth struct {
	Target
	State       string // initial, healthy, unhealthy, unused, draining, unavailable
	Reason      string // e.g. Elb.RegistrationInProgress; "" when healthy
	Description string
	// RegisteredAt is when the target was (last) registered.
	RegisteredAt time.Time
	// DeregisteredAt is when the target was deregistered, zero while it is
	// registered; it drains until DrainUntil (DeregisteredAt plus the
	// target group's deregistration delay).
	DeregisteredAt time.Time
	DrainUntil     time.Time
}

// Routable reports whether new requests may go to the target.
func (t TargetHealth) Routable() bool {
	return t.State == string(elbv2api.TargetHealthStateEnumHealthy)
}

// Draining reports whether the target is deregistered and draining.
func (t TargetHealth) Draining() bool { return !t.DeregisteredAt.IsZero() }

// targetRecord is a stored target: its identity, the health the health
// checker last reported, and its registration times.
type targetRecord struct {
	Target
	State          string    `json:",omitempty"`
	Reason         string    `json:",omitempty"`
	Description    string    `json:",omitempty"`
	RegisteredAt   time.Time `json:",omitzero"`
	DeregisteredAt time.Time `json:",omitzero"`
	DrainUntil     time.Time `json:",omitzero"`
}

// HealthCheck is a target group's health check, with ELB's defaults filled
// in.
type HealthCheck struct {
	Enabled            bool
	Protocol           string // HTTP, HTTPS or TCP; "" for Lambda targets
	Port               string // "traffic-port" or a port number
	Path               string // HTTP(S) health checks
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	HTTPCodes          string // e.g. "200", "200-399", "200,302"
	GRPCCodes          string
}

// TargetGroupInfo is what the data plane and the ECS integration need to
// know about a target group.
type TargetGroupInfo struct {
	ARN                 string
	Name                string
	Protocol            string
	Port                int32
	TargetType          string
	LoadBalancerARNs    []string
	HealthCheck         HealthCheck
	DeregistrationDelay time.Duration
	Attributes          map[string]string
	// Targets are the registered and draining targets with their health,
	// in registration order.
	Targets []TargetHealth
}

func (e *ELB) info(rec tgRecord) TargetGroupInfo {
	tg := rec.TargetGroup
	ti := TargetGroupInfo{
		ARN:              elbv2api.Value(tg.TargetGroupArn),
		Name:             elbv2api.Value(tg.TargetGroupName),
		Protocol:         string(elbv2api.Value(tg.Protocol)),
		Port:             elbv2api.Value(tg.Port),
		TargetType:       string(elbv2api.Value(tg.TargetType)),
		LoadBalancerARNs: append([]string(nil), tg.LoadBalancerArns...),
		HealthCheck: HealthCheck{
			Enabled:            elbv2api.Value(tg.HealthCheckEnabled),
			Protocol:           string(elbv2api.Value(tg.HealthCheckProtocol)),
			Port:               elbv2api.Value(tg.HealthCheckPort),
			Path:               elbv2api.Value(tg.HealthCheckPath),
			Interval:           time.Duration(elbv2api.Value(tg.HealthCheckIntervalSeconds)) * time.Second,
			Timeout:            time.Duration(elbv2api.Value(tg.HealthCheckTimeoutSeconds)) * time.Second,
			HealthyThreshold:   int(elbv2api.Value(tg.HealthyThresholdCount)),
			UnhealthyThreshold: int(elbv2api.Value(tg.UnhealthyThresholdCount)),
		},
		Attributes: map[string]string{},
		Targets:    e.targetHealth(rec),
	}
	if tg.Matcher != nil {
		ti.HealthCheck.HTTPCodes = elbv2api.Value(tg.Matcher.HttpCode)
		ti.HealthCheck.GRPCCodes = elbv2api.Value(tg.Matcher.GrpcCode)
	}
	for _, a := range rec.Attributes {
		ti.Attributes[elbv2api.Value(a.Key)] = elbv2api.Value(a.Value)
	}
	if d, err := time.ParseDuration(ti.Attributes["deregistration_delay.timeout_seconds"] + "s"); err == nil {
		ti.DeregistrationDelay = d
	}
	return ti
}

// ErrTargetGroupNotFound is returned by TargetGroup for an unknown ARN.
var ErrTargetGroupNotFound = errors.New("elb: target group not found")

// TargetGroup returns the target group with the given ARN.
func (e *ELB) TargetGroup(ctx context.Context, arn string) (TargetGroupInfo, error) {
	rec, _, err := e.targetGroupByARN(ctx, arn)
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return TargetGroupInfo{}, ErrTargetGroupNotFound
	}
	if err != nil {
		return TargetGroupInfo{}, err
	}
	return e.info(rec), nil
}

// TargetGroups returns every target group, by name.
func (e *ELB) TargetGroups(ctx context.Context) ([]TargetGroupInfo, error) {
	recs, _, err := list[tgRecord](ctx, e.st, TargetGroupsPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]TargetGroupInfo, len(recs))
	for i, r := range recs {
		out[i] = e.info(r)
	}
	return out, nil
}

// Errors of the target Go API.
var (
	ErrTargetNotRegistered = errors.New("elb: target not registered")
	ErrInvalidHealth       = errors.New("elb: invalid target health state or reason")
)

const maxTargetsPerGroup = 1000

// reasonDescriptions are ELB's descriptions of target health reasons.
var reasonDescriptions = map[elbv2api.TargetHealthReasonEnum]string{
	elbv2api.TargetHealthReasonEnumElbRegistrationInProgress:      "Target registration is in progress",
	elbv2api.TargetHealthReasonEnumElbInitialHealthChecking:       "Initial health checks in progress",
	elbv2api.TargetHealthReasonEnumTargetResponseCodeMismatch:     "Health checks failed",
	elbv2api.TargetHealthReasonEnumTargetTimeout:                  "Request timed out",
	elbv2api.TargetHealthReasonEnumTargetFailedHealthChecks:       "Health checks failed",
	elbv2api.TargetHealthReasonEnumTargetNotRegistered:            "Target is not registered to the target group",
	elbv2api.TargetHealthReasonEnumTargetNotInUse:                 "Target group is not configured to receive traffic from the load balancer",
	elbv2api.TargetHealthReasonEnumTargetDeregistrationInProgress: "Target deregistration is in progress",
	elbv2api.TargetHealthReasonEnumTargetInvalidState:             "Target is in the stopped state",
	elbv2api.TargetHealthReasonEnumTargetIpUnusable:               "The IP address is a reserved IP address",
	elbv2api.TargetHealthReasonEnumTargetHealthCheckDisabled:      "Health checks are disabled",
	elbv2api.TargetHealthReasonEnumElbInternalError:               "Health checks failed due to an internal error",
}

// pruneTargets drops targets whose deregistration delay has passed.
func (e *ELB) pruneTargets(ts []targetRecord) []targetRecord {
	now := e.now()
	return slices.DeleteFunc(slices.Clone(ts), func(t targetRecord) bool {
		return !t.DeregisteredAt.IsZero() && !now.Before(t.DrainUntil)
	})
}

// resetHealth forgets reported health: a target group that starts
// receiving traffic checks its targets from the start.
func resetHealth(ts []targetRecord) {
	for i := range ts {
		ts[i].State, ts[i].Reason, ts[i].Description = "", "", ""
	}
}

// health returns a target's health as ELB reports it.
func health(tg elbv2api.TargetGroup, t targetRecord) (state, reason, desc string) {
	with := func(s elbv2api.TargetHealthStateEnum, r elbv2api.TargetHealthReasonEnum) (string, string, string) {
		return string(s), string(r), reasonDescriptions[r]
	}
	switch {
	case !t.DeregisteredAt.IsZero():
		return with(elbv2api.TargetHealthStateEnumDraining, elbv2api.TargetHealthReasonEnumTargetDeregistrationInProgress)
	case len(tg.LoadBalancerArns) == 0:
		return with(elbv2api.TargetHealthStateEnumUnused, elbv2api.TargetHealthReasonEnumTargetNotInUse)
	case !elbv2api.Value(tg.HealthCheckEnabled):
		return with(elbv2api.TargetHealthStateEnumUnavailable, elbv2api.TargetHealthReasonEnumTargetHealthCheckDisabled)
	case t.State != "":
		return t.State, t.Reason, t.Description
	}
	return with(elbv2api.TargetHealthStateEnumInitial, elbv2api.TargetHealthReasonEnumElbRegistrationInProgress)
}

func (e *ELB) targetHealth(rec tgRecord) []TargetHealth {
	ts := e.pruneTargets(rec.Targets)
	out := make([]TargetHealth, len(ts))
	for i, t := range ts {
		s, r, d := health(rec.TargetGroup, t)
		out[i] = TargetHealth{Target: t.Target, State: s, Reason: r, Description: d, RegisteredAt: t.RegisteredAt, DeregisteredAt: t.DeregisteredAt, DrainUntil: t.DrainUntil}
		if out[i].Port == 0 {
			out[i].Port = elbv2api.Value(rec.TargetGroup.Port)
		}
	}
	return out
}

// sameTarget reports whether a stored target is t (whose port is resolved).
func sameTarget(tg elbv2api.TargetGroup, have Target, t Target) bool {
	p := have.Port
	if p == 0 {
		p = elbv2api.Value(tg.Port)
	}
	return have.ID == t.ID && p == t.Port
}

// updateTargets applies change to a target group's targets (pruned of
// drained ones) and stores the result when change reports a difference.
func (e *ELB) updateTargets(ctx context.Context, arn string, change func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error)) error {
	return retry(ctx, func() error {
		rec, rev, err := e.targetGroupByARN(ctx, arn)
		if err != nil {
			return err
		}
		before := len(rec.Targets)
		ts := e.pruneTargets(rec.Targets)
		ts, changed, err := change(rec, ts)
		if err != nil || !changed && len(ts) == before {
			return err
		}
		rec.Targets = ts
		k := tgKey(elbv2api.Value(rec.TargetGroup.TargetGroupName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Put(k, mustJSON(rec))})
		return err
	})
}

// register adds targets (resolved) to ts; registered ones are kept as they
// are, draining ones are registered again.
func (e *ELB) register(tg elbv2api.TargetGroup, ts []targetRecord, targets []Target) ([]targetRecord, bool) {
	now := e.now().UTC()
	changed := false
	for _, t := range targets {
		i := slices.IndexFunc(ts, func(h targetRecord) bool { return sameTarget(tg, h.Target, t) })
		switch {
		case i < 0:
			ts = append(ts, targetRecord{Target: t, RegisteredAt: now})
			changed = true
		case !ts[i].DeregisteredAt.IsZero():
			ts[i] = targetRecord{Target: t, RegisteredAt: now}
			changed = true
		}
	}
	return ts, changed
}

// deregister starts draining targets (resolved); a target group no load
// balancer uses, or one without a deregistration delay, drops them at
// once. Targets that are not registered are ignored, as in ELB.
func (e *ELB) deregister(rec tgRecord, ts []targetRecord, targets []Target) ([]targetRecord, bool) {
	now := e.now().UTC()
	delay := e.info(rec).DeregistrationDelay
	changed := false
	for _, t := range targets {
		i := slices.IndexFunc(ts, func(h targetRecord) bool { return sameTarget(rec.TargetGroup, h.Target, t) })
		if i < 0 || !ts[i].DeregisteredAt.IsZero() {
			continue
		}
		changed = true
		if len(rec.TargetGroup.LoadBalancerArns) == 0 || delay <= 0 {
			ts = slices.Delete(ts, i, i+1)
			continue
		}
		ts[i].DeregisteredAt = now
		ts[i].DrainUntil = now.Add(delay)
	}
	return ts, changed
}

// resolveTargets checks targets against the target group's target type
// and fills in default ports.
func (e *ELB) resolveTargets(ctx context.Context, tg elbv2api.TargetGroup, in []elbv2api.TargetDescription) ([]Target, error) {
	if len(in) == 0 {
		return nil, elbv2api.ValidationErrorf("At least one target must be specified")
	}
	tt := elbv2api.Value(tg.TargetType)
	out := make([]Target, 0, len(in))
	for _, d := range in {
		t := Target{ID: d.Id, Port: elbv2api.Value(d.Port), AvailabilityZone: elbv2api.Value(d.AvailabilityZone)}
		if d.Port != nil && (t.Port < 1 || t.Port > 65535) {
			return nil, elbv2api.ValidationErrorf("Port '%d' of target '%s' must be from 1 to 65535", t.Port, t.ID)
		}
		switch tt {
		case elbv2api.TargetTypeEnumInstance:
			if !validInstanceID(t.ID) {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The following targets are not valid instances: '%s'", t.ID)
			}
			if e.instanceExists != nil {
				ok, err := e.instanceExists(ctx, t.ID)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The following targets are not in a running state and cannot be registered: '%s'", t.ID)
				}
			}
		case elbv2api.TargetTypeEnumIp:
			ip, err := netip.ParseAddr(t.ID)
			v6 := elbv2api.Value(tg.IpAddressType) == elbv2api.TargetGroupIpAddressTypeEnumIpv6
			if err != nil || ip.Zone() != "" || ip.Is4() == v6 {
				kind := "IPv4"
				if v6 {
					kind = "IPv6"
				}
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The IP address '%s' is not a valid %s address", t.ID, kind)
			}
			if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The IP address '%s' cannot be used as a target", t.ID)
			}
		case elbv2api.TargetTypeEnumLambda:
			if !strings.HasPrefix(t.ID, "arn:aws:lambda:") {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The following targets are not valid Lambda functions: '%s'", t.ID)
			}
			if d.Port != nil {
				return nil, elbv2api.ValidationErrorf("A port cannot be specified for Lambda targets")
			}
			if len(in) > 1 {
				return nil, elbv2api.Errorf(elbv2api.CodeTooManyTargetsException, "A target group with target type 'lambda' can have only one target")
			}
		case elbv2api.TargetTypeEnumAlb:
			lb, _, err := e.loadBalancerByARN(ctx, t.ID)
			if err != nil || !isALB(elbv2api.Value(lb.LoadBalancer.LoadBalancerArn)) {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The following targets are not valid application load balancers: '%s'", t.ID)
			}
		}
		if t.Port == 0 && tt != elbv2api.TargetTypeEnumLambda {
			t.Port = elbv2api.Value(tg.Port)
		}
		out = append(out, t)
	}
	return out, nil
}

// validInstanceID reports whether id looks like an EC2 instance id.
func validInstanceID(id string) bool {
	rest, ok := strings.CutPrefix(id, "i-")
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// RegisterTargets registers targets with a target group. Registering a
// registered target changes nothing; a draining one is registered again.
func (e *ELB) RegisterTargets(ctx context.Context, in *elbv2api.RegisterTargetsInput) (*elbv2api.RegisterTargetsOutput, error) {
	rec, _, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
	if err != nil {
		return nil, err
	}
	targets, err := e.resolveTargets(ctx, rec.TargetGroup, in.Targets)
	if err != nil {
		return nil, err
	}
	err = e.updateTargets(ctx, in.TargetGroupArn, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		ts, changed := e.register(rec.TargetGroup, ts, targets)
		if len(ts) > maxTargetsPerGroup {
			return nil, false, elbv2api.Errorf(elbv2api.CodeTooManyTargetsException, "A target group can have at most %d targets", maxTargetsPerGroup)
		}
		return ts, changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.RegisterTargetsOutput{}, nil
}

// DeregisterTargets deregisters targets: they drain for the target group's
// deregistration delay, then are gone.
func (e *ELB) DeregisterTargets(ctx context.Context, in *elbv2api.DeregisterTargetsInput) (*elbv2api.DeregisterTargetsOutput, error) {
	if len(in.Targets) == 0 {
		return nil, elbv2api.ValidationErrorf("At least one target must be specified")
	}
	err := e.updateTargets(ctx, in.TargetGroupArn, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		targets := make([]Target, len(in.Targets))
		for i, d := range in.Targets {
			targets[i] = Target{ID: d.Id, Port: elbv2api.Value(d.Port)}
			if targets[i].Port == 0 {
				targets[i].Port = elbv2api.Value(rec.TargetGroup.Port)
			}
		}
		ts, changed := e.deregister(rec, ts, targets)
		return ts, changed, nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeregisterTargetsOutput{}, nil
}

// DescribeTargetHealth describes the health of a target group's targets,
// or of the given ones (an unregistered one is unused with
// Target.NotRegistered).
func (e *ELB) DescribeTargetHealth(ctx context.Context, in *elbv2api.DescribeTargetHealthInput) (*elbv2api.DescribeTargetHealthOutput, error) {
	rec, _, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
	if err != nil {
		return nil, err
	}
	tg := rec.TargetGroup
	all := e.targetHealth(rec)
	var hs []TargetHealth
	if len(in.Targets) == 0 {
		hs = all
	} else {
		for _, d := range in.Targets {
			if elbv2api.Value(tg.TargetType) == elbv2api.TargetTypeEnumInstance && !validInstanceID(d.Id) {
				return nil, elbv2api.Errorf(elbv2api.CodeInvalidTargetException, "The following targets are not valid instances: '%s'", d.Id)
			}
			found := false
			for _, h := range all {
				if h.ID == d.Id && (d.Port == nil || h.Port == *d.Port) {
					hs = append(hs, h)
					found = true
				}
			}
			if !found {
				r := elbv2api.TargetHealthReasonEnumTargetNotRegistered
				h := TargetHealth{Target: Target{ID: d.Id, Port: elbv2api.Value(d.Port), AvailabilityZone: elbv2api.Value(d.AvailabilityZone)},
					State: string(elbv2api.TargetHealthStateEnumUnused), Reason: string(r), Description: reasonDescriptions[r]}
				if h.Port == 0 {
					h.Port = elbv2api.Value(tg.Port)
				}
				hs = append(hs, h)
			}
		}
	}
	out := make([]elbv2api.TargetHealthDescription, len(hs))
	for i, h := range hs {
		d := elbv2api.TargetHealthDescription{
			Target:       &elbv2api.TargetDescription{Id: h.ID},
			TargetHealth: &elbv2api.TargetHealth{State: elbv2api.Ptr(elbv2api.TargetHealthStateEnum(h.State))},
		}
		if h.Port != 0 {
			d.Target.Port = elbv2api.Ptr(h.Port)
		}
		if h.AvailabilityZone != "" {
			d.Target.AvailabilityZone = elbv2api.Ptr(h.AvailabilityZone)
		}
		if h.Reason != "" {
			d.TargetHealth.Reason = elbv2api.Ptr(elbv2api.TargetHealthReasonEnum(h.Reason))
		}
		if h.Description != "" {
			d.TargetHealth.Description = elbv2api.Ptr(h.Description)
		}
		if p := elbv2api.Value(tg.HealthCheckPort); p != "" && p != "traffic-port" {
			d.HealthCheckPort = elbv2api.Ptr(p)
		} else if h.Port != 0 {
			d.HealthCheckPort = elbv2api.Ptr(strconv.Itoa(int(h.Port)))
		}
		out[i] = d
	}
	return &elbv2api.DescribeTargetHealthOutput{TargetHealthDescriptions: out}, nil
}

// SetTargets makes targets the registered targets of a target group (for
// the ECS integration): missing ones are registered, others deregistered
// (they drain as with DeregisterTargets). Ports of zero are the target
// group's port.
func (e *ELB) SetTargets(ctx context.Context, arn string, targets []Target) error {
	err := e.updateTargets(ctx, arn, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		tg := rec.TargetGroup
		want := make([]Target, len(targets))
		for i, t := range targets {
			want[i] = t
			if want[i].Port == 0 {
				want[i].Port = elbv2api.Value(tg.Port)
			}
		}
		var gone []Target
		for _, h := range ts {
			if h.DeregisteredAt.IsZero() && !slices.ContainsFunc(want, func(t Target) bool { return sameTarget(tg, h.Target, t) }) {
				gone = append(gone, h.Target)
			}
		}
		ts, changed := e.register(tg, ts, want)
		ts, changed2 := e.deregister(rec, ts, gone)
		return ts, changed || changed2, nil
	})
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return ErrTargetGroupNotFound
	}
	return err
}

// SetTargetHealth records the health the health checker found for a
// registered target (its port zero for the target group's port): state is
// a TargetHealthStateEnum value (initial, healthy, unhealthy, ...), reason a
// TargetHealthReasonEnum value ("" when healthy), description ELB's wording
// of the reason when empty. Other reports for unregistered targets are
// ErrTargetNotRegistered.
//
// State unused is how the data plane says a draining target's
// deregistration completed (no request in flight any more, or the delay
// passed): the target is removed at once, as ELB completes a deregistration
// early when the target has nothing in flight; DescribeTargetHealth no
// longer lists it, and reports it unused (Target.NotRegistered) when it is
// named. An unused report for a target that is no longer there is not an
// error, and one for a registered target (a late report of an earlier
// registration's drain) is ignored. Other reports for draining targets are
// ignored too.
func (e *ELB) SetTargetHealth(ctx context.Context, tgARN string, target Target, state, reason, description string) error {
	if !slices.Contains(elbv2api.TargetHealthStateEnum("").Values(), state) || reason != "" && !slices.Contains(elbv2api.TargetHealthReasonEnum("").Values(), reason) {
		return fmt.Errorf("%w: %q %q", ErrInvalidHealth, state, reason)
	}
	if description == "" {
		description = reasonDescriptions[elbv2api.TargetHealthReasonEnum(reason)]
	}
	err := e.updateTargets(ctx, tgARN, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		tg := rec.TargetGroup
		t := target
		if t.Port == 0 {
			t.Port = elbv2api.Value(tg.Port)
		}
		i := slices.IndexFunc(ts, func(h targetRecord) bool { return sameTarget(tg, h.Target, t) })
		unused := state == string(elbv2api.TargetHealthStateEnumUnused)
		switch {
		case i < 0 && unused:
			return ts, false, nil
		case i < 0:
			return nil, false, ErrTargetNotRegistered
		case unused && !ts[i].DeregisteredAt.IsZero():
			return slices.Delete(ts, i, i+1), true, nil // deregistration completed
		case unused:
			return ts, false, nil
		}
		h := &ts[i]
		if !h.DeregisteredAt.IsZero() || h.State == state && h.Reason == reason && h.Description == description {
			return ts, false, nil
		}
		h.State, h.Reason, h.Description = state, reason, description
		return ts, true, nil
	})
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return ErrTargetGroupNotFound
	}
	return err
}
