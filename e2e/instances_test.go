package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const ciARNPrefix = "arn:aws:ecs:us-east-1:123456789012:container-instance/"

var ciARNRE = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:container-instance/default/[0-9a-f]{32}$`)

// ciAgentResources is what the ECS agent sends as totalResources.
func ciAgentResources(memory int32) []types.Resource {
	return []types.Resource{
		{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
		{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: memory},
		{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22", "2375", "2376", "51678", "51679"}},
		{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
	}
}

func ciIdentityDoc(instanceID, az string) string {
	return fmt.Sprintf(`{"accountId":"123456789012","architecture":"x86_64","availabilityZone":%q,"imageId":"ami-0abcdef1234567890","instanceId":%q,"instanceType":"t3.medium","pendingTime":"2024-05-01T10:00:00Z","privateIp":"10.0.1.15","region":"us-east-1","version":"2017-09-30"}`, az, instanceID)
}

func ciRegisterInput(instanceID, az, rack string) *ecs.RegisterContainerInstanceInput {
	return &ecs.RegisterContainerInstanceInput{
		InstanceIdentityDocument:          aws.String(ciIdentityDoc(instanceID, az)),
		InstanceIdentityDocumentSignature: aws.String("sig"),
		TotalResources:                    ciAgentResources(3950),
		VersionInfo:                       &types.VersionInfo{AgentVersion: aws.String("1.82.0"), AgentHash: aws.String("abc1234"), DockerVersion: aws.String("DockerVersion: 25.0.3")},
		Attributes: []types.Attribute{
			{Name: aws.String("ecs.os-type"), Value: aws.String("linux")},
			{Name: aws.String("com.amazonaws.ecs.capability.docker-remote-api.1.17")},
			{Name: aws.String("rack"), Value: aws.String(rack)},
		},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
	}
}

func ciAttrMap(attrs []types.Attribute) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		m[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	return m
}

func ciList(t *testing.T, c *ecs.Client, in *ecs.ListContainerInstancesInput) []string {
	t.Helper()
	out, err := c.ListContainerInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.ContainerInstanceArns
}

func ciWantMessage(t *testing.T, err error, code, fragment string) {
	t.Helper()
	wantCode(t, err, code)
	if !strings.Contains(err.Error(), fragment) {
		t.Fatalf("error %q does not say %q", err, fragment)
	}
}

func TestContainerInstanceLifecycleSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)

	// Registration creates the default cluster on first use.
	regA, err := c.RegisterContainerInstance(ctx, ciRegisterInput("i-0a1b2c3d4e5f60001", "us-east-1a", "r1"))
	if err != nil {
		t.Fatal(err)
	}
	a := regA.ContainerInstance
	arnA := aws.ToString(a.ContainerInstanceArn)
	if !ciARNRE.MatchString(arnA) {
		t.Fatalf("containerInstanceArn = %q", arnA)
	}
	if aws.ToString(a.Ec2InstanceId) != "i-0a1b2c3d4e5f60001" || aws.ToString(a.Status) != "ACTIVE" || a.AgentConnected || a.RunningTasksCount != 0 || a.PendingTasksCount != 0 || a.Version != 1 || a.CapacityProviderName != nil {
		t.Errorf("registered instance = %+v", a)
	}
	if a.RegisteredAt == nil || a.RegisteredAt.Before(before) || a.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Errorf("registeredAt = %v", a.RegisteredAt)
	}
	if !ciResourcesEqual(a.RegisteredResources, ciAgentResources(3950)) || !ciResourcesEqual(a.RemainingResources, ciAgentResources(3950)) {
		t.Errorf("resources: registered %s remaining %s", ciJSON(a.RegisteredResources), ciJSON(a.RemainingResources))
	}
	if v := a.VersionInfo; v == nil || aws.ToString(v.AgentVersion) != "1.82.0" || aws.ToString(v.AgentHash) != "abc1234" || aws.ToString(v.DockerVersion) != "DockerVersion: 25.0.3" {
		t.Errorf("versionInfo = %+v", v)
	}
	wantAttrs := map[string]string{
		"ecs.os-type": "linux", "com.amazonaws.ecs.capability.docker-remote-api.1.17": "", "rack": "r1",
		"ecs.availability-zone": "us-east-1a", "ecs.instance-type": "t3.medium", "ecs.ami-id": "ami-0abcdef1234567890", "ecs.cpu-architecture": "x86_64",
	}
	if got := ciAttrMap(a.Attributes); !reflect.DeepEqual(got, wantAttrs) || len(a.Attributes) != len(wantAttrs) {
		t.Errorf("attributes = %v, want %v", got, wantAttrs)
	}
	if !reflect.DeepEqual(tagMap(a.Tags), map[string]string{"team": "infra"}) {
		t.Errorf("tags = %v", tagMap(a.Tags))
	}
	d, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{})
	if err != nil || len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "ACTIVE" {
		t.Fatalf("default cluster after registration = %+v, %v", d, err)
	}

	regB, err := c.RegisterContainerInstance(ctx, ciRegisterInput("i-0a1b2c3d4e5f60002", "us-east-1b", "r2"))
	if err != nil {
		t.Fatal(err)
	}
	arnB := aws.ToString(regB.ContainerInstance.ContainerInstanceArn)
	// Without an identity document: a generated EC2 id, no zone.
	regC, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String("default"), TotalResources: ciAgentResources(1024)})
	if err != nil {
		t.Fatal(err)
	}
	ci := regC.ContainerInstance
	arnC := aws.ToString(ci.ContainerInstanceArn)
	if !regexp.MustCompile(`^i-[0-9a-f]{17}$`).MatchString(aws.ToString(ci.Ec2InstanceId)) || len(ci.Attributes) != 0 {
		t.Errorf("instance without IID: ec2InstanceId %q attributes %v", aws.ToString(ci.Ec2InstanceId), ciAttrMap(ci.Attributes))
	}
	all := []string{arnA, arnB, arnC}
	slices.Sort(all)
	if len(slices.Compact(slices.Clone(all))) != 3 {
		t.Fatalf("ARNs not distinct: %v", all)
	}

	// Describe: tags only on request; unknown ones are MISSING.
	idB := arnB[strings.LastIndexByte(arnB, '/')+1:]
	ghostARN := ciARNPrefix + "default/0123456789abcdef0123456789abcdef"
	desc, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arnA, idB, "ffffffffffffffffffffffffffffffff", ghostARN}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.ContainerInstances) != 2 || aws.ToString(desc.ContainerInstances[0].ContainerInstanceArn) != arnA || aws.ToString(desc.ContainerInstances[1].ContainerInstanceArn) != arnB {
		t.Fatalf("describe = %s", ciJSON(desc.ContainerInstances))
	}
	if desc.ContainerInstances[0].Tags != nil || desc.ContainerInstances[0].HealthStatus != nil {
		t.Errorf("describe without include returned tags %v health %+v", desc.ContainerInstances[0].Tags, desc.ContainerInstances[0].HealthStatus)
	}
	wantFailures := []string{"MISSING " + ciARNPrefix + "default/ffffffffffffffffffffffffffffffff", "MISSING " + ghostARN}
	var gotFailures []string
	for _, f := range desc.Failures {
		gotFailures = append(gotFailures, aws.ToString(f.Reason)+" "+aws.ToString(f.Arn))
	}
	if !reflect.DeepEqual(gotFailures, wantFailures) {
		t.Errorf("failures = %v, want %v", gotFailures, wantFailures)
	}
	desc, err = c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("default"), ContainerInstances: []string{arnA}, Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags, types.ContainerInstanceFieldContainerInstanceHealth}})
	if err != nil {
		t.Fatal(err)
	}
	got := desc.ContainerInstances[0]
	if !reflect.DeepEqual(tagMap(got.Tags), map[string]string{"team": "infra"}) {
		t.Errorf("describe TAGS = %v", tagMap(got.Tags))
	}
	if h := got.HealthStatus; h == nil || h.OverallStatus != types.InstanceHealthCheckStateInsufficientData || len(h.Details) != 1 || h.Details[0].Type != types.InstanceHealthCheckTypeContainerRuntime || h.Details[0].Status != types.InstanceHealthCheckStateInsufficientData {
		t.Errorf("healthStatus = %s", ciJSON(got.HealthStatus))
	}
	_, err = c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("ghost"), ContainerInstances: []string{arnA}})
	wantCode(t, err, "ClusterNotFoundException")

	// List: id order; pages of one.
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{}); !reflect.DeepEqual(l, all) {
		t.Errorf("list = %v, want %v", l, all)
	}
	var paged []string
	pages := 0
	p := ecs.NewListContainerInstancesPaginator(c, &ecs.ListContainerInstancesInput{Cluster: aws.String("default"), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.ContainerInstanceArns) != 1 {
			t.Fatalf("page %d has %d ARNs", pages, len(out.ContainerInstanceArns))
		}
		paged = append(paged, out.ContainerInstanceArns...)
	}
	if pages != 3 || !reflect.DeepEqual(paged, all) {
		t.Errorf("paged list = %v in %d pages, want %v in 3", paged, pages, all)
	}
	// --filter takes the cluster query language.
	for filter, want := range map[string][]string{
		"attribute:rack == r2": {arnB},
		"attribute:rack in [r1, r2] and ec2InstanceId != i-0a1b2c3d4e5f60002": {arnA},
		"not(attribute:rack exists)":                                          {arnC},
		"attribute:ecs.availability-zone =~ us-east-1.*":                      {arnA, arnB},
		"attribute:rack == r3":                                                {},
	} {
		got, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Filter: aws.String(filter)})
		if err != nil {
			t.Fatalf("filter %q: %v", filter, err)
		}
		slices.Sort(want)
		if !slices.Equal(got.ContainerInstanceArns, want) && !(len(want) == 0 && len(got.ContainerInstanceArns) == 0) {
			t.Errorf("filter %q = %v, want %v", filter, got.ContainerInstanceArns, want)
		}
	}
	_, err = c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Filter: aws.String("attribute:rack == (r1")})
	ciWantMessage(t, err, "InvalidParameterException", "filter")

	// Re-registration by the same agent updates the record in place.
	re := ciRegisterInput("i-0a1b2c3d4e5f60001", "us-east-1a", "")
	re.Attributes = re.Attributes[:2] // the agent resends only its standard attributes
	re.TotalResources = ciAgentResources(3900)
	re.ContainerInstanceArn = aws.String(arnA)
	rr, err := c.RegisterContainerInstance(ctx, re)
	if err != nil {
		t.Fatal(err)
	}
	r := rr.ContainerInstance
	if aws.ToString(r.ContainerInstanceArn) != arnA || r.Version != 2 || !r.RegisteredAt.Equal(*a.RegisteredAt) || !reflect.DeepEqual(ciAttrMap(r.Attributes), wantAttrs) {
		t.Errorf("re-registered = arn %s version %d registeredAt %v attributes %v", aws.ToString(r.ContainerInstanceArn), r.Version, r.RegisteredAt, ciAttrMap(r.Attributes))
	}
	if !ciResourcesEqual(r.RegisteredResources, ciAgentResources(3900)) || !ciResourcesEqual(r.RemainingResources, ciAgentResources(3900)) {
		t.Errorf("re-registered resources: %s / %s", ciJSON(r.RegisteredResources), ciJSON(r.RemainingResources))
	}
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{}); len(l) != 3 {
		t.Errorf("re-registration created an instance: %v", l)
	}
	other := ciRegisterInput("i-0a1b2c3d4e5f60001", "us-east-1a", "")
	other.InstanceIdentityDocument = aws.String(strings.Replace(ciIdentityDoc("i-0a1b2c3d4e5f60001", "us-east-1a"), "t3.medium", "m5.large", 1))
	other.Attributes = other.Attributes[:2]
	other.ContainerInstanceArn = aws.String(arnA)
	_, err = c.RegisterContainerInstance(ctx, other)
	ciWantMessage(t, err, "ClientException", "Container instance type changes are not supported.")

	// Draining and back.
	up, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{ContainerInstances: []string{arnA, "ffffffffffffffffffffffffffffffff"}, Status: types.ContainerInstanceStatusDraining})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.ContainerInstances) != 1 || aws.ToString(up.ContainerInstances[0].Status) != "DRAINING" || up.ContainerInstances[0].Version != 3 || len(up.Failures) != 1 || aws.ToString(up.Failures[0].Reason) != "MISSING" {
		t.Fatalf("update to DRAINING = %s", ciJSON(up))
	}
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{Status: types.ContainerInstanceStatusDraining}); !reflect.DeepEqual(l, []string{arnA}) {
		t.Errorf("list DRAINING = %v", l)
	}
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{Status: types.ContainerInstanceStatusActive}); len(l) != 2 || slices.Contains(l, arnA) {
		t.Errorf("list ACTIVE = %v", l)
	}
	up, err = c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{ContainerInstances: []string{ciID(arnA)}, Status: types.ContainerInstanceStatusActive})
	if err != nil || aws.ToString(up.ContainerInstances[0].Status) != "ACTIVE" || up.ContainerInstances[0].Version != 4 {
		t.Fatalf("update to ACTIVE = %s, %v", ciJSON(up), err)
	}
	_, err = c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{ContainerInstances: []string{arnA}, Status: types.ContainerInstanceStatusRegistering})
	ciWantMessage(t, err, "InvalidParameterException", "ACTIVE or DRAINING")

	// Deregister: INACTIVE, still describable, no longer listed.
	dr, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(arnB)})
	if err != nil || aws.ToString(dr.ContainerInstance.Status) != "INACTIVE" || dr.ContainerInstance.AgentConnected || dr.ContainerInstance.Version != 2 {
		t.Fatalf("deregister = %s, %v", ciJSON(dr), err)
	}
	desc, err = c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arnB}})
	if err != nil || len(desc.ContainerInstances) != 1 || aws.ToString(desc.ContainerInstances[0].Status) != "INACTIVE" {
		t.Fatalf("describe deregistered = %s, %v", ciJSON(desc), err)
	}
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{}); slices.Contains(l, arnB) || len(l) != 2 {
		t.Errorf("list after deregister = %v", l)
	}
	up, err = c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{ContainerInstances: []string{arnB}, Status: types.ContainerInstanceStatusDraining})
	if err != nil || len(up.ContainerInstances) != 0 || len(up.Failures) != 1 || aws.ToString(up.Failures[0].Reason) != "INACTIVE" || aws.ToString(up.Failures[0].Arn) != arnB {
		t.Errorf("update INACTIVE = %s, %v", ciJSON(up), err)
	}
	_, err = c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String("ffffffffffffffffffffffffffffffff")})
	ciWantMessage(t, err, "InvalidParameterException", "not found")

	// Bad input: InvalidParameterException, nothing stored.
	bad := ciRegisterInput("i-0a1b2c3d4e5f60009", "us-east-1a", "r9")
	bad.Attributes = append(bad.Attributes, types.Attribute{Name: aws.String("bad name!"), Value: aws.String("x")})
	_, err = c.RegisterContainerInstance(ctx, bad)
	ciWantMessage(t, err, "InvalidParameterException", `Attribute name "bad name!" is invalid`)
	bad = ciRegisterInput("i-0a1b2c3d4e5f60009", "us-east-1a", "r9")
	bad.TotalResources[0].IntegerValue = -1
	_, err = c.RegisterContainerInstance(ctx, bad)
	ciWantMessage(t, err, "InvalidParameterException", "The resource CPU has a negative value")
	bad = ciRegisterInput("i-0a1b2c3d4e5f60009", "us-east-1a", "r9")
	bad.TotalResources[1].Type = aws.String("LONG")
	_, err = c.RegisterContainerInstance(ctx, bad)
	ciWantMessage(t, err, "InvalidParameterException", "The resource MEMORY must have type INTEGER, not LONG.")
	if l := ciList(t, c, &ecs.ListContainerInstancesInput{}); len(l) != 2 {
		t.Errorf("a rejected registration was stored: %v", l)
	}

	// Agent updates are refused with a pointer to the berth binary.
	_, err = c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{ContainerInstance: aws.String(arnA)})
	ciWantMessage(t, err, "ClientException", "Update the berth binary")
	_, err = c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{ContainerInstance: aws.String("ffffffffffffffffffffffffffffffff")})
	wantCode(t, err, "InvalidParameterException")

	// Tags of a container instance.
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arnA), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arnA), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arnA)})
	if err != nil || !reflect.DeepEqual(tagMap(lt.Tags), map[string]string{"env": "prod"}) {
		t.Fatalf("tags after tag/untag = %v, %v", lt, err)
	}
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(ghostARN)})
	wantCode(t, err, "ResourceNotFoundException")

	// The cluster can be deleted once every instance is deregistered.
	_, err = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")})
	wantCode(t, err, "ClusterContainsContainerInstancesException")
	for _, ref := range []string{arnA, arnC} {
		if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(ref), Force: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")}); err != nil {
		t.Fatalf("DeleteCluster with only INACTIVE instances: %v", err)
	}
}

// TestContainerInstanceCLI lists and describes container instances with the
// AWS CLI v1 and v2. Each version is a subtest, so one missing locally skips
// only its own run (CI fails on a missing one, as awsCLIs does).
func TestContainerInstanceCLI(t *testing.T) {
	bins := map[string]string{"v1": "aws", "v2": "/usr/bin/aws"}
	for _, version := range []string{"v1", "v2"} {
		t.Run(version, func(t *testing.T) {
			bin, err := exec.LookPath(bins[version])
			if err != nil || !strings.HasPrefix(cliVersion(bin), "aws-cli/"+version[1:]+".") {
				requireTool(t, "AWS CLI "+version)
			}
			s := startServer(t, "")
			ctx := context.Background()
			reg, err := s.ecs(t).RegisterContainerInstance(ctx, ciRegisterInput("i-0a1b2c3d4e5f60001", "us-east-1c", "r1"))
			if err != nil {
				t.Fatal(err)
			}
			arnA := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
			out, err := s.runCLI(t, bin, "ecs", "list-container-instances", "--cluster", "default", "--status", "ACTIVE")
			if err != nil {
				t.Fatal(err)
			}
			var list struct {
				ContainerInstanceArns []string `json:"containerInstanceArns"`
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || !reflect.DeepEqual(list.ContainerInstanceArns, []string{arnA}) {
				t.Fatalf("list-container-instances = %q, %v", out, err)
			}
			out, err = s.runCLI(t, bin, "ecs", "describe-container-instances", "--container-instances", ciID(arnA), "ghost", "--include", "TAGS")
			if err != nil {
				t.Fatal(err)
			}
			var desc struct {
				ContainerInstances []struct {
					ContainerInstanceArn string            `json:"containerInstanceArn"`
					Ec2InstanceID        string            `json:"ec2InstanceId"`
					Status               string            `json:"status"`
					Version              int               `json:"version"`
					AgentConnected       bool              `json:"agentConnected"`
					RegisteredResources  []json.RawMessage `json:"registeredResources"`
					Tags                 []types.Tag       `json:"tags"`
				} `json:"containerInstances"`
				Failures []struct{ Arn, Reason string } `json:"failures"`
			}
			if err := json.Unmarshal([]byte(out), &desc); err != nil {
				t.Fatalf("describe-container-instances output %q: %v", out, err)
			}
			if len(desc.ContainerInstances) != 1 || len(desc.Failures) != 1 {
				t.Fatalf("describe-container-instances = %s", out)
			}
			got := desc.ContainerInstances[0]
			if got.ContainerInstanceArn != arnA || got.Ec2InstanceID != "i-0a1b2c3d4e5f60001" || got.Status != "ACTIVE" || got.Version != 1 || got.AgentConnected || len(got.RegisteredResources) != 4 || !reflect.DeepEqual(tagMap(got.Tags), map[string]string{"team": "infra"}) {
				t.Errorf("describe-container-instances instance = %+v", got)
			}
			if f := desc.Failures[0]; f.Reason != "MISSING" || f.Arn != ciARNPrefix+"default/ghost" {
				t.Errorf("describe-container-instances failure = %+v", f)
			}
		})
	}
}

func ciID(a string) string { return a[strings.LastIndexByte(a, '/')+1:] }

// ciResourcesEqual compares resources by their wire values.
func ciResourcesEqual(got, want []types.Resource) bool { return ciJSON(got) == ciJSON(want) }

func ciJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
