package elb

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// Target is one registered target of a target group: an instance id, IP
// address, Lambda ARN or ALB ARN, and the port traffic goes to (the target
// group's port when zero).
type Target struct {
	ID               string `json:"Id"`
	Port             int32  `json:"Port,omitempty"`
	AvailabilityZone string `json:"AvailabilityZone,omitempty"`
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
	Targets             []Target
}

func info(rec tgRecord) TargetGroupInfo {
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
		Targets:    append([]Target(nil), rec.Targets...),
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
	return info(rec), nil
}

// TargetGroups returns every target group, by name.
func (e *ELB) TargetGroups(ctx context.Context) ([]TargetGroupInfo, error) {
	recs, _, err := list[tgRecord](ctx, e.st, TargetGroupsPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]TargetGroupInfo, len(recs))
	for i, r := range recs {
		out[i] = info(r)
	}
	return out, nil
}

// SetTargets replaces the registered targets of a target group (for the
// ECS integration until RegisterTargets is served).
func (e *ELB) SetTargets(ctx context.Context, arn string, targets []Target) error {
	return retry(ctx, func() error {
		rec, rev, err := e.targetGroupByARN(ctx, arn)
		if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
			return ErrTargetGroupNotFound
		}
		if err != nil {
			return err
		}
		rec.Targets = append([]Target(nil), targets...)
		k := tgKey(elbv2api.Value(rec.TargetGroup.TargetGroupName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Put(k, mustJSON(rec))})
		return err
	})
}
