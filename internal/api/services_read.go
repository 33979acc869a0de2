package api

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// DescribeServices describes up to 10 services of a cluster by name or ARN,
// whatever their status; unknown ones are failures with reason MISSING.
func (e *ECS) DescribeServices(ctx context.Context, in *ecsapi.DescribeServicesRequest) (*ecsapi.DescribeServicesResponse, error) {
	if len(in.Services) == 0 {
		return nil, invalidParam("Services cannot be empty.")
	}
	if len(in.Services) > 10 {
		return nil, invalidParam("services can have at most 10 items.")
	}
	c, _, err := e.activeCluster(ctx, in.Cluster, true)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(c.ClusterName)
	withTags := slices.Contains(in.Include, ecsapi.ServiceFieldTAGS)
	out := &ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.Services {
		rec, _, err := e.loadService(ctx, cluster, ref)
		if isCode(err, ecsapi.CodeServiceNotFoundException) || isCode(err, ecsapi.CodeInvalidParameterException) {
			failed := ref
			if !arn.IsARN(ref) {
				failed = e.serviceARN(cluster, ref)
			}
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(failed), Reason: ecsapi.Ptr("MISSING")})
			continue
		}
		if err != nil {
			return nil, err
		}
		setCurrentRevisions(&rec) // live counts, as the controller left them
		s := rec.Service
		s.Tags = nil
		if withTags {
			s.Tags = nonNil(rec.Service.Tags)
		}
		out.Services = append(out.Services, s)
	}
	return out, nil
}

// ListServices lists the ARNs of a cluster's ACTIVE services in name order;
// DRAINING and INACTIVE ones are not listed, as in ECS.
func (e *ECS) ListServices(ctx context.Context, in *ecsapi.ListServicesRequest) (*ecsapi.ListServicesResponse, error) {
	c, _, err := e.activeCluster(ctx, in.Cluster, true)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(c.ClusterName)
	prefix := servicesPrefix(cluster)
	p, err := parsePage(in.NextToken, in.MaxResults, prefix, 10, 100)
	if err != nil {
		return nil, err
	}
	if ecsapi.Value(in.ResourceManagementType) == ecsapi.ResourceManagementTypeECS {
		// Services made by CreateService are customer managed.
		return &ecsapi.ListServicesResponse{ServiceArns: []string{}}, nil
	}
	kvs, next, err := e.scan(ctx, prefix, p, false, false, func(kv store.KV) bool {
		var rec serviceRecord
		if json.Unmarshal(kv.Value, &rec) != nil {
			return false
		}
		s := &rec.Service
		return ecsapi.Value(s.Status) == statusActive &&
			(in.LaunchType == nil || ecsapi.Value(s.LaunchType) == *in.LaunchType) &&
			(in.SchedulingStrategy == nil || ecsapi.Value(s.SchedulingStrategy) == *in.SchedulingStrategy)
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListServicesResponse{ServiceArns: make([]string, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		out.ServiceArns = append(out.ServiceArns, e.serviceARN(cluster, kv.Key[len(prefix):]))
	}
	return out, nil
}

// ListServicesByNamespace lists the ACTIVE services, of every cluster,
// whose PRIMARY deployment uses the Service Connect namespace (a name or
// ARN). berth has no Cloud Map: a namespace nothing uses lists nothing.
func (e *ECS) ListServicesByNamespace(ctx context.Context, in *ecsapi.ListServicesByNamespaceRequest) (*ecsapi.ListServicesByNamespaceResponse, error) {
	if in.Namespace == "" {
		return nil, invalidParam("namespace is required.")
	}
	const prefix = "/services/"
	p, err := parsePage(in.NextToken, in.MaxResults, prefix, 10, 100)
	if err != nil {
		return nil, err
	}
	ns := e.namespaceARN(in.Namespace)
	kvs, next, err := e.scan(ctx, prefix, p, false, false, func(kv store.KV) bool {
		var rec serviceRecord
		if json.Unmarshal(kv.Value, &rec) != nil || ecsapi.Value(rec.Service.Status) != statusActive {
			return false
		}
		for _, d := range rec.Service.Deployments {
			if ecsapi.Value(d.Status) == deploymentPrimary {
				sc := d.ServiceConnectConfiguration
				return sc != nil && sc.Enabled && ecsapi.Value(sc.Namespace) == ns
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListServicesByNamespaceResponse{ServiceArns: make([]string, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		cluster, name, _ := strings.Cut(kv.Key[len(prefix):], "/")
		out.ServiceArns = append(out.ServiceArns, e.serviceARN(cluster, name))
	}
	return out, nil
}

// serviceTaggable is how TagResource, UntagResource and ListTagsForResource
// reach a service: rest is what follows "service/" in its ARN, the long
// format CLUSTER/NAME or the old NAME (a service of the default cluster).
func serviceTaggable(resourceARN, rest string) (taggable, error) {
	cluster, name, long := strings.Cut(rest, "/")
	if !long {
		cluster, name = defaultCluster, rest
	}
	if !nameRE.MatchString(cluster) || !nameRE.MatchString(name) {
		return taggable{}, invalidParam("The ARN %q is not a valid service ARN.", resourceARN)
	}
	return taggable{
		key: serviceKey(cluster, name),
		tags: func(raw []byte) ([]ecsapi.Tag, error) {
			var rec serviceRecord
			err := json.Unmarshal(raw, &rec)
			return rec.Service.Tags, err
		},
		set: func(raw []byte, tags []ecsapi.Tag) ([]byte, error) {
			var rec serviceRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return nil, err
			}
			rec.Service.Tags = tags
			return mustJSON(rec), nil
		},
	}, nil
}
