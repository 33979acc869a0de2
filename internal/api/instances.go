package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/clusterquery"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
)

// Container instance records:
//
//	/instances/<cluster>/<id>          ecsapi.ContainerInstance, the wire shape
//	/instance-devices/<cluster>/<id>   []ecsapi.PlatformDevice the agent registered
//
// <id> is the last segment of the long ARN
// arn:aws:ecs:REGION:ACCOUNT:container-instance/<cluster>/<id>. Records stay
// after deregistration with status INACTIVE, as ECS keeps them describable.
// version starts at 1 and grows with every change of the record.
func instanceKey(cluster, id string) string { return instancesPrefix(cluster) + id }

func instanceDevicesKey(cluster, id string) string { return "/instance-devices/" + cluster + "/" + id }

// instanceARN is the long-format ARN of a container instance.
func (e *ECS) instanceARN(cluster, id string) string {
	return e.names.Resource("container-instance/" + cluster + "/" + id)
}

var (
	instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	attrNameRE   = regexp.MustCompile(`^[A-Za-z0-9_./\\-]{1,128}$`)
	attrValueRE  = regexp.MustCompile(`^[A-Za-z0-9_.@/\\: -]{1,128}$`)
	// errNoInstance is getInstance's "not found", turned into each
	// operation's error or failure.
	errNoInstance = errors.New("container instance not found")
)

// parseInstanceRef splits a container instance reference: a bare id or an
// ARN in the long (container-instance/CLUSTER/ID) or short
// (container-instance/ID) format. cluster is "" when the reference names none.
func parseInstanceRef(ref string) (cluster, id string, ok bool) {
	if !arn.IsARN(ref) {
		return "", ref, instanceIDRE.MatchString(ref)
	}
	kind, rest, err := arn.ECSResource(ref)
	if err != nil || kind != "container-instance" {
		return "", "", false
	}
	cluster, id, long := strings.Cut(rest, "/")
	if !long {
		cluster, id = "", rest
	}
	return cluster, id, instanceIDRE.MatchString(id) && (cluster == "" || nameRE.MatchString(cluster))
}

// getInstance reads the container instance ref names in cluster; a
// reference to another cluster or to nothing is errNoInstance.
func (e *ECS) getInstance(ctx context.Context, cluster, ref string) (ecsapi.ContainerInstance, int64, error) {
	var ci ecsapi.ContainerInstance
	c, id, ok := parseInstanceRef(ref)
	if !ok || (c != "" && c != cluster) {
		return ci, 0, errNoInstance
	}
	rev, err := e.getJSON(ctx, instanceKey(cluster, id), &ci)
	if errors.Is(err, store.ErrNotFound) {
		return ci, 0, errNoInstance
	}
	return ci, rev, err
}

// loadInstance reads a container instance of cluster by full ARN or id, with
// its revision for compare-and-swap. An unknown one is an
// InvalidParameterException.
func (e *ECS) loadInstance(ctx context.Context, cluster string, ref string) (ecsapi.ContainerInstance, int64, error) {
	ci, rev, err := e.getInstance(ctx, cluster, ref)
	if errors.Is(err, errNoInstance) {
		err = invalidParam("The referenced container instance %s was not found in cluster %s.", ref, cluster)
	}
	return ci, rev, err
}

// clusterName resolves the cluster parameter to an ACTIVE cluster's name.
func (e *ECS) clusterName(ctx context.Context, ref *string) (string, error) {
	c, _, err := e.activeCluster(ctx, ref, false)
	return ecsapi.Value(c.ClusterName), err
}

// putInstance writes ci with compare-and-swap on rev.
func (e *ECS) putInstance(ctx context.Context, cluster string, ci ecsapi.ContainerInstance, rev int64) error {
	key := instanceKey(cluster, instanceIDOfRecord(ci))
	_, err := e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(ci))})
	return err
}

// instanceIDOfRecord is the id segment of a record's ARN.
func instanceIDOfRecord(ci ecsapi.ContainerInstance) string {
	return lastSegment(ecsapi.Value(ci.ContainerInstanceArn))
}

// missingInstance is the failure ECS reports for an unknown reference: the
// ARN as given, or the long ARN an id would have.
func (e *ECS) missingInstance(cluster, ref, reason string) ecsapi.Failure {
	a := ref
	if !arn.IsARN(ref) {
		a = e.instanceARN(cluster, ref)
	}
	return ecsapi.Failure{Arn: ecsapi.Ptr(a), Reason: ecsapi.Ptr(reason)}
}

// identityDoc is what berth reads of an EC2 instance identity document (its
// region is not checked and its signature not verified: berth does not hold
// AWS's keys).
type identityDoc struct {
	InstanceID       string `json:"instanceId"`
	AvailabilityZone string `json:"availabilityZone"`
	InstanceType     string `json:"instanceType"`
	ImageID          string `json:"imageId"`
	Architecture     string `json:"architecture"`
}

func parseIdentityDoc(doc string) (identityDoc, error) {
	var d identityDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil && strings.TrimSpace(doc) != "" {
		return d, invalidParam("instanceIdentityDocument is not an EC2 instance identity document (a JSON object): %v.", err)
	}
	return d, nil
}

// providedAttributes are the attributes ECS adds from the identity document
// (the agent reads ecs.availability-zone back from the response).
func (d identityDoc) providedAttributes() []ecsapi.Attribute {
	var out []ecsapi.Attribute
	for _, kv := range [][2]string{{"ecs.availability-zone", d.AvailabilityZone}, {"ecs.instance-type", d.InstanceType}, {"ecs.ami-id", d.ImageID}, {"ecs.cpu-architecture", d.Architecture}} {
		if kv[1] != "" {
			out = append(out, ecsapi.Attribute{Name: kv[0], Value: ecsapi.Ptr(kv[1])})
		}
	}
	return out
}

// validateAttributes applies ECS's attribute name and value rules.
func validateAttributes(attrs []ecsapi.Attribute) error {
	for _, a := range attrs {
		if !attrNameRE.MatchString(a.Name) {
			return invalidParam("Attribute name %q is invalid: a name must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens (-), underscores (_), forward slashes (/), back slashes (\\), or periods (.).", a.Name)
		}
		if v := a.Value; v != nil && (!attrValueRE.MatchString(*v) || strings.HasPrefix(*v, " ") || strings.HasSuffix(*v, " ")) {
			return invalidParam("The value %q of attribute %s is invalid: a value must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), back slashes (\\), colons (:), or spaces, and cannot start or end with a space.", *v, a.Name)
		}
	}
	return nil
}

// mergeAttributes returns have with set applied by name: a set attribute
// replaces one of the same name, others are appended. Only name and value
// are kept: the target is the instance itself.
func mergeAttributes(have, set []ecsapi.Attribute) []ecsapi.Attribute {
	out := slices.Clone(have)
	for _, a := range set {
		a = ecsapi.Attribute{Name: a.Name, Value: a.Value}
		if i := slices.IndexFunc(out, func(o ecsapi.Attribute) bool { return o.Name == a.Name }); i >= 0 {
			out[i] = a
		} else {
			out = append(out, a)
		}
	}
	return out
}

// Resource names with a fixed type. PORTS and PORTS_UDP list the ports in
// use (reserved by the host, plus those tasks take), in registered and
// remaining alike; every other STRINGSET (GPU) lists what is free.
var (
	resourceTypes      = []string{"INTEGER", "LONG", "DOUBLE", "STRINGSET"}
	knownResourceTypes = map[string]string{"CPU": "INTEGER", "MEMORY": "INTEGER", "PORTS": "STRINGSET", "PORTS_UDP": "STRINGSET", "GPU": "STRINGSET"}
)

func isPortResource(name string) bool { return name == "PORTS" || name == "PORTS_UDP" }

// validateResources checks totalResources: named once each, a known type
// (the fixed one for CPU, MEMORY, PORTS, PORTS_UDP and GPU), no negative
// value and only port numbers in PORTS and PORTS_UDP.
func validateResources(rs []ecsapi.Resource) error {
	seen := map[string]bool{}
	for i, r := range rs {
		name, typ := ecsapi.Value(r.Name), ecsapi.Value(r.Type)
		switch {
		case name == "":
			return invalidParam("totalResources[%d].name is required.", i)
		case seen[name]:
			return invalidParam("The resource %s is listed more than once in totalResources.", name)
		case !slices.Contains(resourceTypes, typ):
			return invalidParam("The resource %s has type %q; the type must be INTEGER, LONG, DOUBLE or STRINGSET.", name, typ)
		}
		seen[name] = true
		if want := knownResourceTypes[name]; want != "" && typ != want {
			return invalidParam("The resource %s must have type %s, not %s.", name, want, typ)
		}
		if r.IntegerValue < 0 || r.LongValue < 0 || r.DoubleValue < 0 {
			return invalidParam("The resource %s has a negative value (integerValue %d, longValue %d, doubleValue %g); resource values must be 0 or greater.", name, r.IntegerValue, r.LongValue, r.DoubleValue)
		}
		if isPortResource(name) {
			for _, p := range r.StringSetValue {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					return invalidParam("The resource %s lists %q, which is not a port number from 1 to 65535.", name, p)
				}
			}
		}
	}
	return nil
}

func cloneResources(rs []ecsapi.Resource) []ecsapi.Resource {
	out := slices.Clone(rs)
	for i := range out {
		out[i].StringSetValue = slices.Clone(out[i].StringSetValue)
	}
	return out
}

func findResource(rs []ecsapi.Resource, name, typ string) (ecsapi.Resource, bool) {
	i := slices.IndexFunc(rs, func(r ecsapi.Resource) bool { return ecsapi.Value(r.Name) == name && ecsapi.Value(r.Type) == typ })
	if i < 0 {
		return ecsapi.Resource{}, false
	}
	return rs[i], true
}

// carryUsage is the remainingResources of a re-registration: the new
// registered resources less what tasks hold under the old ones (registered
// minus remaining, or for PORTS and PORTS_UDP the ports tasks added).
func carryUsage(oldReg, oldRem, newReg []ecsapi.Resource) []ecsapi.Resource {
	out := cloneResources(newReg)
	for i := range out {
		r := &out[i]
		name, typ := ecsapi.Value(r.Name), ecsapi.Value(r.Type)
		reg, ok1 := findResource(oldReg, name, typ)
		rem, ok2 := findResource(oldRem, name, typ)
		switch {
		case !ok1 || !ok2:
		case isPortResource(name):
			for _, p := range without(rem.StringSetValue, reg.StringSetValue) {
				if !slices.Contains(r.StringSetValue, p) {
					r.StringSetValue = append(r.StringSetValue, p)
				}
			}
		case typ == "STRINGSET":
			r.StringSetValue = without(r.StringSetValue, without(reg.StringSetValue, rem.StringSetValue))
		default:
			r.IntegerValue -= reg.IntegerValue - rem.IntegerValue
			r.LongValue -= reg.LongValue - rem.LongValue
			r.DoubleValue -= reg.DoubleValue - rem.DoubleValue
		}
	}
	return out
}

// without returns the members of set not in drop, in order.
func without(set, drop []string) []string {
	return slices.DeleteFunc(slices.Clone(set), func(s string) bool { return slices.Contains(drop, s) })
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// RegisterContainerInstance registers an agent's host, or with
// containerInstanceArn of an instance of the cluster updates that record in
// place (keeping its id, registeredAt and the resources its tasks hold).
func (e *ECS) RegisterContainerInstance(ctx context.Context, in *ecsapi.RegisterContainerInstanceRequest) (*ecsapi.RegisterContainerInstanceResponse, error) {
	iid, err := parseIdentityDoc(ecsapi.Value(in.InstanceIdentityDocument))
	for _, err := range []error{err, validateResources(in.TotalResources), validateAttributes(in.Attributes), validateTags(in.Tags)} {
		if err != nil {
			return nil, err
		}
	}
	ref := ecsapi.Value(in.ContainerInstanceArn)
	if _, _, ok := parseInstanceRef(ref); !ok && ref != "" {
		return nil, invalidParam("containerInstanceArn %q is not a container instance ARN or id.", ref)
	}
	var out ecsapi.ContainerInstance
	err = retry(ctx, func() error {
		c, crev, err := e.activeCluster(ctx, in.Cluster, true)
		if err != nil {
			return err
		}
		cluster := ecsapi.Value(c.ClusterName)
		ci, rev, err := e.getInstance(ctx, cluster, ref)
		switch {
		case errors.Is(err, errNoInstance):
			ci, rev = e.newInstance(cluster, iid, in), 0
		case err != nil:
			return err
		default:
			if err := reregister(&ci, iid, in); err != nil {
				return err
			}
		}
		id := instanceIDOfRecord(ci)
		key := instanceKey(cluster, id)
		ops := []store.Op{store.Put(key, mustJSON(ci))}
		if in.PlatformDevices != nil {
			ops = append(ops, store.Put(instanceDevicesKey(cluster, id), mustJSON(in.PlatformDevices)))
		}
		_, err = e.st.Txn(ctx, []store.Cond{{Key: clusterKey(cluster), ModRev: crev}, {Key: key, ModRev: rev}}, ops)
		out = ci
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.RegisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// newInstance builds the record of a first registration.
func (e *ECS) newInstance(cluster string, iid identityDoc, in *ecsapi.RegisterContainerInstanceRequest) ecsapi.ContainerInstance {
	return ecsapi.ContainerInstance{
		ContainerInstanceArn: ecsapi.Ptr(e.instanceARN(cluster, randomHex(32))),
		Ec2InstanceId:        ecsapi.Ptr(cmp.Or(iid.InstanceID, "i-"+randomHex(17))),
		Version:              1,
		VersionInfo:          in.VersionInfo,
		RegisteredResources:  cloneResources(in.TotalResources),
		RemainingResources:   cloneResources(in.TotalResources),
		Status:               ecsapi.Ptr(statusActive),
		Attributes:           mergeAttributes(mergeAttributes(nil, iid.providedAttributes()), in.Attributes),
		RegisteredAt:         ecsapi.Time(e.now()),
		Attachments:          []ecsapi.Attachment{},
		Tags:                 nonNil(in.Tags),
	}
}

// reregister applies a registration by the agent of an existing instance.
// Attributes merge (the agent resends only its standard ones); tags, the
// version information and the identity document replace what was stored
// when given.
func reregister(ci *ecsapi.ContainerInstance, iid identityDoc, in *ecsapi.RegisterContainerInstanceRequest) error {
	if ecsapi.Value(ci.Status) == statusInactive {
		return clientErr("The container instance %s is INACTIVE (deregistered) and cannot register again; register without containerInstanceArn to create a new container instance.", ecsapi.Value(ci.ContainerInstanceArn))
	}
	for _, a := range ci.Attributes {
		if a.Name == "ecs.instance-type" && iid.InstanceType != "" && ecsapi.Value(a.Value) != iid.InstanceType {
			return clientErr("Container instance type changes are not supported. The container instance was registered as %s and now reports %s.", ecsapi.Value(a.Value), iid.InstanceType)
		}
	}
	ci.Ec2InstanceId = ecsapi.Ptr(cmp.Or(iid.InstanceID, ecsapi.Value(ci.Ec2InstanceId)))
	ci.VersionInfo = cmp.Or(in.VersionInfo, ci.VersionInfo)
	if in.Tags != nil {
		ci.Tags = in.Tags
	}
	ci.RemainingResources = carryUsage(ci.RegisteredResources, ci.RemainingResources, in.TotalResources)
	ci.RegisteredResources = cloneResources(in.TotalResources)
	ci.Attributes = mergeAttributes(mergeAttributes(ci.Attributes, iid.providedAttributes()), in.Attributes)
	ci.AgentConnected = false
	ci.Version++
	return nil
}

// instanceView is a record as describe shows it: tags only when asked for
// (as [] when there are none), health only when asked for.
func instanceView(ci ecsapi.ContainerInstance, tags, health bool) ecsapi.ContainerInstance {
	if ci.Tags = nonNil(ci.Tags); !tags {
		ci.Tags = nil
	}
	if !health {
		ci.HealthStatus = nil
	} else if ci.HealthStatus == nil {
		// Nothing reported: OK while the agent is connected, else no data.
		st := ecsapi.InstanceHealthCheckStateINSUFFICIENTDATA
		if ci.AgentConnected {
			st = ecsapi.InstanceHealthCheckStateOK
		}
		check := ecsapi.InstanceHealthCheckResult{Type: ecsapi.Ptr(ecsapi.InstanceHealthCheckTypeCONTAINERRUNTIME), Status: &st}
		ci.HealthStatus = &ecsapi.ContainerInstanceHealthStatus{OverallStatus: &st, Details: []ecsapi.InstanceHealthCheckResult{check}}
	}
	return ci
}

// DescribeContainerInstances describes container instances of a cluster by
// ARN or id; unknown ones are failures with reason MISSING.
func (e *ECS) DescribeContainerInstances(ctx context.Context, in *ecsapi.DescribeContainerInstancesRequest) (*ecsapi.DescribeContainerInstancesResponse, error) {
	if len(in.ContainerInstances) > 100 {
		return nil, invalidParam("instanceIds can have at most 100 items.")
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	tags := slices.Contains(in.Include, ecsapi.ContainerInstanceFieldTAGS)
	health := slices.Contains(in.Include, ecsapi.ContainerInstanceFieldCONTAINERINSTANCEHEALTH)
	out := &ecsapi.DescribeContainerInstancesResponse{ContainerInstances: []ecsapi.ContainerInstance{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ContainerInstances {
		ci, _, err := e.getInstance(ctx, cluster, ref)
		switch {
		case errors.Is(err, errNoInstance):
			out.Failures = append(out.Failures, e.missingInstance(cluster, ref, "MISSING"))
		case err != nil:
			return nil, err
		default:
			out.ContainerInstances = append(out.ContainerInstances, instanceView(ci, tags, health))
		}
	}
	return out, nil
}

// ListContainerInstances lists the ARNs of a cluster's container instances
// in id order: those of the given status, or every one but INACTIVE.
func (e *ECS) ListContainerInstances(ctx context.Context, in *ecsapi.ListContainerInstancesRequest) (*ecsapi.ListContainerInstancesResponse, error) {
	var filter *clusterquery.Expr
	if in.Filter != nil {
		f, err := clusterquery.Parse(*in.Filter)
		if err != nil {
			return nil, invalidParam("Invalid filter %q: %v", *in.Filter, err)
		}
		filter = f
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var groups map[string]map[string]int
	if filter != nil && filter.UsesTaskGroups() {
		if groups, err = e.instanceGroups(ctx, cluster); err != nil {
			return nil, err
		}
	}
	prefix := instancesPrefix(cluster)
	p, err := parsePage(in.NextToken, in.MaxResults, prefix, 100, 100)
	if err != nil {
		return nil, err
	}
	kvs, next, err := e.scan(ctx, prefix, p, false, false, func(kv store.KV) bool {
		if in.Status != nil && jsonStatus(kv.Value) != string(*in.Status) {
			return false
		}
		if in.Status == nil && jsonStatus(kv.Value) == statusInactive {
			return false
		}
		if filter == nil {
			return true
		}
		var ci ecsapi.ContainerInstance
		if json.Unmarshal(kv.Value, &ci) != nil {
			return false
		}
		pi := placementInstance(&ci, groups[kv.Key[len(prefix):]])
		return filter.Match(placement.Subject(&pi))
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListContainerInstancesResponse{ContainerInstanceArns: make([]string, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		out.ContainerInstanceArns = append(out.ContainerInstanceArns, e.instanceARN(cluster, kv.Key[len(prefix):]))
	}
	return out, nil
}

// DeregisterContainerInstance marks a container instance INACTIVE. Without
// force it refuses while tasks are pending or running on it. Deregistering
// an INACTIVE instance returns it unchanged.
func (e *ECS) DeregisterContainerInstance(ctx context.Context, in *ecsapi.DeregisterContainerInstanceRequest) (*ecsapi.DeregisterContainerInstanceResponse, error) {
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var out ecsapi.ContainerInstance
	err = retry(ctx, func() error {
		ci, rev, err := e.loadInstance(ctx, cluster, in.ContainerInstance)
		switch {
		case err != nil:
			return err
		case ecsapi.Value(ci.Status) == statusInactive:
			out = instanceView(ci, false, false)
			return nil
		case !ecsapi.Value(in.Force) && ci.RunningTasksCount+ci.PendingTasksCount > 0:
			return invalidParam("Found running tasks on the instance.")
		}
		ci.Status, ci.AgentConnected = ecsapi.Ptr(statusInactive), false
		ci.Version++
		out = instanceView(ci, false, false)
		return e.putInstance(ctx, cluster, ci, rev)
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeregisterContainerInstanceResponse{ContainerInstance: &out}, nil
}

// UpdateContainerInstancesState sets up to 10 container instances ACTIVE or
// DRAINING in one transaction. Unknown ones are failures MISSING, INACTIVE
// ones failures INACTIVE.
func (e *ECS) UpdateContainerInstancesState(ctx context.Context, in *ecsapi.UpdateContainerInstancesStateRequest) (*ecsapi.UpdateContainerInstancesStateResponse, error) {
	if in.Status != ecsapi.ContainerInstanceStatusACTIVE && in.Status != ecsapi.ContainerInstanceStatusDRAINING {
		return nil, invalidParam("Container instances can only be set to ACTIVE or DRAINING, not %s.", in.Status)
	}
	if len(in.ContainerInstances) > 10 {
		return nil, invalidParam("instanceIds can have at most 10 items.")
	}
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var out *ecsapi.UpdateContainerInstancesStateResponse
	err = retry(ctx, func() error {
		out = &ecsapi.UpdateContainerInstancesStateResponse{ContainerInstances: []ecsapi.ContainerInstance{}, Failures: []ecsapi.Failure{}}
		var conds []store.Cond
		var ops []store.Op
		for _, ref := range in.ContainerInstances {
			ci, rev, err := e.getInstance(ctx, cluster, ref)
			switch {
			case errors.Is(err, errNoInstance):
				out.Failures = append(out.Failures, e.missingInstance(cluster, ref, "MISSING"))
				continue
			case err != nil:
				return err
			case ecsapi.Value(ci.Status) == statusInactive:
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: ci.ContainerInstanceArn, Reason: ci.Status, Detail: ecsapi.Ptr("The container instance is deregistered; only ACTIVE or DRAINING container instances can change state.")})
				continue
			case ecsapi.Value(ci.Status) != string(in.Status):
				ci.Status = ecsapi.Ptr(string(in.Status))
				ci.Version++
				key := instanceKey(cluster, instanceIDOfRecord(ci))
				conds = append(conds, store.Cond{Key: key, ModRev: rev})
				ops = append(ops, store.Put(key, mustJSON(ci)))
			}
			out.ContainerInstances = append(out.ContainerInstances, instanceView(ci, false, false))
		}
		if len(ops) == 0 {
			return nil
		}
		_, err := e.st.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateContainerAgent is refused: the berth agent is part of the berth
// binary and is updated with it.
func (e *ECS) UpdateContainerAgent(ctx context.Context, in *ecsapi.UpdateContainerAgentRequest) (*ecsapi.UpdateContainerAgentResponse, error) {
	cluster, err := e.clusterName(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, _, err := e.loadInstance(ctx, cluster, in.ContainerInstance); err != nil {
		return nil, err
	}
	return nil, clientErr("Agent updates through UpdateContainerAgent are not supported by berth: the agent is part of the berth binary. Update the berth binary on the container instance and restart its agent instead.")
}

// instanceTaggable is the taggable of a container instance ARN in the long
// format (container-instance/CLUSTER/ID).
func instanceTaggable(resourceARN string) (taggable, error) {
	cluster, id, ok := parseInstanceRef(resourceARN)
	if !ok || cluster == "" {
		return taggable{}, invalidParam("The ARN %q is not a container instance ARN in the long format arn:aws:ecs:REGION:ACCOUNT:container-instance/CLUSTER/ID.", resourceARN)
	}
	return taggable{
		key: instanceKey(cluster, id),
		tags: func(raw []byte) ([]ecsapi.Tag, error) {
			var ci ecsapi.ContainerInstance
			err := json.Unmarshal(raw, &ci)
			return ci.Tags, err
		},
		set: func(raw []byte, tags []ecsapi.Tag) ([]byte, error) {
			var ci ecsapi.ContainerInstance
			if err := json.Unmarshal(raw, &ci); err != nil {
				return nil, err
			}
			ci.Tags = tags
			return mustJSON(ci), nil
		},
	}, nil
}
