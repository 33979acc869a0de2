package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/capacity"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Capacity provider records:
//
//	/capacity-providers/<name>   ecsapi.CapacityProvider, the wire shape
//
// A capacity provider stands for a pool of berth agents. ECS's Auto Scaling
// group providers name their group by ARN
// (arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:UUID:autoScalingGroupName/NAME)
// or by name; berth maps the group NAME to the agents started with
// `berth agent --pool NAME`, which register the attribute berth.pool=NAME
// (capacity.PoolAttribute). The built-in FARGATE and FARGATE_SPOT providers
// stand for the agents started with `--launch-type FARGATE`
// (berth.launch-type=FARGATE); they exist in every account, are not stored,
// and cannot be updated, tagged or deleted. berth scales no Auto Scaling
// group: managed scaling, termination protection and draining are stored and
// echoed as ECS does, and do nothing.
//
// Deleted providers stay stored with status INACTIVE, describable by name,
// and their name can be reused.
const capacityProvidersPrefix = "/capacity-providers/"

const (
	providerFargate     = "FARGATE"
	providerFargateSpot = "FARGATE_SPOT"
)

// ECS's defaults for an Auto Scaling group provider's settings.
const (
	defaultTargetCapacity       = 100
	defaultMinimumScalingStep   = 1
	defaultMaximumScalingStep   = 10000
	defaultInstanceWarmupPeriod = 300
)

var (
	errNoCapacityProvider  = ecsapi.Errorf(ecsapi.CodeClientException, "The specified capacity provider does not exist. Specify a valid name or ARN and try again.")
	errNoManagedInstances  = ecsapi.Errorf(ecsapi.CodeClientException, "Amazon ECS Managed Instances capacity providers are not supported by berth. Specify an autoScalingGroupProvider; berth maps it to the agents of the pool named by the Auto Scaling group.")
	errCapacityProviderASG = ecsapi.Errorf(ecsapi.CodeInvalidParameterException, "The capacity provider must specify an autoScalingGroupProvider.")
)

func isFargateProvider(name string) bool {
	return name == providerFargate || name == providerFargateSpot
}

func (e *ECS) capacityProviderARN(name string) string {
	return e.names.Resource("capacity-provider/" + name)
}

// capacityProviderName resolves a "short name or full ARN" reference.
func capacityProviderName(ref string) (string, bool) {
	if !arn.IsARN(ref) {
		return ref, nameRE.MatchString(ref)
	}
	kind, rest, err := arn.ECSResource(ref)
	if err != nil || kind != "capacity-provider" {
		return "", false
	}
	return rest, nameRE.MatchString(rest)
}

// fargateProvider is the description of a built-in Fargate provider.
func (e *ECS) fargateProvider(name string) ecsapi.CapacityProvider {
	return ecsapi.CapacityProvider{
		CapacityProviderArn: ecsapi.Ptr(e.capacityProviderARN(name)),
		Name:                ecsapi.Ptr(name),
		Status:              ecsapi.Ptr(ecsapi.CapacityProviderStatusACTIVE),
		Tags:                []ecsapi.Tag{},
		Type:                ecsapi.Ptr(ecsapi.CapacityProviderType(name)),
	}
}

// validateCapacityProviderName applies ECS's naming rule: the cluster name
// characters, and no "aws", "ecs" or "fargate" prefix in any case.
func validateCapacityProviderName(name string) error {
	lower := strings.ToLower(name)
	if !nameRE.MatchString(name) || strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ecs") || strings.HasPrefix(lower, "fargate") {
		return clientErr(`The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with "aws", "ecs", or "fargate". Specify a valid name and try again.`)
	}
	return nil
}

// managedScalingDefaults fills the managed scaling settings left unset.
func managedScalingDefaults(ms *ecsapi.ManagedScaling) *ecsapi.ManagedScaling {
	out := ecsapi.ManagedScaling{}
	if ms != nil {
		out = *ms
	}
	if out.Status == nil {
		out.Status = ecsapi.Ptr(ecsapi.ManagedScalingStatusDISABLED)
	}
	if out.TargetCapacity == nil {
		out.TargetCapacity = ecsapi.Ptr(int32(defaultTargetCapacity))
	}
	if out.MinimumScalingStepSize == nil {
		out.MinimumScalingStepSize = ecsapi.Ptr(int32(defaultMinimumScalingStep))
	}
	if out.MaximumScalingStepSize == nil {
		out.MaximumScalingStepSize = ecsapi.Ptr(int32(defaultMaximumScalingStep))
	}
	if out.InstanceWarmupPeriod == nil {
		out.InstanceWarmupPeriod = ecsapi.Ptr(int32(defaultInstanceWarmupPeriod))
	}
	return &out
}

// loadCapacityProvider reads the stored provider name; a missing or
// INACTIVE one is errNoCapacityProvider.
func (e *ECS) loadCapacityProvider(ctx context.Context, name string) (ecsapi.CapacityProvider, int64, error) {
	var cp ecsapi.CapacityProvider
	rev, err := e.getJSON(ctx, capacityProviderKey(name), &cp)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ecsapi.Value(cp.Status) != ecsapi.CapacityProviderStatusACTIVE) {
		return cp, 0, errNoCapacityProvider
	}
	return cp, rev, err
}

// listCapacityProviders returns every stored provider in name order.
func (e *ECS) listCapacityProviders(ctx context.Context) ([]ecsapi.CapacityProvider, error) {
	kvs, _, err := e.st.List(ctx, capacityProvidersPrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]ecsapi.CapacityProvider, 0, len(kvs))
	for _, kv := range kvs {
		var cp ecsapi.CapacityProvider
		if err := json.Unmarshal(kv.Value, &cp); err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

// CreateCapacityProvider creates an Auto Scaling group capacity provider,
// standing for the pool of agents its group names, with ECS's defaults for
// the settings left out.
func (e *ECS) CreateCapacityProvider(ctx context.Context, in *ecsapi.CreateCapacityProviderRequest) (*ecsapi.CreateCapacityProviderResponse, error) {
	if err := validateCapacityProviderName(in.Name); err != nil {
		return nil, err
	}
	if in.AutoScalingGroupProvider == nil {
		if in.ManagedInstancesProvider != nil {
			return nil, errNoManagedInstances
		}
		return nil, errCapacityProviderASG
	}
	asg := *in.AutoScalingGroupProvider
	pool, ok := capacity.PoolOf(asg.AutoScalingGroupArn)
	if !ok {
		return nil, invalidParam("The specified Auto Scaling group ARN %s is invalid. Specify the ARN or the name of an Auto Scaling group and try again.", asg.AutoScalingGroupArn)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	asg.ManagedScaling = managedScalingDefaults(asg.ManagedScaling)
	if asg.ManagedTerminationProtection == nil {
		asg.ManagedTerminationProtection = ecsapi.Ptr(ecsapi.ManagedTerminationProtectionDISABLED)
	}
	if asg.ManagedDraining == nil {
		asg.ManagedDraining = ecsapi.Ptr(ecsapi.ManagedDrainingENABLED)
	}
	cp := ecsapi.CapacityProvider{
		CapacityProviderArn:      ecsapi.Ptr(e.capacityProviderARN(in.Name)),
		Name:                     ecsapi.Ptr(in.Name),
		Status:                   ecsapi.Ptr(ecsapi.CapacityProviderStatusACTIVE),
		AutoScalingGroupProvider: &asg,
		Tags:                     nonNil(in.Tags),
		Type:                     ecsapi.Ptr(ecsapi.CapacityProviderTypeEC2AUTOSCALING),
	}
	// One creation at a time, so two providers cannot claim one group.
	defer e.locks.lock(capacityProvidersPrefix)()
	key := capacityProviderKey(in.Name)
	err := retry(ctx, func() error {
		all, err := e.listCapacityProviders(ctx)
		if err != nil {
			return err
		}
		var rev int64
		for _, other := range all {
			if ecsapi.Value(other.Status) != ecsapi.CapacityProviderStatusACTIVE {
				continue
			}
			if ecsapi.Value(other.Name) == in.Name {
				return clientErr("The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
			}
			if other.AutoScalingGroupProvider == nil {
				continue
			}
			if p, _ := capacity.PoolOf(other.AutoScalingGroupProvider.AutoScalingGroupArn); p == pool {
				return clientErr("The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a unique Auto Scaling group ARN and try again.")
			}
		}
		if kv, err := e.st.Get(ctx, key); err == nil {
			rev = kv.ModRev // an INACTIVE provider of the same name
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(cp))})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.CreateCapacityProviderResponse{CapacityProvider: &cp}, nil
}

// DescribeCapacityProviders describes the named providers (names or ARNs;
// unknown ones are failures with reason MISSING), or, when none are named,
// every ACTIVE provider followed by FARGATE and FARGATE_SPOT, 10 per page
// by default. With cluster set the listing keeps the cluster's providers.
// Tags are included only when asked for.
func (e *ECS) DescribeCapacityProviders(ctx context.Context, in *ecsapi.DescribeCapacityProvidersRequest) (*ecsapi.DescribeCapacityProvidersResponse, error) {
	if len(in.CapacityProviders) > 100 {
		return nil, invalidParam("capacityProviders can have at most 100 entries.")
	}
	out := &ecsapi.DescribeCapacityProvidersResponse{CapacityProviders: []ecsapi.CapacityProvider{}, Failures: []ecsapi.Failure{}}
	emit := func(cp ecsapi.CapacityProvider) {
		if !slices.Contains(in.Include, ecsapi.CapacityProviderFieldTAGS) {
			cp.Tags = []ecsapi.Tag{}
		}
		out.CapacityProviders = append(out.CapacityProviders, cp)
	}
	if len(in.CapacityProviders) > 0 {
		for _, ref := range in.CapacityProviders {
			name, ok := capacityProviderName(ref)
			if !ok {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr("MISSING")})
				continue
			}
			if isFargateProvider(name) {
				emit(e.fargateProvider(name))
				continue
			}
			var cp ecsapi.CapacityProvider
			if _, err := e.getJSON(ctx, capacityProviderKey(name), &cp); errors.Is(err, store.ErrNotFound) {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(e.capacityProviderARN(name)), Reason: ecsapi.Ptr("MISSING")})
				continue
			} else if err != nil {
				return nil, err
			}
			emit(cp)
		}
		return out, nil
	}
	p, err := parsePage(in.NextToken, in.MaxResults, capacityProvidersPrefix, 10, 10)
	if err != nil {
		return nil, err
	}
	var only []string
	if in.Cluster != nil {
		c, _, err := e.activeCluster(ctx, in.Cluster, false)
		if err != nil {
			return nil, err
		}
		only = c.CapacityProviders
	}
	stored, err := e.listCapacityProviders(ctx)
	if err != nil {
		return nil, err
	}
	all := slices.DeleteFunc(stored, func(cp ecsapi.CapacityProvider) bool {
		return ecsapi.Value(cp.Status) != ecsapi.CapacityProviderStatusACTIVE
	})
	all = append(all, e.fargateProvider(providerFargate), e.fargateProvider(providerFargateSpot))
	if only != nil {
		all = slices.DeleteFunc(all, func(cp ecsapi.CapacityProvider) bool { return !slices.Contains(only, ecsapi.Value(cp.Name)) })
	}
	start := 0
	if p.after != "" {
		// Stored providers sort by name and come first; the Fargate ones
		// (whose names no created provider can have) follow in order.
		after := p.after[len(capacityProvidersPrefix):]
		rank := func(name string) (int, string) {
			switch name {
			case providerFargate:
				return 1, ""
			case providerFargateSpot:
				return 2, ""
			}
			return 0, name
		}
		ar, an := rank(after)
		start = len(all)
		for i, cp := range all {
			r, n := rank(ecsapi.Value(cp.Name))
			if r > ar || (r == ar && r == 0 && n > an) {
				start = i
				break
			}
		}
	}
	end := min(start+p.limit, len(all))
	for _, cp := range all[start:end] {
		emit(cp)
	}
	if end < len(all) {
		out.NextToken = pageToken(capacityProviderKey(ecsapi.Value(all[end-1].Name)))
	}
	return out, nil
}

// UpdateCapacityProvider changes an Auto Scaling group provider's managed
// scaling (the fields given; the others keep their values), termination
// protection and draining. berth applies the change at once: the response
// says UPDATE_IN_PROGRESS as ECS's does, and the provider is described
// UPDATE_COMPLETE from then on.
func (e *ECS) UpdateCapacityProvider(ctx context.Context, in *ecsapi.UpdateCapacityProviderRequest) (*ecsapi.UpdateCapacityProviderResponse, error) {
	name, ok := capacityProviderName(in.Name)
	if !ok {
		return nil, errNoCapacityProvider
	}
	if isFargateProvider(name) {
		return nil, clientErr("The FARGATE and FARGATE_SPOT capacity providers are reserved and cannot be updated.")
	}
	if in.AutoScalingGroupProvider == nil {
		if in.ManagedInstancesProvider != nil {
			return nil, errNoManagedInstances
		}
		return nil, errCapacityProviderASG
	}
	upd := in.AutoScalingGroupProvider
	var out ecsapi.CapacityProvider
	err := retry(ctx, func() error {
		cp, rev, err := e.loadCapacityProvider(ctx, name)
		if err != nil {
			return err
		}
		if cp.AutoScalingGroupProvider == nil {
			return errNoManagedInstances
		}
		asg := *cp.AutoScalingGroupProvider
		if ms := upd.ManagedScaling; ms != nil {
			cur := *managedScalingDefaults(asg.ManagedScaling)
			for _, f := range []struct{ dst, src **int32 }{
				{&cur.TargetCapacity, &ms.TargetCapacity},
				{&cur.MinimumScalingStepSize, &ms.MinimumScalingStepSize},
				{&cur.MaximumScalingStepSize, &ms.MaximumScalingStepSize},
				{&cur.InstanceWarmupPeriod, &ms.InstanceWarmupPeriod},
			} {
				if *f.src != nil {
					*f.dst = *f.src
				}
			}
			if ms.Status != nil {
				cur.Status = ms.Status
			}
			asg.ManagedScaling = &cur
		}
		if upd.ManagedTerminationProtection != nil {
			asg.ManagedTerminationProtection = upd.ManagedTerminationProtection
		}
		if upd.ManagedDraining != nil {
			asg.ManagedDraining = upd.ManagedDraining
		}
		cp.AutoScalingGroupProvider = &asg
		cp.UpdateStatus = ecsapi.Ptr(ecsapi.CapacityProviderUpdateStatusUPDATECOMPLETE)
		cp.UpdateStatusReason = nil
		key := capacityProviderKey(name)
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(cp))})
		out = cp
		return err
	})
	if err != nil {
		return nil, err
	}
	out.UpdateStatus = ecsapi.Ptr(ecsapi.CapacityProviderUpdateStatusUPDATEINPROGRESS)
	return &ecsapi.UpdateCapacityProviderResponse{CapacityProvider: &out}, nil
}

// DeleteCapacityProvider deletes a provider no ACTIVE cluster uses. As on
// ECS the call itself succeeds either way: a provider still associated with
// a cluster stays ACTIVE with updateStatus DELETE_FAILED and a reason naming
// the cluster. Otherwise the response says DELETE_IN_PROGRESS, and the
// provider is described INACTIVE, DELETE_COMPLETE from then on.
//
// Cluster writes that associate a provider rewrite its record in the same
// transaction (see validateCapacityProviders), so the compare-and-swap here
// fails if a cluster took the provider since it was read.
func (e *ECS) DeleteCapacityProvider(ctx context.Context, in *ecsapi.DeleteCapacityProviderRequest) (*ecsapi.DeleteCapacityProviderResponse, error) {
	name, ok := capacityProviderName(in.CapacityProvider)
	if !ok {
		return nil, errNoCapacityProvider
	}
	if isFargateProvider(name) {
		return nil, clientErr("The FARGATE and FARGATE_SPOT capacity providers are reserved and cannot be deleted. Disassociate them from a cluster with PutClusterCapacityProviders or by deleting the cluster.")
	}
	var out ecsapi.CapacityProvider
	err := retry(ctx, func() error {
		cp, rev, err := e.loadCapacityProvider(ctx, name)
		if err != nil {
			return err
		}
		cluster, err := e.clusterUsingProvider(ctx, name)
		if err != nil {
			return err
		}
		stored := cp
		if cluster != "" {
			stored.UpdateStatus = ecsapi.Ptr(ecsapi.CapacityProviderUpdateStatusDELETEFAILED)
			stored.UpdateStatusReason = ecsapi.Ptr("The capacity provider cannot be deleted because it is associated with cluster: " + cluster + ". Remove the capacity provider from the cluster and try again.")
			out = stored
		} else {
			stored.Status = ecsapi.Ptr(ecsapi.CapacityProviderStatusINACTIVE)
			stored.UpdateStatus = ecsapi.Ptr(ecsapi.CapacityProviderUpdateStatusDELETECOMPLETE)
			stored.UpdateStatusReason = nil
			out = cp
			out.UpdateStatus = ecsapi.Ptr(ecsapi.CapacityProviderUpdateStatusDELETEINPROGRESS)
			out.UpdateStatusReason = nil
		}
		key := capacityProviderKey(name)
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(stored))})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteCapacityProviderResponse{CapacityProvider: &out}, nil
}

// clusterUsingProvider returns the first ACTIVE cluster, by name, whose
// capacity providers include name, or "".
func (e *ECS) clusterUsingProvider(ctx context.Context, name string) (string, error) {
	kvs, _, err := e.st.List(ctx, clustersPrefix, store.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, kv := range kvs {
		var c ecsapi.Cluster
		if err := json.Unmarshal(kv.Value, &c); err != nil {
			return "", err
		}
		if ecsapi.Value(c.Status) == statusActive && slices.Contains(c.CapacityProviders, name) {
			return ecsapi.Value(c.ClusterName), nil
		}
	}
	return "", nil
}

// capacityProviderTaggable is the taggable of a created capacity provider;
// the rest of its ARN is its name.
func capacityProviderTaggable(resourceARN, name string) (taggable, error) {
	if !nameRE.MatchString(name) {
		return taggable{}, invalidParam("The ARN %q is not a valid capacity provider ARN.", resourceARN)
	}
	return taggable{
		key: capacityProviderKey(name),
		tags: func(raw []byte) ([]ecsapi.Tag, error) {
			var cp ecsapi.CapacityProvider
			err := json.Unmarshal(raw, &cp)
			return cp.Tags, err
		},
		set: func(raw []byte, tags []ecsapi.Tag) ([]byte, error) {
			var cp ecsapi.CapacityProvider
			if err := json.Unmarshal(raw, &cp); err != nil {
				return nil, err
			}
			cp.Tags = tags
			return mustJSON(cp), nil
		},
	}, nil
}
