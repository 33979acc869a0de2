package cloudmap

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store"
)

// Attributes Cloud Map gives a meaning to.
const (
	AttrIPv4  = "AWS_INSTANCE_IPV4"
	AttrIPv6  = "AWS_INSTANCE_IPV6"
	AttrPort  = "AWS_INSTANCE_PORT"
	AttrCNAME = "AWS_INSTANCE_CNAME"
	AttrAlias = "AWS_ALIAS_DNS_NAME"

	maxAttributes = 30
)

// instanceRecord is an instance as stored.
type instanceRecord struct {
	Instance cloudmapapi.Instance     `json:"instance"`
	Health   cloudmapapi.HealthStatus `json:"health"`
}

// validateAttributes checks an instance's attributes against the DNS
// records of its service.
func validateAttributes(s cloudmapapi.Service, attrs map[string]string) error {
	if len(attrs) > maxAttributes {
		return invalidInput("An instance can have at most %d attributes.", maxAttributes)
	}
	for k := range attrs {
		if k == "" || len(k) > 255 {
			return invalidInput("Attribute keys must be 1 to 255 characters long.")
		}
		for _, r := range k {
			if r < '!' || r > '~' {
				return invalidInput("The attribute key %q is invalid.", k)
			}
		}
	}
	if _, ok := attrs[AttrAlias]; ok {
		return invalidInput("berth does not support %s: there are no load balancer alias records.", AttrAlias)
	}
	if v, ok := attrs[AttrIPv4]; ok {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
			return invalidInput("%s %q is not an IPv4 address.", AttrIPv4, v)
		}
	}
	if v, ok := attrs[AttrIPv6]; ok {
		if a, err := netip.ParseAddr(v); err != nil || !a.Is6() {
			return invalidInput("%s %q is not an IPv6 address.", AttrIPv6, v)
		}
	}
	if v, ok := attrs[AttrPort]; ok {
		if p, err := strconv.Atoi(v); err != nil || p < 0 || p > 65535 {
			return invalidInput("%s %q is not a port number.", AttrPort, v)
		}
	}
	if s.DnsConfig == nil {
		return nil
	}
	for _, r := range s.DnsConfig.DnsRecords {
		switch r.Type {
		case cloudmapapi.RecordTypeA:
			if attrs[AttrIPv4] == "" {
				return invalidInput("The service has an A record: %s is required.", AttrIPv4)
			}
		case cloudmapapi.RecordTypeAAAA:
			if attrs[AttrIPv6] == "" {
				return invalidInput("The service has an AAAA record: %s is required.", AttrIPv6)
			}
		case cloudmapapi.RecordTypeSRV:
			if attrs[AttrPort] == "" {
				return invalidInput("The service has an SRV record: %s is required.", AttrPort)
			}
			if attrs[AttrIPv4] == "" && attrs[AttrIPv6] == "" {
				return invalidInput("The service has an SRV record: %s or %s is required.", AttrIPv4, AttrIPv6)
			}
		case cloudmapapi.RecordTypeCNAME:
			if attrs[AttrCNAME] == "" {
				return invalidInput("The service has a CNAME record: %s is required.", AttrCNAME)
			}
		}
	}
	return nil
}

// register creates or replaces an instance and returns the operation id.
func (c *CloudMap) register(ctx context.Context, in *cloudmapapi.RegisterInstanceRequest) (string, error) {
	params := *in
	params.CreatorRequestId = nil
	var opID string
	err := retry(ctx, func() error {
		prev, _, err := c.previous(ctx, "instance", in.CreatorRequestId, params)
		if err != nil || prev != "" {
			opID = prev
			return err
		}
		srv, srvRev, err := c.loadService(ctx, in.ServiceId)
		if err != nil {
			return err
		}
		if err := validateAttributes(srv.Service, in.Attributes); err != nil {
			return err
		}
		sid := *srv.Service.Id
		health := cloudmapapi.HealthStatusUNKNOWN
		if srv.Service.HealthCheckCustomConfig != nil {
			health = cloudmapapi.HealthStatusHEALTHY
		}
		var old instanceRecord
		oldRev, err := c.getJSON(ctx, instanceKey(sid, in.InstanceId), &old)
		switch {
		case err == nil:
			health = old.Health
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		attrs := in.Attributes
		if attrs == nil {
			attrs = map[string]string{}
		}
		inst := instanceRecord{
			Instance: cloudmapapi.Instance{
				Id:               in.InstanceId,
				CreatorRequestId: in.CreatorRequestId,
				Attributes:       attrs,
				CreatedByAccount: cloudmapapi.Ptr(c.cfg.AccountID),
			},
			Health: health,
		}
		op, putOp := c.newOperation(cloudmapapi.OperationTypeREGISTERINSTANCE, map[string]string{
			string(cloudmapapi.OperationTargetTypeSERVICE):  sid,
			string(cloudmapapi.OperationTargetTypeINSTANCE): in.InstanceId,
		})
		conds := []store.Cond{{Key: serviceKey(sid), ModRev: srvRev}, {Key: instanceKey(sid, in.InstanceId), ModRev: oldRev}}
		ops := []store.Op{
			// Rewriting the service bumps its revision (DiscoverInstances'
			// InstancesRevision) and makes a concurrent DeleteService
			// conflict.
			store.Put(serviceKey(sid), mustJSON(srv)),
			store.Put(instanceKey(sid, in.InstanceId), mustJSON(inst)),
			putOp,
		}
		rc, ro := remember("instance", in.CreatorRequestId, params, *op.Id)
		if _, err := c.st.Txn(ctx, append(conds, rc...), append(ops, ro...)); err != nil {
			return err
		}
		opID = *op.Id
		return nil
	})
	return opID, err
}

// RegisterInstance creates or updates an instance of a service.
func (c *CloudMap) RegisterInstance(ctx context.Context, in *cloudmapapi.RegisterInstanceRequest) (*cloudmapapi.RegisterInstanceResponse, error) {
	id, err := c.register(ctx, in)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.RegisterInstanceResponse{OperationId: &id}, nil
}

func (c *CloudMap) deregister(ctx context.Context, service, instance string) (string, error) {
	var opID string
	err := retry(ctx, func() error {
		srv, srvRev, err := c.loadService(ctx, service)
		if err != nil {
			return err
		}
		sid := *srv.Service.Id
		kv, err := c.st.Get(ctx, instanceKey(sid, instance))
		if errors.Is(err, store.ErrNotFound) {
			return instanceNotFound(sid, instance)
		}
		if err != nil {
			return err
		}
		op, putOp := c.newOperation(cloudmapapi.OperationTypeDEREGISTERINSTANCE, map[string]string{
			string(cloudmapapi.OperationTargetTypeSERVICE):  sid,
			string(cloudmapapi.OperationTargetTypeINSTANCE): instance,
		})
		_, err = c.st.Txn(ctx, []store.Cond{{Key: serviceKey(sid), ModRev: srvRev}, {Key: kv.Key, ModRev: kv.ModRev}}, []store.Op{
			store.Put(serviceKey(sid), mustJSON(srv)),
			store.Delete(kv.Key),
			putOp,
		})
		opID = *op.Id
		return err
	})
	return opID, err
}

// DeregisterInstance removes an instance.
func (c *CloudMap) DeregisterInstance(ctx context.Context, in *cloudmapapi.DeregisterInstanceRequest) (*cloudmapapi.DeregisterInstanceResponse, error) {
	id, err := c.deregister(ctx, in.ServiceId, in.InstanceId)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.DeregisterInstanceResponse{OperationId: &id}, nil
}

func (c *CloudMap) loadInstance(ctx context.Context, service, instance string) (serviceRecord, instanceRecord, int64, error) {
	srv, _, err := c.loadService(ctx, service)
	if err != nil {
		return srv, instanceRecord{}, 0, err
	}
	var inst instanceRecord
	rev, err := c.getJSON(ctx, instanceKey(*srv.Service.Id, instance), &inst)
	if errors.Is(err, store.ErrNotFound) {
		return srv, inst, 0, instanceNotFound(*srv.Service.Id, instance)
	}
	return srv, inst, rev, err
}

// GetInstance describes an instance.
func (c *CloudMap) GetInstance(ctx context.Context, in *cloudmapapi.GetInstanceRequest) (*cloudmapapi.GetInstanceResponse, error) {
	_, inst, _, err := c.loadInstance(ctx, in.ServiceId, in.InstanceId)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.GetInstanceResponse{ResourceOwner: cloudmapapi.Ptr(c.cfg.AccountID), Instance: &inst.Instance}, nil
}

// listInstances returns every instance of a service in id order.
func (c *CloudMap) listInstances(ctx context.Context, sid string) ([]instanceRecord, []string, error) {
	kvs, _, err := c.st.List(ctx, instancesOf(sid), store.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	recs := make([]instanceRecord, len(kvs))
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		if err := jsonUnmarshal(kv, &recs[i]); err != nil {
			return nil, nil, err
		}
		keys[i] = kv.Key
	}
	return recs, keys, nil
}

// ListInstances lists the instances of a service.
func (c *CloudMap) ListInstances(ctx context.Context, in *cloudmapapi.ListInstancesRequest) (*cloudmapapi.ListInstancesResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	srv, _, err := c.loadService(ctx, in.ServiceId)
	if err != nil {
		return nil, err
	}
	kvs, _, err := c.st.List(ctx, instancesOf(*srv.Service.Id), store.ListOptions{After: after, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	out := &cloudmapapi.ListInstancesResponse{ResourceOwner: cloudmapapi.Ptr(c.cfg.AccountID), Instances: []cloudmapapi.InstanceSummary{}}
	for i, kv := range kvs {
		if i == limit {
			out.NextToken = encodeToken(kvs[i-1].Key)
			break
		}
		var rec instanceRecord
		if err := jsonUnmarshal(kv, &rec); err != nil {
			return nil, err
		}
		out.Instances = append(out.Instances, cloudmapapi.InstanceSummary{
			Id: cloudmapapi.Ptr(rec.Instance.Id), Attributes: rec.Instance.Attributes, CreatedByAccount: rec.Instance.CreatedByAccount,
		})
	}
	return out, nil
}

// healthy reports whether an instance counts as healthy: instances of
// services without health checks (UNKNOWN) do.
func healthy(h cloudmapapi.HealthStatus) bool { return h != cloudmapapi.HealthStatusUNHEALTHY }

// discover selects the instances of a service by health and attributes.
func discover(recs []instanceRecord, filter cloudmapapi.HealthStatusFilter, query, optional map[string]string) []instanceRecord {
	matches := func(r instanceRecord, want map[string]string) bool {
		for k, v := range want {
			if r.Instance.Attributes[k] != v {
				return false
			}
		}
		return true
	}
	var byHealth []instanceRecord
	switch filter {
	case cloudmapapi.HealthStatusFilterALL:
		byHealth = recs
	case cloudmapapi.HealthStatusFilterUNHEALTHY:
		for _, r := range recs {
			if !healthy(r.Health) {
				byHealth = append(byHealth, r)
			}
		}
	default: // HEALTHY, HEALTHY_OR_ELSE_ALL
		for _, r := range recs {
			if healthy(r.Health) {
				byHealth = append(byHealth, r)
			}
		}
		if len(byHealth) == 0 && filter == cloudmapapi.HealthStatusFilterHEALTHYORELSEALL {
			byHealth = recs
		}
	}
	var out []instanceRecord
	for _, r := range byHealth {
		if matches(r, query) {
			out = append(out, r)
		}
	}
	if len(optional) > 0 {
		var opt []instanceRecord
		for _, r := range out {
			if matches(r, optional) {
				opt = append(opt, r)
			}
		}
		if len(opt) > 0 {
			out = opt
		}
	}
	return out
}

// lookup finds a service by namespace and service name.
func (c *CloudMap) lookup(ctx context.Context, namespace, service string) (namespaceRecord, serviceRecord, int64, error) {
	ns, _, err := c.namespaceByName(ctx, namespace)
	if err != nil {
		return ns, serviceRecord{}, 0, err
	}
	var sid string
	if _, err := c.getJSON(ctx, serviceNameKey(*ns.Namespace.Id, service), &sid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ns, serviceRecord{}, 0, cloudmapapi.Errorf(cloudmapapi.CodeServiceNotFound, "No service named %s exists in namespace %s.", service, namespace)
		}
		return ns, serviceRecord{}, 0, err
	}
	srv, rev, err := c.loadService(ctx, sid)
	return ns, srv, rev, err
}

// DiscoverInstances finds the instances of a service by namespace and
// service name. AWS serves it on the data-servicediscovery endpoint; berth
// serves it on the one endpoint.
func (c *CloudMap) DiscoverInstances(ctx context.Context, in *cloudmapapi.DiscoverInstancesRequest) (*cloudmapapi.DiscoverInstancesResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	ns, srv, rev, err := c.lookup(ctx, in.NamespaceName, in.ServiceName)
	if err != nil {
		return nil, err
	}
	recs, _, err := c.listInstances(ctx, *srv.Service.Id)
	if err != nil {
		return nil, err
	}
	filter := cloudmapapi.Value(in.HealthStatus)
	if filter == "" {
		filter = cloudmapapi.HealthStatusFilterHEALTHY
	}
	found := discover(recs, filter, in.QueryParameters, in.OptionalParameters)
	if len(found) > limit {
		found = found[:limit]
	}
	out := &cloudmapapi.DiscoverInstancesResponse{Instances: []cloudmapapi.HttpInstanceSummary{}, InstancesRevision: &rev}
	for _, r := range found {
		out.Instances = append(out.Instances, cloudmapapi.HttpInstanceSummary{
			InstanceId:    cloudmapapi.Ptr(r.Instance.Id),
			NamespaceName: ns.Namespace.Name,
			ServiceName:   srv.Service.Name,
			HealthStatus:  cloudmapapi.Ptr(r.Health),
			Attributes:    r.Instance.Attributes,
		})
	}
	return out, nil
}

// DiscoverInstancesRevision returns the revision of a service's instances:
// it changes whenever an instance is registered, deregistered or changes
// health.
func (c *CloudMap) DiscoverInstancesRevision(ctx context.Context, in *cloudmapapi.DiscoverInstancesRevisionRequest) (*cloudmapapi.DiscoverInstancesRevisionResponse, error) {
	_, _, rev, err := c.lookup(ctx, in.NamespaceName, in.ServiceName)
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.DiscoverInstancesRevisionResponse{InstancesRevision: &rev}, nil
}

func (c *CloudMap) setHealth(ctx context.Context, service, instance string, status cloudmapapi.HealthStatus) error {
	return retry(ctx, func() error {
		srv, srvRev, err := c.loadService(ctx, service)
		if err != nil {
			return err
		}
		sid := *srv.Service.Id
		if srv.Service.HealthCheckCustomConfig == nil {
			return cloudmapapi.Errorf(cloudmapapi.CodeCustomHealthNotFound, "The service %s has no custom health check configuration (HealthCheckCustomConfig).", sid)
		}
		var inst instanceRecord
		rev, err := c.getJSON(ctx, instanceKey(sid, instance), &inst)
		if errors.Is(err, store.ErrNotFound) {
			return instanceNotFound(sid, instance)
		}
		if err != nil {
			return err
		}
		if inst.Health == status {
			return nil
		}
		inst.Health = status
		_, err = c.st.Txn(ctx, []store.Cond{{Key: serviceKey(sid), ModRev: srvRev}, {Key: instanceKey(sid, instance), ModRev: rev}}, []store.Op{
			store.Put(serviceKey(sid), mustJSON(srv)),
			store.Put(instanceKey(sid, instance), mustJSON(inst)),
		})
		return err
	})
}

// UpdateInstanceCustomHealthStatus sets the health of an instance of a
// service with a custom health check.
func (c *CloudMap) UpdateInstanceCustomHealthStatus(ctx context.Context, in *cloudmapapi.UpdateInstanceCustomHealthStatusRequest) (*cloudmapapi.UpdateInstanceCustomHealthStatusResponse, error) {
	if err := c.setHealth(ctx, in.ServiceId, in.InstanceId, cloudmapapi.HealthStatus(in.Status)); err != nil {
		return nil, err
	}
	return &cloudmapapi.UpdateInstanceCustomHealthStatusResponse{}, nil
}

// GetInstancesHealthStatus returns the health of a service's instances.
func (c *CloudMap) GetInstancesHealthStatus(ctx context.Context, in *cloudmapapi.GetInstancesHealthStatusRequest) (*cloudmapapi.GetInstancesHealthStatusResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	srv, _, err := c.loadService(ctx, in.ServiceId)
	if err != nil {
		return nil, err
	}
	recs, keys, err := c.listInstances(ctx, *srv.Service.Id)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range in.Instances {
		want[id] = true
	}
	out := &cloudmapapi.GetInstancesHealthStatusResponse{Status: map[string]cloudmapapi.HealthStatus{}}
	last := ""
	for i, r := range recs {
		if keys[i] <= after || (len(want) > 0 && !want[r.Instance.Id]) {
			continue
		}
		if len(out.Status) == limit {
			out.NextToken = encodeToken(last)
			break
		}
		out.Status[r.Instance.Id] = r.Health
		last = keys[i]
	}
	for id := range want {
		if _, ok := out.Status[id]; !ok && out.NextToken == nil && !strings.Contains(id, "/") {
			if _, err := c.st.Get(ctx, instanceKey(*srv.Service.Id, id)); errors.Is(err, store.ErrNotFound) {
				return nil, instanceNotFound(*srv.Service.Id, id)
			}
		}
	}
	return out, nil
}
