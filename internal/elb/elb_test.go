package elb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsquery"
	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

func newTestELB(t testing.TB) *ELB {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "berth.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Unix(1_700_000_000, 0)
	return New(st, Config{Region: "us-east-1", AccountID: "123456789012", Now: func() time.Time { return now }})
}

// call runs one action through the generated decoder and validation, as the
// server does.
func call[T any](t *testing.T, e *ELB, action, form string) (*T, error) {
	t.Helper()
	v, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := e.Service().Dispatch(context.Background(), action, v)
	if err != nil {
		return nil, err
	}
	return out.(*T), nil
}

func must[T any](t *testing.T, e *ELB, action, form string) *T {
	t.Helper()
	out, err := call[T](t, e, action, form)
	if err != nil {
		t.Fatalf("%s %s: %v", action, form, err)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *awsquery.Error
	if !errors.As(err, &e) || e.Code != code || e.HTTPStatus() != 400 {
		t.Fatalf("err = %v, want %s (400)", err, code)
	}
}

func TestLoadBalancers(t *testing.T) {
	e := newTestELB(t)
	out := must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Subnets.member.1=subnet-1&Subnets.member.2=subnet-2&Tags.member.1.Key=env&Tags.member.1.Value=dev")
	lb := out.LoadBalancers[0]
	arn := elbv2api.Value(lb.LoadBalancerArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/") || len(arn[strings.LastIndex(arn, "/")+1:]) != 16 {
		t.Errorf("arn = %s", arn)
	}
	if dns := elbv2api.Value(lb.DNSName); !strings.HasPrefix(dns, "web-") || !strings.HasSuffix(dns, ".us-east-1.elb.amazonaws.com") {
		t.Errorf("dns = %s", dns)
	}
	if elbv2api.Value(lb.State.Code) != "active" || elbv2api.Value(lb.Type) != "application" || elbv2api.Value(lb.Scheme) != "internet-facing" ||
		len(lb.AvailabilityZones) != 2 || elbv2api.Value(lb.AvailabilityZones[1].SubnetId) != "subnet-2" || elbv2api.Value(lb.AvailabilityZones[1].ZoneName) != "us-east-1b" ||
		elbv2api.Value(lb.IpAddressType) != "ipv4" || elbv2api.Value(lb.VpcId) == "" || elbv2api.Value(lb.CanonicalHostedZoneId) != "Z35SXDOTRQ7X7K" {
		t.Errorf("lb = %+v", lb)
	}
	// Same settings: the same load balancer; other settings: a duplicate.
	again := must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Subnets.member.1=subnet-1&Subnets.member.2=subnet-2")
	if elbv2api.Value(again.LoadBalancers[0].LoadBalancerArn) != arn {
		t.Errorf("repeat create = %s", elbv2api.Value(again.LoadBalancers[0].LoadBalancerArn))
	}
	_, err := call[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Type=network&Subnets.member.1=subnet-1")
	wantCode(t, err, "DuplicateLoadBalancerName")

	nlb := must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=tcp&Type=network&Scheme=internal&SubnetMappings.member.1.SubnetId=subnet-9&SubnetMappings.member.1.PrivateIPv4Address=10.0.0.9").LoadBalancers[0]
	if a := elbv2api.Value(nlb.LoadBalancerArn); !strings.Contains(a, ":loadbalancer/net/tcp/") {
		t.Errorf("nlb arn = %s", a)
	}
	if d := elbv2api.Value(nlb.DNSName); !strings.HasPrefix(d, "internal-tcp-") || !strings.HasSuffix(d, ".elb.us-east-1.amazonaws.com") {
		t.Errorf("nlb dns = %s", d)
	}
	if z := nlb.AvailabilityZones[0]; elbv2api.Value(z.SubnetId) != "subnet-9" || elbv2api.Value(z.LoadBalancerAddresses[0].PrivateIPv4Address) != "10.0.0.9" {
		t.Errorf("nlb zones = %+v", nlb.AvailabilityZones)
	}

	for _, tc := range []struct{ form, code string }{
		{"Name=-bad&Subnets.member.1=a&Subnets.member.2=b", "ValidationError"},
		{"Name=internal-x&Subnets.member.1=a&Subnets.member.2=b", "ValidationError"},
		{"Name=" + strings.Repeat("a", 33) + "&Subnets.member.1=a&Subnets.member.2=b", "ValidationError"},
		{"Name=one&Subnets.member.1=a", "ValidationError"},
		{"Name=dup&Subnets.member.1=a&Subnets.member.2=a", "InvalidConfigurationRequest"},
		{"Name=x&Type=bogus&Subnets.member.1=a", "ValidationError"},
		{"Subnets.member.1=a", "ValidationError"},
		{"Name=t&Subnets.member.1=a&Subnets.member.2=b&Tags.member.1.Key=k&Tags.member.2.Key=k", "DuplicateTagKeys"},
	} {
		_, err := call[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", tc.form)
		wantCode(t, err, tc.code)
	}

	// Describe by name, by ARN, all with paging.
	d := must[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "Names.member.1=web")
	if len(d.LoadBalancers) != 1 || elbv2api.Value(d.LoadBalancers[0].LoadBalancerArn) != arn {
		t.Errorf("by name = %+v", d)
	}
	d = must[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "LoadBalancerArns.member.1="+url.QueryEscape(arn))
	if len(d.LoadBalancers) != 1 {
		t.Errorf("by arn = %+v", d)
	}
	_, err = call[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "Names.member.1=ghost")
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = call[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "LoadBalancerArns.member.1="+url.QueryEscape(strings.Replace(arn, "/web/", "/web2/", 1)))
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = call[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "PageSize=0")
	wantCode(t, err, "ValidationError")
	p1 := must[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "PageSize=1")
	if len(p1.LoadBalancers) != 1 || elbv2api.Value(p1.LoadBalancers[0].LoadBalancerName) != "tcp" || p1.NextMarker == nil {
		t.Fatalf("page 1 = %+v", p1)
	}
	p2 := must[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", "PageSize=1&Marker="+*p1.NextMarker)
	if len(p2.LoadBalancers) != 1 || elbv2api.Value(p2.LoadBalancers[0].LoadBalancerName) != "web" || p2.NextMarker != nil {
		t.Fatalf("page 2 = %+v", p2)
	}

	// Delete, twice (the second is a no-op).
	must[elbv2api.DeleteLoadBalancerOutput](t, e, "DeleteLoadBalancer", "LoadBalancerArn="+url.QueryEscape(arn))
	must[elbv2api.DeleteLoadBalancerOutput](t, e, "DeleteLoadBalancer", "LoadBalancerArn="+url.QueryEscape(arn))
	if d := must[elbv2api.DescribeLoadBalancersOutput](t, e, "DescribeLoadBalancers", ""); len(d.LoadBalancers) != 1 {
		t.Errorf("after delete = %+v", d)
	}
}

func TestTargetGroups(t *testing.T) {
	e := newTestELB(t)
	tg := must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=web-tg&Protocol=HTTP&Port=80&VpcId=vpc-1&TargetType=ip").TargetGroups[0]
	arn := elbv2api.Value(tg.TargetGroupArn)
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/") {
		t.Errorf("arn = %s", arn)
	}
	got := fmt.Sprintf("%s %s %v %d %d %d %d %s %s %s %s", *tg.HealthCheckProtocol, *tg.HealthCheckPort, *tg.HealthCheckEnabled, *tg.HealthCheckIntervalSeconds,
		*tg.HealthCheckTimeoutSeconds, *tg.HealthyThresholdCount, *tg.UnhealthyThresholdCount, *tg.HealthCheckPath, *tg.Matcher.HttpCode, *tg.ProtocolVersion, *tg.TargetType)
	if want := "HTTP traffic-port true 30 5 5 2 / 200 HTTP1 ip"; got != want {
		t.Errorf("HTTP defaults = %s, want %s", got, want)
	}
	tcp := must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=tcp-tg&Protocol=TCP&Port=5432").TargetGroups[0]
	if *tcp.HealthCheckProtocol != "TCP" || *tcp.HealthCheckTimeoutSeconds != 10 || tcp.HealthCheckPath != nil || tcp.Matcher != nil || tcp.ProtocolVersion != nil || *tcp.VpcId == "" {
		t.Errorf("TCP defaults = %+v", tcp)
	}
	lambda := must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=fn&TargetType=lambda").TargetGroups[0]
	if *lambda.HealthCheckEnabled || *lambda.HealthCheckIntervalSeconds != 35 || *lambda.HealthCheckTimeoutSeconds != 30 || lambda.Protocol != nil {
		t.Errorf("lambda defaults = %+v", lambda)
	}
	nlbHTTP := must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=nlb-http&Protocol=TCP&Port=80&HealthCheckProtocol=HTTP&HealthCheckPath=%2Fhealthz").TargetGroups[0]
	if *nlbHTTP.HealthCheckPath != "/healthz" || *nlbHTTP.Matcher.HttpCode != "200-399" {
		t.Errorf("TCP target group with HTTP health check = %+v", nlbHTTP)
	}

	// Idempotent create; different settings are a duplicate.
	if again := must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=web-tg&Protocol=HTTP&Port=80&VpcId=vpc-1&TargetType=ip"); *again.TargetGroups[0].TargetGroupArn != arn {
		t.Errorf("repeat create = %s", *again.TargetGroups[0].TargetGroupArn)
	}
	_, err := call[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=web-tg&Protocol=HTTP&Port=81&VpcId=vpc-1")
	wantCode(t, err, "DuplicateTargetGroupName")
	for _, form := range []string{
		"Name=x&Protocol=HTTP",             // no port
		"Name=x&Port=80",                   // no protocol
		"Name=x&Protocol=HTTP&Port=0",      // port range (model)
		"Name=x&Protocol=SCTP&Port=80",     // enum (model)
		"Name=x&TargetType=lambda&Port=80", // lambda with a port
		"Name=x&Protocol=TCP&Port=80&Matcher.HttpCode=200",
		"Name=x&Protocol=HTTP&Port=80&HealthCheckIntervalSeconds=5&HealthCheckTimeoutSeconds=5",
		"Name=x&Protocol=HTTP&Port=80&HealthCheckPath=health",
		"Name=x&Protocol=HTTP&Port=80&HealthCheckEnabled=false",
		"Name=x_y&Protocol=HTTP&Port=80",
	} {
		_, err := call[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", form)
		wantCode(t, err, "ValidationError")
	}

	// Describe.
	if d := must[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", ""); len(d.TargetGroups) != 4 {
		t.Errorf("all = %d", len(d.TargetGroups))
	}
	if d := must[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "Names.member.1=tcp-tg&Names.member.2=web-tg"); len(d.TargetGroups) != 2 || *d.TargetGroups[1].TargetGroupArn != arn {
		t.Errorf("by names = %+v", d)
	}
	if d := must[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "TargetGroupArns.member.1="+url.QueryEscape(arn)); len(d.TargetGroups) != 1 {
		t.Errorf("by arn = %+v", d)
	}
	_, err = call[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "Names.member.1=ghost")
	wantCode(t, err, "TargetGroupNotFound")
	lb := must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Subnets.member.1=a&Subnets.member.2=b").LoadBalancers[0]
	if d := must[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "LoadBalancerArn="+url.QueryEscape(*lb.LoadBalancerArn)); len(d.TargetGroups) != 0 {
		t.Errorf("by lb = %+v", d)
	}
	_, err = call[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "LoadBalancerArn="+url.QueryEscape(strings.Replace(*lb.LoadBalancerArn, "/web/", "/nope/", 1)))
	wantCode(t, err, "LoadBalancerNotFound")

	// Modify the health check.
	m := must[elbv2api.ModifyTargetGroupOutput](t, e, "ModifyTargetGroup", "TargetGroupArn="+url.QueryEscape(arn)+"&HealthCheckPath=%2Fping&HealthCheckIntervalSeconds=10&Matcher.HttpCode=200-299").TargetGroups[0]
	if *m.HealthCheckPath != "/ping" || *m.HealthCheckIntervalSeconds != 10 || *m.Matcher.HttpCode != "200-299" || *m.HealthCheckTimeoutSeconds != 5 {
		t.Errorf("modified = %+v", m)
	}
	_, err = call[elbv2api.ModifyTargetGroupOutput](t, e, "ModifyTargetGroup", "TargetGroupArn="+url.QueryEscape(arn)+"&HealthCheckTimeoutSeconds=20")
	wantCode(t, err, "ValidationError")
	info, err := e.TargetGroup(context.Background(), arn)
	if err != nil || info.HealthCheck.Path != "/ping" || info.HealthCheck.Interval != 10*time.Second || info.HealthCheck.HTTPCodes != "200-299" || info.DeregistrationDelay != 300*time.Second || info.Port != 80 {
		t.Errorf("TargetGroup = %+v, %v", info, err)
	}
	if _, err := e.TargetGroup(context.Background(), arn+"0"); !errors.Is(err, ErrTargetGroupNotFound) {
		t.Errorf("missing TargetGroup: %v", err)
	}
	if err := e.SetTargets(context.Background(), arn, []Target{{ID: "10.0.0.1", Port: 8080}}); err != nil {
		t.Fatal(err)
	}
	if all, err := e.TargetGroups(context.Background()); err != nil || len(all) != 4 || len(all[3].Targets) != 1 || all[3].Targets[0].Port != 8080 {
		t.Errorf("TargetGroups = %+v, %v", all, err)
	}

	// Attributes.
	attrs := must[elbv2api.DescribeTargetGroupAttributesOutput](t, e, "DescribeTargetGroupAttributes", "TargetGroupArn="+url.QueryEscape(arn)).Attributes
	am := map[string]string{}
	for _, a := range attrs {
		am[*a.Key] = *a.Value
	}
	if am["deregistration_delay.timeout_seconds"] != "300" || am["stickiness.type"] != "lb_cookie" || am["load_balancing.algorithm.type"] != "round_robin" {
		t.Errorf("HTTP attributes = %v", am)
	}
	tcpAttrs := must[elbv2api.DescribeTargetGroupAttributesOutput](t, e, "DescribeTargetGroupAttributes", "TargetGroupArn="+url.QueryEscape(*tcp.TargetGroupArn)).Attributes
	found := false
	for _, a := range tcpAttrs {
		found = found || *a.Key == "proxy_protocol_v2.enabled"
	}
	if !found {
		t.Errorf("TCP attributes = %v", tcpAttrs)
	}
	mod := must[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+url.QueryEscape(arn)+"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=30&Attributes.member.2.Key=stickiness.enabled&Attributes.member.2.Value=true")
	if len(mod.Attributes) != len(attrs) {
		t.Errorf("modify returned %d attributes, want all %d", len(mod.Attributes), len(attrs))
	}
	if info, _ := e.TargetGroup(context.Background(), arn); info.DeregistrationDelay != 30*time.Second || info.Attributes["stickiness.enabled"] != "true" {
		t.Errorf("after modify = %+v", info)
	}
	for _, form := range []string{
		"&Attributes.member.1.Key=proxy_protocol_v2.enabled&Attributes.member.1.Value=true", // not an HTTP attribute
		"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=4000",
		"&Attributes.member.1.Key=stickiness.enabled&Attributes.member.1.Value=maybe",
	} {
		_, err := call[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+url.QueryEscape(arn)+form)
		wantCode(t, err, "ValidationError")
	}

	// Delete: refused while a load balancer uses it, idempotent after.
	if err := e.attachForTest(arn, *lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	_, err = call[elbv2api.DeleteTargetGroupOutput](t, e, "DeleteTargetGroup", "TargetGroupArn="+url.QueryEscape(arn))
	wantCode(t, err, "ResourceInUse")
	if d := must[elbv2api.DescribeTargetGroupsOutput](t, e, "DescribeTargetGroups", "LoadBalancerArn="+url.QueryEscape(*lb.LoadBalancerArn)); len(d.TargetGroups) != 1 {
		t.Errorf("by lb = %+v", d)
	}
	must[elbv2api.DeleteLoadBalancerOutput](t, e, "DeleteLoadBalancer", "LoadBalancerArn="+url.QueryEscape(*lb.LoadBalancerArn))
	must[elbv2api.DeleteTargetGroupOutput](t, e, "DeleteTargetGroup", "TargetGroupArn="+url.QueryEscape(arn))
	must[elbv2api.DeleteTargetGroupOutput](t, e, "DeleteTargetGroup", "TargetGroupArn="+url.QueryEscape(arn))
	_, err = call[elbv2api.DescribeTargetGroupAttributesOutput](t, e, "DescribeTargetGroupAttributes", "TargetGroupArn="+url.QueryEscape(arn))
	wantCode(t, err, "TargetGroupNotFound")
}

// attachForTest records a load balancer as using a target group, as the
// listener code will.
func (e *ELB) attachForTest(tgARN, lbARN string) error {
	ctx := context.Background()
	rec, rev, err := e.targetGroupByARN(ctx, tgARN)
	if err != nil {
		return err
	}
	rec.TargetGroup.LoadBalancerArns = append(rec.TargetGroup.LoadBalancerArns, lbARN)
	k := tgKey(*rec.TargetGroup.TargetGroupName)
	_, err = e.st.Txn(ctx, []store.Cond{{Key: k, ModRev: rev}}, []store.Op{store.Put(k, mustJSON(rec))})
	return err
}

func TestTags(t *testing.T) {
	e := newTestELB(t)
	lb := *must[elbv2api.CreateLoadBalancerOutput](t, e, "CreateLoadBalancer", "Name=web&Subnets.member.1=a&Subnets.member.2=b&Tags.member.1.Key=env&Tags.member.1.Value=dev").LoadBalancers[0].LoadBalancerArn
	tg := *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=tg&Protocol=HTTP&Port=80").TargetGroups[0].TargetGroupArn
	both := "ResourceArns.member.1=" + url.QueryEscape(lb) + "&ResourceArns.member.2=" + url.QueryEscape(tg)
	must[elbv2api.AddTagsOutput](t, e, "AddTags", both+"&Tags.member.1.Key=team&Tags.member.1.Value=core&Tags.member.2.Key=env&Tags.member.2.Value=prod")
	d := must[elbv2api.DescribeTagsOutput](t, e, "DescribeTags", both).TagDescriptions
	got := fmt.Sprintf("%d %v %s %s", len(d), *d[0].ResourceArn == lb, tagString(d[0].Tags), tagString(d[1].Tags))
	if want := "2 true env=prod,team=core team=core,env=prod"; got != want {
		t.Errorf("tags = %s, want %s", got, want)
	}
	must[elbv2api.RemoveTagsOutput](t, e, "RemoveTags", both+"&TagKeys.member.1=env&TagKeys.member.2=absent")
	d = must[elbv2api.DescribeTagsOutput](t, e, "DescribeTags", both).TagDescriptions
	if tagString(d[0].Tags) != "team=core" || tagString(d[1].Tags) != "team=core" {
		t.Errorf("after remove = %s %s", tagString(d[0].Tags), tagString(d[1].Tags))
	}
	_, err := call[elbv2api.AddTagsOutput](t, e, "AddTags", "ResourceArns.member.1="+url.QueryEscape(lb+"x")+"&Tags.member.1.Key=a")
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = call[elbv2api.DescribeTagsOutput](t, e, "DescribeTags", "ResourceArns.member.1="+url.QueryEscape(tg+"x"))
	wantCode(t, err, "TargetGroupNotFound")
	_, err = call[elbv2api.AddTagsOutput](t, e, "AddTags", "ResourceArns.member.1="+url.QueryEscape(lb))
	wantCode(t, err, "ValidationError") // Tags are required
	_, err = call[elbv2api.AddTagsOutput](t, e, "AddTags", "ResourceArns.member.1="+url.QueryEscape(lb)+"&Tags.member.1.Key=aws:x")
	wantCode(t, err, "ValidationError")
	var many []string
	for i := range 50 {
		many = append(many, fmt.Sprintf("Tags.member.%d.Key=k%d", i+1, i))
	}
	_, err = call[elbv2api.AddTagsOutput](t, e, "AddTags", "ResourceArns.member.1="+url.QueryEscape(lb)+"&"+strings.Join(many, "&"))
	wantCode(t, err, "TooManyTags")
}

func tagString(tags []elbv2api.Tag) string {
	var s []string
	for _, t := range tags {
		s = append(s, t.Key+"="+elbv2api.Value(t.Value))
	}
	return strings.Join(s, ",")
}

// TestConcurrentTags adds tags from many goroutines: every one lands.
func TestConcurrentTags(t *testing.T) {
	e := newTestELB(t)
	tg := *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=tg&Protocol=HTTP&Port=80").TargetGroups[0].TargetGroupArn
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.AddTags(context.Background(), &elbv2api.AddTagsInput{ResourceArns: []string{tg}, Tags: []elbv2api.Tag{{Key: fmt.Sprint("k", i)}}})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	d, err := e.DescribeTags(context.Background(), &elbv2api.DescribeTagsInput{ResourceArns: []string{tg}})
	if err != nil || len(d.TagDescriptions[0].Tags) != 8 {
		t.Errorf("tags = %+v, %v", d, err)
	}
}

func TestUnimplemented(t *testing.T) {
	e := newTestELB(t)
	_, err := call[elbv2api.AddListenerCertificatesOutput](t, e, "AddListenerCertificates", "ListenerArn=x&Certificates.member.1.CertificateArn=y")
	wantCode(t, err, "OperationNotPermitted")
}
