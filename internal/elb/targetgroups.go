package elb

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"

	"github.com/berth-dev/berth/internal/awsquery"
	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

func tgKey(name string) string { return TargetGroupsPrefix + name }

func isCode(err error, code string) bool {
	var e *awsquery.Error
	return errors.As(err, &e) && e.Code == code
}

// httpLike reports whether p is an HTTP health check or listener protocol.
func httpLike(p elbv2api.ProtocolEnum) bool {
	return p == elbv2api.ProtocolEnumHTTP || p == elbv2api.ProtocolEnumHTTPS
}

// CreateTargetGroup creates a target group with ELB's defaults for its
// protocol and target type. Creating one that exists with the same settings
// returns it; other settings are DuplicateTargetGroupName.
func (e *ELB) CreateTargetGroup(ctx context.Context, in *elbv2api.CreateTargetGroupInput) (*elbv2api.CreateTargetGroupOutput, error) {
	if err := validName("Target group", in.Name); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	tt := elbv2api.Value(in.TargetType)
	if tt == "" {
		tt = elbv2api.TargetTypeEnumInstance
	}
	tg := elbv2api.TargetGroup{
		TargetGroupName:  elbv2api.Ptr(in.Name),
		TargetType:       &tt,
		LoadBalancerArns: []string{},
	}
	if tt == elbv2api.TargetTypeEnumLambda {
		if in.Protocol != nil || in.Port != nil || in.VpcId != nil {
			return nil, elbv2api.ValidationErrorf("A protocol, port and VPC ID cannot be specified for a target group with target type 'lambda'")
		}
		tg.HealthCheckEnabled = elbv2api.Ptr(elbv2api.Value(in.HealthCheckEnabled))
		tg.HealthCheckIntervalSeconds = elbv2api.Ptr(int32(35))
		tg.HealthCheckTimeoutSeconds = elbv2api.Ptr(int32(30))
		tg.HealthyThresholdCount = elbv2api.Ptr(int32(5))
		tg.UnhealthyThresholdCount = elbv2api.Ptr(int32(5))
		tg.HealthCheckPath = elbv2api.Ptr("/")
		tg.Matcher = &elbv2api.Matcher{HttpCode: elbv2api.Ptr("200")}
	} else {
		if in.Protocol == nil {
			return nil, elbv2api.ValidationErrorf("A protocol must be specified")
		}
		if in.Port == nil {
			return nil, elbv2api.ValidationErrorf("A port must be specified")
		}
		p := *in.Protocol
		switch p {
		case elbv2api.ProtocolEnumHTTP, elbv2api.ProtocolEnumHTTPS, elbv2api.ProtocolEnumTCP, elbv2api.ProtocolEnumTLS, elbv2api.ProtocolEnumUDP, elbv2api.ProtocolEnumTCPUDP:
		default:
			return nil, elbv2api.Errorf(elbv2api.CodeUnsupportedProtocolException, "berth does not support target groups with protocol '%s'", p)
		}
		if tt == elbv2api.TargetTypeEnumAlb && p != elbv2api.ProtocolEnumTCP {
			return nil, elbv2api.ValidationErrorf("Target groups with target type 'alb' must use the TCP protocol")
		}
		tg.Protocol = &p
		tg.Port = in.Port
		tg.VpcId = in.VpcId
		if tg.VpcId == nil {
			tg.VpcId = elbv2api.Ptr(e.vpcID())
		}
		if in.HealthCheckEnabled != nil && !*in.HealthCheckEnabled {
			return nil, elbv2api.ValidationErrorf("Health checks cannot be disabled for target groups with target type '%s'", tt)
		}
		tg.HealthCheckEnabled = elbv2api.Ptr(true)
		tg.HealthCheckPort = elbv2api.Ptr("traffic-port")
		tg.HealthCheckIntervalSeconds = elbv2api.Ptr(int32(30))
		tg.HealthyThresholdCount = elbv2api.Ptr(int32(5))
		tg.UnhealthyThresholdCount = elbv2api.Ptr(int32(2))
		ipType := elbv2api.Value(in.IpAddressType)
		if ipType == "" {
			ipType = elbv2api.TargetGroupIpAddressTypeEnumIpv4
		}
		tg.IpAddressType = &ipType
		if httpLike(p) {
			tg.HealthCheckProtocol = elbv2api.Ptr(p)
			tg.HealthCheckTimeoutSeconds = elbv2api.Ptr(int32(5))
			tg.HealthCheckPath = elbv2api.Ptr("/")
			tg.Matcher = &elbv2api.Matcher{HttpCode: elbv2api.Ptr("200")}
			pv := elbv2api.Value(in.ProtocolVersion)
			if pv == "" {
				pv = "HTTP1"
			}
			if pv != "HTTP1" && pv != "HTTP2" && pv != "GRPC" {
				return nil, elbv2api.ValidationErrorf("Protocol version '%s' is not valid: use HTTP1, HTTP2 or GRPC", pv)
			}
			tg.ProtocolVersion = &pv
			if pv == "GRPC" {
				tg.HealthCheckPath = elbv2api.Ptr("/AWS.ALB/healthcheck")
				tg.Matcher = &elbv2api.Matcher{GrpcCode: elbv2api.Ptr("12")}
			}
		} else {
			if in.ProtocolVersion != nil {
				return nil, elbv2api.ValidationErrorf("A protocol version can only be specified for HTTP and HTTPS target groups")
			}
			tg.HealthCheckProtocol = elbv2api.Ptr(elbv2api.ProtocolEnumTCP)
			tg.HealthCheckTimeoutSeconds = elbv2api.Ptr(int32(10))
		}
	}
	if err := applyHealthCheck(&tg, healthCheckParams{
		protocol: in.HealthCheckProtocol, port: in.HealthCheckPort, path: in.HealthCheckPath, enabled: in.HealthCheckEnabled,
		interval: in.HealthCheckIntervalSeconds, timeout: in.HealthCheckTimeoutSeconds, healthy: in.HealthyThresholdCount,
		unhealthy: in.UnhealthyThresholdCount, matcher: in.Matcher,
	}); err != nil {
		return nil, err
	}
	tg.TargetGroupArn = elbv2api.Ptr(e.arnPrefix() + "targetgroup/" + in.Name + "/" + resourceID())
	rec := tgRecord{TargetGroup: tg, Attributes: defaultAttributes(tg), Tags: nonNil(in.Tags)}
	var out elbv2api.TargetGroup
	err := retry(ctx, func() error {
		var have tgRecord
		_, err := e.getJSON(ctx, tgKey(in.Name), &have)
		switch {
		case err == nil:
			if sameSettings(have.TargetGroup, tg) {
				out = have.TargetGroup
				return nil
			}
			return elbv2api.Errorf(elbv2api.CodeDuplicateTargetGroupNameException, "A target group with the same name '%s' exists, but with different settings", in.Name)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		_, err = e.st.Txn(ctx, []store.Cond{{Key: tgKey(in.Name)}}, []store.Op{store.Put(tgKey(in.Name), mustJSON(rec))})
		out = tg
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateTargetGroupOutput{TargetGroups: []elbv2api.TargetGroup{out}}, nil
}

// sameSettings compares two target groups but for their identity.
func sameSettings(a, b elbv2api.TargetGroup) bool {
	a.TargetGroupArn, b.TargetGroupArn = nil, nil
	a.LoadBalancerArns, b.LoadBalancerArns = nil, nil
	return string(mustJSON(a)) == string(mustJSON(b))
}

type healthCheckParams struct {
	protocol                              *elbv2api.ProtocolEnum
	port, path                            *string
	enabled                               *bool
	interval, timeout, healthy, unhealthy *int32
	matcher                               *elbv2api.Matcher
}

// applyHealthCheck sets the health check parameters given on tg and checks
// the result against ELB's rules.
func applyHealthCheck(tg *elbv2api.TargetGroup, p healthCheckParams) error {
	lambda := elbv2api.Value(tg.TargetType) == elbv2api.TargetTypeEnumLambda
	if p.protocol != nil {
		if lambda {
			return elbv2api.ValidationErrorf("A health check protocol cannot be specified for target groups with target type 'lambda'")
		}
		switch *p.protocol {
		case elbv2api.ProtocolEnumHTTP, elbv2api.ProtocolEnumHTTPS, elbv2api.ProtocolEnumTCP:
		default:
			return elbv2api.ValidationErrorf("Health check protocol '%s' is not supported", *p.protocol)
		}
		if httpLike(elbv2api.Value(tg.Protocol)) && !httpLike(*p.protocol) {
			return elbv2api.ValidationErrorf("Health check protocol '%s' is not supported for target groups with the %s protocol", *p.protocol, elbv2api.Value(tg.Protocol))
		}
		tg.HealthCheckProtocol = p.protocol
		if httpLike(*p.protocol) {
			if tg.HealthCheckPath == nil {
				tg.HealthCheckPath = elbv2api.Ptr("/")
			}
			if tg.Matcher == nil {
				// Network load balancer HTTP health checks accept 200-399.
				tg.Matcher = &elbv2api.Matcher{HttpCode: elbv2api.Ptr("200-399")}
			}
		} else if !httpLike(elbv2api.Value(tg.Protocol)) {
			tg.HealthCheckPath, tg.Matcher = nil, nil
		}
	}
	if p.port != nil {
		if *p.port != "traffic-port" {
			n, err := strconv.Atoi(*p.port)
			if err != nil || n < 1 || n > 65535 {
				return elbv2api.ValidationErrorf("Health check port '%s' must be 'traffic-port' or a port number from 1 to 65535", *p.port)
			}
		}
		tg.HealthCheckPort = p.port
	}
	hcHTTP := lambda || httpLike(elbv2api.Value(tg.HealthCheckProtocol))
	if p.path != nil {
		if !hcHTTP {
			return elbv2api.ValidationErrorf("A health check path can only be specified for HTTP and HTTPS health checks")
		}
		if len(*p.path) == 0 || (*p.path)[0] != '/' {
			return elbv2api.ValidationErrorf("Health check path '%s' must begin with a '/' character", *p.path)
		}
		tg.HealthCheckPath = p.path
	}
	if p.matcher != nil {
		if !hcHTTP {
			return elbv2api.ValidationErrorf("A health check matcher can only be specified for HTTP and HTTPS health checks")
		}
		if p.matcher.HttpCode == nil && p.matcher.GrpcCode == nil {
			return elbv2api.ValidationErrorf("A matcher must have an HTTP code or a gRPC code")
		}
		tg.Matcher = p.matcher
	}
	if p.enabled != nil {
		if !*p.enabled && !lambda {
			return elbv2api.ValidationErrorf("Health checks cannot be disabled for target groups with target type '%s'", elbv2api.Value(tg.TargetType))
		}
		tg.HealthCheckEnabled = p.enabled
	}
	for _, f := range []struct {
		dst **int32
		src *int32
	}{{&tg.HealthCheckIntervalSeconds, p.interval}, {&tg.HealthCheckTimeoutSeconds, p.timeout}, {&tg.HealthyThresholdCount, p.healthy}, {&tg.UnhealthyThresholdCount, p.unhealthy}} {
		if f.src != nil {
			*f.dst = f.src
		}
	}
	if elbv2api.Value(tg.HealthCheckTimeoutSeconds) >= elbv2api.Value(tg.HealthCheckIntervalSeconds) {
		return elbv2api.ValidationErrorf("Health check timeout '%d' must be smaller than the interval '%d'", elbv2api.Value(tg.HealthCheckTimeoutSeconds), elbv2api.Value(tg.HealthCheckIntervalSeconds))
	}
	return nil
}

// targetGroupByARN loads a target group; a missing one is
// TargetGroupNotFound.
func (e *ELB) targetGroupByARN(ctx context.Context, arn string) (tgRecord, int64, error) {
	var rec tgRecord
	kind, name, ok := e.parseARN(arn)
	if !ok || kind != "targetgroup" {
		return rec, 0, elbv2api.Errorf(elbv2api.CodeTargetGroupNotFoundException, "Target groups '%s' not found", arn)
	}
	rev, err := e.getJSON(ctx, tgKey(name), &rec)
	if errors.Is(err, store.ErrNotFound) || err == nil && elbv2api.Value(rec.TargetGroup.TargetGroupArn) != arn {
		return rec, 0, elbv2api.Errorf(elbv2api.CodeTargetGroupNotFoundException, "Target groups '%s' not found", arn)
	}
	return rec, rev, err
}

// DescribeTargetGroups describes target groups by ARN, by name, by load
// balancer, or all of them a page at a time.
func (e *ELB) DescribeTargetGroups(ctx context.Context, in *elbv2api.DescribeTargetGroupsInput) (*elbv2api.DescribeTargetGroupsOutput, error) {
	n := 0
	for _, set := range []bool{in.LoadBalancerArn != nil, len(in.TargetGroupArns) > 0, len(in.Names) > 0} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, elbv2api.ValidationErrorf("Only one of load balancer ARN, target group ARNs or names can be specified")
	}
	var tgs []elbv2api.TargetGroup
	switch {
	case len(in.TargetGroupArns) > 0:
		for _, a := range in.TargetGroupArns {
			rec, _, err := e.targetGroupByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			tgs = append(tgs, rec.TargetGroup)
		}
	case len(in.Names) > 0:
		for _, name := range in.Names {
			var rec tgRecord
			_, err := e.getJSON(ctx, tgKey(name), &rec)
			if errors.Is(err, store.ErrNotFound) {
				return nil, elbv2api.Errorf(elbv2api.CodeTargetGroupNotFoundException, "One or more target groups not found")
			}
			if err != nil {
				return nil, err
			}
			tgs = append(tgs, rec.TargetGroup)
		}
	default:
		if in.LoadBalancerArn != nil {
			if _, _, err := e.loadBalancerByARN(ctx, *in.LoadBalancerArn); err != nil {
				return nil, err
			}
		}
		recs, _, err := list[tgRecord](ctx, e.st, TargetGroupsPrefix)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if in.LoadBalancerArn == nil || slices.Contains(r.TargetGroup.LoadBalancerArns, *in.LoadBalancerArn) {
				tgs = append(tgs, r.TargetGroup)
			}
		}
	}
	tgs, next := page(tgs, func(tg elbv2api.TargetGroup) string { return elbv2api.Value(tg.TargetGroupName) }, in.Marker, in.PageSize)
	return &elbv2api.DescribeTargetGroupsOutput{TargetGroups: nonNil(tgs), NextMarker: next}, nil
}

// ModifyTargetGroup changes a target group's health check settings.
func (e *ELB) ModifyTargetGroup(ctx context.Context, in *elbv2api.ModifyTargetGroupInput) (*elbv2api.ModifyTargetGroupOutput, error) {
	var out elbv2api.TargetGroup
	err := retry(ctx, func() error {
		rec, rev, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		if err := applyHealthCheck(&rec.TargetGroup, healthCheckParams{
			protocol: in.HealthCheckProtocol, port: in.HealthCheckPort, path: in.HealthCheckPath, enabled: in.HealthCheckEnabled,
			interval: in.HealthCheckIntervalSeconds, timeout: in.HealthCheckTimeoutSeconds, healthy: in.HealthyThresholdCount,
			unhealthy: in.UnhealthyThresholdCount, matcher: in.Matcher,
		}); err != nil {
			return err
		}
		k := tgKey(elbv2api.Value(rec.TargetGroup.TargetGroupName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Put(k, mustJSON(rec))})
		out = rec.TargetGroup
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyTargetGroupOutput{TargetGroups: []elbv2api.TargetGroup{out}}, nil
}

// DeleteTargetGroup deletes a target group that no load balancer uses.
// Deleting one that does not exist succeeds, as in ELB.
func (e *ELB) DeleteTargetGroup(ctx context.Context, in *elbv2api.DeleteTargetGroupInput) (*elbv2api.DeleteTargetGroupOutput, error) {
	err := retry(ctx, func() error {
		rec, rev, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
		if isCode(err, elbv2api.CodeTargetGroupNotFoundException) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec.TargetGroup.LoadBalancerArns) > 0 {
			return elbv2api.Errorf(elbv2api.CodeResourceInUseException, "Target group '%s' is currently in use by a listener or a rule", in.TargetGroupArn)
		}
		k := tgKey(elbv2api.Value(rec.TargetGroup.TargetGroupName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Delete(k)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteTargetGroupOutput{}, nil
}

// attributeDefaults returns the attributes ELB reports for a new target
// group, by protocol and target type.
func attributeDefaults(tg elbv2api.TargetGroup) map[string]string {
	health := map[string]string{
		"target_group_health.dns_failover.minimum_healthy_targets.count":                 "1",
		"target_group_health.dns_failover.minimum_healthy_targets.percentage":            "off",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      "1",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
		"load_balancing.cross_zone.enabled":                                              "use_load_balancer_configuration",
	}
	tt := elbv2api.Value(tg.TargetType)
	p := elbv2api.Value(tg.Protocol)
	var m map[string]string
	switch {
	case tt == elbv2api.TargetTypeEnumLambda:
		return map[string]string{"lambda.multi_value_headers.enabled": "false"}
	case httpLike(p):
		m = map[string]string{
			"deregistration_delay.timeout_seconds":        "300",
			"stickiness.enabled":                          "false",
			"stickiness.type":                             "lb_cookie",
			"stickiness.lb_cookie.duration_seconds":       "86400",
			"stickiness.app_cookie.cookie_name":           "",
			"stickiness.app_cookie.duration_seconds":      "86400",
			"slow_start.duration_seconds":                 "0",
			"load_balancing.algorithm.type":               "round_robin",
			"load_balancing.algorithm.anomaly_mitigation": "off",
		}
	default:
		preserve := "true"
		if tt == elbv2api.TargetTypeEnumIp && (p == elbv2api.ProtocolEnumTCP || p == elbv2api.ProtocolEnumTLS) {
			preserve = "false"
		}
		m = map[string]string{
			"deregistration_delay.timeout_seconds":                         "300",
			"deregistration_delay.connection_termination.enabled":          "false",
			"stickiness.enabled":                                           "false",
			"stickiness.type":                                              "source_ip",
			"proxy_protocol_v2.enabled":                                    "false",
			"preserve_client_ip.enabled":                                   preserve,
			"target_health_state.unhealthy.connection_termination.enabled": "true",
			"target_health_state.unhealthy.draining_interval_seconds":      "0",
		}
	}
	for k, v := range health {
		m[k] = v
	}
	return m
}

func defaultAttributes(tg elbv2api.TargetGroup) []elbv2api.TargetGroupAttribute {
	m := attributeDefaults(tg)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]elbv2api.TargetGroupAttribute, len(keys))
	for i, k := range keys {
		out[i] = elbv2api.TargetGroupAttribute{Key: elbv2api.Ptr(k), Value: elbv2api.Ptr(m[k])}
	}
	return out
}

// DescribeTargetGroupAttributes returns a target group's attributes.
func (e *ELB) DescribeTargetGroupAttributes(ctx context.Context, in *elbv2api.DescribeTargetGroupAttributesInput) (*elbv2api.DescribeTargetGroupAttributesOutput, error) {
	rec, _, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
	if err != nil {
		return nil, err
	}
	return &elbv2api.DescribeTargetGroupAttributesOutput{Attributes: nonNil(rec.Attributes)}, nil
}

// ModifyTargetGroupAttributes sets attributes the target group's protocol
// has and returns them all.
func (e *ELB) ModifyTargetGroupAttributes(ctx context.Context, in *elbv2api.ModifyTargetGroupAttributesInput) (*elbv2api.ModifyTargetGroupAttributesOutput, error) {
	if len(in.Attributes) == 0 {
		return nil, elbv2api.ValidationErrorf("At least one attribute must be specified")
	}
	var out []elbv2api.TargetGroupAttribute
	err := retry(ctx, func() error {
		rec, rev, err := e.targetGroupByARN(ctx, in.TargetGroupArn)
		if err != nil {
			return err
		}
		attrs := slices.Clone(rec.Attributes)
		for _, a := range in.Attributes {
			k, v := elbv2api.Value(a.Key), elbv2api.Value(a.Value)
			i := slices.IndexFunc(attrs, func(x elbv2api.TargetGroupAttribute) bool { return elbv2api.Value(x.Key) == k })
			if i < 0 {
				return elbv2api.ValidationErrorf("Target group attribute key '%s' is not recognized", k)
			}
			if err := checkAttribute(k, v); err != nil {
				return err
			}
			attrs[i].Value = elbv2api.Ptr(v)
		}
		rec.Attributes = attrs
		k := tgKey(elbv2api.Value(rec.TargetGroup.TargetGroupName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Put(k, mustJSON(rec))})
		out = attrs
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyTargetGroupAttributesOutput{Attributes: out}, nil
}

// attributeRanges are the numeric attributes and their allowed ranges.
var attributeRanges = map[string][2]int{
	"deregistration_delay.timeout_seconds":                                      {0, 3600},
	"stickiness.lb_cookie.duration_seconds":                                     {1, 604800},
	"stickiness.app_cookie.duration_seconds":                                    {1, 604800},
	"slow_start.duration_seconds":                                               {0, 900},
	"target_health_state.unhealthy.draining_interval_seconds":                   {0, 360000},
	"target_group_health.dns_failover.minimum_healthy_targets.count":            {1, 1 << 30},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": {1, 1 << 30},
}

func checkAttribute(k, v string) error {
	if r, ok := attributeRanges[k]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < r[0] || n > r[1] {
			return elbv2api.ValidationErrorf("Target group attribute '%s' must be an integer from %d to %d, not '%s'", k, r[0], r[1], v)
		}
		if k == "slow_start.duration_seconds" && n > 0 && n < 30 {
			return elbv2api.ValidationErrorf("Target group attribute '%s' must be 0 or from 30 to 900, not '%s'", k, v)
		}
		return nil
	}
	switch {
	case k == "stickiness.enabled" || k == "proxy_protocol_v2.enabled" || k == "preserve_client_ip.enabled" ||
		k == "deregistration_delay.connection_termination.enabled" || k == "lambda.multi_value_headers.enabled" ||
		k == "target_health_state.unhealthy.connection_termination.enabled":
		if v != "true" && v != "false" {
			return elbv2api.ValidationErrorf("Target group attribute '%s' must be 'true' or 'false', not '%s'", k, v)
		}
	case k == "stickiness.type":
		if !slices.Contains([]string{"lb_cookie", "app_cookie", "source_ip", "source_ip_dest_ip", "source_ip_dest_ip_proto"}, v) {
			return elbv2api.ValidationErrorf("Target group attribute 'stickiness.type' value '%s' is not valid", v)
		}
	case k == "load_balancing.algorithm.type":
		if !slices.Contains([]string{"round_robin", "least_outstanding_requests", "weighted_random"}, v) {
			return elbv2api.ValidationErrorf("Target group attribute 'load_balancing.algorithm.type' value '%s' is not valid", v)
		}
	}
	return nil
}
