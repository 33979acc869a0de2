package elb

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/elbv2api"
)

// fixture creates an application load balancer "web" and HTTP target
// groups "a" and "b"; it returns their ARNs.
func fixture(t *testing.T, e *ELB) (lb, tgA, tgB string) {
	t.Helper()
	lb = *must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Subnets.member.1=s1&Subnets.member.2=s2").LoadBalancers[0].LoadBalancerArn
	tgA = *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=a&Protocol=HTTP&Port=80&TargetType=ip").TargetGroups[0].TargetGroupArn
	tgB = *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=b&Protocol=HTTP&Port=8080").TargetGroups[0].TargetGroupArn
	return lb, tgA, tgB
}

func q(s string) string { return url.QueryEscape(s) }

func forwardTo(tg string) string {
	return "DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn=" + q(tg)
}

func tgLBs(t *testing.T, e *ELB, arn string) []string {
	t.Helper()
	info, err := e.TargetGroup(context.Background(), arn)
	if err != nil {
		t.Fatal(err)
	}
	return info.LoadBalancerARNs
}

func TestListeners(t *testing.T) {
	e := newTestELB(t)
	lb, tgA, tgB := fixture(t, e)
	out := must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=8080&"+forwardTo(tgA))
	l := out.Listeners[0]
	arn := elbv2api.Value(l.ListenerArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/") || len(arn[strings.LastIndex(arn, "/")+1:]) != 16 ||
		!strings.HasPrefix(arn, strings.Replace(lb, ":loadbalancer/", ":listener/", 1)+"/") {
		t.Errorf("listener arn = %s", arn)
	}
	a := l.DefaultActions[0]
	if a.Type != "forward" || elbv2api.Value(a.TargetGroupArn) != tgA || len(a.ForwardConfig.TargetGroups) != 1 || elbv2api.Value(a.ForwardConfig.TargetGroups[0].Weight) != 1 ||
		elbv2api.Value(a.ForwardConfig.TargetGroupStickinessConfig.Enabled) {
		t.Errorf("default action = %+v", a)
	}
	if got := tgLBs(t, e, tgA); len(got) != 1 || got[0] != lb {
		t.Errorf("target group load balancers = %v", got)
	}
	// The same listener again is the same listener; another on the port is
	// a duplicate.
	again := must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=8080&"+forwardTo(tgA))
	if elbv2api.Value(again.Listeners[0].ListenerArn) != arn {
		t.Errorf("repeat create = %v", elbv2api.Value(again.Listeners[0].ListenerArn))
	}
	_, err := call[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=8080&"+forwardTo(tgB))
	wantCode(t, err, "DuplicateListener")

	nlb := *must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=tcp&Type=network&Subnets.member.1=s1").LoadBalancers[0].LoadBalancerArn
	tcpTG := *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=pg&Protocol=TCP&Port=5432").TargetGroups[0].TargetGroupArn
	fixed := "DefaultActions.member.1.Type=fixed-response&DefaultActions.member.1.FixedResponseConfig.StatusCode=404"
	for _, tc := range []struct{ form, code string }{
		{"LoadBalancerArn=" + q(lb+"0") + "&Protocol=HTTP&Port=81&" + forwardTo(tgA), "LoadBalancerNotFound"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&" + forwardTo(tgA+"0"), "TargetGroupNotFound"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&" + forwardTo(tcpTG), "IncompatibleProtocols"},
		{"LoadBalancerArn=" + q(nlb) + "&Protocol=TCP&Port=81&" + forwardTo(tgA), "TargetGroupAssociationLimit"},
		{"LoadBalancerArn=" + q(nlb) + "&Protocol=TCP&Port=81&" + forwardTo(tgB), "IncompatibleProtocols"},
		{"LoadBalancerArn=" + q(nlb) + "&Protocol=TCP&Port=81&" + fixed, "InvalidLoadBalancerAction"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=TCP&Port=81&" + forwardTo(tgA), "ValidationError"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTPS&Port=443&" + forwardTo(tgA), "CertificateNotFound"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=0&" + forwardTo(tgA), "ValidationError"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&" + forwardTo(tgA), "ValidationError"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&DefaultActions.member.1.Type=redirect&DefaultActions.member.1.RedirectConfig.StatusCode=HTTP_301", "OperationNotPermitted"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&DefaultActions.member.1.Type=forward", "ValidationError"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&" + fixed + "&DefaultActions.member.1.FixedResponseConfig.ContentType=image/png", "ValidationError"},
		{"LoadBalancerArn=" + q(lb) + "&Protocol=HTTP&Port=81&" + fixed + "&DefaultActions.member.2.Type=forward&DefaultActions.member.2.TargetGroupArn=" + q(tgA), "TooManyActions"},
	} {
		_, err := call[elbv2api.CreateListenerOutput](t, e, "CreateListener", tc.form)
		if err == nil {
			t.Errorf("%s: no error, want %s", tc.form, tc.code)
			continue
		}
		wantCode(t, err, tc.code)
	}

	// Weighted forward and fixed response; HTTPS with a certificate.
	w := must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTPS&Port=443&Certificates.member.1.CertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/x"+
		"&DefaultActions.member.1.Type=forward&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn="+q(tgA)+"&DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight=3"+
		"&DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn="+q(tgB)).Listeners[0]
	if fa := w.DefaultActions[0]; fa.TargetGroupArn != nil || len(fa.ForwardConfig.TargetGroups) != 2 || elbv2api.Value(fa.ForwardConfig.TargetGroups[0].Weight) != 3 ||
		elbv2api.Value(fa.ForwardConfig.TargetGroups[1].Weight) != 1 || elbv2api.Value(w.SslPolicy) != "ELBSecurityPolicy-2016-08" || len(w.Certificates) != 1 {
		t.Errorf("weighted listener = %+v", w)
	}
	if got := tgLBs(t, e, tgB); len(got) != 1 || got[0] != lb {
		t.Errorf("tg b load balancers = %v", got)
	}
	_, err = call[elbv2api.DeleteTargetGroupOutput](t, e, "DeleteTargetGroup", "TargetGroupArn="+q(tgB))
	wantCode(t, err, "ResourceInUse")
	nl := must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(nlb)+"&Protocol=TCP&Port=5432&"+forwardTo(tcpTG)).Listeners[0]

	// Describe by load balancer with paging, and by ARN.
	d := must[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "LoadBalancerArn="+q(lb)+"&PageSize=1")
	if len(d.Listeners) != 1 || d.NextMarker == nil {
		t.Fatalf("page 1 = %+v", d)
	}
	d2 := must[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "LoadBalancerArn="+q(lb)+"&PageSize=1&Marker="+q(*d.NextMarker))
	if len(d2.Listeners) != 1 || d2.NextMarker != nil || *d2.Listeners[0].ListenerArn == *d.Listeners[0].ListenerArn {
		t.Errorf("page 2 = %+v", d2)
	}
	if d := must[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "ListenerArns.member.1="+q(arn)); len(d.Listeners) != 1 || elbv2api.Value(d.Listeners[0].Port) != 8080 {
		t.Errorf("by arn = %+v", d)
	}
	_, err = call[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "ListenerArns.member.1="+q(arn+"0"))
	wantCode(t, err, "ListenerNotFound")
	_, err = call[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "")
	wantCode(t, err, "ValidationError")

	// Go API.
	ls, err := e.Listeners(context.Background())
	if err != nil || len(ls) != 3 {
		t.Fatalf("Listeners = %+v, %v", ls, err)
	}
	if l := ls[2]; l.LoadBalancerName != "web" || l.Port != 8080 || l.Protocol != "HTTP" || l.LoadBalancerType != "application" || len(l.DefaultActions) != 1 ||
		l.DefaultActions[0].TargetGroups[0].ARN != tgA || l.DefaultActions[0].TargetGroups[0].Weight != 1 {
		t.Errorf("listener = %+v", l)
	}
	if l := ls[0]; l.LoadBalancerName != "tcp" || l.LoadBalancerType != "network" || l.Protocol != "TCP" {
		t.Errorf("nlb listener = %+v", l)
	}

	// Modify: port, then the default action to a fixed response; the
	// target group is released.
	_, err = call[elbv2api.ModifyListenerOutput](t, e, "ModifyListener", "ListenerArn="+q(arn)+"&Port=443")
	wantCode(t, err, "DuplicateListener")
	m := must[elbv2api.ModifyListenerOutput](t, e, "ModifyListener", "ListenerArn="+q(arn)+"&Port=9090&"+fixed+"&DefaultActions.member.1.FixedResponseConfig.MessageBody=nope&DefaultActions.member.1.FixedResponseConfig.ContentType=text/plain").Listeners[0]
	if elbv2api.Value(m.Port) != 9090 || m.DefaultActions[0].FixedResponseConfig.StatusCode != "404" {
		t.Errorf("modified = %+v", m)
	}
	if got := tgLBs(t, e, tgA); len(got) != 1 {
		t.Errorf("tg a still used by the weighted listener: %v", got)
	}
	_, err = call[elbv2api.ModifyListenerOutput](t, e, "ModifyListener", "ListenerArn="+q(arn+"0")+"&Port=1")
	wantCode(t, err, "ListenerNotFound")

	// Delete the weighted listener: both target groups are free.
	must[elbv2api.DeleteListenerOutput](t, e, "DeleteListener", "ListenerArn="+q(*w.ListenerArn))
	if got := tgLBs(t, e, tgB); len(got) != 0 {
		t.Errorf("after delete listener, tg b = %v", got)
	}
	_, err = call[elbv2api.DeleteListenerOutput](t, e, "DeleteListener", "ListenerArn="+q(*w.ListenerArn))
	wantCode(t, err, "ListenerNotFound")
	must[elbv2api.DeleteTargetGroupOutput](t, e, "DeleteTargetGroup", "TargetGroupArn="+q(tgB))

	// Deleting a load balancer deletes its listeners.
	must[elbv2api.DeleteLoadBalancerOutput](t, e, "DeleteLoadBalancer", "LoadBalancerArn="+q(nlb))
	_, err = call[elbv2api.DescribeListenersOutput](t, e, "DescribeListeners", "ListenerArns.member.1="+q(*nl.ListenerArn))
	wantCode(t, err, "ListenerNotFound")
	if got := tgLBs(t, e, tcpTG); len(got) != 0 {
		t.Errorf("after delete lb, tcp tg = %v", got)
	}
	if ls, _ := e.Listeners(context.Background()); len(ls) != 1 {
		t.Errorf("listeners left = %+v", ls)
	}
}

// TestConcurrentListeners creates listeners on one load balancer from many
// goroutines: each port gets one, and the target group stays consistent.
func TestConcurrentListeners(t *testing.T) {
	e := newTestELB(t)
	lb, tgA, _ := fixture(t, e)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.CreateListener(context.Background(), &elbv2api.CreateListenerInput{
				LoadBalancerArn: lb, Protocol: elbv2api.Ptr(elbv2api.ProtocolEnumHTTP), Port: elbv2api.Ptr(int32(8000 + i)),
				DefaultActions: []elbv2api.Action{{Type: elbv2api.ActionTypeEnumForward, TargetGroupArn: elbv2api.Ptr(tgA)}},
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ls, err := e.Listeners(context.Background())
	if err != nil || len(ls) != 8 {
		t.Fatalf("listeners = %d, %v", len(ls), err)
	}
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.DeleteListener(context.Background(), &elbv2api.DeleteListenerInput{ListenerArn: l.ARN}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := tgLBs(t, e, tgA); len(got) != 0 {
		t.Errorf("tg load balancers after deleting all listeners = %v", got)
	}
}
