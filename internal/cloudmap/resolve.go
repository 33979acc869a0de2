package cloudmap

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/cloudmapapi"
)

// ErrNoSuchName is returned by Resolve for a name that names no service.
var ErrNoSuchName = errors.New("cloudmap: no such service name")

// Instance is one registered instance as the rest of berth sees it.
type Instance struct {
	ID         string
	ServiceID  string
	Attributes map[string]string
	// IPv4, IPv6 and Port are the AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6 and
	// AWS_INSTANCE_PORT attributes (zero when absent).
	IPv4, IPv6 string
	Port       int
	Health     cloudmapapi.HealthStatus
}

// Resolution is what a DNS name resolves to: the service, its DNS records
// (nil for an HTTP-only service) and its healthy instances.
type Resolution struct {
	NamespaceID   string
	NamespaceName string
	ServiceID     string
	ServiceName   string
	RoutingPolicy cloudmapapi.RoutingPolicy
	Records       []cloudmapapi.DnsRecord
	Instances     []Instance
}

func toInstance(sid string, r instanceRecord) Instance {
	in := Instance{
		ID:         r.Instance.Id,
		ServiceID:  sid,
		Attributes: r.Instance.Attributes,
		IPv4:       r.Instance.Attributes[AttrIPv4],
		IPv6:       r.Instance.Attributes[AttrIPv6],
		Health:     r.Health,
	}
	in.Port, _ = strconv.Atoi(r.Instance.Attributes[AttrPort])
	return in
}

// Lookup resolves a DNS name of the form <service>.<namespace> (case
// insensitive, an ending dot allowed) to its service and healthy
// instances. Service names may contain dots, so every split is tried,
// shortest service name first. It returns ErrNoSuchName when no namespace
// and service match.
func (c *CloudMap) Lookup(ctx context.Context, name string) (Resolution, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for i := strings.IndexByte(name, '.'); i >= 0; {
		service, namespace := name[:i], name[i+1:]
		ns, srv, _, err := c.lookup(ctx, namespace, service)
		var ae *awsjson.Error
		switch {
		case err == nil:
			sid := *srv.Service.Id
			recs, _, err := c.listInstances(ctx, sid)
			if err != nil {
				return Resolution{}, err
			}
			res := Resolution{
				NamespaceID:   *ns.Namespace.Id,
				NamespaceName: cloudmapapi.Value(ns.Namespace.Name),
				ServiceID:     sid,
				ServiceName:   cloudmapapi.Value(srv.Service.Name),
			}
			if d := srv.Service.DnsConfig; d != nil {
				res.RoutingPolicy = cloudmapapi.Value(d.RoutingPolicy)
				res.Records = d.DnsRecords
			}
			for _, r := range discover(recs, cloudmapapi.HealthStatusFilterHEALTHY, nil, nil) {
				res.Instances = append(res.Instances, toInstance(sid, r))
			}
			return res, nil
		case errors.As(err, &ae):
			// Not this split: try a longer service name.
		default:
			return Resolution{}, err
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return Resolution{}, ErrNoSuchName
}

// Resolve returns the healthy instances of the service named
// <service>.<namespace>, or ErrNoSuchName.
func (c *CloudMap) Resolve(ctx context.Context, name string) ([]Instance, error) {
	res, err := c.Lookup(ctx, name)
	return res.Instances, err
}

// Register registers (or updates) instance id of a service, given by id or
// ARN, with attributes, as RegisterInstance does. The ECS controller calls
// it for the tasks of services with service registries.
func (c *CloudMap) Register(ctx context.Context, service, id string, attrs map[string]string) error {
	if attrs == nil {
		attrs = map[string]string{}
	}
	in := &cloudmapapi.RegisterInstanceRequest{ServiceId: serviceID(service), InstanceId: id, Attributes: attrs}
	if err := cloudmapapi.Check(in); err != nil {
		return err
	}
	_, err := c.register(ctx, in)
	return err
}

// Deregister removes an instance of a service given by id or ARN. A missing
// instance is not an error.
func (c *CloudMap) Deregister(ctx context.Context, service, id string) error {
	_, err := c.deregister(ctx, service, id)
	var ae *awsjson.Error
	if errors.As(err, &ae) && ae.Code == cloudmapapi.CodeInstanceNotFound {
		return nil
	}
	return err
}

// SetHealth records the health of an instance of a service with a custom
// health check, as UpdateInstanceCustomHealthStatus does.
func (c *CloudMap) SetHealth(ctx context.Context, service, id string, healthy bool) error {
	status := cloudmapapi.HealthStatusHEALTHY
	if !healthy {
		status = cloudmapapi.HealthStatusUNHEALTHY
	}
	return c.setHealth(ctx, service, id, status)
}

// Managed reports whether a DNS name (case insensitive, an ending dot
// allowed) is a private DNS namespace of berth or lies inside one: the DNS
// server answers such names itself (NXDOMAIN when unknown) instead of
// forwarding them.
func (c *CloudMap) Managed(ctx context.Context, name string) (bool, error) {
	name = normName(name)
	for name != "" {
		ns, _, err := c.namespaceByName(ctx, name)
		var ae *awsjson.Error
		switch {
		case err == nil:
			if cloudmapapi.Value(ns.Namespace.Type) == cloudmapapi.NamespaceTypeDNSPRIVATE {
				return true, nil
			}
		case !errors.As(err, &ae):
			return false, err
		}
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			break
		}
		name = rest
	}
	return false, nil
}
