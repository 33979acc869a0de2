package elb

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/elbv2api"
)

// TestServiceTargets: the ECS integration registers, reads the health of
// and deregisters one target at a time; deregistered targets drain.
func TestServiceTargets(t *testing.T) {
	e, clk := newClockELB(t)
	ctx := context.Background()
	lb, tgA, tgB := fixture(t, e)
	must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=80&"+forwardTo(tgA))
	must[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+q(tgA)+"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=30")
	s := e.ServiceTargets()

	if tt, err := s.TargetType(ctx, tgA); err != nil || tt != "ip" {
		t.Errorf("TargetType(a) = %q, %v; want ip", tt, err)
	}
	if tt, err := s.TargetType(ctx, tgB); err != nil || tt != "instance" {
		t.Errorf("TargetType(b) = %q, %v; want instance", tt, err)
	}
	if tt, err := s.TargetType(ctx, tgA+"0"); err != nil || tt != "" {
		t.Errorf("TargetType(unknown) = %q, %v; want empty", tt, err)
	}

	if h, err := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); err != nil || h != "" {
		t.Errorf("health before registration = %q, %v", h, err)
	}
	for range 2 { // idempotent
		if err := s.RegisterTarget(ctx, tgA, "10.0.0.5", 8080); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); err != nil || h != "initial" {
		t.Errorf("health after registration = %q, %v; want initial", h, err)
	}
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5", Port: 8080}, "healthy", "", ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "healthy" {
		t.Errorf("health = %q, want healthy", h)
	}
	info, err := e.TargetGroup(ctx, tgA)
	if err != nil || len(info.Targets) != 1 || !info.Targets[0].Routable() {
		t.Fatalf("targets %+v, %v", info.Targets, err)
	}

	if err := s.DeregisterTarget(ctx, tgA, "10.0.0.5", 8080); err != nil {
		t.Fatal(err)
	}
	info, _ = e.TargetGroup(ctx, tgA)
	if len(info.Targets) != 1 || !info.Targets[0].Draining() || info.Targets[0].DrainUntil.Sub(info.Targets[0].DeregisteredAt) != 30*time.Second {
		t.Fatalf("after deregistration: %+v", info.Targets)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "draining" {
		t.Errorf("a draining target's health = %q, want draining", h)
	}
	clk.Add(31 * time.Second)
	if info, _ = e.TargetGroup(ctx, tgA); len(info.Targets) != 0 {
		t.Errorf("drained target still listed: %+v", info.Targets)
	}

	if err := s.RegisterTarget(ctx, tgA+"0", "10.0.0.5", 80); err != ErrTargetGroupNotFound {
		t.Errorf("register in an unknown group: %v", err)
	}
	if err := s.DeregisterTarget(ctx, tgA+"0", "10.0.0.5", 80); err != nil {
		t.Errorf("deregister from an unknown group: %v", err)
	}
	if err := s.DeregisterTarget(ctx, tgB, "i-0123456789abcdef0", 80); err != nil {
		t.Errorf("deregister an unregistered target: %v", err)
	}
}

// TestServiceTargetsDeregistrationDelay: the controller reads how long a
// target group's targets drain at most.
func TestServiceTargetsDeregistrationDelay(t *testing.T) {
	e, _ := newClockELB(t)
	ctx := context.Background()
	_, tgA, tgB := fixture(t, e)
	must[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+q(tgA)+"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=7")
	s := e.ServiceTargets()
	for _, tc := range []struct {
		tg   string
		want time.Duration
	}{{tgA, 7 * time.Second}, {tgB, 300 * time.Second}, {tgA + "0", 0}} {
		if d, err := s.DeregistrationDelay(ctx, tc.tg); err != nil || d != tc.want {
			t.Errorf("DeregistrationDelay(%s) = %v, %v; want %v", tc.tg, d, err, tc.want)
		}
	}
	if h, err := s.TargetHealth(ctx, tgA+"0", "10.0.0.5", 80); err != nil || h != "" {
		t.Errorf("TargetHealth in an unknown group = %q, %v; want empty", h, err)
	}
}

// TestDeregistrationCompletesEarly: the data plane's unused report for a
// draining target (nothing in flight any more) completes its
// deregistration before the delay, as ELB does: the target is no longer
// listed, and reads as unused (Target.NotRegistered) when named.
func TestDeregistrationCompletesEarly(t *testing.T) {
	e, clk := newClockELB(t)
	ctx := context.Background()
	lb, tgA, _ := fixture(t, e)
	must[elbv2api.CreateListenerOutput](t, e, "CreateListener", "LoadBalancerArn="+q(lb)+"&Protocol=HTTP&Port=80&"+forwardTo(tgA))
	must[elbv2api.ModifyTargetGroupAttributesOutput](t, e, "ModifyTargetGroupAttributes", "TargetGroupArn="+q(tgA)+"&Attributes.member.1.Key=deregistration_delay.timeout_seconds&Attributes.member.1.Value=60")
	s := e.ServiceTargets()
	for _, ip := range []string{"10.0.0.5", "10.0.0.6"} {
		if err := s.RegisterTarget(ctx, tgA, ip, 8080); err != nil {
			t.Fatal(err)
		}
		if err := e.SetTargetHealth(ctx, tgA, Target{ID: ip, Port: 8080}, "healthy", "", ""); err != nil {
			t.Fatal(err)
		}
	}

	// A stale unused report for a registered target changes nothing.
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.6", Port: 8080}, "unused", "Target.NotRegistered", ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.6", 8080); h != "healthy" {
		t.Errorf("a registered target after an unused report = %q, want healthy", h)
	}

	if err := s.DeregisterTarget(ctx, tgA, "10.0.0.5", 8080); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second)
	// Other reports for a draining target are ignored.
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5", Port: 8080}, "draining", "Target.DeregistrationInProgress", ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "draining" {
		t.Fatalf("deregistered target = %q, want draining", h)
	}
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5", Port: 8080}, "unused", "Target.NotRegistered", ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "" {
		t.Errorf("target after its deregistration completed = %q, want empty", h)
	}
	hs := healthOf(t, e, tgA, "")
	if len(hs) != 1 || hs[0].Target.Id != "10.0.0.6" {
		t.Errorf("DescribeTargetHealth lists %+v, want only 10.0.0.6", hs)
	}
	hs = healthOf(t, e, tgA, "&Targets.member.1.Id=10.0.0.5&Targets.member.1.Port=8080")
	if len(hs) != 1 {
		t.Fatalf("named = %+v", hs)
	}
	wantHealth(t, hs[0], "10.0.0.5", 8080, "unused", "Target.NotRegistered", "Target is not registered to the target group")
	// A repeated report finds nothing to complete: not an error.
	if err := e.SetTargetHealth(ctx, tgA, Target{ID: "10.0.0.5", Port: 8080}, "unused", "Target.NotRegistered", ""); err != nil {
		t.Errorf("repeated unused report: %v", err)
	}
	// Registering it again starts afresh.
	if err := s.RegisterTarget(ctx, tgA, "10.0.0.5", 8080); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "initial" {
		t.Errorf("registered again = %q, want initial", h)
	}
}
