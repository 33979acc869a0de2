package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

const (
	clustersPrefix = "/clusters/"
	defaultCluster = "default"
	statusActive   = "ACTIVE"
	statusInactive = "INACTIVE"
)

// Keys of the resources that keep a cluster from being deleted; the agent,
// task and service code write under these prefixes.
func clusterKey(name string) string          { return clustersPrefix + name }
func servicesPrefix(cluster string) string   { return "/services/" + cluster + "/" }
func tasksPrefix(cluster string) string      { return "/tasks/" + cluster + "/" }
func instancesPrefix(cluster string) string  { return "/instances/" + cluster + "/" }
func capacityProviderKey(name string) string { return "/capacity-providers/" + name }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// clusterRef resolves an optional "name or ARN" cluster parameter; absent
// means the default cluster.
func clusterRef(ref *string) (string, error) {
	s := ecsapi.Value(ref)
	if s == "" {
		return defaultCluster, nil
	}
	name, err := arn.ClusterName(s)
	if err != nil {
		return "", invalidParam("Invalid cluster identifier %q: %v.", s, err)
	}
	return name, nil
}

// activeCluster loads an ACTIVE cluster. The default cluster is created on
// first use when createDefault is set, as ECS does.
func (e *ECS) activeCluster(ctx context.Context, ref *string, createDefault bool) (ecsapi.Cluster, int64, error) {
	name, err := clusterRef(ref)
	if err != nil {
		return ecsapi.Cluster{}, 0, err
	}
	var c ecsapi.Cluster
	rev, err := e.getJSON(ctx, clusterKey(name), &c)
	switch {
	case errors.Is(err, store.ErrNotFound) && name == defaultCluster && createDefault:
		c = e.newCluster(name)
		rev, err = e.st.Txn(ctx, []store.Cond{{Key: clusterKey(name)}}, []store.Op{store.Put(clusterKey(name), mustJSON(c))})
		if errors.Is(err, store.ErrConflict) {
			return e.activeCluster(ctx, ref, false)
		}
		return c, rev, err
	case errors.Is(err, store.ErrNotFound):
		return c, 0, ecsapi.Errorf(ecsapi.CodeClusterNotFoundException, "Cluster not found.")
	case err != nil:
		return c, 0, err
	case ecsapi.Value(c.Status) != statusActive:
		return c, 0, ecsapi.Errorf(ecsapi.CodeClusterNotFoundException, "The referenced cluster %s is inactive.", name)
	}
	return c, rev, nil
}

func (e *ECS) newCluster(name string) ecsapi.Cluster {
	return ecsapi.Cluster{
		ClusterArn:                      ecsapi.Ptr(e.names.Cluster(name)),
		ClusterName:                     ecsapi.Ptr(name),
		Status:                          ecsapi.Ptr(statusActive),
		Statistics:                      []ecsapi.KeyValuePair{},
		Tags:                            []ecsapi.Tag{},
		Settings:                        []ecsapi.ClusterSetting{{Name: ecsapi.Ptr(ecsapi.ClusterSettingNameContainerInsights), Value: ecsapi.Ptr("disabled")}},
		CapacityProviders:               []string{},
		DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{},
	}
}

// CreateCluster creates a cluster, or returns the existing ACTIVE cluster of
// that name unchanged.
func (e *ECS) CreateCluster(ctx context.Context, in *ecsapi.CreateClusterRequest) (*ecsapi.CreateClusterResponse, error) {
	name := ecsapi.Value(in.ClusterName)
	if name == "" {
		name = defaultCluster
	}
	if !nameRE.MatchString(name) {
		return nil, invalidParam("Cluster name %q is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", name)
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c := e.newCluster(name)
	if in.Tags != nil {
		c.Tags = in.Tags
	}
	if in.Settings != nil {
		c.Settings = mergeSettings(c.Settings, in.Settings)
	}
	c.Configuration = in.Configuration
	withProviders := in.CapacityProviders != nil || in.DefaultCapacityProviderStrategy != nil
	if withProviders {
		c.CapacityProviders = nonNil(in.CapacityProviders)
		c.DefaultCapacityProviderStrategy = nonNil(in.DefaultCapacityProviderStrategy)
	}
	if in.ServiceConnectDefaults != nil {
		c.ServiceConnectDefaults = &ecsapi.ClusterServiceConnectDefaults{Namespace: ecsapi.Ptr(e.namespaceARN(in.ServiceConnectDefaults.Namespace))}
	}
	var out ecsapi.Cluster
	err := retry(ctx, func() error {
		var conds []store.Cond
		var ops []store.Op
		if withProviders {
			var err error
			if conds, ops, err = e.validateCapacityProviders(ctx, in.CapacityProviders, in.DefaultCapacityProviderStrategy); err != nil {
				return err
			}
		}
		var existing ecsapi.Cluster
		rev, err := e.getJSON(ctx, clusterKey(name), &existing)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && ecsapi.Value(existing.Status) == statusActive {
			out = existing
			return nil
		}
		conds = append(conds, store.Cond{Key: clusterKey(name), ModRev: rev})
		ops = append(ops, store.Put(clusterKey(name), mustJSON(c)))
		_, err = e.st.Txn(ctx, conds, ops)
		out = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.CreateClusterResponse{Cluster: &out}, nil
}

// namespaceARN turns a Cloud Map namespace name or ARN into an ARN. Names
// get a stable id derived from the name until the Cloud Map API owns them.
func (e *ECS) namespaceARN(ns string) string {
	if arn.IsARN(ns) {
		return ns
	}
	sum := sha256.Sum256([]byte(ns))
	return "arn:aws:servicediscovery:" + e.names.Region + ":" + e.names.Account + ":namespace/ns-" + hex.EncodeToString(sum[:8])
}

func validateClusterSettings(settings []ecsapi.ClusterSetting) error {
	for i, s := range settings {
		v := ecsapi.Value(s.Value)
		if s.Name == nil {
			return invalidParam("settings[%d].name is required.", i)
		}
		if *s.Name == ecsapi.ClusterSettingNameContainerInsights && !slices.Contains([]string{"enabled", "disabled", "enhanced"}, v) {
			return invalidParam("settings[%d]: containerInsights must be enabled, enhanced or disabled, not %q.", i, v)
		}
	}
	return nil
}

func mergeSettings(have, set []ecsapi.ClusterSetting) []ecsapi.ClusterSetting {
	out := slices.Clone(have)
	for _, s := range set {
		i := slices.IndexFunc(out, func(o ecsapi.ClusterSetting) bool { return ecsapi.Value(o.Name) == ecsapi.Value(s.Name) })
		if i >= 0 {
			out[i] = s
		} else {
			out = append(out, s)
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// validateCapacityProviders checks a cluster's provider list and default
// strategy: every provider is FARGATE, FARGATE_SPOT or an ACTIVE created
// capacity provider (capacityproviders.go), the strategy names only listed
// providers, and at most one item has a base.
//
// It returns what the cluster write adds to its transaction: each created
// provider's record rewritten unchanged, under a condition on the revision
// it was read at. DeleteCapacityProvider compare-and-swaps the same record,
// so a provider cannot be deleted while a cluster takes it.
func (e *ECS) validateCapacityProviders(ctx context.Context, providers []string, strategy []ecsapi.CapacityProviderStrategyItem) ([]store.Cond, []store.Op, error) {
	var conds []store.Cond
	var ops []store.Op
	for _, p := range providers {
		if isFargateProvider(p) {
			continue
		}
		kv, err := e.st.Get(ctx, capacityProviderKey(p))
		if errors.Is(err, store.ErrNotFound) || (err == nil && jsonStatus(kv.Value) != statusActive) {
			return nil, nil, invalidParam("The specified capacity provider was not found. Specify a valid capacity provider and try again.")
		} else if err != nil {
			return nil, nil, err
		}
		if !slices.ContainsFunc(conds, func(c store.Cond) bool { return c.Key == kv.Key }) {
			conds = append(conds, store.Cond{Key: kv.Key, ModRev: kv.ModRev})
			ops = append(ops, store.Put(kv.Key, kv.Value))
		}
	}
	bases := 0
	for _, item := range strategy {
		if !slices.Contains(providers, item.CapacityProvider) {
			return nil, nil, invalidParam("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
		if item.Base > 0 {
			bases++
		}
	}
	if bases > 1 {
		return nil, nil, invalidParam("The specified capacity provider strategy has more than one capacity provider with a base value. Only one capacity provider may have a base greater than 0.")
	}
	return conds, ops, nil
}

// DescribeClusters describes clusters by name or ARN; unknown ones are
// failures with reason MISSING.
func (e *ECS) DescribeClusters(ctx context.Context, in *ecsapi.DescribeClustersRequest) (*ecsapi.DescribeClustersResponse, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{defaultCluster}
	}
	if len(refs) > 100 {
		return nil, invalidParam("clusters can have at most 100 entries.")
	}
	include := func(f ecsapi.ClusterField) bool { return slices.Contains(in.Include, f) }
	out := &ecsapi.DescribeClustersResponse{Clusters: []ecsapi.Cluster{}, Failures: []ecsapi.Failure{}}
	for _, ref := range refs {
		name, err := arn.ClusterName(ref)
		if err != nil {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr("MISSING")})
			continue
		}
		var c ecsapi.Cluster
		if _, err := e.getJSON(ctx, clusterKey(name), &c); errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(e.names.Cluster(name)), Reason: ecsapi.Ptr("MISSING")})
			continue
		} else if err != nil {
			return nil, err
		}
		if !include(ecsapi.ClusterFieldTAGS) {
			c.Tags = []ecsapi.Tag{}
		}
		if !include(ecsapi.ClusterFieldSETTINGS) {
			c.Settings = nil
		}
		if !include(ecsapi.ClusterFieldCONFIGURATIONS) {
			c.Configuration = nil
		}
		if err := e.countClusterTasks(ctx, name, &c); err != nil {
			return nil, err
		}
		c.Statistics = []ecsapi.KeyValuePair{}
		if include(ecsapi.ClusterFieldSTATISTICS) {
			c.Statistics = clusterStatistics()
		}
		if include(ecsapi.ClusterFieldATTACHMENTS) {
			c.Attachments = []ecsapi.Attachment{}
		}
		out.Clusters = append(out.Clusters, c)
	}
	return out, nil
}

// clusterStatistics lists the per-launch-type counters ECS reports. Tasks and
// services are not counted yet, so every value is 0.
func clusterStatistics() []ecsapi.KeyValuePair {
	names := []string{"runningEC2TasksCount", "runningFargateTasksCount", "pendingEC2TasksCount", "pendingFargateTasksCount", "activeEC2ServiceCount", "activeFargateServiceCount", "drainingEC2ServiceCount", "drainingFargateServiceCount"}
	out := make([]ecsapi.KeyValuePair, len(names))
	for i, n := range names {
		out[i] = ecsapi.KeyValuePair{Name: ecsapi.Ptr(n), Value: ecsapi.Ptr("0")}
	}
	return out
}

// ListClusters lists the ARNs of ACTIVE clusters in name order.
func (e *ECS) ListClusters(ctx context.Context, in *ecsapi.ListClustersRequest) (*ecsapi.ListClustersResponse, error) {
	p, err := parsePage(in.NextToken, in.MaxResults, clustersPrefix, 100, 100)
	if err != nil {
		return nil, err
	}
	kvs, next, err := e.scan(ctx, clustersPrefix, p, false, false, func(kv store.KV) bool {
		return jsonStatus(kv.Value) == statusActive
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListClustersResponse{ClusterArns: make([]string, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		out.ClusterArns = append(out.ClusterArns, e.names.Cluster(kv.Key[len(clustersPrefix):]))
	}
	return out, nil
}

// updateCluster applies change to an ACTIVE cluster with compare-and-swap.
func (e *ECS) updateCluster(ctx context.Context, ref *string, change func(c *ecsapi.Cluster) error) (*ecsapi.Cluster, error) {
	var out ecsapi.Cluster
	err := retry(ctx, func() error {
		c, rev, err := e.activeCluster(ctx, ref, false)
		if err != nil {
			return err
		}
		if err := change(&c); err != nil {
			return err
		}
		key := clusterKey(ecsapi.Value(c.ClusterName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(c))})
		out = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCluster changes a cluster's settings, configuration or Service
// Connect defaults.
func (e *ECS) UpdateCluster(ctx context.Context, in *ecsapi.UpdateClusterRequest) (*ecsapi.UpdateClusterResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := e.updateCluster(ctx, &in.Cluster, func(c *ecsapi.Cluster) error {
		if in.Settings != nil {
			c.Settings = mergeSettings(c.Settings, in.Settings)
		}
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = &ecsapi.ClusterServiceConnectDefaults{Namespace: ecsapi.Ptr(e.namespaceARN(in.ServiceConnectDefaults.Namespace))}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterResponse{Cluster: c}, nil
}

// UpdateClusterSettings changes a cluster's settings.
func (e *ECS) UpdateClusterSettings(ctx context.Context, in *ecsapi.UpdateClusterSettingsRequest) (*ecsapi.UpdateClusterSettingsResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	c, err := e.updateCluster(ctx, &in.Cluster, func(c *ecsapi.Cluster) error {
		c.Settings = mergeSettings(c.Settings, in.Settings)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterSettingsResponse{Cluster: c}, nil
}

// PutClusterCapacityProviders replaces a cluster's capacity providers and
// default strategy.
func (e *ECS) PutClusterCapacityProviders(ctx context.Context, in *ecsapi.PutClusterCapacityProvidersRequest) (*ecsapi.PutClusterCapacityProvidersResponse, error) {
	var out ecsapi.Cluster
	err := retry(ctx, func() error {
		conds, ops, err := e.validateCapacityProviders(ctx, in.CapacityProviders, in.DefaultCapacityProviderStrategy)
		if err != nil {
			return err
		}
		c, rev, err := e.activeCluster(ctx, &in.Cluster, false)
		if err != nil {
			return err
		}
		c.CapacityProviders = nonNil(in.CapacityProviders)
		c.DefaultCapacityProviderStrategy = nonNil(in.DefaultCapacityProviderStrategy)
		key := clusterKey(ecsapi.Value(c.ClusterName))
		conds = append(conds, store.Cond{Key: key, ModRev: rev})
		ops = append(ops, store.Put(key, mustJSON(c)))
		_, err = e.st.Txn(ctx, conds, ops)
		out = c
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutClusterCapacityProvidersResponse{Cluster: &out}, nil
}

// DeleteCluster marks an empty cluster INACTIVE. It refuses while services,
// tasks or container instances remain, with ECS's exceptions.
func (e *ECS) DeleteCluster(ctx context.Context, in *ecsapi.DeleteClusterRequest) (*ecsapi.DeleteClusterResponse, error) {
	c, err := e.updateCluster(ctx, &in.Cluster, func(c *ecsapi.Cluster) error {
		name := ecsapi.Value(c.ClusterName)
		// Deregistered (INACTIVE) container instances stay stored but do
		// not count.
		checks := []struct {
			prefix, code, msg string
			live              func(store.KV) bool
		}{
			{instancesPrefix(name), ecsapi.CodeClusterContainsContainerInstancesException, "The Cluster cannot be deleted while Container Instances are active or draining.", func(kv store.KV) bool { return jsonStatus(kv.Value) != statusInactive }},
			{servicesPrefix(name), ecsapi.CodeClusterContainsServicesException, "The Cluster cannot be deleted while Services are active.", serviceLive},
			// /insttasks holds the tasks not STOPPED yet.
			{"/insttasks/" + name + "/", ecsapi.CodeClusterContainsTasksException, "The Cluster cannot be deleted while Tasks are active.", nil},
		}
		for _, chk := range checks {
			kvs, _, err := e.scan(ctx, chk.prefix, pageRequest{limit: 1}, false, chk.live == nil, chk.live)
			if err != nil {
				return err
			}
			if len(kvs) > 0 {
				return ecsapi.Errorf(chk.code, "%s", chk.msg)
			}
		}
		c.Status = ecsapi.Ptr(statusInactive)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteClusterResponse{Cluster: c}, nil
}

// countClusterTasks fills the cluster's instance and task counters from its
// container instance records (which keep their own task counts), so
// DescribeClusters costs one listing per cluster and writers never contend
// on the cluster record.
func (e *ECS) countClusterTasks(ctx context.Context, cluster string, c *ecsapi.Cluster) error {
	insts, _, err := e.listInstances(ctx, cluster)
	if err != nil {
		return err
	}
	c.RegisteredContainerInstancesCount, c.RunningTasksCount, c.PendingTasksCount = 0, 0, 0
	for _, ci := range insts {
		if ecsapi.Value(ci.Status) == statusInactive {
			continue
		}
		c.RegisteredContainerInstancesCount++
		c.RunningTasksCount += ci.RunningTasksCount
		c.PendingTasksCount += ci.PendingTasksCount
	}
	return nil
}
