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
	"github.com/berth-dev/berth/internal/sdkclient"
)

// TestELBv2ListenersCLI drives listeners, rules and targets with the AWS
// CLI v1 and v2.
func TestELBv2ListenersCLI(t *testing.T) {
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
			fails := func(code string, args ...string) {
				t.Helper()
				if _, err := s.runCLI(t, bin, args...); err == nil || !strings.Contains(err.Error(), code) {
					t.Errorf("%v: err = %v, want %s", args, err, code)
				}
			}
			lbArn := run("elbv2", "create-load-balancer", "--name", "web", "--subnets", "subnet-1", "subnet-2")["LoadBalancers"].([]any)[0].(map[string]any)["LoadBalancerArn"].(string)
			tgArn := run("elbv2", "create-target-group", "--name", "web-tg", "--protocol", "HTTP", "--port", "80", "--vpc-id", "vpc-1", "--target-type", "ip")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)
			apiArn := run("elbv2", "create-target-group", "--name", "api-tg", "--protocol", "HTTP", "--port", "9000", "--target-type", "ip")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)

			l := run("elbv2", "create-listener", "--load-balancer-arn", lbArn, "--protocol", "HTTP", "--port", "8080",
				"--default-actions", "Type=forward,TargetGroupArn="+tgArn)["Listeners"].([]any)[0].(map[string]any)
			lArn := l["ListenerArn"].(string)
			if !strings.Contains(lArn, ":listener/app/web/") || l["Port"].(float64) != 8080 || l["Protocol"] != "HTTP" ||
				l["DefaultActions"].([]any)[0].(map[string]any)["TargetGroupArn"] != tgArn {
				t.Errorf("create-listener = %v", l)
			}
			fails("DuplicateListener", "elbv2", "create-listener", "--load-balancer-arn", lbArn, "--protocol", "HTTP", "--port", "8080",
				"--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404}")
			fails("TargetGroupNotFound", "elbv2", "create-listener", "--load-balancer-arn", lbArn, "--protocol", "HTTP", "--port", "81",
				"--default-actions", "Type=forward,TargetGroupArn="+tgArn+"0")
			fails("OperationNotPermitted", "elbv2", "create-listener", "--load-balancer-arn", lbArn, "--protocol", "HTTP", "--port", "81",
				"--default-actions", "Type=redirect,RedirectConfig={Protocol=HTTPS,Port=443,StatusCode=HTTP_301}")
			if d := run("elbv2", "describe-listeners", "--load-balancer-arn", lbArn)["Listeners"].([]any); len(d) != 1 || d[0].(map[string]any)["ListenerArn"] != lArn {
				t.Errorf("describe-listeners = %v", d)
			}
			tg := run("elbv2", "describe-target-groups", "--target-group-arns", tgArn)["TargetGroups"].([]any)[0].(map[string]any)
			if lbs := tg["LoadBalancerArns"].([]any); len(lbs) != 1 || lbs[0] != lbArn {
				t.Errorf("target group load balancers = %v", lbs)
			}
			fails("ResourceInUse", "elbv2", "delete-target-group", "--target-group-arn", tgArn)

			rule := run("elbv2", "create-rule", "--listener-arn", lArn, "--conditions", "Field=path-pattern,Values='/api/*'", "--priority", "10",
				"--actions", "Type=forward,TargetGroupArn="+apiArn)["Rules"].([]any)[0].(map[string]any)
			ruleArn := rule["RuleArn"].(string)
			if rule["Priority"] != "10" || rule["IsDefault"] != false || rule["Conditions"].([]any)[0].(map[string]any)["Values"].([]any)[0] != "/api/*" {
				t.Errorf("create-rule = %v", rule)
			}
			fails("PriorityInUse", "elbv2", "create-rule", "--listener-arn", lArn, "--conditions", "Field=host-header,Values=a.example.com", "--priority", "10",
				"--actions", "Type=fixed-response,FixedResponseConfig={StatusCode=503}")
			run("elbv2", "create-rule", "--listener-arn", lArn, "--conditions", `[{"Field":"host-header","HostHeaderConfig":{"Values":["*.example.com"]}}]`, "--priority", "20",
				"--actions", `[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"503","ContentType":"text/plain","MessageBody":"down"}}]`)
			rules := run("elbv2", "describe-rules", "--listener-arn", lArn)["Rules"].([]any)
			if len(rules) != 3 || rules[0].(map[string]any)["RuleArn"] != ruleArn || rules[2].(map[string]any)["Priority"] != "default" || rules[2].(map[string]any)["IsDefault"] != true {
				t.Errorf("describe-rules = %v", rules)
			}
			run("elbv2", "set-rule-priorities", "--rule-priorities", "RuleArn="+ruleArn+",Priority=30")
			run("elbv2", "modify-rule", "--rule-arn", ruleArn, "--conditions", "Field=path-pattern,Values='/v2/*'")
			fails("RuleNotFound", "elbv2", "delete-rule", "--rule-arn", ruleArn+"0")

			run("elbv2", "register-targets", "--target-group-arn", tgArn, "--targets", "Id=10.0.0.5,Port=80", "Id=10.0.0.6")
			hs := run("elbv2", "describe-target-health", "--target-group-arn", tgArn)["TargetHealthDescriptions"].([]any)
			if len(hs) != 2 {
				t.Fatalf("describe-target-health = %v", hs)
			}
			h := hs[0].(map[string]any)
			th := h["TargetHealth"].(map[string]any)
			// The data plane starts checking at once, so the target may
			// already be past registration into its first checks.
			initial := (th["Reason"] == "Elb.RegistrationInProgress" && th["Description"] == "Target registration is in progress") ||
				(th["Reason"] == "Elb.InitialHealthChecking" && th["Description"] == "Initial health checks in progress")
			if h["Target"].(map[string]any)["Id"] != "10.0.0.5" || h["HealthCheckPort"] != "80" || th["State"] != "initial" || !initial {
				t.Errorf("target health = %v", h)
			}
			fails("InvalidTarget", "elbv2", "register-targets", "--target-group-arn", tgArn, "--targets", "Id=i-0123456789abcdef0")
			run("elbv2", "deregister-targets", "--target-group-arn", tgArn, "--targets", "Id=10.0.0.5,Port=80")
			th = run("elbv2", "describe-target-health", "--target-group-arn", tgArn, "--targets", "Id=10.0.0.5,Port=80")["TargetHealthDescriptions"].([]any)[0].(map[string]any)["TargetHealth"].(map[string]any)
			// Draining, or already unused: ELB completes a deregistration at
			// once when the target has nothing in flight.
			if !(th["State"] == "draining" && th["Reason"] == "Target.DeregistrationInProgress") && !(th["State"] == "unused" && th["Reason"] == "Target.NotRegistered") {
				t.Errorf("deregistered = %v", th)
			}

			run("elbv2", "modify-listener", "--listener-arn", lArn, "--port", "9090", "--default-actions", "Type=fixed-response,FixedResponseConfig={StatusCode=404,ContentType=text/plain}")
			run("elbv2", "delete-rule", "--rule-arn", ruleArn)
			run("elbv2", "delete-listener", "--listener-arn", lArn)
			fails("ListenerNotFound", "elbv2", "describe-listeners", "--listener-arns", lArn)
			run("elbv2", "delete-target-group", "--target-group-arn", tgArn)
			run("elbv2", "delete-load-balancer", "--load-balancer-arn", lbArn)
		})
	}
}

// TestELBv2ListenersSDK drives listeners, rules and targets with
// aws-sdk-go-v2, whose XML decoder is strict about shapes.
func TestELBv2ListenersSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := elbv2.New(elbv2.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(s.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, testSecret, ""),
		HTTPClient:       &http.Client{Transport: sdkclient.Transport(nil)},
		RetryMaxAttempts: 1,
	})
	ctx := context.Background()
	lbOut, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Subnets: []string{"subnet-a", "subnet-b"}})
	if err != nil {
		t.Fatal(err)
	}
	lbArn := lbOut.LoadBalancers[0].LoadBalancerArn
	var tgs []*string
	for _, name := range []string{"blue", "green"} {
		out, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), TargetType: elbtypes.TargetTypeEnumIp})
		if err != nil {
			t.Fatal(err)
		}
		tgs = append(tgs, out.TargetGroups[0].TargetGroupArn)
	}
	lOut, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lbArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{
			TargetGroups: []elbtypes.TargetGroupTuple{{TargetGroupArn: tgs[0], Weight: aws.Int32(90)}, {TargetGroupArn: tgs[1], Weight: aws.Int32(10)}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := lOut.Listeners[0]
	if fc := l.DefaultActions[0].ForwardConfig; fc == nil || len(fc.TargetGroups) != 2 || aws.ToInt32(fc.TargetGroups[1].Weight) != 10 || fc.TargetGroupStickinessConfig == nil {
		t.Errorf("weighted forward = %+v", l.DefaultActions[0])
	}
	rOut, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/health"}}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("200"), ContentType: aws.String("text/plain"), MessageBody: aws.String("ok")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := rOut.Rules[0]; aws.ToString(r.Priority) != "1" || r.Actions[0].FixedResponseConfig == nil || aws.ToString(r.Actions[0].FixedResponseConfig.MessageBody) != "ok" {
		t.Errorf("CreateRule = %+v", r)
	}
	var rules []elbtypes.Rule
	p := elbv2.NewDescribeRulesPaginator(c, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn, PageSize: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, out.Rules...)
	}
	if len(rules) != 2 || !aws.ToBool(rules[1].IsDefault) || aws.ToString(rules[1].Priority) != "default" {
		t.Errorf("DescribeRules = %+v", rules)
	}

	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgs[0], Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.0.5"), Port: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	h, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.TargetHealthDescriptions) != 1 || h.TargetHealthDescriptions[0].TargetHealth.State != elbtypes.TargetHealthStateEnumInitial ||
		h.TargetHealthDescriptions[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumRegistrationInProgress || aws.ToInt32(h.TargetHealthDescriptions[0].Target.Port) != 8080 {
		t.Errorf("DescribeTargetHealth = %+v", h.TargetHealthDescriptions)
	}
	h, err = c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgs[1], Targets: []elbtypes.TargetDescription{{Id: aws.String("10.0.0.9")}}})
	if err != nil || len(h.TargetHealthDescriptions) != 1 || h.TargetHealthDescriptions[0].TargetHealth.Reason != elbtypes.TargetHealthReasonEnumNotRegistered {
		t.Errorf("unregistered target health = %+v, %v", h, err)
	}

	// Modeled errors decode into their SDK types.
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lbArn, Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tgs[1]}}})
	var dup *elbtypes.DuplicateListenerException
	if !errors.As(err, &dup) {
		t.Errorf("duplicate listener = %v", err)
	}
	_, err = c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x"}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: tgs[1]}}})
	var inUse *elbtypes.PriorityInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("priority in use = %v", err)
	}
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgs[0], Targets: []elbtypes.TargetDescription{{Id: aws.String("not-an-ip")}}})
	var invalid *elbtypes.InvalidTargetException
	if !errors.As(err, &invalid) {
		t.Errorf("invalid target = %v", err)
	}
	_, err = c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: aws.String(aws.ToString(l.ListenerArn) + "0")})
	var nf *elbtypes.ListenerNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("missing listener = %v", err)
	}
	_, err = c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tgs[1]})
	var busy *elbtypes.ResourceInUseException
	if !errors.As(err, &busy) {
		t.Errorf("delete target group in use = %v", err)
	}
	if _, err := c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lbArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: tgs[1]}); err != nil {
		t.Errorf("delete target group after its load balancer: %v", err)
	}
}
