package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// apiErrorCode returns the AWS error code of err, or "" if it has none.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %s", err, got, code)
	}
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func TestClusterLifecycleSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()

	created, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName:       aws.String("prod"),
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{
			{CapacityProvider: aws.String("FARGATE"), Weight: 1, Base: 1},
			{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 4},
		},
		Settings:      []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingDefault}},
		Tags:          []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := created.Cluster
	if got, want := aws.ToString(cl.ClusterArn), "arn:aws:ecs:us-east-1:123456789012:cluster/prod"; got != want {
		t.Errorf("clusterArn = %s, want %s", got, want)
	}
	if aws.ToString(cl.Status) != "ACTIVE" || len(cl.CapacityProviders) != 2 || len(cl.DefaultCapacityProviderStrategy) != 2 {
		t.Errorf("created cluster = %+v", cl)
	}
	if cl.DefaultCapacityProviderStrategy[0].Base != 1 || cl.DefaultCapacityProviderStrategy[1].Weight != 4 {
		t.Errorf("strategy not echoed: %+v", cl.DefaultCapacityProviderStrategy)
	}
	if cl.Configuration == nil || cl.Configuration.ExecuteCommandConfiguration.Logging != types.ExecuteCommandLoggingDefault {
		t.Errorf("configuration not echoed: %+v", cl.Configuration)
	}
	if tagMap(cl.Tags)["team"] != "web" {
		t.Errorf("tags not echoed: %+v", cl.Tags)
	}

	// CreateCluster on an existing ACTIVE cluster returns it unchanged.
	again, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	if err != nil || tagMap(again.Cluster.Tags)["team"] != "web" {
		t.Fatalf("re-create = %+v, %v", again, err)
	}

	// Describe without include leaves tags, settings and configuration out.
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 1 || len(d.Failures) != 1 {
		t.Fatalf("describe = %+v", d)
	}
	if len(d.Clusters[0].Tags) != 0 || d.Clusters[0].Settings != nil || d.Clusters[0].Configuration != nil {
		t.Errorf("describe without include returned extras: %+v", d.Clusters[0])
	}
	if aws.ToString(d.Failures[0].Reason) != "MISSING" || aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:cluster/nope" {
		t.Errorf("failure = %+v", d.Failures[0])
	}
	d, err = c.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"arn:aws:ecs:us-east-1:123456789012:cluster/prod"},
		Include:  []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldConfigurations, types.ClusterFieldStatistics},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Clusters[0]
	if tagMap(got.Tags)["team"] != "web" || len(got.Settings) != 1 || got.Configuration == nil || len(got.Statistics) == 0 {
		t.Errorf("describe with include = %+v", got)
	}

	// Update, settings, capacity providers.
	u, err := c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("prod"), Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("disabled")}}})
	if err != nil || aws.ToString(u.Cluster.Settings[0].Value) != "disabled" {
		t.Fatalf("UpdateClusterSettings = %+v, %v", u, err)
	}
	uc, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("prod"), ServiceConnectDefaults: &types.ClusterServiceConnectDefaultsRequest{Namespace: aws.String("internal")}})
	if err != nil || uc.Cluster.ServiceConnectDefaults == nil {
		t.Fatalf("UpdateCluster = %+v, %v", uc, err)
	}
	pc, err := c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("prod"), CapacityProviders: []string{"FARGATE"}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}})
	if err != nil || len(pc.Cluster.CapacityProviders) != 1 {
		t.Fatalf("PutClusterCapacityProviders = %+v, %v", pc, err)
	}
	_, err = c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("prod"), CapacityProviders: []string{"FARGATE"}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.PutClusterCapacityProviders(ctx, &ecs.PutClusterCapacityProvidersInput{Cluster: aws.String("prod"), CapacityProviders: []string{"nope"}, DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{}})
	wantCode(t, err, "InvalidParameterException")

	// Tags API.
	clusterARN := aws.ToString(cl.ClusterArn)
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: &clusterARN, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("api")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: &clusterARN, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: &clusterARN})
	if err != nil || len(lt.Tags) != 1 || tagMap(lt.Tags)["team"] != "api" {
		t.Fatalf("ListTagsForResource = %+v, %v", lt, err)
	}
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: &clusterARN, Tags: []types.Tag{{Key: aws.String("aws:reserved"), Value: aws.String("x")}}})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/ghost")})
	wantCode(t, err, "ResourceNotFoundException")

	// Delete: INACTIVE, still describable, no longer listed.
	del, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	if err != nil || aws.ToString(del.Cluster.Status) != "INACTIVE" {
		t.Fatalf("DeleteCluster = %+v, %v", del, err)
	}
	d, err = c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}})
	if err != nil || len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "INACTIVE" {
		t.Fatalf("describe deleted = %+v, %v", d, err)
	}
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{Cluster: aws.String("prod"), Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}})
	wantCode(t, err, "ClusterNotFoundException")
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("ghost")})
	wantCode(t, err, "ClusterNotFoundException")
}

func TestListClustersPagination(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 23; i++ {
		name := fmt.Sprintf("c%02d", i)
		if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		want["arn:aws:ecs:us-east-1:123456789012:cluster/"+name] = true
	}
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("c05")}); err != nil {
		t.Fatal(err)
	}
	delete(want, "arn:aws:ecs:us-east-1:123456789012:cluster/c05")
	got := map[string]bool{}
	pages := 0
	p := ecs.NewListClustersPaginator(c, &ecs.ListClustersInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.ClusterArns {
			if got[a] {
				t.Errorf("%s listed twice", a)
			}
			got[a] = true
		}
	}
	if len(got) != len(want) || pages != 5 {
		t.Errorf("listed %d clusters in %d pages, want %d in 5", len(got), pages, len(want))
	}
	for a := range want {
		if !got[a] {
			t.Errorf("%s not listed", a)
		}
	}
	_, err := c.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("garbage!")})
	wantCode(t, err, "InvalidParameterException")
}

func TestDefaultClusterCreatedOnFirstUse(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	// Describing does not create it; CreateCluster without a name does.
	if len(d.Failures) != 1 {
		t.Fatalf("describe default before use = %+v", d)
	}
	out, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{})
	if err != nil || aws.ToString(out.Cluster.ClusterName) != "default" {
		t.Fatalf("CreateCluster() = %+v, %v", out, err)
	}
	b, _ := json.Marshal(out.Cluster.Settings)
	if string(b) == "null" {
		t.Errorf("default cluster has no settings")
	}
}
