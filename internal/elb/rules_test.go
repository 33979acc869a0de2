package elb

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/elbv2api"
)

func TestRules(t *testing.T) {
	e := newTestELB(t)
	lb, tgA, tgB := fixture(t, e)
	l := *must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=80&"+forwardTo(tgA)).Listeners[0].ListenerArn
	fwdB := "&Actions.member.1.Type=forward&Actions.member.1.TargetGroupArn=" + q(tgB)
	api := must[elbv2api.CreateRuleOutput](t, e, "CreateRule", "ListenerArn="+q(l)+"&Priority=10&Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1="+q("/api/*")+fwdB).Rules[0]
	if arn := elbv2api.Value(api.RuleArn); !strings.HasPrefix(arn, strings.Replace(l, ":listener/", ":listener-rule/", 1)+"/") {
		t.Errorf("rule arn = %s", arn)
	}
	if c := api.Conditions[0]; elbv2api.Value(api.Priority) != "10" || elbv2api.Value(api.IsDefault) || elbv2api.Value(c.Field) != "path-pattern" ||
		c.Values[0] != "/api/*" || c.PathPatternConfig.Values[0] != "/api/*" || elbv2api.Value(api.Actions[0].TargetGroupArn) != tgB {
		t.Errorf("rule = %+v", api)
	}
	if got := tgLBs(t, e, tgB); len(got) != 1 || got[0] != lb {
		t.Errorf("tg b load balancers = %v", got)
	}
	host := must[elbv2api.CreateRuleOutput](t, e, "CreateRule", "ListenerArn="+q(l)+"&Priority=5&Conditions.member.1.Field=host-header&Conditions.member.1.HostHeaderConfig.Values.member.1="+q("*.example.com")+
		"&Conditions.member.2.Field=path-pattern&Conditions.member.2.PathPatternConfig.Values.member.1=/static/*"+
		"&Actions.member.1.Type=fixed-response&Actions.member.1.FixedResponseConfig.StatusCode=503").Rules[0]

	cond := "&Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=/x"
	many := "&Conditions.member.1.Field=path-pattern"
	for i := range 6 {
		many += "&Conditions.member.1.Values.member." + string(rune('1'+i)) + "=/p" + string(rune('a'+i))
	}
	for _, tc := range []struct{ form, code string }{
		{"ListenerArn=" + q(l) + "&Priority=10" + cond + fwdB, "PriorityInUse"},
		{"ListenerArn=" + q(l+"0") + "&Priority=11" + cond + fwdB, "ListenerNotFound"},
		{"ListenerArn=" + q(l) + "&Priority=0" + cond + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=50001" + cond + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=11" + many + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=11&Conditions.member.1.Field=source-ip&Conditions.member.1.SourceIpConfig.Values.member.1=10.0.0.0/8" + fwdB, "OperationNotPermitted"},
		{"ListenerArn=" + q(l) + "&Priority=11&Conditions.member.1.Field=bogus&Conditions.member.1.Values.member.1=x" + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=11&Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=" + q("/a b") + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=11" + cond + "&Conditions.member.2.Field=path-pattern&Conditions.member.2.Values.member.1=/y" + fwdB, "ValidationError"},
		{"ListenerArn=" + q(l) + "&Priority=11" + cond + "&Actions.member.1.Type=forward&Actions.member.1.TargetGroupArn=" + q(tgB+"0"), "TargetGroupNotFound"},
	} {
		_, err := call[elbv2api.CreateRuleOutput](t, e, "CreateRule", tc.form)
		if err == nil {
			t.Errorf("%s: no error, want %s", tc.form, tc.code)
			continue
		}
		wantCode(t, err, tc.code)
	}

	rules := must[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "ListenerArn="+q(l)).Rules
	if len(rules) != 3 || elbv2api.Value(rules[0].Priority) != "5" || elbv2api.Value(rules[1].Priority) != "10" || elbv2api.Value(rules[2].Priority) != "default" ||
		!elbv2api.Value(rules[2].IsDefault) || len(rules[2].Conditions) != 0 || elbv2api.Value(rules[2].Actions[0].TargetGroupArn) != tgA {
		t.Fatalf("rules = %+v", rules)
	}
	def := *rules[2].RuleArn
	p1 := must[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "ListenerArn="+q(l)+"&PageSize=2")
	p2 := must[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "ListenerArn="+q(l)+"&PageSize=2&Marker="+q(elbv2api.Value(p1.NextMarker)))
	if len(p1.Rules) != 2 || len(p2.Rules) != 1 || p2.NextMarker != nil || *p2.Rules[0].RuleArn != def {
		t.Errorf("pages = %+v / %+v", p1, p2)
	}
	if d := must[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "RuleArns.member.1="+q(def)+"&RuleArns.member.2="+q(*api.RuleArn)).Rules; len(d) != 2 || !elbv2api.Value(d[0].IsDefault) {
		t.Errorf("by arn = %+v", d)
	}
	_, err := call[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "RuleArns.member.1="+q(*api.RuleArn+"0"))
	wantCode(t, err, "RuleNotFound")

	// Go API: rules by priority with their conditions.
	ls, err := e.Listeners(context.Background())
	if err != nil || len(ls) != 1 || len(ls[0].Rules) != 2 {
		t.Fatalf("Listeners = %+v, %v", ls, err)
	}
	r0, r1 := ls[0].Rules[0], ls[0].Rules[1]
	if r0.Priority != 5 || len(r0.Conditions) != 2 || r0.Actions[0].StatusCode != 503 || r1.Priority != 10 || r1.Actions[0].TargetGroups[0].ARN != tgB {
		t.Errorf("go rules = %+v", ls[0].Rules)
	}
	for _, tc := range []struct {
		host, path string
		want       bool
	}{
		{"www.Example.com:8080", "/static/a.css", true},
		{"example.com", "/static/a.css", false},
		{"a.example.com", "/api", false},
	} {
		if got := r0.Matches(tc.host, tc.path); got != tc.want {
			t.Errorf("rule 5 matches %s%s = %v", tc.host, tc.path, got)
		}
	}
	if !r1.Matches("x", "/api/v1") || r1.Matches("x", "/apiv1") || !wildcardMatch("/a?c*", "/abcdef") || wildcardMatch("/a?c", "/ac") {
		t.Error("path matching")
	}

	// Modify conditions and actions; the default rule's actions.
	m := must[elbv2api.ModifyRuleOutput](t, e, "ModifyRule", "RuleArn="+q(*api.RuleArn)+"&Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=/v2/*").Rules[0]
	if m.Conditions[0].Values[0] != "/v2/*" || elbv2api.Value(m.Actions[0].TargetGroupArn) != tgB {
		t.Errorf("modified = %+v", m)
	}
	md := must[elbv2api.ModifyRuleOutput](t, e, "ModifyRule", "RuleArn="+q(def)+fwdB).Rules[0]
	if !elbv2api.Value(md.IsDefault) || elbv2api.Value(md.Actions[0].TargetGroupArn) != tgB {
		t.Errorf("modified default = %+v", md)
	}
	if got := tgLBs(t, e, tgA); len(got) != 0 {
		t.Errorf("tg a after default moved = %v", got)
	}
	_, err = call[elbv2api.ModifyRuleOutput](t, e, "ModifyRule", "RuleArn="+q(def)+cond)
	wantCode(t, err, "OperationNotPermitted")

	// Swap priorities at once; a clash is PriorityInUse.
	sw := must[elbv2api.SetRulePrioritiesOutput](t, e, "SetRulePriorities", "RulePriorities.member.1.RuleArn="+q(*api.RuleArn)+"&RulePriorities.member.1.Priority=5&RulePriorities.member.2.RuleArn="+q(*host.RuleArn)+"&RulePriorities.member.2.Priority=10").Rules
	if len(sw) != 2 || elbv2api.Value(sw[0].Priority) != "5" || elbv2api.Value(sw[1].Priority) != "10" {
		t.Errorf("swapped = %+v", sw)
	}
	_, err = call[elbv2api.SetRulePrioritiesOutput](t, e, "SetRulePriorities", "RulePriorities.member.1.RuleArn="+q(*api.RuleArn)+"&RulePriorities.member.1.Priority=10")
	wantCode(t, err, "PriorityInUse")
	_, err = call[elbv2api.SetRulePrioritiesOutput](t, e, "SetRulePriorities", "RulePriorities.member.1.RuleArn="+q(def)+"&RulePriorities.member.1.Priority=1")
	wantCode(t, err, "OperationNotPermitted")

	// Delete.
	_, err = call[elbv2api.DeleteRuleOutput](t, e, "DeleteRule", "RuleArn="+q(def))
	wantCode(t, err, "OperationNotPermitted")
	must[elbv2api.DeleteRuleOutput](t, e, "DeleteRule", "RuleArn="+q(*host.RuleArn))
	_, err = call[elbv2api.DeleteRuleOutput](t, e, "DeleteRule", "RuleArn="+q(*host.RuleArn))
	wantCode(t, err, "RuleNotFound")
	if rules := must[elbv2api.DescribeRulesOutput](t, e, "DescribeRules", "ListenerArn="+q(l)).Rules; len(rules) != 2 {
		t.Errorf("after delete = %+v", rules)
	}

	// Rules need an application load balancer's listener.
	nlb := *must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=tcp&Type=network&Subnets.member.1=s1").LoadBalancers[0].LoadBalancerArn
	tcpTG := *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=pg&Protocol=TCP&Port=5432").TargetGroups[0].TargetGroupArn
	nl := *must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(nlb)+"&Protocol=TCP&Port=5432&"+forwardTo(tcpTG)).Listeners[0].ListenerArn
	_, err = call[elbv2api.CreateRuleOutput](t, e, "CreateRule", "ListenerArn="+q(nl)+"&Priority=1"+cond+"&Actions.member.1.Type=forward&Actions.member.1.TargetGroupArn="+q(tcpTG))
	wantCode(t, err, "ValidationError")
}
