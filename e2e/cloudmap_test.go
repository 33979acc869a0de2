package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/berth-dev/berth/internal/sdkclient"
)

// runCLIEnv is runCLI with extra environment variables.
func (s *server) runCLIEnv(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--endpoint-url", s.URL, "--region", testRegion, "--output", "json")...)
	cmd.Env = append(s.cliEnv(t), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// TestCloudMapCLI drives Cloud Map with the AWS CLI: namespaces, services,
// instances, operations, discovery and errors.
func TestCloudMapCLI(t *testing.T) {
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			s := startServer(t, "")
			run := func(args ...string) map[string]any {
				t.Helper()
				out, err := s.runCLI(t, bin, append([]string{"servicediscovery"}, args...)...)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if strings.TrimSpace(out) == "" {
					return m
				}
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("%v: output is not JSON: %q", args, out)
				}
				return m
			}
			fails := func(code string, args ...string) {
				t.Helper()
				_, err := s.runCLI(t, bin, append([]string{"servicediscovery"}, args...)...)
				if err == nil || !strings.Contains(err.Error(), "("+code+")") {
					t.Fatalf("%v: error = %v, want %s", args, err, code)
				}
			}

			created := run("create-private-dns-namespace", "--name", "corp.internal", "--vpc", "vpc-0123",
				"--properties", "DnsProperties={SOA={TTL=60}}")
			opID, _ := created["OperationId"].(string)
			if opID == "" {
				t.Fatalf("create-private-dns-namespace = %v", created)
			}
			op := run("get-operation", "--operation-id", opID)["Operation"].(map[string]any)
			if op["Status"] != "SUCCESS" || op["Type"] != "CREATE_NAMESPACE" {
				t.Fatalf("get-operation = %v", op)
			}
			nsID := op["Targets"].(map[string]any)["NAMESPACE"].(string)
			if !strings.HasPrefix(nsID, "ns-") || len(nsID) != 19 {
				t.Fatalf("namespace id %q", nsID)
			}
			fails("NamespaceAlreadyExists", "create-private-dns-namespace", "--name", "corp.internal", "--vpc", "vpc-0123")
			fails("InvalidInput", "create-public-dns-namespace", "--name", "example.com")
			run("create-http-namespace", "--name", "apps")

			list := run("list-namespaces")["Namespaces"].([]any)
			if len(list) != 2 {
				t.Fatalf("list-namespaces = %v", list)
			}
			list = run("list-namespaces", "--filters", "Name=TYPE,Values=DNS_PRIVATE,Condition=EQ")["Namespaces"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["Id"] != nsID {
				t.Fatalf("list-namespaces TYPE = %v", list)
			}
			ns := run("get-namespace", "--id", nsID)["Namespace"].(map[string]any)
			if ns["Arn"] != "arn:aws:servicediscovery:us-east-1:123456789012:namespace/"+nsID {
				t.Fatalf("get-namespace = %v", ns)
			}

			svc := run("create-service", "--name", "backend", "--namespace-id", nsID,
				"--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10},{Type=SRV,TTL=10}]",
				"--health-check-custom-config", "FailureThreshold=1")["Service"].(map[string]any)
			srvID := svc["Id"].(string)
			if !strings.HasPrefix(srvID, "srv-") || len(srvID) != 20 || svc["Arn"] != "arn:aws:servicediscovery:us-east-1:123456789012:service/"+srvID {
				t.Fatalf("create-service = %v", svc)
			}
			fails("ServiceAlreadyExists", "create-service", "--name", "backend", "--namespace-id", nsID,
				"--dns-config", "DnsRecords=[{Type=A,TTL=10}]")
			fails("NamespaceNotFound", "create-service", "--name", "x", "--namespace-id", "ns-0000000000000000")
			if svcs := run("list-services", "--filters", "Name=NAMESPACE_ID,Values="+nsID+",Condition=EQ")["Services"].([]any); len(svcs) != 1 {
				t.Fatalf("list-services = %v", svcs)
			}

			reg := run("register-instance", "--service-id", srvID, "--instance-id", "task-1",
				"--attributes", "AWS_INSTANCE_IPV4=10.0.0.1,AWS_INSTANCE_PORT=8080,stage=blue")
			op = run("get-operation", "--operation-id", reg["OperationId"].(string))["Operation"].(map[string]any)
			if op["Type"] != "REGISTER_INSTANCE" || op["Status"] != "SUCCESS" {
				t.Fatalf("register operation = %v", op)
			}
			run("register-instance", "--service-id", srvID, "--instance-id", "task-2",
				"--attributes", "AWS_INSTANCE_IPV4=10.0.0.2,AWS_INSTANCE_PORT=8080,stage=green")
			fails("InvalidInput", "register-instance", "--service-id", srvID, "--instance-id", "task-3",
				"--attributes", "stage=red")
			fails("ServiceNotFound", "register-instance", "--service-id", "srv-0000000000000000", "--instance-id", "x",
				"--attributes", "AWS_INSTANCE_IPV4=10.0.0.9")
			inst := run("get-instance", "--service-id", srvID, "--instance-id", "task-1")["Instance"].(map[string]any)
			if inst["Attributes"].(map[string]any)["AWS_INSTANCE_IPV4"] != "10.0.0.1" {
				t.Fatalf("get-instance = %v", inst)
			}
			if insts := run("list-instances", "--service-id", srvID)["Instances"].([]any); len(insts) != 2 {
				t.Fatalf("list-instances = %v", insts)
			}
			run("update-instance-custom-health-status", "--service-id", srvID, "--instance-id", "task-1", "--status", "UNHEALTHY")

			// DiscoverInstances is a data-plane operation: the CLI sends it
			// to "data-" + the endpoint host. Against berth's one endpoint
			// the CLI v1 turns that off with AWS_DISABLE_HOST_PREFIX_INJECTION;
			// the CLI v2 has no such setting, so it reaches the prefixed
			// host through berth as an HTTP proxy.
			env := []string{"AWS_DISABLE_HOST_PREFIX_INJECTION=true"}
			if version == "v2" {
				env = []string{"HTTP_PROXY=" + s.URL, "http_proxy=" + s.URL, "NO_PROXY=", "no_proxy="}
			}
			discover := func(args ...string) []any {
				t.Helper()
				out, err := s.runCLIEnv(t, bin, env, append([]string{"servicediscovery", "discover-instances", "--namespace-name", "corp.internal", "--service-name", "backend"}, args...)...)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("discover-instances output %q", out)
				}
				return m["Instances"].([]any)
			}
			got := discover()
			if len(got) != 1 || got[0].(map[string]any)["InstanceId"] != "task-2" || got[0].(map[string]any)["HealthStatus"] != "HEALTHY" {
				t.Fatalf("discover-instances = %v", got)
			}
			if got := discover("--health-status", "ALL", "--query-parameters", "stage=blue"); len(got) != 1 || got[0].(map[string]any)["InstanceId"] != "task-1" {
				t.Fatalf("discover-instances query = %v", got)
			}
			if got := discover("--health-status", "ALL", "--max-results", "1"); len(got) != 1 {
				t.Fatalf("discover-instances max = %v", got)
			}
			if _, err := s.runCLIEnv(t, bin, env, "servicediscovery", "discover-instances", "--namespace-name", "nope", "--service-name", "backend"); err == nil || !strings.Contains(err.Error(), "(NamespaceNotFound)") {
				t.Fatalf("discover-instances unknown namespace: %v", err)
			}

			fails("ResourceInUse", "delete-service", "--id", srvID)
			fails("ResourceInUse", "delete-namespace", "--id", nsID)
			for _, id := range []string{"task-1", "task-2"} {
				run("deregister-instance", "--service-id", srvID, "--instance-id", id)
			}
			fails("InstanceNotFound", "deregister-instance", "--service-id", srvID, "--instance-id", "task-1")
			run("delete-service", "--id", srvID)
			fails("ServiceNotFound", "get-service", "--id", srvID)
			del := run("delete-namespace", "--id", nsID)
			if op := run("get-operation", "--operation-id", del["OperationId"].(string))["Operation"].(map[string]any); op["Type"] != "DELETE_NAMESPACE" {
				t.Fatalf("delete operation = %v", op)
			}
			fails("NamespaceNotFound", "get-namespace", "--id", nsID)
			fails("OperationNotFound", "get-operation", "--operation-id", "nope")
		})
	}
}

// noHostPrefix turns off the SDK's "data-" host prefix of DiscoverInstances:
// berth serves the data plane on its one endpoint.
func noHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("BerthNoHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// TestCloudMapSDK drives Cloud Map with aws-sdk-go-v2.
func TestCloudMapSDK(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	c := servicediscovery.New(servicediscovery.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient:       sdkclientHTTP(),
		RetryMaxAttempts: 1,
		APIOptions:       []func(*middleware.Stack) error{noHostPrefix},
	})
	created, err := c.CreateHttpNamespace(ctx, &servicediscovery.CreateHttpNamespaceInput{Name: aws.String("apps"), CreatorRequestId: aws.String("req-1")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: created.OperationId})
	if err != nil || op.Operation.Status != sdtypes.OperationStatusSuccess {
		t.Fatalf("GetOperation = %+v, %v", op, err)
	}
	nsID := op.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)]
	again, err := c.CreateHttpNamespace(ctx, &servicediscovery.CreateHttpNamespaceInput{Name: aws.String("apps"), CreatorRequestId: aws.String("req-1")})
	if err != nil || *again.OperationId != *created.OperationId {
		t.Fatalf("retried CreateHttpNamespace = %+v, %v", again, err)
	}
	_, err = c.CreateHttpNamespace(ctx, &servicediscovery.CreateHttpNamespaceInput{Name: aws.String("other"), CreatorRequestId: aws.String("req-1")})
	var dup *sdtypes.DuplicateRequest
	if !errors.As(err, &dup) {
		t.Fatalf("reused CreatorRequestId = %v", err)
	}
	ns, err := c.GetNamespace(ctx, &servicediscovery.GetNamespaceInput{Id: &nsID})
	if err != nil || ns.Namespace.Type != sdtypes.NamespaceTypeHttp || aws.ToInt32(ns.Namespace.ServiceCount) != 0 || ns.Namespace.CreateDate == nil {
		t.Fatalf("GetNamespace = %+v, %v", ns, err)
	}
	svc, err := c.CreateService(ctx, &servicediscovery.CreateServiceInput{
		Name: aws.String("api"), NamespaceId: &nsID,
		Tags: []sdtypes.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	if err != nil || svc.Service.Type != sdtypes.ServiceTypeHttp {
		t.Fatalf("CreateService = %+v, %v", svc, err)
	}
	tags, err := c.ListTagsForResource(ctx, &servicediscovery.ListTagsForResourceInput{ResourceARN: svc.Service.Arn})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("ListTagsForResource = %+v, %v", tags, err)
	}
	for i := range 3 {
		_, err := c.RegisterInstance(ctx, &servicediscovery.RegisterInstanceInput{
			ServiceId: svc.Service.Id, InstanceId: aws.String(fmt.Sprintf("i-%d", i)),
			Attributes: map[string]string{"url": fmt.Sprintf("http://10.0.0.%d", i), "zone": []string{"a", "b", "a"}[i]},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	p := servicediscovery.NewListInstancesPaginator(c, &servicediscovery.ListInstancesInput{ServiceId: svc.Service.Id, MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Instances {
			ids = append(ids, *in.Id)
		}
	}
	if strings.Join(ids, ",") != "i-0,i-1,i-2" {
		t.Fatalf("ListInstances pages = %v", ids)
	}
	disc, err := c.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{
		NamespaceName: aws.String("apps"), ServiceName: aws.String("api"),
		QueryParameters: map[string]string{"zone": "a"},
	})
	if err != nil || len(disc.Instances) != 2 || aws.ToInt64(disc.InstancesRevision) == 0 {
		t.Fatalf("DiscoverInstances = %+v, %v", disc, err)
	}
	_, err = c.DiscoverInstances(ctx, &servicediscovery.DiscoverInstancesInput{NamespaceName: aws.String("apps"), ServiceName: aws.String("nope")})
	var snf *sdtypes.ServiceNotFound
	if !errors.As(err, &snf) {
		t.Fatalf("DiscoverInstances unknown service = %v", err)
	}
	_, err = c.DeleteNamespace(ctx, &servicediscovery.DeleteNamespaceInput{Id: &nsID})
	var inUse *sdtypes.ResourceInUse
	if !errors.As(err, &inUse) {
		t.Fatalf("DeleteNamespace with services = %v", err)
	}
	_, err = c.GetInstance(ctx, &servicediscovery.GetInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String("nope")})
	var inf *sdtypes.InstanceNotFound
	if !errors.As(err, &inf) {
		t.Fatalf("GetInstance unknown = %v", err)
	}
}

// sdkclientHTTP is an HTTP client with sdkclient's transport (see there).
func sdkclientHTTP() *http.Client {
	return &http.Client{Transport: sdkclient.Transport(nil)}
}
