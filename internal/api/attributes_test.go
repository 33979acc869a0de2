package api

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// registerTestInstance registers a container instance in the default
// cluster and returns its ARN.
func registerTestInstance(t *testing.T, e *ECS, attrs ...ecsapi.Attribute) string {
	t.Helper()
	out, err := e.RegisterContainerInstance(context.Background(), &ecsapi.RegisterContainerInstanceRequest{
		TotalResources: []ecsapi.Resource{res("CPU", "INTEGER", 1024), res("MEMORY", "INTEGER", 2048)},
		Attributes:     attrs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ecsapi.Value(out.ContainerInstance.ContainerInstanceArn)
}

func attr(name, value, target string) ecsapi.Attribute {
	a := ecsapi.Attribute{Name: name, TargetId: ecsapi.Ptr(target), TargetType: ecsapi.Ptr(ecsapi.TargetTypeContainerInstance)}
	if value != "" {
		a.Value = ecsapi.Ptr(value)
	}
	return a
}

func instanceAttrs(t *testing.T, e *ECS, ref string) map[string]string {
	t.Helper()
	ci, _, err := e.loadInstance(context.Background(), "default", ref)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, a := range ci.Attributes {
		m[a.Name] = ecsapi.Value(a.Value)
	}
	return m
}

// TestAttributeLimit: 10 custom attributes fit, an 11th does not, ECS's own
// do not count, and replacing a value at the limit is allowed.
func TestAttributeLimit(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	ref := registerTestInstance(t, e, ecsapi.Attribute{Name: "ecs.os-type", Value: ecsapi.Ptr("linux")}, ecsapi.Attribute{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.17"})
	var ten []ecsapi.Attribute
	for i := range 10 {
		ten = append(ten, attr(fmt.Sprintf("c%d", i), "v", ref))
	}
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: ten}); err != nil {
		t.Fatal(err)
	}
	_, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("c10", "v", ref)}})
	wantAPIError(t, err, ecsapi.CodeAttributeLimitExceededException, "You can apply up to 10 custom attributes for each resource: the container instance "+ref+" would have 11. Remove attributes with DeleteAttributes first.")
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("c0", "w", ref), attr("ecs.extra", "x", ref)}}); err != nil {
		t.Fatalf("replacing a value and adding an ecs.* attribute at the limit: %v", err)
	}
	got := instanceAttrs(t, e, ref)
	if len(got) != 13 || got["c0"] != "w" || got["ecs.extra"] != "x" || got["ecs.os-type"] != "linux" {
		t.Fatalf("attributes = %v", got)
	}
	_, err = e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: append(ten, attr("c10", "v", ref))})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "attributes can have at most 10 items.")
}

// TestAttributesAllOrNothing: one unknown target leaves every other target
// unchanged; a put that changes nothing writes nothing.
func TestAttributesAllOrNothing(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	a := registerTestInstance(t, e)
	b := registerTestInstance(t, e)
	_, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r1", a), attr("rack", "r1", "0123456789abcdef0123456789abcdef")}})
	wantAPIError(t, err, ecsapi.CodeTargetNotFoundException, "The target 0123456789abcdef0123456789abcdef was not found in cluster default. Container instances are cluster-specific: pass the cluster that holds it.")
	if _, ok := instanceAttrs(t, e, a)["rack"]; ok {
		t.Fatal("a failed call wrote an attribute")
	}
	// The limit on b fails the whole call, a's change included.
	var ten []ecsapi.Attribute
	for i := range 10 {
		ten = append(ten, attr(fmt.Sprintf("c%d", i), "", b))
	}
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: ten}); err != nil {
		t.Fatal(err)
	}
	_, err = e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r1", a), attr("zone", "z", b)}})
	if _, ok := instanceAttrs(t, e, a)["rack"]; ok || err == nil {
		t.Fatalf("over-limit call: err %v, a = %v", err, instanceAttrs(t, e, a))
	}
	// Same target by ARN and by ID, and a long ARN of another cluster.
	id := instanceIDOfRecord(ecsapi.ContainerInstance{ContainerInstanceArn: &a})
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r1", a), attr("row", "2", id)}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r2", e.instanceARN("other", id))}})
	wantAPIError(t, err, ecsapi.CodeTargetNotFoundException, "The target "+e.instanceARN("other", id)+" was not found in cluster default. Container instances are cluster-specific: pass the cluster that holds it.")
	_, rev, _ := e.getInstance(ctx, "default", id)
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r1", a)}}); err != nil {
		t.Fatal(err)
	}
	if _, rev2, _ := e.getInstance(ctx, "default", id); rev2 != rev {
		t.Errorf("an unchanged put rewrote the record (revision %d -> %d)", rev, rev2)
	}
}

// raceStore runs hook (once) before the first Txn: a concurrent writer that
// changes a record between an operation's read and its write.
type raceStore struct {
	store.Store
	once sync.Once
	hook func()
}

func (s *raceStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	s.once.Do(s.hook)
	return s.Store.Txn(ctx, conds, ops)
}

// TestPutAttributesKeepsConcurrentPlacement: a task placement that changes
// the instance's remaining resources between PutAttributes' read and write
// survives, and so does the attribute.
func TestPutAttributesKeepsConcurrentPlacement(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	ref := registerTestInstance(t, e)
	inner := e.st
	e.st = &raceStore{Store: inner, hook: func() {
		ci, rev, err := e.loadInstance(ctx, "default", ref)
		if err != nil {
			t.Error(err)
			return
		}
		ci.RemainingResources = []ecsapi.Resource{res("CPU", "INTEGER", 512), res("MEMORY", "INTEGER", 1024)}
		ci.RunningTasksCount = 1
		key := instanceKey("default", instanceIDOfRecord(ci))
		if _, err := inner.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(ci))}); err != nil {
			t.Error(err)
		}
	}}
	if _, err := e.PutAttributes(ctx, &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{attr("rack", "r1", ref)}}); err != nil {
		t.Fatal(err)
	}
	ci, _, err := e.loadInstance(ctx, "default", ref)
	if err != nil {
		t.Fatal(err)
	}
	if ci.RunningTasksCount != 1 || ci.RemainingResources[0].IntegerValue != 512 || instanceAttrs(t, e, ref)["rack"] != "r1" {
		t.Fatalf("record after the race = %s", jsonOf(t, ci))
	}
}

func TestDeleteAttributes(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	ref := registerTestInstance(t, e, ecsapi.Attribute{Name: "rack", Value: ecsapi.Ptr("r1")}, ecsapi.Attribute{Name: "gpu"})
	del := []ecsapi.Attribute{{Name: "rack", TargetId: &ref}, attr("missing", "", ref)}
	out, err := e.DeleteAttributes(ctx, &ecsapi.DeleteAttributesRequest{Attributes: del})
	if err != nil || jsonOf(t, out.Attributes) != jsonOf(t, del) {
		t.Fatalf("DeleteAttributes = %v, %v", out, err)
	}
	if got := instanceAttrs(t, e, ref); len(got) != 1 || got["gpu"] != "" {
		t.Fatalf("attributes = %v", got)
	}
	_, err = e.DeleteAttributes(ctx, &ecsapi.DeleteAttributesRequest{Attributes: []ecsapi.Attribute{{Name: "gpu", TargetId: ecsapi.Ptr("abc")}}})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The attribute gpu names its target by the short-form ID abc: targetType is required unless targetId is a full ARN.")
	_, err = e.DeleteAttributes(ctx, &ecsapi.DeleteAttributesRequest{Attributes: []ecsapi.Attribute{{Name: "gpu"}}})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The attribute gpu has no targetId: name the container instance by its ARN or ID.")
	_, err = e.DeleteAttributes(ctx, &ecsapi.DeleteAttributesRequest{Attributes: []ecsapi.Attribute{}})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "attributes must contain at least one attribute.")
	// A deregistered instance is no target.
	if _, err := e.DeregisterContainerInstance(ctx, &ecsapi.DeregisterContainerInstanceRequest{ContainerInstance: ref}); err != nil {
		t.Fatal(err)
	}
	_, err = e.DeleteAttributes(ctx, &ecsapi.DeleteAttributesRequest{Attributes: []ecsapi.Attribute{attr("gpu", "", ref)}})
	wantAPIError(t, err, ecsapi.CodeTargetNotFoundException, "The target "+ref+" was not found in cluster default. Container instances are cluster-specific: pass the cluster that holds it.")
}

// TestListAttributesPaging pages one attribute at a time across instance
// boundaries and checks the filters and the token checks.
func TestListAttributesPaging(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	a := registerTestInstance(t, e, ecsapi.Attribute{Name: "rack", Value: ecsapi.Ptr("r1")}, ecsapi.Attribute{Name: "gpu"})
	b := registerTestInstance(t, e, ecsapi.Attribute{Name: "rack", Value: ecsapi.Ptr("r2")})
	gone := registerTestInstance(t, e, ecsapi.Attribute{Name: "rack", Value: ecsapi.Ptr("r1")})
	if _, err := e.DeregisterContainerInstance(ctx, &ecsapi.DeregisterContainerInstanceRequest{ContainerInstance: gone}); err != nil {
		t.Fatal(err)
	}
	list := func(in *ecsapi.ListAttributesRequest) []string {
		t.Helper()
		in.TargetType = ecsapi.TargetTypeContainerInstance
		in.MaxResults = ecsapi.Ptr(int32(1))
		var got []string
		for {
			out, err := e.ListAttributes(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Attributes) > 1 {
				t.Fatalf("page of %d with maxResults 1", len(out.Attributes))
			}
			for _, x := range out.Attributes {
				if ecsapi.Value(x.TargetType) != ecsapi.TargetTypeContainerInstance {
					t.Fatalf("targetType = %v", x.TargetType)
				}
				got = append(got, ecsapi.Value(x.TargetId)+" "+x.Name+"="+ecsapi.Value(x.Value))
			}
			if out.NextToken == nil {
				return got
			}
			in.NextToken = out.NextToken
		}
	}
	// Instances come in ID order (the ARNs share their prefix), attributes
	// in name order.
	byInstance := map[string][]string{a: {a + " gpu=", a + " rack=r1"}, b: {b + " rack=r2"}}
	first, second := min(a, b), max(a, b)
	if got, want := list(&ecsapi.ListAttributesRequest{}), append(byInstance[first], byInstance[second]...); jsonOf(t, got) != jsonOf(t, want) {
		t.Fatalf("all attributes = %q, want %q", got, want)
	}
	rack := map[string]string{a: a + " rack=r1", b: b + " rack=r2"}
	if got, want := list(&ecsapi.ListAttributesRequest{AttributeName: ecsapi.Ptr("rack")}), []string{rack[first], rack[second]}; jsonOf(t, got) != jsonOf(t, want) {
		t.Fatalf("rack attributes = %q, want %q", got, want)
	}
	if got := list(&ecsapi.ListAttributesRequest{AttributeName: ecsapi.Ptr("rack"), AttributeValue: ecsapi.Ptr("r2")}); jsonOf(t, got) != jsonOf(t, []string{b + " rack=r2"}) {
		t.Fatalf("rack=r2 attributes = %q", got)
	}
	_, err := e.ListAttributes(ctx, &ecsapi.ListAttributesRequest{TargetType: ecsapi.TargetTypeContainerInstance, AttributeValue: ecsapi.Ptr("r2")})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "attributeValue can only be specified together with attributeName.")
	_, err = e.ListAttributes(ctx, &ecsapi.ListAttributesRequest{TargetType: ecsapi.TargetTypeContainerInstance, NextToken: pageToken(instancesPrefix("default") + "x")})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The nextToken is invalid; pass the nextToken returned by the previous call unchanged.")
	_, err = e.ListAttributes(ctx, &ecsapi.ListAttributesRequest{TargetType: ecsapi.TargetTypeContainerInstance, MaxResults: ecsapi.Ptr(int32(101))})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "maxResults must be between 1 and 100.")
	_, err = e.ListAttributes(ctx, &ecsapi.ListAttributesRequest{TargetType: ecsapi.TargetTypeContainerInstance, Cluster: ecsapi.Ptr("nope")})
	wantAPIError(t, err, ecsapi.CodeClusterNotFoundException, "Cluster not found.")
}
