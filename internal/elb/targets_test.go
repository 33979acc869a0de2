package elb

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

// clock is a test clock that tests move.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClockELB(t *testing.T) (*ELB, *clock) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "berth.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: time.Unix(1_700_000_000, 0).UTC()}
	return New(st, Config{Region: "us-east-1", AccountID: "123456789012", Now: c.Now}), c
}

func healthOf(t *testing.T, e *ELB, tg, filter string) []elbv2api.TargetHealthDescription {
	t.Helper()
	return must[elbv2api.DescribeTargetHealthOutput](t, e, "DescribeTargetHealth", "TargetGroupArn="+q(tg)+filter).TargetHealthDescriptions
}

func wantHealth(t *testing.T, d elbv2api.TargetHealthDescription, id string, port int32, state, reason, desc string) {
	t.Helper()
	h := d.TargetHealth
	if d.Target.Id != id || elbv2api.Value(d.Target.Port) != port || string(elbv2api.Value(h.State)) != state || string(elbv2api.Value(h.Reason)) != reason || elbv2api.Value(h.Description) != desc {
		t.Errorf("health = %s:%d %s %s %q, want %s:%d %s %s %q", d.Target.Id, elbv2api.Value(d.Target.Port), elbv2api.Value(h.State), elbv2api.Value(h.Reason), elbv2api.Value(h.Description), id, port, state, reason, desc)
	}
}

func TestTargets(t *testing.T) {
	e, clk := newClockELB(t)
	ctx := context.Background()
	lb, tgA, tgB := fixture(t, e)

	// Not in use: registered targets are unused.
	must[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tgA)+"&Targets.member.1.Id=10.0.0.5&Targets.member.2.Id=10.0.0.6&Targets.member.2.Port=81")
	hs := healthOf(t, e, tgA, "")
	if len(hs) != 2 {
		t.Fatalf("health = %+v", hs)
	}
	wantHealth(t, hs[0], "10.0.0.5", 80, "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
	if elbv2api.Value(hs[1].HealthCheckPort) != "81" {
		t.Errorf("health check port = %v", elbv2api.Value(hs[1].HealthCheckPort))
	}

	// In use: initial, then what the health checker reports.
	must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=80&"+forwardTo(tgA))
	hs = healthOf(t, e, tgA, "")
	wantHealth(t, hs[0], "10.0.0.5", 80, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5"}, "healthy", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.6", Port: 81}, "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [502]"); err != nil {
		t.Fatal(err)
	}
	hs = healthOf(t, e, tgA, "")
	wantHealth(t, hs[0], "10.0.0.5", 80, "healthy", "", "")
	wantHealth(t, hs[1], "10.0.0.6", 81, "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [502]")
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.9"}, "healthy", "", ""); !errors.Is(err, ErrTargetNotRegistered) {
		t.Errorf("unregistered SetTargetHealth = %v", err)
	}
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5"}, "fine", "", ""); !errors.Is(err, ErrInvalidHealth) {
		t.Errorf("bad state = %v", err)
	}
	if err := e.SetTargetHealth(ctx, tgA+"0", Target{ID: "10.0.0.5"}, "healthy", "", ""); !errors.Is(err, ErrTargetGroupNotFound) {
		t.Errorf("bad tg = %v", err)
	}

	// Filter: an unregistered target is unused/NotRegistered.
	hs = healthOf(t, e, tgA, "&Targets.member.1.Id=10.0.0.5&Targets.member.2.Id=10.0.0.7&Targets.member.2.Port=90")
	if len(hs) != 2 {
		t.Fatalf("filtered = %+v", hs)
	}
	wantHealth(t, hs[1], "10.0.0.7", 90, "unused", "Target.NotRegistered", "Target is not registered to the target group")

	// Deregister: draining for the delay, then gone.
	must[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+q(tgA)+"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=30")
	clk.Add(time.Second)
	must[elbv2api.DeregisterTargetsOutput](t, e, "DeregisterTargets", "TargetGroupArn="+q(tgA)+"&Targets.member.1.Id=10.0.0.5&Targets.member.2.Id=10.0.0.99")
	hs = healthOf(t, e, tgA, "")
	wantHealth(t, hs[0], "10.0.0.5", 80, "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
	info, err := e.TargetGroup(ctx, tgA)
	if err != nil || len(info.Targets) != 2 {
		t.Fatalf("info = %+v, %v", info, err)
	}
	d := info.Targets[0]
	if !d.Draining() || d.Routable() || !d.DrainUntil.Equal(clk.Now().Add(30*time.Second)) || !d.RegisteredAt.Equal(clk.Now().Add(-time.Second)) || info.Targets[1].Routable() {
		t.Errorf("draining target = %+v", d)
	}
	clk.Add(29 * time.Second)
	if hs = healthOf(t, e, tgA, ""); len(hs) != 2 {
		t.Errorf("still draining = %+v", hs)
	}
	clk.Add(time.Second)
	if hs = healthOf(t, e, tgA, ""); len(hs) != 1 || hs[0].Target.Id != "10.0.0.6" {
		t.Errorf("after delay = %+v", hs)
	}
	// Registering again.
	must[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tgA)+"&Targets.member.1.Id=10.0.0.5")
	hs = healthOf(t, e, tgA, "&Targets.member.1.Id=10.0.0.5")
	wantHealth(t, hs[0], "10.0.0.5", 80, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")

	// Invalid targets.
	for _, tc := range []struct{ tg, form, code string }{
		{tgA, "&Targets.member.1.Id=i-0123456789abcdef0", "InvalidTarget"},
		{tgA, "&Targets.member.1.Id=10.0.0", "InvalidTarget"},
		{tgA, "&Targets.member.1.Id=10.0.0.1&Targets.member.1.Port=70000", "ValidationError"},
		{tgB, "&Targets.member.1.Id=10.0.0.1", "InvalidTarget"},
		{tgB + "0", "&Targets.member.1.Id=i-1", "TargetGroupNotFound"},
	} {
		_, err := call[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tc.tg)+tc.form)
		wantCode(t, err, tc.code)
	}
	_, err = call[elbv2api.DescribeTargetHealthOutput](t, e, "DescribeTargetHealth", "TargetGroupArn="+q(tgB)+"&Targets.member.1.Id=nope")
	wantCode(t, err, "InvalidTarget")

	// Instance targets; a target group nobody uses drops deregistered
	// targets at once.
	must[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tgB)+"&Targets.member.1.Id=i-0123456789abcdef0")
	wantHealth(t, healthOf(t, e, tgB, "")[0], "i-0123456789abcdef0", 8080, "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer")
	must[elbv2api.DeregisterTargetsOutput](t, e, "DeregisterTargets", "TargetGroupArn="+q(tgB)+"&Targets.member.1.Id=i-0123456789abcdef0")
	if hs := healthOf(t, e, tgB, ""); len(hs) != 0 {
		t.Errorf("unused deregistered = %+v", hs)
	}

	// SetTargets registers the missing and drains the rest.
	if err := e.SetTargets(ctx, tgA, []Target{{ID: "10.0.0.6", Port: 81}, {ID: "10.0.0.8"}}); err != nil {
		t.Fatal(err)
	}
	info, _ = e.TargetGroup(ctx, tgA)
	states := map[string]string{}
	for _, th := range info.Targets {
		states[th.ID] = th.State
	}
	if len(states) != 3 || states["10.0.0.5"] != "draining" || states["10.0.0.6"] != "unhealthy" || states["10.0.0.8"] != "initial" {
		t.Errorf("after SetTargets = %v", states)
	}
}

func TestInstanceExists(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "berth.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(st, Config{Region: "us-east-1", AccountID: "123456789012", InstanceExists: func(_ context.Context, id string) (bool, error) { return id == "i-abc", nil }})
	tg := *must[elbv2api.CreateTargetGroupOutput](t, e, "CreateTargetGroup", "Name=b&Protocol=HTTP&Port=8080").TargetGroups[0].TargetGroupArn
	must[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tg)+"&Targets.member.1.Id=i-abc")
	_, err = call[elbv2api.RegisterTargetsOutput](t, e, "RegisterTargets", "TargetGroupArn="+q(tg)+"&Targets.member.1.Id=i-def")
	wantCode(t, err, "InvalidTarget")
}
