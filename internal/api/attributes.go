package api

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Attributes of container instances live in the instance records
// (ecsapi.ContainerInstance.Attributes), so placement sees a change on its
// next read. Every write is a compare-and-swap on the revisions of all the
// records it touches: it never overwrites a concurrent change of the
// resources tasks hold, and a call changes every target or none.
const (
	// maxAttributesPerCall bounds the attributes of one PutAttributes or
	// DeleteAttributes call.
	maxAttributesPerCall = 10
	// maxCustomAttributes bounds the custom attributes of one resource.
	maxCustomAttributes = 10
	// attrTokenSep separates the instance key from the attribute name in a
	// ListAttributes token; neither can contain it.
	attrTokenSep = "\x00"
)

// isCustomAttribute reports whether name is a custom attribute: not one of
// the attributes ECS and its agent set (ecs.* and com.amazonaws.ecs.*).
func isCustomAttribute(name string) bool {
	return !strings.HasPrefix(name, "ecs.") && !strings.HasPrefix(name, "com.amazonaws.ecs.")
}

func countCustom(attrs []ecsapi.Attribute) int {
	n := 0
	for _, a := range attrs {
		if isCustomAttribute(a.Name) {
			n++
		}
	}
	return n
}

func targetNotFound(ref, cluster string) error {
	return ecsapi.Errorf(ecsapi.CodeTargetNotFoundException, "The target %s was not found in cluster %s. Container instances are cluster-specific: pass the cluster that holds it.", ref, cluster)
}

// checkAttributeBatch applies the request rules PutAttributes and
// DeleteAttributes share: 1 to 10 attributes, each with a targetId, and a
// targetType whenever the targetId is a short-form ID.
func checkAttributeBatch(attrs []ecsapi.Attribute) error {
	if len(attrs) == 0 {
		return invalidParam("attributes must contain at least one attribute.")
	}
	if len(attrs) > maxAttributesPerCall {
		return invalidParam("attributes can have at most %d items.", maxAttributesPerCall)
	}
	for _, a := range attrs {
		ref := ecsapi.Value(a.TargetId)
		switch {
		case ref == "":
			return invalidParam("The attribute %s has no targetId: name the container instance by its ARN or ID.", a.Name)
		case a.TargetType == nil && !arn.IsARN(ref):
			return invalidParam("The attribute %s names its target by the short-form ID %s: targetType is required unless targetId is a full ARN.", a.Name, ref)
		}
	}
	return nil
}

// changeAttributes applies change to the attributes of every container
// instance attrs target in cluster, in one transaction. change receives the
// instance's current attributes and those of the call that target it, and
// returns the new attributes. A target that is unknown, in another cluster
// or deregistered is a TargetNotFoundException and nothing is written.
func (e *ECS) changeAttributes(ctx context.Context, cluster string, attrs []ecsapi.Attribute, change func(ci ecsapi.ContainerInstance, attrs []ecsapi.Attribute) ([]ecsapi.Attribute, error)) error {
	// Group the call's attributes by instance id, in the order targets
	// first appear (an ARN and an ID of one instance are one target).
	var ids []string
	refs := map[string]string{}
	byID := map[string][]ecsapi.Attribute{}
	for _, a := range attrs {
		ref := ecsapi.Value(a.TargetId)
		c, id, ok := parseInstanceRef(ref)
		if !ok || (c != "" && c != cluster) {
			return targetNotFound(ref, cluster)
		}
		if _, seen := byID[id]; !seen {
			ids = append(ids, id)
			refs[id] = ref
		}
		byID[id] = append(byID[id], a)
	}
	return retry(ctx, func() error {
		var conds []store.Cond
		var ops []store.Op
		for _, id := range ids {
			ci, rev, err := e.getInstance(ctx, cluster, id)
			switch {
			case errors.Is(err, errNoInstance):
				return targetNotFound(refs[id], cluster)
			case err != nil:
				return err
			case ecsapi.Value(ci.Status) == statusInactive:
				return targetNotFound(refs[id], cluster)
			}
			next, err := change(ci, byID[id])
			if err != nil {
				return err
			}
			if sameAttributes(ci.Attributes, next) {
				continue
			}
			ci.Attributes = next
			key := instanceKey(cluster, id)
			conds = append(conds, store.Cond{Key: key, ModRev: rev})
			ops = append(ops, store.Put(key, mustJSON(ci)))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err := e.st.Txn(ctx, conds, ops)
		return err
	})
}

func sameAttributes(a, b []ecsapi.Attribute) bool {
	return slices.EqualFunc(a, b, func(x, y ecsapi.Attribute) bool {
		return x.Name == y.Name && (x.Value == nil) == (y.Value == nil) && ecsapi.Value(x.Value) == ecsapi.Value(y.Value)
	})
}

// PutAttributes creates or replaces attributes of container instances of a
// cluster: up to 10 per call, each naming its target by ARN or ID (with
// targetType container-instance for an ID). All targets change in one
// transaction. A resource can hold at most 10 custom attributes
// (AttributeLimitExceededException). The response echoes the attributes.
func (e *ECS) PutAttributes(ctx context.Context, in *ecsapi.PutAttributesRequest) (*ecsapi.PutAttributesResponse, error) {
	if err := checkAttributeBatch(in.Attributes); err != nil {
		return nil, err
	}
	if err := validateAttributes(in.Attributes); err != nil {
		return nil, err
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	err = e.changeAttributes(ctx, cluster, in.Attributes, func(ci ecsapi.ContainerInstance, set []ecsapi.Attribute) ([]ecsapi.Attribute, error) {
		next := mergeAttributes(ci.Attributes, set)
		// A resource already over the limit (from its registration) may
		// still change values; it may not grow.
		if n := countCustom(next); n > maxCustomAttributes && n > countCustom(ci.Attributes) {
			return nil, ecsapi.Errorf(ecsapi.CodeAttributeLimitExceededException, "You can apply up to %d custom attributes for each resource: the container instance %s would have %d. Remove attributes with DeleteAttributes first.", maxCustomAttributes, ecsapi.Value(ci.ContainerInstanceArn), n)
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.PutAttributesResponse{Attributes: in.Attributes}, nil
}

// DeleteAttributes removes attributes by name from container instances of a
// cluster, all targets in one transaction. A value given is ignored, and
// removing a name the instance does not have is not an error. The response
// echoes the attributes.
func (e *ECS) DeleteAttributes(ctx context.Context, in *ecsapi.DeleteAttributesRequest) (*ecsapi.DeleteAttributesResponse, error) {
	if err := checkAttributeBatch(in.Attributes); err != nil {
		return nil, err
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	err = e.changeAttributes(ctx, cluster, in.Attributes, func(ci ecsapi.ContainerInstance, del []ecsapi.Attribute) ([]ecsapi.Attribute, error) {
		return slices.DeleteFunc(slices.Clone(ci.Attributes), func(a ecsapi.Attribute) bool {
			return slices.ContainsFunc(del, func(d ecsapi.Attribute) bool { return d.Name == a.Name })
		}), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteAttributesResponse{Attributes: in.Attributes}, nil
}

// ListAttributes lists the attributes of a cluster's registered container
// instances, one entry per attribute per instance with the instance's ARN
// as targetId, ordered by instance ID then attribute name. attributeName
// keeps one name; attributeValue, only together with it, one value.
func (e *ECS) ListAttributes(ctx context.Context, in *ecsapi.ListAttributesRequest) (*ecsapi.ListAttributesResponse, error) {
	name, value := ecsapi.Value(in.AttributeName), in.AttributeValue
	if value != nil && name == "" {
		return nil, invalidParam("attributeValue can only be specified together with attributeName.")
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	p, err := parsePage(in.NextToken, in.MaxResults, instancesPrefix(cluster), 100, 100)
	if err != nil {
		return nil, err
	}
	afterKey, afterName, ok := strings.Cut(p.after, attrTokenSep)
	if p.after != "" && !ok {
		return nil, invalidParam("The nextToken is invalid; pass the nextToken returned by the previous call unchanged.")
	}
	insts, _, err := e.listInstances(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListAttributesResponse{Attributes: []ecsapi.Attribute{}}
	var lastKey, lastName string
	for _, ci := range insts {
		key := instanceKey(cluster, instanceIDOfRecord(ci))
		if ecsapi.Value(ci.Status) == statusInactive || key < afterKey {
			continue
		}
		attrs := slices.SortedFunc(slices.Values(ci.Attributes), func(a, b ecsapi.Attribute) int { return cmp.Compare(a.Name, b.Name) })
		for _, a := range attrs {
			switch {
			case key == afterKey && a.Name <= afterName:
				continue
			case name != "" && a.Name != name:
				continue
			case value != nil && (a.Value == nil || *a.Value != *value):
				continue
			}
			if len(out.Attributes) == p.limit {
				out.NextToken = pageToken(lastKey + attrTokenSep + lastName)
				return out, nil
			}
			out.Attributes = append(out.Attributes, ecsapi.Attribute{
				Name:       a.Name,
				Value:      a.Value,
				TargetType: ecsapi.Ptr(ecsapi.TargetTypeContainerInstance),
				TargetId:   ci.ContainerInstanceArn,
			})
			lastKey, lastName = key, a.Name
		}
	}
	return out, nil
}
