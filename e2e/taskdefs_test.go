package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func webContainer(name string) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name:         aws.String(name),
		Image:        aws.String("nginx:latest"),
		Memory:       aws.Int32(250),
		Essential:    aws.Bool(true),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(80), Protocol: types.TransportProtocolTcp}},
	}
}

func TestTaskDefinitionLifecycleSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()

	reg := func(family string, mutate func(*ecs.RegisterTaskDefinitionInput)) *types.TaskDefinition {
		t.Helper()
		in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}}
		if mutate != nil {
			mutate(in)
		}
		out, err := c.RegisterTaskDefinition(ctx, in)
		if err != nil {
			t.Fatalf("register %s: %v", family, err)
		}
		return out.TaskDefinition
	}
	td1 := reg("simple-web", func(in *ecs.RegisterTaskDefinitionInput) {
		in.Tags = []types.Tag{{Key: aws.String("app"), Value: aws.String("web")}}
		in.ContainerDefinitions[0].Environment = []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}}
		in.ContainerDefinitions[0].Command = []string{"nginx", "-g", "daemon off;"}
	})
	if aws.ToString(td1.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:123456789012:task-definition/simple-web:1" || td1.Revision != 1 || td1.Status != types.TaskDefinitionStatusActive {
		t.Fatalf("revision 1 = %+v", td1)
	}
	if td1.RegisteredBy == nil || td1.RegisteredAt == nil || len(td1.Compatibilities) == 0 {
		t.Errorf("computed fields missing: registeredBy %v registeredAt %v compatibilities %v", td1.RegisteredBy, td1.RegisteredAt, td1.Compatibilities)
	}
	cd := td1.ContainerDefinitions[0]
	if aws.ToString(cd.Environment[0].Value) != "prod" || len(cd.Command) != 3 || aws.ToInt32(cd.PortMappings[0].HostPort) != 80 {
		t.Errorf("container not echoed: %+v", cd)
	}
	td2 := reg("simple-web", func(in *ecs.RegisterTaskDefinitionInput) {
		in.ContainerDefinitions[0].PortMappings[0].HostPort = nil // dynamic host port
	})
	if td2.Revision != 2 {
		t.Fatalf("second revision = %d", td2.Revision)
	}
	reg("other", nil)

	// Describe by family (latest ACTIVE), family:revision and ARN.
	for ref, want := range map[string]int32{"simple-web": 2, "simple-web:1": 1, aws.ToString(td1.TaskDefinitionArn): 1} {
		d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
		if err != nil || d.TaskDefinition.Revision != want {
			t.Fatalf("describe %s = %+v, %v; want revision %d", ref, d, err, want)
		}
		if d.Tags != nil {
			t.Errorf("describe %s without include returned tags", ref)
		}
	}
	d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("simple-web:1"), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil || tagMap(d.Tags)["app"] != "web" {
		t.Fatalf("describe with tags = %+v, %v", d, err)
	}
	_, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope")})
	wantCode(t, err, "ClientException")

	// Deregister revision 2: the family's latest ACTIVE becomes 1.
	dr, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("simple-web:2")})
	if err != nil || dr.TaskDefinition.Status != types.TaskDefinitionStatusInactive || dr.TaskDefinition.DeregisteredAt == nil {
		t.Fatalf("deregister = %+v, %v", dr, err)
	}
	d, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("simple-web")})
	if err != nil || d.TaskDefinition.Revision != 1 {
		t.Fatalf("latest active after deregister = %+v, %v", d, err)
	}
	// An INACTIVE revision stays describable by revision.
	d, err = c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("simple-web:2")})
	if err != nil || d.TaskDefinition.Status != types.TaskDefinitionStatusInactive {
		t.Fatalf("describe inactive = %+v, %v", d, err)
	}

	list := func(in *ecs.ListTaskDefinitionsInput) []string {
		t.Helper()
		out, err := c.ListTaskDefinitions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.TaskDefinitionArns
	}
	arn := func(fr string) string { return "arn:aws:ecs:us-east-1:123456789012:task-definition/" + fr }
	if got := list(&ecs.ListTaskDefinitionsInput{}); fmt.Sprint(got) != fmt.Sprint([]string{arn("other:1"), arn("simple-web:1")}) {
		t.Errorf("list ACTIVE = %v", got)
	}
	if got := list(&ecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive}); fmt.Sprint(got) != fmt.Sprint([]string{arn("simple-web:2")}) {
		t.Errorf("list INACTIVE = %v", got)
	}
	if got := list(&ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("other")}); fmt.Sprint(got) != fmt.Sprint([]string{arn("other:1")}) {
		t.Errorf("list family other = %v", got)
	}
	if got := list(&ecs.ListTaskDefinitionsInput{Sort: types.SortOrderDesc}); fmt.Sprint(got) != fmt.Sprint([]string{arn("simple-web:1"), arn("other:1")}) {
		t.Errorf("list DESC = %v", got)
	}
	fams, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("simp")})
	if err != nil || fmt.Sprint(fams.Families) != "[simple-web]" {
		t.Errorf("families = %+v, %v", fams, err)
	}

	// Delete: only INACTIVE revisions; the others are failures.
	del, err := c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"simple-web:2", "simple-web:1", "ghost:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || len(del.Failures) != 2 {
		t.Errorf("delete = %+v", del)
	}

	// Task definition tags through the tags API.
	tdARN := aws.ToString(td1.TaskDefinitionArn)
	if _, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: &tdARN, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: &tdARN})
	if err != nil || len(lt.Tags) != 2 {
		t.Errorf("task definition tags = %+v, %v", lt, err)
	}
}

func TestTaskDefinitionValidationSDK(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	tests := []struct {
		name string
		in   ecs.RegisterTaskDefinitionInput
		code string
	}{
		{"bad family", ecs.RegisterTaskDefinitionInput{Family: aws.String("bad family!"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}}, "ClientException"},
		{"duplicate container", ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web"), webContainer("web")}}, "ClientException"},
		{"fargate needs awsvpc", ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}, Cpu: aws.String("256"), Memory: aws.String("512"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}}, "ClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.RegisterTaskDefinition(ctx, &tt.in)
			if err == nil || (apiErrorCode(err) != "ClientException" && apiErrorCode(err) != "InvalidParameterException") {
				t.Fatalf("err = %v, want a ClientException or InvalidParameterException", err)
			}
		})
	}
	// Nothing half-written: the family does not exist.
	fams, err := c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{Status: types.TaskDefinitionFamilyStatusAll})
	if err != nil || len(fams.Families) != 0 {
		t.Errorf("families after rejected registrations = %+v, %v", fams, err)
	}
}

// TestConcurrentRegistrationRevisions registers one family from many
// clients at once: revisions are 1..N with no gap and no duplicate.
func TestConcurrentRegistrationRevisions(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	const workers, each = 8, 10
	var mu sync.Mutex
	var revs []int
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{Family: aws.String("busy"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				revs = append(revs, int(out.TaskDefinition.Revision))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Ints(revs)
	for i, r := range revs {
		if r != i+1 {
			t.Fatalf("revisions = %v, want 1..%d", revs, workers*each)
		}
	}
}
