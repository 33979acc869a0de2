package cloudmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

func newTestCloudMap(t testing.TB) *CloudMap {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "berth.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Unix(1700000000, 0)
	return New(st, Config{Region: "us-east-1", AccountID: "123456789012", Now: func() time.Time { return now }})
}

// call dispatches one operation with a JSON body, as the server does, and
// returns the JSON response.
func call(t *testing.T, c *CloudMap, op, body string) (map[string]any, error) {
	t.Helper()
	out, err := c.Service().Dispatch(context.Background(), op, []byte(body))
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func mustCall(t *testing.T, c *CloudMap, op, body string) map[string]any {
	t.Helper()
	m, err := call(t, c, op, body)
	if err != nil {
		t.Fatalf("%s %s: %v", op, body, err)
	}
	return m
}

func code(err error) string {
	var e *awsjson.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if code(err) != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

// namespaceOf follows a create-namespace operation to the namespace id.
func namespaceOf(t *testing.T, c *CloudMap, resp map[string]any) string {
	t.Helper()
	op := mustCall(t, c, "GetOperation", fmt.Sprintf(`{"OperationId":%q}`, resp["OperationId"]))["Operation"].(map[string]any)
	if op["Status"] != "SUCCESS" || op["Type"] != "CREATE_NAMESPACE" {
		t.Fatalf("operation = %v", op)
	}
	return op["Targets"].(map[string]any)["NAMESPACE"].(string)
}

var (
	nsIDRE  = regexp.MustCompile(`^ns-[a-z0-9]{16}$`)
	srvIDRE = regexp.MustCompile(`^srv-[a-z0-9]{16}$`)
)

func TestNamespaceLifecycle(t *testing.T) {
	c := newTestCloudMap(t)
	resp := mustCall(t, c, "CreatePrivateDnsNamespace", `{"Name":"internal.local","Vpc":"vpc-1","Properties":{"DnsProperties":{"SOA":{"TTL":60}}},"Tags":[{"Key":"team","Value":"a"}]}`)
	id := namespaceOf(t, c, resp)
	if !nsIDRE.MatchString(id) {
		t.Fatalf("namespace id %q", id)
	}
	ns := mustCall(t, c, "GetNamespace", fmt.Sprintf(`{"Id":%q}`, id))["Namespace"].(map[string]any)
	if ns["Name"] != "internal.local" || ns["Type"] != "DNS_PRIVATE" || ns["Arn"] != "arn:aws:servicediscovery:us-east-1:123456789012:namespace/"+id || ns["ServiceCount"].(float64) != 0 {
		t.Fatalf("namespace = %v", ns)
	}
	soa := ns["Properties"].(map[string]any)["DnsProperties"].(map[string]any)["SOA"].(map[string]any)
	if soa["TTL"].(float64) != 60 {
		t.Errorf("SOA = %v", soa)
	}
	// By ARN too.
	mustCall(t, c, "GetNamespace", fmt.Sprintf(`{"Id":%q}`, ns["Arn"]))

	_, err := call(t, c, "CreatePrivateDnsNamespace", `{"Name":"INTERNAL.local","Vpc":"vpc-2"}`)
	wantCode(t, err, "NamespaceAlreadyExists")
	_, err = call(t, c, "CreatePublicDnsNamespace", `{"Name":"example.com"}`)
	wantCode(t, err, "InvalidInput")
	_, err = call(t, c, "CreatePrivateDnsNamespace", `{"Name":"arn:x","Vpc":"vpc-2"}`)
	wantCode(t, err, "InvalidInput")
	_, err = call(t, c, "CreatePrivateDnsNamespace", `{"Name":"x"}`)
	wantCode(t, err, "InvalidInput") // Vpc missing: model validation
	_, err = call(t, c, "GetNamespace", `{"Id":"ns-aaaaaaaaaaaaaaaa"}`)
	wantCode(t, err, "NamespaceNotFound")

	httpID := namespaceOf(t, c, mustCall(t, c, "CreateHttpNamespace", `{"Name":"http-ns"}`))
	list := mustCall(t, c, "ListNamespaces", `{}`)["Namespaces"].([]any)
	if len(list) != 2 {
		t.Fatalf("ListNamespaces = %v", list)
	}
	list = mustCall(t, c, "ListNamespaces", `{"Filters":[{"Name":"TYPE","Values":["HTTP"]}]}`)["Namespaces"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["Id"] != httpID {
		t.Fatalf("TYPE filter = %v", list)
	}
	list = mustCall(t, c, "ListNamespaces", `{"Filters":[{"Name":"NAME","Values":["intern"],"Condition":"BEGINS_WITH"}]}`)["Namespaces"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["Id"] != id {
		t.Fatalf("NAME filter = %v", list)
	}
	_, err = call(t, c, "ListNamespaces", `{"Filters":[{"Name":"TYPE","Values":["BOGUS","HTTP"]}]}`)
	wantCode(t, err, "InvalidInput")
	// Paging.
	page := mustCall(t, c, "ListNamespaces", `{"MaxResults":1}`)
	tok, _ := page["NextToken"].(string)
	if len(page["Namespaces"].([]any)) != 1 || tok == "" {
		t.Fatalf("page 1 = %v", page)
	}
	page = mustCall(t, c, "ListNamespaces", fmt.Sprintf(`{"MaxResults":1,"NextToken":%q}`, tok))
	if len(page["Namespaces"].([]any)) != 1 || page["NextToken"] != nil {
		t.Fatalf("page 2 = %v", page)
	}

	// Tags.
	tags := mustCall(t, c, "ListTagsForResource", fmt.Sprintf(`{"ResourceARN":%q}`, ns["Arn"]))["Tags"].([]any)
	if len(tags) != 1 {
		t.Fatalf("tags = %v", tags)
	}
	mustCall(t, c, "TagResource", fmt.Sprintf(`{"ResourceARN":%q,"Tags":[{"Key":"env","Value":"dev"},{"Key":"team","Value":"b"}]}`, ns["Arn"]))
	mustCall(t, c, "UntagResource", fmt.Sprintf(`{"ResourceARN":%q,"TagKeys":["env"]}`, ns["Arn"]))
	tags = mustCall(t, c, "ListTagsForResource", fmt.Sprintf(`{"ResourceARN":%q}`, ns["Arn"]))["Tags"].([]any)
	if len(tags) != 1 || tags[0].(map[string]any)["Value"] != "b" {
		t.Fatalf("tags = %v", tags)
	}
	_, err = call(t, c, "ListTagsForResource", `{"ResourceARN":"arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-zzzzzzzzzzzzzzzz"}`)
	wantCode(t, err, "ResourceNotFoundException")

	// Delete: refused while it has a service.
	mustCall(t, c, "CreateService", fmt.Sprintf(`{"Name":"web","NamespaceId":%q}`, httpID))
	_, err = call(t, c, "DeleteNamespace", fmt.Sprintf(`{"Id":%q}`, httpID))
	wantCode(t, err, "ResourceInUse")
	del := mustCall(t, c, "DeleteNamespace", fmt.Sprintf(`{"Id":%q}`, id))
	op := mustCall(t, c, "GetOperation", fmt.Sprintf(`{"OperationId":%q}`, del["OperationId"]))["Operation"].(map[string]any)
	if op["Type"] != "DELETE_NAMESPACE" || op["Status"] != "SUCCESS" {
		t.Fatalf("delete operation = %v", op)
	}
	_, err = call(t, c, "GetNamespace", fmt.Sprintf(`{"Id":%q}`, id))
	wantCode(t, err, "NamespaceNotFound")
	_, err = call(t, c, "GetOperation", `{"OperationId":"nope"}`)
	wantCode(t, err, "OperationNotFound")
	// The name is free again.
	mustCall(t, c, "CreatePrivateDnsNamespace", `{"Name":"internal.local","Vpc":"vpc-1"}`)
}

func TestCreatorRequestID(t *testing.T) {
	c := newTestCloudMap(t)
	a := mustCall(t, c, "CreateHttpNamespace", `{"Name":"ns1","CreatorRequestId":"req-1"}`)
	b := mustCall(t, c, "CreateHttpNamespace", `{"Name":"ns1","CreatorRequestId":"req-1"}`)
	if a["OperationId"] != b["OperationId"] {
		t.Fatalf("retry gave another operation: %v, %v", a, b)
	}
	_, err := call(t, c, "CreateHttpNamespace", `{"Name":"ns2","CreatorRequestId":"req-1"}`)
	wantCode(t, err, "DuplicateRequest")
	nsID := namespaceOf(t, c, a)
	s1 := mustCall(t, c, "CreateService", fmt.Sprintf(`{"Name":"api","NamespaceId":%q,"CreatorRequestId":"svc-1"}`, nsID))["Service"].(map[string]any)
	s2 := mustCall(t, c, "CreateService", fmt.Sprintf(`{"Name":"api","NamespaceId":%q,"CreatorRequestId":"svc-1"}`, nsID))["Service"].(map[string]any)
	if s1["Id"] != s2["Id"] {
		t.Fatalf("service retry = %v, %v", s1, s2)
	}
	_, err = call(t, c, "CreateService", fmt.Sprintf(`{"Name":"api","NamespaceId":%q,"CreatorRequestId":"svc-2"}`, nsID))
	wantCode(t, err, "ServiceAlreadyExists")
}

func TestServicesAndInstances(t *testing.T) {
	c := newTestCloudMap(t)
	nsID := namespaceOf(t, c, mustCall(t, c, "CreatePrivateDnsNamespace", `{"Name":"corp.internal","Vpc":"vpc-1"}`))
	svc := mustCall(t, c, "CreateService", fmt.Sprintf(`{"Name":"backend","NamespaceId":%q,"Description":"d",
		"DnsConfig":{"DnsRecords":[{"Type":"A","TTL":10},{"Type":"SRV","TTL":10}]},"HealthCheckCustomConfig":{}}`, nsID))["Service"].(map[string]any)
	sid := svc["Id"].(string)
	if !srvIDRE.MatchString(sid) || svc["Arn"] != "arn:aws:servicediscovery:us-east-1:123456789012:service/"+sid || svc["Type"] != "DNS_HTTP" {
		t.Fatalf("service = %v", svc)
	}
	if dc := svc["DnsConfig"].(map[string]any); dc["RoutingPolicy"] != "MULTIVALUE" {
		t.Errorf("DnsConfig = %v", dc)
	}
	if hc := svc["HealthCheckCustomConfig"].(map[string]any); hc["FailureThreshold"].(float64) != 1 {
		t.Errorf("HealthCheckCustomConfig = %v", hc)
	}
	for _, bad := range []string{
		`{"Name":"x","NamespaceId":%q,"DnsConfig":{"DnsRecords":[{"Type":"CNAME","TTL":10}]}}`,
		`{"Name":"x","NamespaceId":%q,"DnsConfig":{"DnsRecords":[{"Type":"A","TTL":10},{"Type":"A","TTL":10}]}}`,
		`{"Name":"x","NamespaceId":%q,"DnsConfig":{"DnsRecords":[{"Type":"MX","TTL":10}]}}`,
		`{"Name":"-bad-","NamespaceId":%q}`,
		`{"Name":"x","NamespaceId":%q,"HealthCheckConfig":{"Type":"HTTP"}}`,
	} {
		_, err := call(t, c, "CreateService", fmt.Sprintf(bad, nsID))
		wantCode(t, err, "InvalidInput")
	}
	_, err := call(t, c, "CreateService", `{"Name":"x","NamespaceId":"ns-0000000000000000"}`)
	wantCode(t, err, "NamespaceNotFound")

	// Register: A and SRV records need an IPv4 address and a port.
	_, err = call(t, c, "RegisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1"}}`, sid))
	wantCode(t, err, "InvalidInput")
	_, err = call(t, c, "RegisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"nope","AWS_INSTANCE_PORT":"80"}}`, sid))
	wantCode(t, err, "InvalidInput")
	reg := mustCall(t, c, "RegisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.1","AWS_INSTANCE_PORT":"80","color":"blue"}}`, sid))
	op := mustCall(t, c, "GetOperation", fmt.Sprintf(`{"OperationId":%q}`, reg["OperationId"]))["Operation"].(map[string]any)
	if op["Type"] != "REGISTER_INSTANCE" || op["Targets"].(map[string]any)["INSTANCE"] != "i-1" || op["Targets"].(map[string]any)["SERVICE"] != sid {
		t.Fatalf("register operation = %v", op)
	}
	mustCall(t, c, "RegisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-2","Attributes":{"AWS_INSTANCE_IPV4":"10.0.0.2","AWS_INSTANCE_PORT":"80","color":"green"}}`, sid))
	_, err = call(t, c, "RegisterInstance", `{"ServiceId":"srv-0000000000000000","InstanceId":"i-1","Attributes":{}}`)
	wantCode(t, err, "ServiceNotFound")

	got := mustCall(t, c, "GetService", fmt.Sprintf(`{"Id":%q}`, sid))["Service"].(map[string]any)
	if got["InstanceCount"].(float64) != 2 {
		t.Errorf("InstanceCount = %v", got["InstanceCount"])
	}
	if n := mustCall(t, c, "GetNamespace", fmt.Sprintf(`{"Id":%q}`, nsID))["Namespace"].(map[string]any)["ServiceCount"]; n.(float64) != 1 {
		t.Errorf("ServiceCount = %v", n)
	}
	inst := mustCall(t, c, "GetInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1"}`, sid))["Instance"].(map[string]any)
	if inst["Attributes"].(map[string]any)["color"] != "blue" {
		t.Errorf("instance = %v", inst)
	}
	_, err = call(t, c, "GetInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-9"}`, sid))
	wantCode(t, err, "InstanceNotFound")
	page := mustCall(t, c, "ListInstances", fmt.Sprintf(`{"ServiceId":%q,"MaxResults":1}`, sid))
	if len(page["Instances"].([]any)) != 1 || page["NextToken"] == nil {
		t.Fatalf("ListInstances page = %v", page)
	}
	page = mustCall(t, c, "ListInstances", fmt.Sprintf(`{"ServiceId":%q,"MaxResults":1,"NextToken":%q}`, sid, page["NextToken"]))
	if ids := page["Instances"].([]any); len(ids) != 1 || ids[0].(map[string]any)["Id"] != "i-2" || page["NextToken"] != nil {
		t.Fatalf("ListInstances page 2 = %v", page)
	}
	svcs := mustCall(t, c, "ListServices", fmt.Sprintf(`{"Filters":[{"Name":"NAMESPACE_ID","Values":[%q]}]}`, nsID))["Services"].([]any)
	if len(svcs) != 1 || svcs[0].(map[string]any)["InstanceCount"].(float64) != 2 {
		t.Fatalf("ListServices = %v", svcs)
	}
	if svcs := mustCall(t, c, "ListServices", `{"Filters":[{"Name":"NAMESPACE_ID","Values":["ns-0000000000000000"]}]}`)["Services"].([]any); len(svcs) != 0 {
		t.Fatalf("ListServices other namespace = %v", svcs)
	}

	// Discover, by health and attributes.
	disc := func(body string) []any {
		t.Helper()
		return mustCall(t, c, "DiscoverInstances", body)["Instances"].([]any)
	}
	if got := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend"}`); len(got) != 2 {
		t.Fatalf("discover = %v", got)
	}
	rev1 := mustCall(t, c, "DiscoverInstancesRevision", `{"NamespaceName":"corp.internal","ServiceName":"backend"}`)["InstancesRevision"].(float64)
	mustCall(t, c, "UpdateInstanceCustomHealthStatus", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1","Status":"UNHEALTHY"}`, sid))
	rev2 := mustCall(t, c, "DiscoverInstancesRevision", `{"NamespaceName":"corp.internal","ServiceName":"backend"}`)["InstancesRevision"].(float64)
	if rev2 <= rev1 {
		t.Errorf("InstancesRevision %v then %v", rev1, rev2)
	}
	got2 := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend"}`)
	if len(got2) != 1 || got2[0].(map[string]any)["InstanceId"] != "i-2" || got2[0].(map[string]any)["HealthStatus"] != "HEALTHY" || got2[0].(map[string]any)["NamespaceName"] != "corp.internal" {
		t.Fatalf("discover healthy = %v", got2)
	}
	if got := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend","HealthStatus":"UNHEALTHY"}`); len(got) != 1 || got[0].(map[string]any)["InstanceId"] != "i-1" {
		t.Fatalf("discover unhealthy = %v", got)
	}
	if got := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend","HealthStatus":"ALL","QueryParameters":{"color":"blue"}}`); len(got) != 1 {
		t.Fatalf("discover query = %v", got)
	}
	if got := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend","HealthStatus":"ALL","OptionalParameters":{"color":"red"}}`); len(got) != 2 {
		t.Fatalf("discover optional fallback = %v", got)
	}
	if got := disc(`{"NamespaceName":"corp.internal","ServiceName":"backend","HealthStatus":"ALL","MaxResults":1}`); len(got) != 1 {
		t.Fatalf("discover MaxResults = %v", got)
	}
	_, err = call(t, c, "DiscoverInstances", `{"NamespaceName":"nope","ServiceName":"backend"}`)
	wantCode(t, err, "NamespaceNotFound")
	_, err = call(t, c, "DiscoverInstances", `{"NamespaceName":"corp.internal","ServiceName":"nope"}`)
	wantCode(t, err, "ServiceNotFound")
	hs := mustCall(t, c, "GetInstancesHealthStatus", fmt.Sprintf(`{"ServiceId":%q}`, sid))["Status"].(map[string]any)
	if hs["i-1"] != "UNHEALTHY" || hs["i-2"] != "HEALTHY" {
		t.Fatalf("health = %v", hs)
	}

	// The Go API.
	res, err := c.Lookup(context.Background(), "Backend.Corp.Internal.")
	if err != nil || len(res.Instances) != 1 || res.Instances[0].IPv4 != "10.0.0.2" || res.Instances[0].Port != 80 || len(res.Records) != 2 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
	if _, err := c.Resolve(context.Background(), "other.corp.internal"); !errors.Is(err, ErrNoSuchName) {
		t.Fatalf("Resolve unknown = %v", err)
	}
	if err := c.SetHealth(context.Background(), svc["Arn"].(string), "i-1", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(context.Background(), svc["Arn"].(string), "task-3", map[string]string{AttrIPv4: "10.0.0.3", AttrPort: "8080"}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Resolve(context.Background(), "backend.corp.internal"); err != nil || len(got) != 3 {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
	if err := c.Deregister(context.Background(), sid, "task-3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister(context.Background(), sid, "task-3"); err != nil {
		t.Fatalf("second Deregister = %v", err)
	}

	// Update and delete.
	mustCall(t, c, "UpdateService", fmt.Sprintf(`{"Id":%q,"Service":{"Description":"new","DnsConfig":{"DnsRecords":[{"Type":"A","TTL":300},{"Type":"SRV","TTL":300}]}}}`, sid))
	got = mustCall(t, c, "GetService", fmt.Sprintf(`{"Id":%q}`, sid))["Service"].(map[string]any)
	if got["Description"] != "new" || got["DnsConfig"].(map[string]any)["DnsRecords"].([]any)[0].(map[string]any)["TTL"].(float64) != 300 {
		t.Fatalf("updated service = %v", got)
	}
	_, err = call(t, c, "DeleteService", fmt.Sprintf(`{"Id":%q}`, sid))
	wantCode(t, err, "ResourceInUse")
	for _, id := range []string{"i-1", "i-2"} {
		dereg := mustCall(t, c, "DeregisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":%q}`, sid, id))
		if dereg["OperationId"] == nil {
			t.Fatalf("DeregisterInstance = %v", dereg)
		}
	}
	_, err = call(t, c, "DeregisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"i-1"}`, sid))
	wantCode(t, err, "InstanceNotFound")
	mustCall(t, c, "DeleteService", fmt.Sprintf(`{"Id":%q}`, sid))
	_, err = call(t, c, "GetService", fmt.Sprintf(`{"Id":%q}`, sid))
	wantCode(t, err, "ServiceNotFound")
	mustCall(t, c, "DeleteNamespace", fmt.Sprintf(`{"Id":%q}`, nsID))
}

func TestHTTPNamespaceServices(t *testing.T) {
	c := newTestCloudMap(t)
	nsID := namespaceOf(t, c, mustCall(t, c, "CreateHttpNamespace", `{"Name":"apps"}`))
	_, err := call(t, c, "CreateService", fmt.Sprintf(`{"Name":"x","NamespaceId":%q,"DnsConfig":{"DnsRecords":[{"Type":"A","TTL":10}]}}`, nsID))
	wantCode(t, err, "InvalidInput")
	svc := mustCall(t, c, "CreateService", fmt.Sprintf(`{"Name":"x","NamespaceId":%q}`, nsID))["Service"].(map[string]any)
	if svc["Type"] != "HTTP" {
		t.Fatalf("service = %v", svc)
	}
	mustCall(t, c, "RegisterInstance", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"a","Attributes":{"url":"http://a"}}`, svc["Id"]))
	got := mustCall(t, c, "DiscoverInstances", `{"NamespaceName":"apps","ServiceName":"x"}`)["Instances"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["HealthStatus"] != "UNKNOWN" {
		t.Fatalf("discover = %v", got)
	}
	_, err = call(t, c, "UpdateInstanceCustomHealthStatus", fmt.Sprintf(`{"ServiceId":%q,"InstanceId":"a","Status":"HEALTHY"}`, svc["Id"]))
	wantCode(t, err, "CustomHealthNotFound")
}

// TestConcurrentDeletes checks that the compare-and-swap guards keep a
// namespace from being deleted while a service is created in it.
func TestConcurrentCreateAndDelete(t *testing.T) {
	for round := range 20 {
		c := newTestCloudMap(t)
		nsID := namespaceOf(t, c, mustCall(t, c, "CreateHttpNamespace", fmt.Sprintf(`{"Name":"n%d"}`, round)))
		var wg sync.WaitGroup
		var createErr, deleteErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, createErr = c.CreateService(context.Background(), &cloudmapapi.CreateServiceRequest{Name: "s", NamespaceId: &nsID})
		}()
		go func() {
			defer wg.Done()
			_, deleteErr = c.DeleteNamespace(context.Background(), &cloudmapapi.DeleteNamespaceRequest{Id: nsID})
		}()
		wg.Wait()
		switch {
		case createErr == nil && deleteErr == nil:
			t.Fatal("both the service creation and the namespace deletion succeeded")
		case createErr == nil:
			wantCode(t, deleteErr, "ResourceInUse")
		case deleteErr == nil:
			wantCode(t, createErr, "NamespaceNotFound")
		default:
			t.Fatalf("both failed: %v, %v", createErr, deleteErr)
		}
	}
}

func TestUnimplementedAndValidation(t *testing.T) {
	c := newTestCloudMap(t)
	_, err := call(t, c, "NoSuchOperation", `{}`)
	wantCode(t, err, awsjson.CodeUnknownOperation)
	_, err = call(t, c, "GetNamespace", `{"Id":5}`)
	wantCode(t, err, awsjson.CodeSerialization)
	_, err = call(t, c, "RegisterInstance", `{"ServiceId":"srv-x","InstanceId":"bad id!","Attributes":{}}`)
	wantCode(t, err, "InvalidInput")
}

func TestManaged(t *testing.T) {
	c := newTestCloudMap(t)
	ctx := context.Background()
	mustCall(t, c, "CreatePrivateDnsNamespace", `{"Name":"corp.internal","Vpc":"vpc-1"}`)
	mustCall(t, c, "CreateHttpNamespace", `{"Name":"apps"}`)
	for name, want := range map[string]bool{
		"corp.internal": true, "x.corp.internal.": true, "a.b.Corp.Internal": true,
		"internal": false, "x.apps": false, "example.com": false, "": false,
	} {
		if got, err := c.Managed(ctx, name); err != nil || got != want {
			t.Errorf("Managed(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
}
