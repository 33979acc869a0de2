package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/berth-dev/berth/internal/sdkclient"
)

// TestELBv2CLI drives the ELBv2 API (AWS Query protocol, XML responses)
// with the AWS CLI v1 and v2.
func TestELBv2CLI(t *testing.T) {
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			s := startServer(t, t.TempDir())
			run := func(args ...string) map[string]any {
				t.Helper()
				out, err := s.runCLI(t, bin, args...)
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
			lbs := run("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-1", "subnet-2", "--tags", "Key=env,Value=dev")["LoadBalancers"].([]any)
			lb := lbs[0].(map[string]any)
			lbArn := lb["LoadBalancerArn"].(string)
			if !strings.Contains(lbArn, ":loadbalancer/app/web/") || lb["State"].(map[string]any)["Code"] != "active" || len(lb["AvailabilityZones"].([]any)) != 2 || lb["Type"] != "application" {
				t.Fatalf("create-load-balancer = %v", lb)
			}
			if _, ok := lb["CreatedTime"].(string); !ok {
				t.Errorf("CreatedTime = %v", lb["CreatedTime"])
			}
			tg := run("elbv2", "create-target-group", "--name", "web-tg", "--protocol", "HTTP", "--port", "80", "--vpc-id", "vpc-1", "--target-type", "ip")["TargetGroups"].([]any)[0].(map[string]any)
			tgArn := tg["TargetGroupArn"].(string)
			if tg["HealthCheckPath"] != "/" || tg["HealthCheckIntervalSeconds"].(float64) != 30 || tg["Matcher"].(map[string]any)["HttpCode"] != "200" || tg["TargetType"] != "ip" {
				t.Errorf("create-target-group = %v", tg)
			}
			if d := run("elbv2", "describe-load-balancers", "--names", "web")["LoadBalancers"].([]any); len(d) != 1 || d[0].(map[string]any)["LoadBalancerArn"] != lbArn {
				t.Errorf("describe-load-balancers = %v", d)
			}
			if d := run("elbv2", "describe-target-groups", "--target-group-arns", tgArn)["TargetGroups"].([]any); len(d) != 1 {
				t.Errorf("describe-target-groups = %v", d)
			}
			mod := run("elbv2", "modify-target-group", "--target-group-arn", tgArn, "--health-check-path", "/healthz", "--matcher", "HttpCode=200-299")["TargetGroups"].([]any)[0].(map[string]any)
			if mod["HealthCheckPath"] != "/healthz" || mod["Matcher"].(map[string]any)["HttpCode"] != "200-299" {
				t.Errorf("modify-target-group = %v", mod)
			}
			attrs := run("elbv2", "modify-target-group-attributes", "--target-group-arn", tgArn, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=30")["Attributes"].([]any)
			if v := attrValue(attrs, "deregistration_delay.timeout_seconds"); v != "30" {
				t.Errorf("modify-target-group-attributes: deregistration delay = %q in %v", v, attrs)
			}
			if v := attrValue(run("elbv2", "describe-target-group-attributes", "--target-group-arn", tgArn)["Attributes"].([]any), "stickiness.type"); v != "lb_cookie" {
				t.Errorf("describe-target-group-attributes: stickiness.type = %q", v)
			}
			run("elbv2", "add-tags", "--resource-arns", lbArn, tgArn, "--tags", "Key=team,Value=core")
			descs := run("elbv2", "describe-tags", "--resource-arns", lbArn, tgArn)["TagDescriptions"].([]any)
			if len(descs) != 2 || len(descs[0].(map[string]any)["Tags"].([]any)) != 2 || len(descs[1].(map[string]any)["Tags"].([]any)) != 1 {
				t.Errorf("describe-tags = %v", descs)
			}
			run("elbv2", "remove-tags", "--resource-arns", lbArn, "--tag-keys", "env")

			// Errors carry their ELB codes.
			if _, err := s.runCLI(t, bin, "elbv2", "describe-load-balancers", "--names", "ghost"); err == nil || !strings.Contains(err.Error(), "LoadBalancerNotFound") {
				t.Errorf("describe missing load balancer: %v", err)
			}
			if _, err := s.runCLI(t, bin, "elbv2", "create-target-group", "--name", "web-tg", "--protocol", "HTTP", "--port", "81", "--vpc-id", "vpc-1"); err == nil || !strings.Contains(err.Error(), "DuplicateTargetGroupName") {
				t.Errorf("duplicate target group: %v", err)
			}
			if _, err := s.runCLI(t, bin, "elbv2", "create-load-balancer", "--name", "bad_name", "--subnets", "subnet-1", "subnet-2"); err == nil || !strings.Contains(err.Error(), "ValidationError") {
				t.Errorf("invalid name: %v", err)
			}

			run("elbv2", "delete-target-group", "--target-group-arn", tgArn)
			run("elbv2", "delete-load-balancer", "--load-balancer-arn", lbArn)
			if d := run("elbv2", "describe-load-balancers")["LoadBalancers"].([]any); len(d) != 0 {
				t.Errorf("after delete = %v", d)
			}
			// ECS still answers on the same endpoint.
			run("ecs", "list-clusters")
		})
	}
}

func attrValue(attrs []any, key string) string {
	for _, a := range attrs {
		m := a.(map[string]any)
		if m["Key"] == key {
			v, _ := m["Value"].(string)
			return v
		}
	}
	return "<missing>"
}

// TestELBv2SDK drives the ELBv2 API with aws-sdk-go-v2, whose XML decoder is
// strict about shapes.
func TestELBv2SDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := elbv2.New(elbv2.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient:       &http.Client{Transport: sdkclient.Transport(nil)},
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	lbOut, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:    aws.String("net1"),
		Type:    elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme:  elbtypes.LoadBalancerSchemeEnumInternal,
		Subnets: []string{"subnet-a"},
		Tags:    []elbtypes.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	if !strings.Contains(aws.ToString(lb.LoadBalancerArn), ":loadbalancer/net/net1/") || lb.State.Code != elbtypes.LoadBalancerStateEnumActive ||
		lb.CreatedTime == nil || lb.CreatedTime.IsZero() || lb.Type != elbtypes.LoadBalancerTypeEnumNetwork || len(lb.AvailabilityZones) != 1 {
		t.Errorf("CreateLoadBalancer = %+v", lb)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tg-" + name), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(5432), VpcId: aws.String("vpc-1")}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tg := range out.TargetGroups {
			names = append(names, aws.ToString(tg.TargetGroupName))
			if aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 10 || tg.HealthCheckProtocol != elbtypes.ProtocolEnumTcp || !aws.ToBool(tg.HealthCheckEnabled) {
				t.Errorf("TCP target group = %+v", tg)
			}
		}
	}
	if strings.Join(names, ",") != "tg-a,tg-b,tg-c" || pages != 2 {
		t.Errorf("paged target groups = %v in %d pages", names, pages)
	}
	attrs, err := c.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
		TargetGroupArn: aws.String(tgARN(t, c, "tg-a")),
		Attributes:     []elbtypes.TargetGroupAttribute{{Key: aws.String("proxy_protocol_v2.enabled"), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range attrs.Attributes {
		found = found || aws.ToString(a.Key) == "proxy_protocol_v2.enabled" && aws.ToString(a.Value) == "true"
	}
	if !found {
		t.Errorf("attributes = %+v", attrs.Attributes)
	}
	tags, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{aws.ToString(lb.LoadBalancerArn)}})
	if err != nil || len(tags.TagDescriptions) != 1 || len(tags.TagDescriptions[0].Tags) != 1 || aws.ToString(tags.TagDescriptions[0].Tags[0].Value) != "test" {
		t.Errorf("DescribeTags = %+v, %v", tags, err)
	}

	// Modeled errors decode into their SDK types.
	_, err = c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"ghost"}})
	var notFound *elbtypes.LoadBalancerNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeLoadBalancers(ghost) = %v, want LoadBalancerNotFoundException", err)
	}
	_, err = c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("net1"), Subnets: []string{"subnet-x", "subnet-y"}})
	var dup *elbtypes.DuplicateLoadBalancerNameException
	if !errors.As(err, &dup) {
		t.Errorf("duplicate CreateLoadBalancer = %v", err)
	}
	_, err = c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("x"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(0)})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationError" {
		t.Errorf("invalid port = %v", err)
	}
}

func tgARN(t *testing.T, c *elbv2.Client, name string) string {
	out, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil || len(out.TargetGroups) != 1 {
		t.Fatalf("DescribeTargetGroups(%s) = %+v, %v", name, out, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}
