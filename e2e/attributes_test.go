package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const ciTarget = types.TargetTypeContainerInstance

// attrsRegister registers two container instances of the default cluster
// and returns their ARNs.
func attrsRegister(t *testing.T, c *ecs.Client) (string, string) {
	t.Helper()
	var arns []string
	for i, rack := range []string{"r1", "r2"} {
		reg, err := c.RegisterContainerInstance(context.Background(), ciRegisterInput(fmt.Sprintf("i-0a1b2c3d4e5f6000%d", i+1), "us-east-1a", rack))
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, aws.ToString(reg.ContainerInstance.ContainerInstanceArn))
	}
	return arns[0], arns[1]
}

// attrsList lists every page of ListAttributes with in and returns the
// entries as "targetId name=value".
func attrsList(t *testing.T, c *ecs.Client, in *ecs.ListAttributesInput) []string {
	t.Helper()
	in.TargetType = ciTarget
	var out []string
	p := ecs.NewListAttributesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if in.MaxResults != nil && len(page.Attributes) > int(*in.MaxResults) {
			t.Fatalf("page of %d attributes with maxResults %d", len(page.Attributes), *in.MaxResults)
		}
		for _, a := range page.Attributes {
			if a.TargetType != ciTarget {
				t.Fatalf("listed attribute %+v has targetType %q", a, a.TargetType)
			}
			out = append(out, aws.ToString(a.TargetId)+" "+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
		}
	}
	return out
}

func attrsOf(t *testing.T, c *ecs.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe %s: %v, %v", arn, out, err)
	}
	return ciAttrMap(out.ContainerInstances[0].Attributes)
}

// TestAttributesRoundTrip puts, lists, describes and deletes attributes
// with aws-sdk-go-v2.
func TestAttributesRoundTrip(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	a, b := attrsRegister(t, c)

	// By full ARN without targetType, and by ID with it; the response echoes
	// the request.
	put := []types.Attribute{
		{Name: aws.String("stack"), Value: aws.String("prod"), TargetId: aws.String(a)},
		{Name: aws.String("stack"), Value: aws.String("dev"), TargetId: aws.String(ciID(b)), TargetType: ciTarget},
		{Name: aws.String("gpu"), TargetId: aws.String(b), TargetType: ciTarget},
	}
	out, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("default"), Attributes: put})
	if err != nil {
		t.Fatal(err)
	}
	if ciJSON(out.Attributes) != ciJSON(put) {
		t.Errorf("PutAttributes response = %s, want %s", ciJSON(out.Attributes), ciJSON(put))
	}
	// The attributes are on the instances, next to the registered ones.
	if got := attrsOf(t, c, a); got["stack"] != "prod" || got["rack"] != "r1" || got["ecs.os-type"] != "linux" {
		t.Errorf("instance A attributes = %v", got)
	}
	if got := attrsOf(t, c, b); got["stack"] != "dev" || !hasKey(got, "gpu") {
		t.Errorf("instance B attributes = %v", got)
	}
	// A put replaces a value.
	if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Attributes: []types.Attribute{{Name: aws.String("stack"), Value: aws.String("staging"), TargetId: aws.String(a)}}}); err != nil {
		t.Fatal(err)
	}

	first, second := min(a, b), max(a, b)
	stack := map[string]string{a: a + " stack=staging", b: b + " stack=dev"}
	if got, want := attrsList(t, c, &ecs.ListAttributesInput{AttributeName: aws.String("stack")}), []string{stack[first], stack[second]}; !reflect.DeepEqual(got, want) {
		t.Errorf("list stack = %q, want %q", got, want)
	}
	if got, want := attrsList(t, c, &ecs.ListAttributesInput{Cluster: aws.String("default"), AttributeName: aws.String("stack"), AttributeValue: aws.String("dev")}), []string{b + " stack=dev"}; !reflect.DeepEqual(got, want) {
		t.Errorf("list stack=dev = %q, want %q", got, want)
	}
	if got := attrsList(t, c, &ecs.ListAttributesInput{AttributeName: aws.String("nothing")}); len(got) != 0 {
		t.Errorf("list of an unknown name = %q", got)
	}

	// Paging: every attribute of both instances, one per page and in one
	// page, the same list in the same order.
	var want []string
	for _, arn := range []string{first, second} {
		attrs := attrsOf(t, c, arn)
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			want = append(want, arn+" "+n+"="+attrs[n])
		}
	}
	if got := attrsList(t, c, &ecs.ListAttributesInput{MaxResults: aws.Int32(1)}); !reflect.DeepEqual(got, want) {
		t.Errorf("paged list =\n%q\nwant\n%q", got, want)
	}
	if got := attrsList(t, c, &ecs.ListAttributesInput{MaxResults: aws.Int32(100)}); !reflect.DeepEqual(got, want) {
		t.Errorf("one-page list = %q, want %q", got, want)
	}
	page, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{TargetType: ciTarget, MaxResults: aws.Int32(3)})
	if err != nil || len(page.Attributes) != 3 || page.NextToken == nil {
		t.Fatalf("first page of 3 = %+v, %v", page, err)
	}

	// Delete echoes the request, removes by name, and ignores names the
	// instance lacks.
	del := []types.Attribute{
		{Name: aws.String("stack"), TargetId: aws.String(a)},
		{Name: aws.String("never-set"), TargetId: aws.String(ciID(a)), TargetType: ciTarget},
	}
	dout, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Attributes: del})
	if err != nil {
		t.Fatal(err)
	}
	if ciJSON(dout.Attributes) != ciJSON(del) {
		t.Errorf("DeleteAttributes response = %s, want %s", ciJSON(dout.Attributes), ciJSON(del))
	}
	if got := attrsOf(t, c, a); hasKey(got, "stack") || got["rack"] != "r1" {
		t.Errorf("instance A attributes after delete = %v", got)
	}
	if got, want := attrsList(t, c, &ecs.ListAttributesInput{AttributeName: aws.String("stack")}), []string{b + " stack=dev"}; !reflect.DeepEqual(got, want) {
		t.Errorf("list stack after delete = %q, want %q", got, want)
	}
	if _, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Attributes: del}); err != nil {
		t.Errorf("deleting again: %v", err)
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// TestAttributesErrors checks every error case's type, and that a failed
// call changes nothing.
func TestAttributesErrors(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	a, b := attrsRegister(t, c)
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	attr := func(name, target string) types.Attribute {
		return types.Attribute{Name: aws.String(name), Value: aws.String("v"), TargetId: aws.String(target), TargetType: ciTarget}
	}
	putErr := func(cluster string, attrs ...types.Attribute) error {
		in := &ecs.PutAttributesInput{Attributes: attrs}
		if cluster != "" {
			in.Cluster = aws.String(cluster)
		}
		_, err := c.PutAttributes(ctx, in)
		return err
	}
	otherARN := ciARNPrefix + "other/" + ciID(a)

	// Unknown targets, in this cluster or named in another.
	ciWantMessage(t, putErr("", attr("x", "0123456789abcdef0123456789abcdef")), "TargetNotFoundException", "0123456789abcdef0123456789abcdef was not found in cluster default")
	ciWantMessage(t, putErr("", attr("x", otherARN)), "TargetNotFoundException", "was not found in cluster default")
	ciWantMessage(t, putErr("other", attr("x", a)), "TargetNotFoundException", "was not found in cluster other")
	// One missing target fails the call: the other target is unchanged.
	wantCode(t, putErr("", attr("half", a), attr("half", "ghost")), "TargetNotFoundException")
	if got := attrsOf(t, c, a); hasKey(got, "half") {
		t.Errorf("failed put wrote to A: %v", got)
	}
	// Request shape.
	ciWantMessage(t, putErr("", types.Attribute{Name: aws.String("x"), TargetId: aws.String(ciID(a))}), "InvalidParameterException", "targetType is required")
	ciWantMessage(t, putErr("", types.Attribute{Name: aws.String("x")}), "InvalidParameterException", "has no targetId")
	ciWantMessage(t, putErr("", attr("x", a), types.Attribute{Name: aws.String("x"), TargetId: aws.String(a), TargetType: "task"}), "InvalidParameterException", "targetType")
	ciWantMessage(t, putErr("", attr("bad name!", a)), "InvalidParameterException", "is invalid")
	bad := attr("x", a)
	bad.Value = aws.String(" padded")
	ciWantMessage(t, putErr("", bad), "InvalidParameterException", "cannot start or end with a space")
	var eleven []types.Attribute
	for i := range 11 {
		eleven = append(eleven, attr(fmt.Sprintf("n%d", i), a))
	}
	ciWantMessage(t, putErr("", eleven...), "InvalidParameterException", "at most 10 items")
	wantCode(t, putErr("nope", attr("x", a)), "ClusterNotFoundException")

	// Custom attribute limit: A has "rack"; ten more make eleven. Nothing
	// is written, on A or on B in the same call.
	ciWantMessage(t, putErr("", eleven[:10]...), "AttributeLimitExceededException", "up to 10 custom attributes")
	limit := append(slices.Clone(eleven[:9]), attr("n9", b))
	if err := putErr("", limit...); err != nil {
		t.Fatalf("nine on A and one on B: %v", err)
	}
	wantCode(t, putErr("", attr("onb", b), attr("n10", a)), "AttributeLimitExceededException")
	if got := attrsOf(t, c, b); hasKey(got, "onb") {
		t.Errorf("over-limit put wrote to B: %v", got)
	}
	// ECS's own attributes do not count against the limit.
	if err := putErr("", attr("ecs.custom-ok", a)); err != nil {
		t.Errorf("ecs.* attribute at the limit: %v", err)
	}

	// DeleteAttributes.
	delErr := func(cluster string, attrs ...types.Attribute) error {
		in := &ecs.DeleteAttributesInput{Attributes: attrs}
		if cluster != "" {
			in.Cluster = aws.String(cluster)
		}
		_, err := c.DeleteAttributes(ctx, in)
		return err
	}
	wantCode(t, delErr("", types.Attribute{Name: aws.String("rack"), TargetId: aws.String("ghost"), TargetType: ciTarget}), "TargetNotFoundException")
	wantCode(t, delErr("", types.Attribute{Name: aws.String("rack"), TargetId: aws.String(a)}, types.Attribute{Name: aws.String("rack"), TargetId: aws.String(otherARN)}), "TargetNotFoundException")
	if got := attrsOf(t, c, a); got["rack"] != "r1" {
		t.Errorf("failed delete removed from A: %v", got)
	}
	wantCode(t, delErr("", types.Attribute{Name: aws.String("rack"), TargetId: aws.String(ciID(a))}), "InvalidParameterException")
	wantCode(t, delErr("", eleven...), "InvalidParameterException")
	wantCode(t, delErr("nope", types.Attribute{Name: aws.String("rack"), TargetId: aws.String(a)}), "ClusterNotFoundException")
	// A deregistered instance is no longer a target.
	if _, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{ContainerInstance: aws.String(b), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, putErr("", attr("late", b)), "TargetNotFoundException")
	wantCode(t, delErr("", types.Attribute{Name: aws.String("rack"), TargetId: aws.String(b)}), "TargetNotFoundException")

	// ListAttributes.
	listErr := func(in *ecs.ListAttributesInput) error {
		in.TargetType = ciTarget
		_, err := c.ListAttributes(ctx, in)
		return err
	}
	ciWantMessage(t, listErr(&ecs.ListAttributesInput{AttributeValue: aws.String("r1")}), "InvalidParameterException", "attributeValue can only be specified together with attributeName")
	wantCode(t, listErr(&ecs.ListAttributesInput{NextToken: aws.String("garbage")}), "InvalidParameterException")
	wantCode(t, listErr(&ecs.ListAttributesInput{MaxResults: aws.Int32(101)}), "InvalidParameterException")
	wantCode(t, listErr(&ecs.ListAttributesInput{Cluster: aws.String("nope")}), "ClusterNotFoundException")
	_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{TargetType: "task"})
	wantCode(t, err, "InvalidParameterException")
	// The deregistered instance's attributes are not listed.
	if got := attrsList(t, c, &ecs.ListAttributesInput{AttributeName: aws.String("rack")}); !reflect.DeepEqual(got, []string{a + " rack=r1"}) {
		t.Errorf("list rack after deregistering B = %q", got)
	}
}

// TestAttributesCLI sets an attribute with the AWS CLI v1 and reads it back
// with the SDK and the CLI.
func TestAttributesCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil || !strings.HasPrefix(cliVersion(bin), "aws-cli/1.") {
		requireTool(t, "AWS CLI v1")
	}
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	a, _ := attrsRegister(t, c)
	out, err := s.runCLI(t, bin, "ecs", "put-attributes", "--cluster", "default", "--attributes", "name=stack,value=production,targetId="+a)
	if err != nil {
		t.Fatal(err)
	}
	var put struct {
		Attributes []map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(out), &put); err != nil || !reflect.DeepEqual(put.Attributes, []map[string]string{{"name": "stack", "value": "production", "targetId": a}}) {
		t.Fatalf("put-attributes = %q, %v", out, err)
	}
	if got := attrsOf(t, c, a); got["stack"] != "production" {
		t.Errorf("attributes after the CLI put = %v", got)
	}
	out, err = s.runCLI(t, bin, "ecs", "list-attributes", "--target-type", "container-instance", "--attribute-name", "stack", "--page-size", "1")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Attributes []map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || !reflect.DeepEqual(list.Attributes, []map[string]string{{"name": "stack", "value": "production", "targetId": a, "targetType": "container-instance"}}) {
		t.Fatalf("list-attributes = %q, %v", out, err)
	}
	if _, err := s.runCLI(t, bin, "ecs", "put-attributes", "--attributes", "name=stack,value=x,targetId=ghost,targetType=container-instance"); err == nil || !strings.Contains(err.Error(), "TargetNotFoundException") {
		t.Errorf("put-attributes on an unknown target: %v", err)
	}
}
