package elb

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
)

// ServiceTargets is the ECS service controller's view of the target groups
// (services' loadBalancers): it registers and deregisters one target at a
// time and reads a target's health. Obtain it with (*ELB).ServiceTargets.
type ServiceTargets struct{ e *ELB }

// ServiceTargets returns the Go API the ECS service controller registers
// its tasks with.
func (e *ELB) ServiceTargets() ServiceTargets { return ServiceTargets{e} }

// RegisterTarget registers id:port (port zero: the target group's port) in
// the target group; a registered target is left as it is, a draining one is
// registered again. It does not check the id against the target type (the
// controller derives it from the task).
func (s ServiceTargets) RegisterTarget(ctx context.Context, tgARN, id string, port int32) error {
	err := s.e.updateTargets(ctx, tgARN, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		t := Target{ID: id, Port: port}
		if t.Port == 0 {
			t.Port = elbv2api.Value(rec.TargetGroup.Port)
		}
		ts, changed := s.e.register(rec.TargetGroup, ts, []Target{t})
		return ts, changed, nil
	})
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return ErrTargetGroupNotFound
	}
	return err
}

// DeregisterTarget deregisters id:port: it drains for the target group's
// deregistration delay, as with DeregisterTargets. A target that is not
// registered, or a target group that no longer exists, is not an error.
func (s ServiceTargets) DeregisterTarget(ctx context.Context, tgARN, id string, port int32) error {
	err := s.e.updateTargets(ctx, tgARN, func(rec tgRecord, ts []targetRecord) ([]targetRecord, bool, error) {
		t := Target{ID: id, Port: port}
		if t.Port == 0 {
			t.Port = elbv2api.Value(rec.TargetGroup.Port)
		}
		ts, changed := s.e.deregister(rec, ts, []Target{t})
		return ts, changed, nil
	})
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return nil
	}
	return err
}

// TargetHealth returns the health state of the target id:port (initial,
// healthy, unhealthy, unused, unavailable, or draining while its
// deregistration is in progress), or "" when it is not in the target group
// (never registered, or its deregistration completed) or the target group
// does not exist.
func (s ServiceTargets) TargetHealth(ctx context.Context, tgARN, id string, port int32) (string, error) {
	tg, err := s.e.TargetGroup(ctx, tgARN)
	if errors.Is(err, ErrTargetGroupNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if port == 0 {
		port = tg.Port
	}
	for _, t := range tg.Targets {
		if t.ID == id && t.Port == port {
			return t.State, nil
		}
	}
	return "", nil
}

// DeregistrationDelay returns the target group's deregistration delay
// (deregistration_delay.timeout_seconds): how long a deregistered target
// drains at most. It is zero when the target group does not exist.
func (s ServiceTargets) DeregistrationDelay(ctx context.Context, tgARN string) (time.Duration, error) {
	tg, err := s.e.TargetGroup(ctx, tgARN)
	if errors.Is(err, ErrTargetGroupNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return tg.DeregistrationDelay, nil
}

// TargetType returns the target group's target type (instance, ip, lambda,
// alb), or "" when the target group does not exist.
func (s ServiceTargets) TargetType(ctx context.Context, tgARN string) (string, error) {
	rec, _, err := s.e.targetGroupByARN(ctx, tgARN)
	if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(elbv2api.Value(rec.TargetGroup.TargetType)), nil
}
