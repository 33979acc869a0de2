package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
)

// connectedInstance registers an instance with attrs and marks its agent
// connected, returning its ARN.
func connectedInstance(t *testing.T, e *ECS, attrs ...ecsapi.Attribute) string {
	t.Helper()
	ref := registerTestInstance(t, e, append(attrs, ecsapi.Attribute{Name: "ecs.capability.task-eni"})...)
	if err := e.SetAgentConnected(context.Background(), "default", lastSegment(ref), true); err != nil {
		t.Fatal(err)
	}
	return ref
}

func plainAttr(name, value string) ecsapi.Attribute {
	return ecsapi.Attribute{Name: name, Value: ecsapi.Ptr(value)}
}

func registerFargateTD(t *testing.T, e *ECS, cpu, mem string) string {
	t.Helper()
	out, err := e.RegisterTaskDefinition(context.Background(), &ecsapi.RegisterTaskDefinitionRequest{
		Family:                  "cp",
		NetworkMode:             ecsapi.Ptr(ecsapi.NetworkModeAwsvpc),
		RequiresCompatibilities: []ecsapi.Compatibility{ecsapi.CompatibilityEC2, ecsapi.CompatibilityFARGATE},
		Cpu:                     ecsapi.Ptr(cpu),
		Memory:                  ecsapi.Ptr(mem),
		ContainerDefinitions:    []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("berth-testapp:latest")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
}

// TestRunTaskCapacityProviders: a provider strategy splits a RunTask by
// base and weight, each provider placing on its own pool of agents, and the
// cluster's default strategy applies when the call names neither launch
// type nor strategy.
func TestRunTaskCapacityProviders(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	for _, name := range []string{"blue", "green"} {
		if _, err := e.CreateCapacityProvider(ctx, &ecsapi.CreateCapacityProviderRequest{
			Name:                     name,
			AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0d3c:autoScalingGroupName/" + name + "-pool"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("default"), CapacityProviders: []string{"blue", "green", "FARGATE"}}); err != nil {
		t.Fatal(err)
	}
	blue := connectedInstance(t, e, plainAttr("berth.pool", "blue-pool"))
	green := connectedInstance(t, e, plainAttr("berth.pool", "green-pool"))
	fargate := connectedInstance(t, e, plainAttr("berth.launch-type", "FARGATE"))
	td := registerFargateTD(t, e, "256", "512")
	net := &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}

	// base 1 on blue, then weights 1:3.
	out, err := e.RunTask(ctx, &ecsapi.RunTaskRequest{
		TaskDefinition: td, Count: ecsapi.Ptr(int32(5)), NetworkConfiguration: net,
		CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{
			{CapacityProvider: "blue", Base: 1, Weight: 1},
			{CapacityProvider: "green", Weight: 3},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tk := range out.Tasks {
		inst := ecsapi.Value(tk.ContainerInstanceArn)
		p := ecsapi.Value(tk.CapacityProviderName)
		if (p == "blue") != (inst == blue) || (p == "green") != (inst == green) || ecsapi.Value(tk.LaunchType) != ecsapi.LaunchTypeEC2 {
			t.Errorf("task on %s has provider %q launch type %s", inst, p, ecsapi.Value(tk.LaunchType))
		}
		got[p]++
	}
	if got["blue"] != 2 || got["green"] != 3 || len(out.Failures) != 0 {
		t.Errorf("split = %v, failures %s; want blue 2 (base 1 + 1 of 4 by weight 1:3), green 3", got, mustJSON(out.Failures))
	}

	// Default strategy: FARGATE only.
	if _, err := e.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{
		Cluster: "default", CapacityProviders: []string{"blue", "green", "FARGATE"},
		DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE", Weight: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	out, err = e.RunTask(ctx, &ecsapi.RunTaskRequest{TaskDefinition: td, Count: ecsapi.Ptr(int32(2)), NetworkConfiguration: net})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range out.Tasks {
		if ecsapi.Value(tk.ContainerInstanceArn) != fargate || ecsapi.Value(tk.CapacityProviderName) != "FARGATE" || ecsapi.Value(tk.LaunchType) != ecsapi.LaunchTypeFARGATE || ecsapi.Value(tk.PlatformVersion) != "1.4.0" {
			t.Errorf("default strategy task: %s on %s", ecsapi.Value(tk.CapacityProviderName), ecsapi.Value(tk.ContainerInstanceArn))
		}
	}
	if len(out.Tasks) != 2 {
		t.Errorf("default strategy placed %d tasks, failures %v", len(out.Tasks), out.Failures)
	}
	// An explicit launch type wins over the default strategy.
	out, err = e.RunTask(ctx, &ecsapi.RunTaskRequest{TaskDefinition: td, LaunchType: ecsapi.Ptr(ecsapi.LaunchTypeEC2), NetworkConfiguration: net})
	if err != nil || len(out.Tasks) != 1 || ecsapi.Value(out.Tasks[0].ContainerInstanceArn) == fargate || out.Tasks[0].CapacityProviderName != nil {
		t.Errorf("launchType EC2 with a default strategy: %v %+v", err, out)
	}

	errCases := []struct {
		name string
		in   ecsapi.RunTaskRequest
		code string
	}{
		{"both", ecsapi.RunTaskRequest{LaunchType: ecsapi.Ptr(ecsapi.LaunchTypeEC2), CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "blue", Weight: 1}}}, ecsapi.CodeInvalidParameterException},
		{"not associated", ecsapi.RunTaskRequest{CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE_SPOT", Weight: 1}}}, ecsapi.CodeInvalidParameterException},
		{"mixed", ecsapi.RunTaskRequest{CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE", Weight: 1}, {CapacityProvider: "blue", Weight: 1}}}, ecsapi.CodeInvalidParameterException},
		{"two bases", ecsapi.RunTaskRequest{CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "green", Base: 1, Weight: 1}, {CapacityProvider: "blue", Base: 1, Weight: 1}}}, ecsapi.CodeInvalidParameterException},
	}
	for _, c := range errCases {
		in := c.in
		in.TaskDefinition = td
		in.NetworkConfiguration = net
		var ae *awsjson.Error
		if _, err := e.RunTask(ctx, &in); !errors.As(err, &ae) || ae.Code != c.code {
			t.Errorf("%s: err = %v, want %s", c.name, err, c.code)
		}
	}
	// Fargate validates the task size, overrides included.
	_, err = e.RunTask(ctx, &ecsapi.RunTaskRequest{TaskDefinition: td, LaunchType: ecsapi.Ptr(ecsapi.LaunchTypeFARGATE), NetworkConfiguration: net, Overrides: &ecsapi.TaskOverride{Memory: ecsapi.Ptr("4096")}})
	var ae *awsjson.Error
	if !errors.As(err, &ae) || ae.Code != ecsapi.CodeClientException || !strings.Contains(ae.Message, "No Fargate configuration exists for given values") {
		t.Errorf("Fargate 256/4096: err = %v", err)
	}
}
