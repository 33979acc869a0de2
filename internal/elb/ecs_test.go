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
	if h, _ := s.TargetHealth(ctx, tgA, "10.0.0.5", 8080); h != "" {
		t.Errorf("a draining target's health = %q, want empty", h)
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
