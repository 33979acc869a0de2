package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const cpASG = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5EXAMPLE:autoScalingGroupName/gpu-pool"

func TestCapacityProviderLifecycleSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()

	created, err := c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{
		Name: aws.String("gpu"),
		AutoScalingGroupProvider: &types.AutoScalingGroupProvider{
			AutoScalingGroupArn: aws.String(cpASG),
			ManagedScaling:      &types.ManagedScaling{Status: types.ManagedScalingStatusEnabled, TargetCapacity: aws.Int32(90)},
		},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cp := created.CapacityProvider
	arn := "arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu"
	if aws.ToString(cp.CapacityProviderArn) != arn || aws.ToString(cp.Name) != "gpu" || cp.Status != types.CapacityProviderStatusActive || tagMap(cp.Tags)["team"] != "ml" {
		t.Fatalf("created = %+v", cp)
	}
	asg := cp.AutoScalingGroupProvider
	ms := asg.ManagedScaling
	if aws.ToString(asg.AutoScalingGroupArn) != cpASG || ms.Status != types.ManagedScalingStatusEnabled || aws.ToInt32(ms.TargetCapacity) != 90 ||
		aws.ToInt32(ms.MinimumScalingStepSize) != 1 || aws.ToInt32(ms.MaximumScalingStepSize) != 10000 || aws.ToInt32(ms.InstanceWarmupPeriod) != 300 ||
		asg.ManagedTerminationProtection != types.ManagedTerminationProtectionDisabled || asg.ManagedDraining != types.ManagedDrainingEnabled {
		t.Errorf("autoScalingGroupProvider = %+v, managedScaling %+v", asg, ms)
	}

	// ECS's errors.
	_, err = c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("gpu"), AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String("other")}})
	wantCode(t, err, "ClientException")
	_, err = c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String("gpu2"), AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String("gpu-pool")}})
	wantCode(t, err, "ClientException")
	for _, name := range []string{"aws-x", "Ecs-x", "fargate2"} {
		_, err = c.CreateCapacityProvider(ctx, &ecs.CreateCapacityProviderInput{Name: aws.String(name), AutoScalingGroupProvider: &types.AutoScalingGroupProvider{AutoScalingGroupArn: aws.String(name)}})
		wantCode(t, err, "ClientException")
		if !strings.Contains(err.Error(), `The name cannot be prefixed with "aws", "ecs", or "fargate".`) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Describe all: the created provider and the two Fargate ones, paged.
	var names []string
	var token *string
	for {
		out, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out.CapacityProviders {
			names = append(names, aws.ToString(p.Name))
			if len(p.Tags) != 0 {
				t.Errorf("tags without include: %+v", p.Tags)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if strings.Join(names, " ") != "gpu FARGATE FARGATE_SPOT" {
		t.Errorf("described %v", names)
	}
	d, err := c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{arn, "FARGATE_SPOT", "ghost"}, Include: []types.CapacityProviderField{types.CapacityProviderFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.CapacityProviders) != 2 || tagMap(d.CapacityProviders[0].Tags)["team"] != "ml" || aws.ToString(d.CapacityProviders[1].CapacityProviderArn) != "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE_SPOT" {
		t.Errorf("describe by name = %+v", d.CapacityProviders)
	}
	if len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" || aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:capacity-provider/ghost" {
		t.Errorf("failures = %+v", d.Failures)
	}

	// Update: in progress in the response, complete when described.
	u, err := c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("gpu"), AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{
		ManagedScaling:               &types.ManagedScaling{Status: types.ManagedScalingStatusDisabled, TargetCapacity: aws.Int32(50), MinimumScalingStepSize: aws.Int32(2), MaximumScalingStepSize: aws.Int32(30), InstanceWarmupPeriod: aws.Int32(200)},
		ManagedTerminationProtection: types.ManagedTerminationProtectionDisabled,
		ManagedDraining:              types.ManagedDrainingDisabled,
	}})
	if err != nil || u.CapacityProvider.UpdateStatus != types.CapacityProviderUpdateStatusUpdateInProgress {
		t.Fatalf("UpdateCapacityProvider = %+v, %v", u, err)
	}
	d, err = c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	got := d.CapacityProviders[0]
	if got.UpdateStatus != types.CapacityProviderUpdateStatusUpdateComplete || aws.ToInt32(got.AutoScalingGroupProvider.ManagedScaling.TargetCapacity) != 50 ||
		aws.ToInt32(got.AutoScalingGroupProvider.ManagedScaling.InstanceWarmupPeriod) != 200 || got.AutoScalingGroupProvider.ManagedDraining != types.ManagedDrainingDisabled {
		t.Errorf("after update = %+v", got)
	}

	// Tags.
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(lt.Tags) != 2 || tagMap(lt.Tags)["env"] != "prod" {
		t.Fatalf("ListTagsForResource = %+v, %v", lt, err)
	}

	// A provider a cluster uses is not deleted: DELETE_FAILED, naming it.
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName:       aws.String("ml"),
		CapacityProviders: []string{"gpu", "FARGATE"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("gpu"), Base: 1, Weight: 1}, {CapacityProvider: aws.String("FARGATE"), Weight: 4},
		},
	}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("gpu")})
	if err != nil {
		t.Fatal(err)
	}
	if del.CapacityProvider.Status != types.CapacityProviderStatusActive || del.CapacityProvider.UpdateStatus != types.CapacityProviderUpdateStatusDeleteFailed ||
		!strings.Contains(aws.ToString(del.CapacityProvider.UpdateStatusReason), "associated with cluster: ml") {
		t.Fatalf("delete of an associated provider = %+v", del.CapacityProvider)
	}
	d, err = c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{Cluster: aws.String("ml")})
	if err != nil || len(d.CapacityProviders) != 2 {
		t.Fatalf("describe for cluster ml = %+v, %v", d, err)
	}
	_, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String("FARGATE")})
	wantCode(t, err, "ClientException")

	// Disassociated, it is deleted: INACTIVE, still describable by name.
	if _, err := c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("ml"), CapacityProviders: []string{"FARGATE"}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	del, err = c.DeleteCapacityProvider(ctx, &ecs.DeleteCapacityProviderInput{CapacityProvider: aws.String(arn)})
	if err != nil || del.CapacityProvider.UpdateStatus != types.CapacityProviderUpdateStatusDeleteInProgress {
		t.Fatalf("DeleteCapacityProvider = %+v, %v", del, err)
	}
	d, err = c.DescribeCapacityProviders(ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"gpu"}})
	if err != nil || len(d.CapacityProviders) != 1 || d.CapacityProviders[0].Status != types.CapacityProviderStatusInactive || d.CapacityProviders[0].UpdateStatus != types.CapacityProviderUpdateStatusDeleteComplete {
		t.Fatalf("describe deleted = %+v, %v", d, err)
	}
	_, err = c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("ml"), CapacityProviders: []string{"gpu"}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{}})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.UpdateCapacityProvider(ctx, &ecs.UpdateCapacityProviderInput{Name: aws.String("gpu"), AutoScalingGroupProvider: &types.AutoScalingGroupProviderUpdate{ManagedDraining: types.ManagedDrainingEnabled}})
	wantCode(t, err, "ClientException")
}

// TestCapacityProviderAgentAttributes: agents register the attributes that
// map them to capacity providers.
func TestCapacityProviderAgentAttributes(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("pools")}); err != nil {
		t.Fatal(err)
	}
	pooled := startAgent(t, s, "pools", "--pool", "gpu-pool", "--launch-type", "FARGATE")
	plain := startAgent(t, s, "pools")
	want := map[string]map[string]string{
		pooled.InstanceID: {"berth.pool": "gpu-pool", "berth.launch-type": "FARGATE"},
		plain.InstanceID:  {"berth.launch-type": "EC2"},
	}
	for id, attrs := range want {
		ci := findInstance(t, c, "pools", id)
		if ci == nil {
			t.Fatalf("instance %s not found", id)
		}
		got := map[string]string{}
		for _, a := range ci.Attributes {
			// berth.host-address is the agent's host, the same for all.
			if name := aws.ToString(a.Name); strings.HasPrefix(name, "berth.") && name != "berth.host-address" {
				got[name] = aws.ToString(a.Value)
			}
		}
		if len(got) != len(attrs) {
			t.Errorf("%s: berth attributes %v, want %v", id, got, attrs)
		}
		for k, v := range attrs {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", id, k, got[k], v)
			}
		}
	}
}
