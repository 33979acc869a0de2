package elb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// hostedZones are the Route 53 zone ids of ELB DNS names, by region, for
// application and network load balancers.
var hostedZones = map[string][2]string{
	"us-east-1":      {"Z35SXDOTRQ7X7K", "Z26RNL4JYFTOTI"},
	"us-east-2":      {"Z3AADJGX6KTTL2", "ZLMOA37VPKANP"},
	"us-west-1":      {"Z368ELLRRE2KJ0", "Z24FKFUX50B4VW"},
	"us-west-2":      {"Z1H1FL5HABSF5", "Z18D5FSROUN65G"},
	"eu-west-1":      {"Z32O12XQLNTSW2", "Z2IFOLAFXWLO4F"},
	"eu-central-1":   {"Z215JYRZR1TBD5", "Z3F0SRJ5LGBH90"},
	"ap-southeast-1": {"Z1LMS91P8CMLE5", "ZKVM4W9LS7TM"},
	"ap-northeast-1": {"Z14GRHDCWA56QT", "Z31USIVHYNEOWT"},
}

func lbKey(name string) string { return LoadBalancersPrefix + name }

func (e *ELB) hostedZone(typ elbv2api.LoadBalancerTypeEnum) string {
	z, ok := hostedZones[e.region]
	if !ok {
		z = hostedZones["us-east-1"]
	}
	if typ == elbv2api.LoadBalancerTypeEnumNetwork {
		return z[1]
	}
	return z[0]
}

// CreateLoadBalancer creates an application or network load balancer. A
// second call with the same name and settings returns the existing one, as
// ELB does; other settings are DuplicateLoadBalancerName.
func (e *ELB) CreateLoadBalancer(ctx context.Context, in *elbv2api.CreateLoadBalancerInput) (*elbv2api.CreateLoadBalancerOutput, error) {
	if err := validName("Load balancer", in.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Name, "internal-") {
		return nil, elbv2api.ValidationErrorf("Load balancer name '%s' cannot begin with 'internal-'", in.Name)
	}
	typ := elbv2api.Value(in.Type)
	if typ == "" {
		typ = elbv2api.LoadBalancerTypeEnumApplication
	}
	if typ != elbv2api.LoadBalancerTypeEnumApplication && typ != elbv2api.LoadBalancerTypeEnumNetwork {
		return nil, elbv2api.Errorf(elbv2api.CodeOperationNotPermittedException, "berth does not support load balancers of type '%s'", typ)
	}
	scheme := elbv2api.Value(in.Scheme)
	if scheme == "" {
		scheme = elbv2api.LoadBalancerSchemeEnumInternetFacing
	}
	ipType := elbv2api.Value(in.IpAddressType)
	if ipType == "" {
		ipType = elbv2api.IpAddressTypeIpv4
	}
	if in.Subnets != nil && in.SubnetMappings != nil {
		return nil, elbv2api.ValidationErrorf("You can specify subnets or subnet mappings, not both")
	}
	subnets := in.Subnets
	for _, m := range in.SubnetMappings {
		subnets = append(subnets, elbv2api.Value(m.SubnetId))
	}
	for _, s := range subnets {
		if s == "" {
			return nil, elbv2api.ValidationErrorf("A subnet ID cannot be empty")
		}
	}
	if dup := firstDuplicate(subnets); dup != "" {
		return nil, elbv2api.Errorf(elbv2api.CodeInvalidConfigurationRequestException, "Subnet '%s' is specified more than once", dup)
	}
	switch {
	case len(subnets) == 0:
		return nil, elbv2api.ValidationErrorf("At least one subnet must be specified")
	case typ == elbv2api.LoadBalancerTypeEnumApplication && len(subnets) < 2:
		return nil, elbv2api.ValidationErrorf("At least two subnets in two different Availability Zones must be specified")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}

	id := resourceID()
	kind := "app"
	if typ == elbv2api.LoadBalancerTypeEnumNetwork {
		kind = "net"
	}
	dnsName := fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", in.Name, 1_000_000_000+hexNumber(id)%9_000_000_000, e.region)
	if typ == elbv2api.LoadBalancerTypeEnumNetwork {
		dnsName = fmt.Sprintf("%s-%s.elb.%s.amazonaws.com", in.Name, id, e.region)
	}
	if scheme == elbv2api.LoadBalancerSchemeEnumInternal {
		dnsName = "internal-" + dnsName
	}
	zones := make([]elbv2api.AvailabilityZone, len(subnets))
	for i, s := range subnets {
		zones[i] = elbv2api.AvailabilityZone{ZoneName: elbv2api.Ptr(e.region + string(rune('a'+i%26))), SubnetId: elbv2api.Ptr(s), LoadBalancerAddresses: []elbv2api.LoadBalancerAddress{}}
		if i < len(in.SubnetMappings) {
			m := in.SubnetMappings[i]
			if m.AllocationId != nil || m.PrivateIPv4Address != nil || m.IPv6Address != nil {
				zones[i].LoadBalancerAddresses = []elbv2api.LoadBalancerAddress{{AllocationId: m.AllocationId, PrivateIPv4Address: m.PrivateIPv4Address, IPv6Address: m.IPv6Address}}
			}
		}
	}
	lb := elbv2api.LoadBalancer{
		LoadBalancerArn:       elbv2api.Ptr(e.arnPrefix() + "loadbalancer/" + kind + "/" + in.Name + "/" + id),
		DNSName:               elbv2api.Ptr(dnsName),
		CanonicalHostedZoneId: elbv2api.Ptr(e.hostedZone(typ)),
		CreatedTime:           elbv2api.Ptr(e.now().UTC().Truncate(1e6)),
		LoadBalancerName:      elbv2api.Ptr(in.Name),
		Scheme:                &scheme,
		VpcId:                 elbv2api.Ptr(e.vpcID()),
		State:                 &elbv2api.LoadBalancerState{Code: elbv2api.Ptr(elbv2api.LoadBalancerStateEnumActive)},
		Type:                  &typ,
		AvailabilityZones:     zones,
		IpAddressType:         &ipType,
		CustomerOwnedIpv4Pool: in.CustomerOwnedIpv4Pool,
	}
	if typ == elbv2api.LoadBalancerTypeEnumApplication || in.SecurityGroups != nil {
		lb.SecurityGroups = nonNil(in.SecurityGroups)
	}
	rec := lbRecord{LoadBalancer: lb, Tags: nonNil(in.Tags)}
	var out elbv2api.LoadBalancer
	err := retry(ctx, func() error {
		var have lbRecord
		_, err := e.getJSON(ctx, lbKey(in.Name), &have)
		switch {
		case err == nil:
			h := have.LoadBalancer
			if elbv2api.Value(h.Type) == typ && elbv2api.Value(h.Scheme) == scheme && slices.Equal(zoneSubnets(h.AvailabilityZones), subnets) {
				out = h
				return nil
			}
			return elbv2api.Errorf(elbv2api.CodeDuplicateLoadBalancerNameException, "A load balancer with the same name '%s' exists, but with different settings", in.Name)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		_, err = e.st.Txn(ctx, []store.Cond{{Key: lbKey(in.Name)}}, []store.Op{store.Put(lbKey(in.Name), mustJSON(rec))})
		out = lb
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateLoadBalancerOutput{LoadBalancers: []elbv2api.LoadBalancer{out}}, nil
}

func zoneSubnets(zones []elbv2api.AvailabilityZone) []string {
	out := make([]string, len(zones))
	for i, z := range zones {
		out[i] = elbv2api.Value(z.SubnetId)
	}
	return out
}

func firstDuplicate(xs []string) string {
	seen := map[string]bool{}
	for _, x := range xs {
		if seen[x] {
			return x
		}
		seen[x] = true
	}
	return ""
}

func hexNumber(id string) uint64 {
	n, _ := strconv.ParseUint(id, 16, 64)
	return n
}

// loadBalancerByARN loads a load balancer; a missing one, or an ARN that
// names none, is LoadBalancerNotFound.
func (e *ELB) loadBalancerByARN(ctx context.Context, arn string) (lbRecord, int64, error) {
	var rec lbRecord
	kind, name, ok := e.parseARN(arn)
	if !ok || kind != "loadbalancer" {
		if !strings.HasPrefix(arn, "arn:") {
			return rec, 0, elbv2api.ValidationErrorf("'%s' is not a valid load balancer ARN", arn)
		}
		return rec, 0, elbv2api.Errorf(elbv2api.CodeLoadBalancerNotFoundException, "Load balancer '%s' not found", arn)
	}
	rev, err := e.getJSON(ctx, lbKey(name), &rec)
	if errors.Is(err, store.ErrNotFound) || err == nil && elbv2api.Value(rec.LoadBalancer.LoadBalancerArn) != arn {
		return rec, 0, elbv2api.Errorf(elbv2api.CodeLoadBalancerNotFoundException, "Load balancer '%s' not found", arn)
	}
	return rec, rev, err
}

// DescribeLoadBalancers describes the named load balancers, or all of them
// a page at a time.
func (e *ELB) DescribeLoadBalancers(ctx context.Context, in *elbv2api.DescribeLoadBalancersInput) (*elbv2api.DescribeLoadBalancersOutput, error) {
	if len(in.LoadBalancerArns) > 0 && len(in.Names) > 0 {
		return nil, elbv2api.ValidationErrorf("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	var lbs []elbv2api.LoadBalancer
	switch {
	case len(in.LoadBalancerArns) > 0:
		for _, a := range in.LoadBalancerArns {
			rec, _, err := e.loadBalancerByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			lbs = append(lbs, rec.LoadBalancer)
		}
	case len(in.Names) > 0:
		for _, n := range in.Names {
			var rec lbRecord
			_, err := e.getJSON(ctx, lbKey(n), &rec)
			if errors.Is(err, store.ErrNotFound) {
				return nil, elbv2api.Errorf(elbv2api.CodeLoadBalancerNotFoundException, "Load balancers '[%s]' not found", n)
			}
			if err != nil {
				return nil, err
			}
			lbs = append(lbs, rec.LoadBalancer)
		}
	default:
		recs, _, err := list[lbRecord](ctx, e.st, LoadBalancersPrefix)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			lbs = append(lbs, r.LoadBalancer)
		}
	}
	lbs, next := page(lbs, func(lb elbv2api.LoadBalancer) string { return elbv2api.Value(lb.LoadBalancerName) }, in.Marker, in.PageSize)
	return &elbv2api.DescribeLoadBalancersOutput{LoadBalancers: nonNil(lbs), NextMarker: next}, nil
}

// DeleteLoadBalancer deletes a load balancer and its listeners. Deleting
// one that does not exist succeeds, as in ELB. Target groups it was
// attached to are detached.
func (e *ELB) DeleteLoadBalancer(ctx context.Context, in *elbv2api.DeleteLoadBalancerInput) (*elbv2api.DeleteLoadBalancerOutput, error) {
	err := retry(ctx, func() error {
		rec, rev, err := e.loadBalancerByARN(ctx, in.LoadBalancerArn)
		if isCode(err, elbv2api.CodeLoadBalancerNotFoundException) {
			return nil
		}
		if err != nil {
			return err
		}
		name := elbv2api.Value(rec.LoadBalancer.LoadBalancerName)
		conds := []store.Cond{{Key: lbKey(name), ModRev: rev}}
		ops := []store.Op{store.Delete(lbKey(name))}
		// Its listeners and their rules go with it. Listener writes also
		// rewrite the load balancer record, so the revision condition
		// covers them.
		lkvs, _, err := e.st.List(ctx, ListenersPrefix+name+"/", store.ListOptions{})
		if err != nil {
			return err
		}
		for _, kv := range lkvs {
			ops = append(ops, store.Delete(kv.Key))
		}
		tgs, revs, err := list[tgRecord](ctx, e.st, TargetGroupsPrefix)
		if err != nil {
			return err
		}
		for i, tg := range tgs {
			if !slices.Contains(tg.TargetGroup.LoadBalancerArns, in.LoadBalancerArn) {
				continue
			}
			tg.TargetGroup.LoadBalancerArns = slices.DeleteFunc(tg.TargetGroup.LoadBalancerArns, func(a string) bool { return a == in.LoadBalancerArn })
			k := tgKey(elbv2api.Value(tg.TargetGroup.TargetGroupName))
			conds = append(conds, store.Cond{Key: k, ModRev: revs[i]})
			ops = append(ops, store.Put(k, mustJSON(tg)))
		}
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteLoadBalancerOutput{}, nil
}
