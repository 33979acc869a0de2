package cloudmap

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store"
)

// serviceRecord is a service as stored. InstanceCount is computed when read.
type serviceRecord struct {
	Service    cloudmapapi.Service `json:"service"`
	Tags       []cloudmapapi.Tag   `json:"tags,omitempty"`
	Attributes map[string]string   `json:"attributes,omitempty"`
}

// serviceLabel is one dot-separated label of a service name (the model's
// pattern without its length lookahead, which Go's regexp lacks).
var serviceLabel = regexp.MustCompile(`^(?:[a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])$`)

func validServiceName(name string) error {
	if name == "." {
		return nil
	}
	if name == "" || len(name) > 127 {
		return invalidInput("The service name must be 1 to 127 characters long.")
	}
	for _, l := range strings.Split(name, ".") {
		if !serviceLabel.MatchString(l) {
			return invalidInput("The service name %q is invalid: use dot-separated labels of letters, digits, hyphens and underscores.", name)
		}
	}
	return nil
}

// serviceID accepts a service id or ARN.
func serviceID(ref string) string {
	if i := strings.LastIndex(ref, ":service/"); i >= 0 && strings.HasPrefix(ref, "arn:") {
		return ref[i+len(":service/"):]
	}
	return ref
}

func (c *CloudMap) loadService(ctx context.Context, ref string) (serviceRecord, int64, error) {
	id := serviceID(ref)
	var rec serviceRecord
	if id == "" || strings.Contains(id, "/") {
		return rec, 0, serviceNotFound(ref)
	}
	rev, err := c.getJSON(ctx, serviceKey(id), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, serviceNotFound(ref)
	}
	return rec, rev, err
}

func (c *CloudMap) withInstanceCount(ctx context.Context, rec serviceRecord) (cloudmapapi.Service, error) {
	s := rec.Service
	n, err := c.count(ctx, instancesOf(*s.Id))
	s.InstanceCount = &n
	return s, err
}

// validateDnsRecords checks a service's DNS records against its routing
// policy.
func validateDnsRecords(policy cloudmapapi.RoutingPolicy, records []cloudmapapi.DnsRecord) error {
	if len(records) == 0 {
		return invalidInput("DnsConfig.DnsRecords must have at least one record.")
	}
	seen := map[cloudmapapi.RecordType]bool{}
	for _, r := range records {
		if seen[r.Type] {
			return invalidInput("DnsConfig.DnsRecords has more than one %s record.", r.Type)
		}
		seen[r.Type] = true
		if r.TTL < 0 || r.TTL > 2147483647 {
			return invalidInput("The TTL of the %s record must be between 0 and 2147483647.", r.Type)
		}
	}
	if seen[cloudmapapi.RecordTypeCNAME] {
		if len(records) > 1 {
			return invalidInput("A CNAME record can't be combined with other records.")
		}
		if policy != cloudmapapi.RoutingPolicyWEIGHTED {
			return invalidInput("A CNAME record requires the WEIGHTED routing policy.")
		}
	}
	return nil
}

// CreateService creates a service in a namespace.
func (c *CloudMap) CreateService(ctx context.Context, in *cloudmapapi.CreateServiceRequest) (*cloudmapapi.CreateServiceResponse, error) {
	if err := validServiceName(in.Name); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	nsRef := cloudmapapi.Value(in.NamespaceId)
	if nsRef == "" && in.DnsConfig != nil {
		nsRef = cloudmapapi.Value(in.DnsConfig.NamespaceId)
	}
	if nsRef == "" {
		return nil, invalidInput("NamespaceId is required.")
	}
	if in.HealthCheckConfig != nil {
		return nil, invalidInput("berth does not run Route 53 health checks (HealthCheckConfig); use HealthCheckCustomConfig and UpdateInstanceCustomHealthStatus.")
	}
	if in.DnsConfig != nil && in.Type != nil {
		return nil, invalidInput("A service of Type HTTP can't have a DnsConfig.")
	}
	params := *in
	params.CreatorRequestId = nil
	var out cloudmapapi.Service
	err := retry(ctx, func() error {
		prev, _, err := c.previous(ctx, "service", in.CreatorRequestId, params)
		if err != nil {
			return err
		}
		if prev != "" {
			rec, _, err := c.loadService(ctx, prev)
			if err != nil {
				return err
			}
			out, err = c.withInstanceCount(ctx, rec)
			return err
		}
		ns, nsRev, err := c.loadNamespace(ctx, nsRef)
		if err != nil {
			return err
		}
		nsID := *ns.Namespace.Id
		typ := cloudmapapi.ServiceTypeHTTP
		var dns *cloudmapapi.DnsConfig
		if in.DnsConfig != nil {
			if cloudmapapi.Value(ns.Namespace.Type) == cloudmapapi.NamespaceTypeHTTP {
				return invalidInput("The namespace %s is an HTTP namespace: its services can't have a DnsConfig.", nsID)
			}
			policy := cloudmapapi.Value(in.DnsConfig.RoutingPolicy)
			if policy == "" {
				policy = cloudmapapi.RoutingPolicyMULTIVALUE
			}
			if err := validateDnsRecords(policy, in.DnsConfig.DnsRecords); err != nil {
				return err
			}
			dns = &cloudmapapi.DnsConfig{NamespaceId: &nsID, RoutingPolicy: &policy, DnsRecords: in.DnsConfig.DnsRecords}
			typ = cloudmapapi.ServiceTypeDNSHTTP
		}
		var existing string
		switch _, err := c.getJSON(ctx, serviceNameKey(nsID, in.Name), &existing); {
		case err == nil:
			return cloudmapapi.Errorf(cloudmapapi.CodeServiceAlreadyExists, "A service named %s already exists in namespace %s: %s.", in.Name, nsID, existing)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		id := newServiceID()
		s := cloudmapapi.Service{
			Id:               cloudmapapi.Ptr(id),
			Arn:              cloudmapapi.Ptr(c.serviceARN(id)),
			ResourceOwner:    cloudmapapi.Ptr(c.cfg.AccountID),
			Name:             cloudmapapi.Ptr(in.Name),
			NamespaceId:      &nsID,
			Description:      in.Description,
			DnsConfig:        dns,
			Type:             &typ,
			CreateDate:       c.now(),
			CreatorRequestId: in.CreatorRequestId,
			CreatedByAccount: cloudmapapi.Ptr(c.cfg.AccountID),
		}
		if in.HealthCheckCustomConfig != nil {
			s.HealthCheckCustomConfig = &cloudmapapi.HealthCheckCustomConfig{FailureThreshold: cloudmapapi.Ptr(int32(1))}
		}
		conds := []store.Cond{{Key: namespaceKey(nsID), ModRev: nsRev}, {Key: serviceKey(id)}, {Key: serviceNameKey(nsID, in.Name)}}
		ops := []store.Op{
			// Rewriting the namespace makes a concurrent DeleteNamespace
			// conflict instead of deleting a namespace with a service.
			store.Put(namespaceKey(nsID), mustJSON(ns)),
			store.Put(serviceKey(id), mustJSON(serviceRecord{Service: s, Tags: in.Tags})),
			store.Put(serviceNameKey(nsID, in.Name), mustJSON(id)),
		}
		rc, ro := remember("service", in.CreatorRequestId, params, id)
		if _, err := c.st.Txn(ctx, append(conds, rc...), append(ops, ro...)); err != nil {
			return err
		}
		out = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.CreateServiceResponse{Service: &out}, nil
}

// GetService describes a service.
func (c *CloudMap) GetService(ctx context.Context, in *cloudmapapi.GetServiceRequest) (*cloudmapapi.GetServiceResponse, error) {
	rec, _, err := c.loadService(ctx, in.Id)
	if err != nil {
		return nil, err
	}
	s, err := c.withInstanceCount(ctx, rec)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.GetServiceResponse{Service: &s}, nil
}

// ListServices lists services in id order, filtered by namespace.
func (c *CloudMap) ListServices(ctx context.Context, in *cloudmapapi.ListServicesRequest) (*cloudmapapi.ListServicesResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	for _, f := range in.Filters {
		if f.Name == cloudmapapi.ServiceFilterNameNAMESPACEID {
			for i, v := range f.Values {
				f.Values[i] = namespaceID(v)
			}
		}
	}
	kvs, _, err := c.st.List(ctx, servicesPrefix, store.ListOptions{After: after})
	if err != nil {
		return nil, err
	}
	out := &cloudmapapi.ListServicesResponse{Services: []cloudmapapi.ServiceSummary{}}
	for _, kv := range kvs {
		var rec serviceRecord
		if err := jsonUnmarshal(kv, &rec); err != nil {
			return nil, err
		}
		ok := true
		for _, f := range in.Filters {
			cond := cloudmapapi.Value(f.Condition)
			if cond == "" {
				cond = cloudmapapi.FilterConditionEQ
			}
			if cond == cloudmapapi.FilterConditionBEGINSWITH {
				return nil, invalidInput("The %s filter supports the EQ and IN conditions.", f.Name)
			}
			value := cloudmapapi.Value(rec.Service.NamespaceId)
			if f.Name == cloudmapapi.ServiceFilterNameRESOURCEOWNER {
				value = cloudmapapi.Value(rec.Service.ResourceOwner)
			}
			m, err := filterMatch(string(f.Name), cond, f.Values, value)
			if err != nil {
				return nil, err
			}
			ok = ok && m
		}
		if !ok {
			continue
		}
		if len(out.Services) == limit {
			out.NextToken = encodeToken(after)
			break
		}
		s, err := c.withInstanceCount(ctx, rec)
		if err != nil {
			return nil, err
		}
		out.Services = append(out.Services, cloudmapapi.ServiceSummary{
			Id: s.Id, Arn: s.Arn, ResourceOwner: s.ResourceOwner, Name: s.Name, Type: s.Type, Description: s.Description,
			InstanceCount: s.InstanceCount, DnsConfig: s.DnsConfig, HealthCheckConfig: s.HealthCheckConfig,
			HealthCheckCustomConfig: s.HealthCheckCustomConfig, CreateDate: s.CreateDate, CreatedByAccount: s.CreatedByAccount,
		})
		after = kv.Key
	}
	return out, nil
}

// UpdateService changes a service's description and DNS record TTLs.
func (c *CloudMap) UpdateService(ctx context.Context, in *cloudmapapi.UpdateServiceRequest) (*cloudmapapi.UpdateServiceResponse, error) {
	if in.Service == nil {
		return nil, invalidInput("Service is required.")
	}
	if in.Service.HealthCheckConfig != nil {
		return nil, invalidInput("berth does not run Route 53 health checks (HealthCheckConfig).")
	}
	var opID string
	err := retry(ctx, func() error {
		rec, rev, err := c.loadService(ctx, in.Id)
		if err != nil {
			return err
		}
		s := &rec.Service
		if in.Service.Description != nil {
			s.Description = in.Service.Description
		}
		if in.Service.DnsConfig != nil {
			if s.DnsConfig == nil {
				return invalidInput("The service %s has no DNS configuration to update.", *s.Id)
			}
			if err := validateDnsRecords(cloudmapapi.Value(s.DnsConfig.RoutingPolicy), in.Service.DnsConfig.DnsRecords); err != nil {
				return err
			}
			s.DnsConfig.DnsRecords = in.Service.DnsConfig.DnsRecords
		}
		op, putOp := c.newOperation(cloudmapapi.OperationTypeUPDATESERVICE, map[string]string{string(cloudmapapi.OperationTargetTypeSERVICE): *s.Id})
		_, err = c.st.Txn(ctx, []store.Cond{{Key: serviceKey(*s.Id), ModRev: rev}}, []store.Op{store.Put(serviceKey(*s.Id), mustJSON(rec)), putOp})
		opID = *op.Id
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.UpdateServiceResponse{OperationId: &opID}, nil
}

// DeleteService deletes a service that has no instances.
func (c *CloudMap) DeleteService(ctx context.Context, in *cloudmapapi.DeleteServiceRequest) (*cloudmapapi.DeleteServiceResponse, error) {
	err := retry(ctx, func() error {
		rec, rev, err := c.loadService(ctx, in.Id)
		if err != nil {
			return err
		}
		id := *rec.Service.Id
		n, err := c.count(ctx, instancesOf(id))
		if err != nil {
			return err
		}
		if n > 0 {
			return cloudmapapi.Errorf(cloudmapapi.CodeResourceInUse, "The service %s has %d registered instances; deregister them first.", id, n)
		}
		_, err = c.st.Txn(ctx, []store.Cond{{Key: serviceKey(id), ModRev: rev}}, []store.Op{
			store.Delete(serviceKey(id)),
			store.Delete(serviceNameKey(cloudmapapi.Value(rec.Service.NamespaceId), cloudmapapi.Value(rec.Service.Name))),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.DeleteServiceResponse{}, nil
}

// GetServiceAttributes returns a service's custom attributes.
func (c *CloudMap) GetServiceAttributes(ctx context.Context, in *cloudmapapi.GetServiceAttributesRequest) (*cloudmapapi.GetServiceAttributesResponse, error) {
	rec, _, err := c.loadService(ctx, in.ServiceId)
	if err != nil {
		return nil, err
	}
	attrs := rec.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return &cloudmapapi.GetServiceAttributesResponse{ServiceAttributes: &cloudmapapi.ServiceAttributes{
		ServiceArn: rec.Service.Arn, ResourceOwner: rec.Service.ResourceOwner, Attributes: attrs,
	}}, nil
}

// UpdateServiceAttributes adds or changes a service's custom attributes.
func (c *CloudMap) UpdateServiceAttributes(ctx context.Context, in *cloudmapapi.UpdateServiceAttributesRequest) (*cloudmapapi.UpdateServiceAttributesResponse, error) {
	err := c.changeService(ctx, in.ServiceId, func(rec *serviceRecord) error {
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		for k, v := range in.Attributes {
			rec.Attributes[k] = v
		}
		if len(rec.Attributes) > 30 {
			return cloudmapapi.Errorf(cloudmapapi.CodeServiceAttributesLimitExceededException, "A service can have at most 30 attributes.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.UpdateServiceAttributesResponse{}, nil
}

// DeleteServiceAttributes removes custom attributes of a service.
func (c *CloudMap) DeleteServiceAttributes(ctx context.Context, in *cloudmapapi.DeleteServiceAttributesRequest) (*cloudmapapi.DeleteServiceAttributesResponse, error) {
	err := c.changeService(ctx, in.ServiceId, func(rec *serviceRecord) error {
		for _, k := range in.Attributes {
			delete(rec.Attributes, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.DeleteServiceAttributesResponse{}, nil
}

// changeService applies change to a service record with compare-and-swap.
func (c *CloudMap) changeService(ctx context.Context, ref string, change func(*serviceRecord) error) error {
	return retry(ctx, func() error {
		rec, rev, err := c.loadService(ctx, ref)
		if err != nil {
			return err
		}
		if err := change(&rec); err != nil {
			return err
		}
		id := *rec.Service.Id
		_, err = c.st.Txn(ctx, []store.Cond{{Key: serviceKey(id), ModRev: rev}}, []store.Op{store.Put(serviceKey(id), mustJSON(rec))})
		return err
	})
}
