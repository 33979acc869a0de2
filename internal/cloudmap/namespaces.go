package cloudmap

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store"
)

// defaultSOATTL is the SOA TTL of a private DNS namespace created without
// one.
const defaultSOATTL = 15

// namespaceRecord is a namespace as stored. ServiceCount is computed when
// read.
type namespaceRecord struct {
	Namespace cloudmapapi.Namespace `json:"namespace"`
	Tags      []cloudmapapi.Tag     `json:"tags,omitempty"`
}

// namespaceID accepts a namespace id or ARN.
func namespaceID(ref string) string {
	if i := strings.LastIndex(ref, ":namespace/"); i >= 0 && strings.HasPrefix(ref, "arn:") {
		return ref[i+len(":namespace/"):]
	}
	return ref
}

// normName is the key form of a namespace name: DNS names are case
// insensitive and may end with a dot.
func normName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

func validNamespaceName(name string, max int) error {
	if name == "" || len(name) > max {
		return invalidInput("The namespace name must be 1 to %d characters long.", max)
	}
	if strings.HasPrefix(name, "arn:") {
		return invalidInput("The namespace name %s is invalid: it can't start with arn:.", name)
	}
	for _, r := range name {
		if r < '!' || r > '~' {
			return invalidInput("The namespace name %q is invalid: only printable ASCII characters without spaces are allowed.", name)
		}
	}
	return nil
}

// validDNSName checks a private DNS namespace name: dot-separated labels of
// letters, digits, hyphens and underscores.
func validDNSName(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return invalidInput("The namespace name %q is not a valid DNS name.", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return invalidInput("The namespace name %q is not a valid DNS name.", name)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return invalidInput("The namespace name %q is not a valid DNS name.", name)
			}
		}
	}
	return nil
}

func (c *CloudMap) loadNamespace(ctx context.Context, ref string) (namespaceRecord, int64, error) {
	id := namespaceID(ref)
	var rec namespaceRecord
	if id == "" || strings.Contains(id, "/") {
		return rec, 0, namespaceNotFound(ref)
	}
	rev, err := c.getJSON(ctx, namespaceKey(id), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, namespaceNotFound(ref)
	}
	return rec, rev, err
}

// namespaceByName finds a namespace by its name.
func (c *CloudMap) namespaceByName(ctx context.Context, name string) (namespaceRecord, int64, error) {
	var id string
	if _, err := c.getJSON(ctx, namespaceNameKey(normName(name)), &id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return namespaceRecord{}, 0, cloudmapapi.Errorf(cloudmapapi.CodeNamespaceNotFound, "No namespace exists with name %s.", name)
		}
		return namespaceRecord{}, 0, err
	}
	return c.loadNamespace(ctx, id)
}

// withCount returns the namespace with its current service count.
func (c *CloudMap) withCount(ctx context.Context, rec namespaceRecord) (cloudmapapi.Namespace, error) {
	ns := rec.Namespace
	n, err := c.count(ctx, serviceNamesOf(*ns.Id))
	ns.ServiceCount = &n
	return ns, err
}

type newNamespace struct {
	kind        string // request kind for CreatorRequestId
	name        string
	typ         cloudmapapi.NamespaceType
	description *string
	creator     *string
	tags        []cloudmapapi.Tag
	properties  *cloudmapapi.NamespaceProperties
	params      any
}

// createNamespace stores a new namespace and returns its operation id.
func (c *CloudMap) createNamespace(ctx context.Context, n newNamespace) (string, error) {
	if err := validateTags(n.tags); err != nil {
		return "", err
	}
	var opID string
	err := retry(ctx, func() error {
		prev, _, err := c.previous(ctx, n.kind, n.creator, n.params)
		if err != nil || prev != "" {
			opID = prev
			return err
		}
		var existing string
		switch _, err := c.getJSON(ctx, namespaceNameKey(normName(n.name)), &existing); {
		case err == nil:
			return cloudmapapi.Errorf(cloudmapapi.CodeNamespaceAlreadyExists, "A namespace named %s already exists: %s.", n.name, existing)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		id := newNamespaceID()
		ns := cloudmapapi.Namespace{
			Id:               cloudmapapi.Ptr(id),
			Arn:              cloudmapapi.Ptr(c.namespaceARN(id)),
			ResourceOwner:    cloudmapapi.Ptr(c.cfg.AccountID),
			Name:             cloudmapapi.Ptr(strings.TrimSuffix(n.name, ".")),
			Type:             cloudmapapi.Ptr(n.typ),
			Description:      n.description,
			Properties:       n.properties,
			CreateDate:       c.now(),
			CreatorRequestId: n.creator,
		}
		op, putOp := c.newOperation(cloudmapapi.OperationTypeCREATENAMESPACE, map[string]string{string(cloudmapapi.OperationTargetTypeNAMESPACE): id})
		conds := []store.Cond{{Key: namespaceKey(id)}, {Key: namespaceNameKey(normName(n.name))}}
		ops := []store.Op{
			store.Put(namespaceKey(id), mustJSON(namespaceRecord{Namespace: ns, Tags: n.tags})),
			store.Put(namespaceNameKey(normName(n.name)), mustJSON(id)),
			putOp,
		}
		rc, ro := remember(n.kind, n.creator, n.params, *op.Id)
		if _, err := c.st.Txn(ctx, append(conds, rc...), append(ops, ro...)); err != nil {
			return err
		}
		opID = *op.Id
		return nil
	})
	return opID, err
}

// CreatePrivateDnsNamespace creates a private DNS namespace. berth has no
// VPCs or hosted zones: Vpc is recorded as given and the hosted zone id is
// made up.
func (c *CloudMap) CreatePrivateDnsNamespace(ctx context.Context, in *cloudmapapi.CreatePrivateDnsNamespaceRequest) (*cloudmapapi.CreatePrivateDnsNamespaceResponse, error) {
	if err := validNamespaceName(in.Name, 253); err != nil {
		return nil, err
	}
	if err := validDNSName(in.Name); err != nil {
		return nil, err
	}
	ttl := int64(defaultSOATTL)
	if p := in.Properties; p != nil && p.DnsProperties != nil && p.DnsProperties.SOA != nil {
		ttl = p.DnsProperties.SOA.TTL
	}
	props := &cloudmapapi.NamespaceProperties{
		DnsProperties: &cloudmapapi.DnsProperties{
			HostedZoneId: cloudmapapi.Ptr("Z" + strings.ToUpper(randomID(20))),
			SOA:          &cloudmapapi.SOA{TTL: ttl},
		},
		HttpProperties: &cloudmapapi.HttpProperties{HttpName: cloudmapapi.Ptr(strings.TrimSuffix(in.Name, "."))},
	}
	params := *in
	params.CreatorRequestId = nil
	id, err := c.createNamespace(ctx, newNamespace{
		kind: "private-dns-namespace", name: in.Name, typ: cloudmapapi.NamespaceTypeDNSPRIVATE,
		description: in.Description, creator: in.CreatorRequestId, tags: in.Tags, properties: props, params: params,
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.CreatePrivateDnsNamespaceResponse{OperationId: &id}, nil
}

// CreatePublicDnsNamespace is refused: berth serves private names only.
func (c *CloudMap) CreatePublicDnsNamespace(ctx context.Context, in *cloudmapapi.CreatePublicDnsNamespaceRequest) (*cloudmapapi.CreatePublicDnsNamespaceResponse, error) {
	return nil, invalidInput("berth serves private names only: public DNS namespaces are not supported. Use CreatePrivateDnsNamespace or CreateHttpNamespace.")
}

// CreateHttpNamespace creates an HTTP namespace, discoverable with
// DiscoverInstances only.
func (c *CloudMap) CreateHttpNamespace(ctx context.Context, in *cloudmapapi.CreateHttpNamespaceRequest) (*cloudmapapi.CreateHttpNamespaceResponse, error) {
	if err := validNamespaceName(in.Name, 1024); err != nil {
		return nil, err
	}
	props := &cloudmapapi.NamespaceProperties{
		DnsProperties:  &cloudmapapi.DnsProperties{},
		HttpProperties: &cloudmapapi.HttpProperties{HttpName: cloudmapapi.Ptr(in.Name)},
	}
	params := *in
	params.CreatorRequestId = nil
	id, err := c.createNamespace(ctx, newNamespace{
		kind: "http-namespace", name: in.Name, typ: cloudmapapi.NamespaceTypeHTTP,
		description: in.Description, creator: in.CreatorRequestId, tags: in.Tags, properties: props, params: params,
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.CreateHttpNamespaceResponse{OperationId: &id}, nil
}

// GetNamespace describes a namespace.
func (c *CloudMap) GetNamespace(ctx context.Context, in *cloudmapapi.GetNamespaceRequest) (*cloudmapapi.GetNamespaceResponse, error) {
	rec, _, err := c.loadNamespace(ctx, in.Id)
	if err != nil {
		return nil, err
	}
	ns, err := c.withCount(ctx, rec)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.GetNamespaceResponse{Namespace: &ns}, nil
}

// namespaceMatches applies ListNamespaces filters.
func namespaceMatches(ns cloudmapapi.Namespace, filters []cloudmapapi.NamespaceFilter) (bool, error) {
	for _, f := range filters {
		cond := cloudmapapi.Value(f.Condition)
		if cond == "" {
			cond = cloudmapapi.FilterConditionEQ
		}
		var value string
		switch f.Name {
		case cloudmapapi.NamespaceFilterNameTYPE:
			value = string(cloudmapapi.Value(ns.Type))
			if cond == cloudmapapi.FilterConditionBEGINSWITH {
				return false, invalidInput("The TYPE filter supports the EQ and IN conditions.")
			}
		case cloudmapapi.NamespaceFilterNameNAME:
			value = cloudmapapi.Value(ns.Name)
		case cloudmapapi.NamespaceFilterNameHTTPNAME:
			if ns.Properties != nil && ns.Properties.HttpProperties != nil {
				value = cloudmapapi.Value(ns.Properties.HttpProperties.HttpName)
			}
		case cloudmapapi.NamespaceFilterNameRESOURCEOWNER:
			value = cloudmapapi.Value(ns.ResourceOwner)
		}
		ok, err := filterMatch(string(f.Name), cond, f.Values, value)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// filterMatch evaluates one Cloud Map filter condition.
func filterMatch(name string, cond cloudmapapi.FilterCondition, values []string, value string) (bool, error) {
	switch cond {
	case cloudmapapi.FilterConditionEQ:
		if len(values) != 1 {
			return false, invalidInput("The %s filter with condition EQ takes exactly one value.", name)
		}
		return values[0] == value, nil
	case cloudmapapi.FilterConditionIN:
		if len(values) == 0 {
			return false, invalidInput("The %s filter with condition IN takes at least one value.", name)
		}
		return slices.Contains(values, value), nil
	case cloudmapapi.FilterConditionBEGINSWITH:
		if len(values) != 1 {
			return false, invalidInput("The %s filter with condition BEGINS_WITH takes exactly one value.", name)
		}
		return strings.HasPrefix(value, values[0]), nil
	}
	return false, invalidInput("The %s filter does not support the %s condition.", name, cond)
}

// ListNamespaces lists namespaces in id order, filtered.
func (c *CloudMap) ListNamespaces(ctx context.Context, in *cloudmapapi.ListNamespacesRequest) (*cloudmapapi.ListNamespacesResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	kvs, _, err := c.st.List(ctx, namespacesPrefix, store.ListOptions{After: after})
	if err != nil {
		return nil, err
	}
	out := &cloudmapapi.ListNamespacesResponse{Namespaces: []cloudmapapi.NamespaceSummary{}}
	for _, kv := range kvs {
		var rec namespaceRecord
		if err := jsonUnmarshal(kv, &rec); err != nil {
			return nil, err
		}
		ok, err := namespaceMatches(rec.Namespace, in.Filters)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if len(out.Namespaces) == limit {
			out.NextToken = encodeToken(after)
			break
		}
		ns, err := c.withCount(ctx, rec)
		if err != nil {
			return nil, err
		}
		out.Namespaces = append(out.Namespaces, cloudmapapi.NamespaceSummary{
			Id: ns.Id, Arn: ns.Arn, ResourceOwner: ns.ResourceOwner, Name: ns.Name, Type: ns.Type,
			Description: ns.Description, ServiceCount: ns.ServiceCount, Properties: ns.Properties, CreateDate: ns.CreateDate,
		})
		after = kv.Key
	}
	return out, nil
}

// DeleteNamespace deletes a namespace that has no services.
func (c *CloudMap) DeleteNamespace(ctx context.Context, in *cloudmapapi.DeleteNamespaceRequest) (*cloudmapapi.DeleteNamespaceResponse, error) {
	var opID string
	err := retry(ctx, func() error {
		rec, rev, err := c.loadNamespace(ctx, in.Id)
		if err != nil {
			return err
		}
		id := *rec.Namespace.Id
		n, err := c.count(ctx, serviceNamesOf(id))
		if err != nil {
			return err
		}
		if n > 0 {
			return cloudmapapi.Errorf(cloudmapapi.CodeResourceInUse, "The namespace %s has %d services; delete them first.", id, n)
		}
		op, putOp := c.newOperation(cloudmapapi.OperationTypeDELETENAMESPACE, map[string]string{string(cloudmapapi.OperationTargetTypeNAMESPACE): id})
		_, err = c.st.Txn(ctx, []store.Cond{{Key: namespaceKey(id), ModRev: rev}}, []store.Op{
			store.Delete(namespaceKey(id)),
			store.Delete(namespaceNameKey(normName(cloudmapapi.Value(rec.Namespace.Name)))),
			putOp,
		})
		opID = *op.Id
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.DeleteNamespaceResponse{OperationId: &opID}, nil
}

// UpdateHttpNamespace changes an HTTP namespace's description.
func (c *CloudMap) UpdateHttpNamespace(ctx context.Context, in *cloudmapapi.UpdateHttpNamespaceRequest) (*cloudmapapi.UpdateHttpNamespaceResponse, error) {
	id, err := c.updateNamespace(ctx, in.Id, cloudmapapi.NamespaceTypeHTTP, func(ns *cloudmapapi.Namespace) {
		if in.Namespace != nil {
			ns.Description = cloudmapapi.Ptr(in.Namespace.Description)
		}
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.UpdateHttpNamespaceResponse{OperationId: &id}, nil
}

// UpdatePrivateDnsNamespace changes a private DNS namespace's description
// and SOA TTL.
func (c *CloudMap) UpdatePrivateDnsNamespace(ctx context.Context, in *cloudmapapi.UpdatePrivateDnsNamespaceRequest) (*cloudmapapi.UpdatePrivateDnsNamespaceResponse, error) {
	id, err := c.updateNamespace(ctx, in.Id, cloudmapapi.NamespaceTypeDNSPRIVATE, func(ns *cloudmapapi.Namespace) {
		if in.Namespace == nil {
			return
		}
		if in.Namespace.Description != nil {
			ns.Description = in.Namespace.Description
		}
		if p := in.Namespace.Properties; p != nil && p.DnsProperties != nil && p.DnsProperties.SOA != nil && ns.Properties != nil && ns.Properties.DnsProperties != nil {
			ns.Properties.DnsProperties.SOA = &cloudmapapi.SOA{TTL: p.DnsProperties.SOA.TTL}
		}
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.UpdatePrivateDnsNamespaceResponse{OperationId: &id}, nil
}

func (c *CloudMap) updateNamespace(ctx context.Context, ref string, typ cloudmapapi.NamespaceType, change func(*cloudmapapi.Namespace)) (string, error) {
	var opID string
	err := retry(ctx, func() error {
		rec, rev, err := c.loadNamespace(ctx, ref)
		if err != nil {
			return err
		}
		if cloudmapapi.Value(rec.Namespace.Type) != typ {
			return invalidInput("The namespace %s is a %s namespace, not %s.", ref, cloudmapapi.Value(rec.Namespace.Type), typ)
		}
		change(&rec.Namespace)
		id := *rec.Namespace.Id
		op, putOp := c.newOperation(cloudmapapi.OperationTypeUPDATENAMESPACE, map[string]string{string(cloudmapapi.OperationTargetTypeNAMESPACE): id})
		_, err = c.st.Txn(ctx, []store.Cond{{Key: namespaceKey(id), ModRev: rev}}, []store.Op{store.Put(namespaceKey(id), mustJSON(rec)), putOp})
		opID = *op.Id
		return err
	})
	return opID, err
}
