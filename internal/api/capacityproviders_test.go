package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

const testASG = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5EXAMPLE:autoScalingGroupName/"

func createTestProvider(t *testing.T, e *ECS, name, group string) *ecsapi.CapacityProvider {
	t.Helper()
	out, err := e.CreateCapacityProvider(context.Background(), &ecsapi.CreateCapacityProviderRequest{
		Name:                     name,
		AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: group},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.CapacityProvider
}

// TestCreateCapacityProviderDefaults: the settings left out get ECS's
// defaults, and the record is the wire shape ECS returns.
func TestCreateCapacityProviderDefaults(t *testing.T) {
	e := newTestECS(t, nil)
	cp := createTestProvider(t, e, "gpu", testASG+"gpu-pool")
	want := `{"capacityProviderArn":"arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu","name":"gpu","status":"ACTIVE",` +
		`"autoScalingGroupProvider":{"autoScalingGroupArn":"` + testASG + `gpu-pool",` +
		`"managedScaling":{"status":"DISABLED","targetCapacity":100,"minimumScalingStepSize":1,"maximumScalingStepSize":10000,"instanceWarmupPeriod":300},` +
		`"managedTerminationProtection":"DISABLED","managedDraining":"ENABLED"},"tags":[],"type":"EC2_AUTOSCALING"}`
	if got := jsonOf(t, cp); got != want {
		t.Errorf("created\n got %s\nwant %s", got, want)
	}
	// Given settings are kept; the missing ones are filled.
	out, err := e.CreateCapacityProvider(context.Background(), &ecsapi.CreateCapacityProviderRequest{
		Name: "web",
		AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{
			AutoScalingGroupArn:          "web-pool",
			ManagedScaling:               &ecsapi.ManagedScaling{Status: ecsapi.Ptr(ecsapi.ManagedScalingStatusENABLED), TargetCapacity: ecsapi.Ptr(int32(90))},
			ManagedTerminationProtection: ecsapi.Ptr(ecsapi.ManagedTerminationProtectionENABLED),
			ManagedDraining:              ecsapi.Ptr(ecsapi.ManagedDrainingDISABLED),
		},
		Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("team"), Value: ecsapi.Ptr("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	asg := out.CapacityProvider.AutoScalingGroupProvider
	if got := jsonOf(t, asg); got != `{"autoScalingGroupArn":"web-pool","managedScaling":{"status":"ENABLED","targetCapacity":90,"minimumScalingStepSize":1,"maximumScalingStepSize":10000,"instanceWarmupPeriod":300},"managedTerminationProtection":"ENABLED","managedDraining":"DISABLED"}` {
		t.Errorf("autoScalingGroupProvider = %s", got)
	}
	if len(out.CapacityProvider.Tags) != 1 {
		t.Errorf("tags = %+v", out.CapacityProvider.Tags)
	}
}

func TestCreateCapacityProviderErrors(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", testASG+"gpu-pool")
	invalidName := `The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with "aws", "ecs", or "fargate". Specify a valid name and try again.`
	for _, name := range []string{"aws-pool", "AWSpool", "ecs1", "EcsCp", "fargate-x", "FARGATE", "FARGATE_SPOT", "has space", "a/b", strings.Repeat("x", 256)} {
		_, err := e.CreateCapacityProvider(ctx, &ecsapi.CreateCapacityProviderRequest{Name: name, AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "p"}})
		wantAPIError(t, err, ecsapi.CodeClientException, invalidName)
	}
	tests := []struct {
		name string
		in   ecsapi.CreateCapacityProviderRequest
		code string
		msg  string
	}{
		{"duplicate name", ecsapi.CreateCapacityProviderRequest{Name: "gpu", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "other"}},
			ecsapi.CodeClientException, "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider."},
		{"group in use, by name", ecsapi.CreateCapacityProviderRequest{Name: "gpu2", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "gpu-pool"}},
			ecsapi.CodeClientException, "The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a unique Auto Scaling group ARN and try again."},
		{"group ARN without a name", ecsapi.CreateCapacityProviderRequest{Name: "x", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:abc"}},
			ecsapi.CodeInvalidParameterException, "The specified Auto Scaling group ARN arn:aws:autoscaling:us-east-1:1:autoScalingGroup:abc is invalid. Specify the ARN or the name of an Auto Scaling group and try again."},
		{"no provider", ecsapi.CreateCapacityProviderRequest{Name: "x"}, ecsapi.CodeInvalidParameterException, errCapacityProviderASG.Message},
		{"managed instances", ecsapi.CreateCapacityProviderRequest{Name: "x", ManagedInstancesProvider: &ecsapi.CreateManagedInstancesProviderConfiguration{}}, ecsapi.CodeClientException, errNoManagedInstances.Message},
		{"reserved tag", ecsapi.CreateCapacityProviderRequest{Name: "x", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProvider{AutoScalingGroupArn: "x"}, Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("aws:x"), Value: ecsapi.Ptr("y")}}},
			ecsapi.CodeInvalidParameterException, `Tag keys beginning with 'aws:' are reserved for AWS use: "aws:x".`},
	}
	for _, tt := range tests {
		_, err := e.CreateCapacityProvider(ctx, &tt.in)
		wantAPIError(t, err, tt.code, tt.msg)
	}
}

func TestDescribeCapacityProvidersPaging(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	for i := range 12 {
		name := fmt.Sprintf("p%02d", i)
		createTestProvider(t, e, name, name)
	}
	var names []string
	var token *string
	pages := 0
	for {
		out, err := e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{NextToken: token, MaxResults: ecsapi.Ptr(int32(5))})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, cp := range out.CapacityProviders {
			names = append(names, ecsapi.Value(cp.Name))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	want := "p00 p01 p02 p03 p04 p05 p06 p07 p08 p09 p10 p11 FARGATE FARGATE_SPOT"
	if strings.Join(names, " ") != want || pages != 3 {
		t.Errorf("%d pages: %v, want %s", pages, names, want)
	}
	// The default page is 10; 11 is too many.
	out, err := e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{})
	if err != nil || len(out.CapacityProviders) != 10 || out.NextToken == nil {
		t.Fatalf("default page = %d providers, token %v, %v", len(out.CapacityProviders), out.NextToken, err)
	}
	_, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{MaxResults: ecsapi.Ptr(int32(11))})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "maxResults must be between 1 and 10.")
	// A page ending on FARGATE continues with FARGATE_SPOT.
	tok := pageToken(capacityProviderKey(providerFargate))
	out, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{NextToken: tok})
	if err != nil || len(out.CapacityProviders) != 1 || ecsapi.Value(out.CapacityProviders[0].Name) != providerFargateSpot {
		t.Fatalf("after FARGATE = %s, %v", jsonOf(t, out), err)
	}
}

func TestDescribeCapacityProvidersByName(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", "gpu")
	arn := "arn:aws:ecs:us-east-1:123456789012:capacity-provider/"
	if _, err := e.TagResource(ctx, &ecsapi.TagResourceRequest{ResourceArn: arn + "gpu", Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("k"), Value: ecsapi.Ptr("v")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{CapacityProviders: []string{arn + "gpu", "FARGATE", "ghost", "arn:aws:ecs:us-east-1:123456789012:cluster/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CapacityProviders) != 2 || len(out.CapacityProviders[0].Tags) != 0 {
		t.Fatalf("described %s", jsonOf(t, out.CapacityProviders))
	}
	if got := jsonOf(t, out.CapacityProviders[1]); got != `{"capacityProviderArn":"`+arn+`FARGATE","name":"FARGATE","status":"ACTIVE","tags":[],"type":"FARGATE"}` {
		t.Errorf("FARGATE = %s", got)
	}
	if got := jsonOf(t, out.Failures); got != `[{"arn":"`+arn+`ghost","reason":"MISSING"},{"arn":"arn:aws:ecs:us-east-1:123456789012:cluster/x","reason":"MISSING"}]` {
		t.Errorf("failures = %s", got)
	}
	out, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{CapacityProviders: []string{"gpu"}, Include: []ecsapi.CapacityProviderField{ecsapi.CapacityProviderFieldTAGS}})
	if err != nil || jsonOf(t, out.CapacityProviders[0].Tags) != `[{"key":"k","value":"v"}]` {
		t.Fatalf("with TAGS = %s, %v", jsonOf(t, out), err)
	}
	// cluster narrows the listing to the cluster's providers.
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("prod"), CapacityProviders: []string{"gpu", "FARGATE_SPOT"}}); err != nil {
		t.Fatal(err)
	}
	createTestProvider(t, e, "other", "other")
	out, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{Cluster: ecsapi.Ptr("prod")})
	if err != nil || len(out.CapacityProviders) != 2 || ecsapi.Value(out.CapacityProviders[0].Name) != "gpu" || ecsapi.Value(out.CapacityProviders[1].Name) != "FARGATE_SPOT" {
		t.Fatalf("cluster listing = %s, %v", jsonOf(t, out), err)
	}
	_, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{Cluster: ecsapi.Ptr("ghost")})
	wantAPIError(t, err, ecsapi.CodeClusterNotFoundException, "Cluster not found.")
}

func TestUpdateCapacityProvider(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", "gpu")
	out, err := e.UpdateCapacityProvider(ctx, &ecsapi.UpdateCapacityProviderRequest{
		Name: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu",
		AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProviderUpdate{
			ManagedScaling:  &ecsapi.ManagedScaling{Status: ecsapi.Ptr(ecsapi.ManagedScalingStatusENABLED), MaximumScalingStepSize: ecsapi.Ptr(int32(30))},
			ManagedDraining: ecsapi.Ptr(ecsapi.ManagedDrainingDISABLED),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ecsapi.Value(out.CapacityProvider.UpdateStatus) != ecsapi.CapacityProviderUpdateStatusUPDATEINPROGRESS {
		t.Errorf("update response status = %s", jsonOf(t, out.CapacityProvider))
	}
	d, err := e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{CapacityProviders: []string{"gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	cp := d.CapacityProviders[0]
	if got := jsonOf(t, cp.AutoScalingGroupProvider); got != `{"autoScalingGroupArn":"gpu","managedScaling":{"status":"ENABLED","targetCapacity":100,"minimumScalingStepSize":1,"maximumScalingStepSize":30,"instanceWarmupPeriod":300},"managedTerminationProtection":"DISABLED","managedDraining":"DISABLED"}` {
		t.Errorf("after update: %s", got)
	}
	if ecsapi.Value(cp.UpdateStatus) != ecsapi.CapacityProviderUpdateStatusUPDATECOMPLETE {
		t.Errorf("described updateStatus = %v", ecsapi.Value(cp.UpdateStatus))
	}
	_, err = e.UpdateCapacityProvider(ctx, &ecsapi.UpdateCapacityProviderRequest{Name: "ghost", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProviderUpdate{}})
	wantAPIError(t, err, ecsapi.CodeClientException, errNoCapacityProvider.Message)
	_, err = e.UpdateCapacityProvider(ctx, &ecsapi.UpdateCapacityProviderRequest{Name: "FARGATE", AutoScalingGroupProvider: &ecsapi.AutoScalingGroupProviderUpdate{}})
	wantAPIError(t, err, ecsapi.CodeClientException, "The FARGATE and FARGATE_SPOT capacity providers are reserved and cannot be updated.")
	_, err = e.UpdateCapacityProvider(ctx, &ecsapi.UpdateCapacityProviderRequest{Name: "gpu"})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, errCapacityProviderASG.Message)
}

func TestDeleteCapacityProvider(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", "gpu")
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("prod"), CapacityProviders: []string{"gpu"}}); err != nil {
		t.Fatal(err)
	}
	// Still associated: the call succeeds, the deletion fails.
	out, err := e.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	cp := out.CapacityProvider
	if ecsapi.Value(cp.Status) != ecsapi.CapacityProviderStatusACTIVE || ecsapi.Value(cp.UpdateStatus) != ecsapi.CapacityProviderUpdateStatusDELETEFAILED ||
		ecsapi.Value(cp.UpdateStatusReason) != "The capacity provider cannot be deleted because it is associated with cluster: prod. Remove the capacity provider from the cluster and try again." {
		t.Fatalf("delete of an associated provider = %s", jsonOf(t, cp))
	}
	if _, err := e.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{Cluster: "prod", CapacityProviders: []string{}, DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}}); err != nil {
		t.Fatal(err)
	}
	out, err = e.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu"})
	if err != nil {
		t.Fatal(err)
	}
	cp = out.CapacityProvider
	if ecsapi.Value(cp.Status) != ecsapi.CapacityProviderStatusACTIVE || ecsapi.Value(cp.UpdateStatus) != ecsapi.CapacityProviderUpdateStatusDELETEINPROGRESS || cp.UpdateStatusReason != nil {
		t.Fatalf("delete response = %s", jsonOf(t, cp))
	}
	d, err := e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{CapacityProviders: []string{"gpu"}})
	if err != nil || ecsapi.Value(d.CapacityProviders[0].Status) != ecsapi.CapacityProviderStatusINACTIVE || ecsapi.Value(d.CapacityProviders[0].UpdateStatus) != ecsapi.CapacityProviderUpdateStatusDELETECOMPLETE {
		t.Fatalf("described after delete = %s, %v", jsonOf(t, d), err)
	}
	d, err = e.DescribeCapacityProviders(ctx, &ecsapi.DescribeCapacityProvidersRequest{})
	if err != nil || len(d.CapacityProviders) != 2 {
		t.Fatalf("listing after delete = %s, %v", jsonOf(t, d), err)
	}
	// Gone for every other purpose; the name can be reused.
	_, err = e.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "gpu"})
	wantAPIError(t, err, ecsapi.CodeClientException, errNoCapacityProvider.Message)
	_, err = e.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{Cluster: "prod", CapacityProviders: []string{"gpu"}, DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The specified capacity provider was not found. Specify a valid capacity provider and try again.")
	_, err = e.TagResource(ctx, &ecsapi.TagResourceRequest{ResourceArn: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/gpu", Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("k"), Value: ecsapi.Ptr("v")}}})
	wantAPIError(t, err, ecsapi.CodeResourceNotFoundException, errNoResource.Message)
	createTestProvider(t, e, "gpu", "gpu")
	_, err = e.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "FARGATE_SPOT"})
	wantAPIError(t, err, ecsapi.CodeClientException, "The FARGATE and FARGATE_SPOT capacity providers are reserved and cannot be deleted. Disassociate them from a cluster with PutClusterCapacityProviders or by deleting the cluster.")
}

// hookStore runs hook once, before the first Txn.
type hookStore struct {
	store.Store
	once sync.Once
	hook func()
}

func (s *hookStore) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	s.once.Do(s.hook)
	return s.Store.Txn(ctx, conds, ops)
}

// TestDeleteCapacityProviderRacesAssociation: a cluster that takes the
// provider between DeleteCapacityProvider's read and its write keeps it.
func TestDeleteCapacityProviderRacesAssociation(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", "gpu")
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("prod")}); err != nil {
		t.Fatal(err)
	}
	inner := e.st
	other := New(inner, Config{Region: "us-east-1", AccountID: "123456789012"})
	e.st = &hookStore{Store: inner, hook: func() {
		if _, err := other.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{Cluster: "prod", CapacityProviders: []string{"gpu"}, DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}}); err != nil {
			t.Error(err)
		}
	}}
	out, err := e.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	if ecsapi.Value(out.CapacityProvider.UpdateStatus) != ecsapi.CapacityProviderUpdateStatusDELETEFAILED {
		t.Fatalf("delete raced by an association = %s", jsonOf(t, out.CapacityProvider))
	}
}

// TestAssociationRacesDeleteCapacityProvider: a provider deleted between
// PutClusterCapacityProviders' validation and its write is not taken.
func TestAssociationRacesDeleteCapacityProvider(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	createTestProvider(t, e, "gpu", "gpu")
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("prod")}); err != nil {
		t.Fatal(err)
	}
	inner := e.st
	other := New(inner, Config{Region: "us-east-1", AccountID: "123456789012"})
	e.st = &hookStore{Store: inner, hook: func() {
		if _, err := other.DeleteCapacityProvider(ctx, &ecsapi.DeleteCapacityProviderRequest{CapacityProvider: "gpu"}); err != nil {
			t.Error(err)
		}
	}}
	_, err := e.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{Cluster: "prod", CapacityProviders: []string{"gpu"}, DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The specified capacity provider was not found. Specify a valid capacity provider and try again.")
	c, _, err := e.activeCluster(ctx, ecsapi.Ptr("prod"), false)
	if err != nil || len(c.CapacityProviders) != 0 {
		t.Fatalf("cluster after the race = %s, %v", jsonOf(t, c), err)
	}
}

func TestCapacityProviderTags(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	arn := createTestProvider(t, e, "gpu", "gpu").CapacityProviderArn
	if _, err := e.TagResource(ctx, &ecsapi.TagResourceRequest{ResourceArn: *arn, Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("a"), Value: ecsapi.Ptr("1")}, {Key: ecsapi.Ptr("b"), Value: ecsapi.Ptr("2")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UntagResource(ctx, &ecsapi.UntagResourceRequest{ResourceArn: *arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := e.ListTagsForResource(ctx, &ecsapi.ListTagsForResourceRequest{ResourceArn: *arn})
	if err != nil || jsonOf(t, lt.Tags) != `[{"key":"b","value":"2"}]` {
		t.Fatalf("tags = %s, %v", jsonOf(t, lt), err)
	}
	_, err = e.ListTagsForResource(ctx, &ecsapi.ListTagsForResourceRequest{ResourceArn: "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE"})
	wantAPIError(t, err, ecsapi.CodeResourceNotFoundException, errNoResource.Message)
}
