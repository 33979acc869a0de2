package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

var (
	sdARN  = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:service-deployment/default/web/[A-Za-z0-9_-]{21}$`)
	revARN = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:service-revision/default/web/[0-9]{19}$`)
)

// TestServiceDeploymentsSDK drives the service deployment and revision API
// with aws-sdk-go-v2. No agent runs: a service of 0 tasks completes its
// deployment at once, one of 1 task stays IN_PROGRESS, and stopping it
// rolls back to the revision that completed.
func TestServiceDeploymentsSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	td1 := registerWebTD(t, c, "web")
	created, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	first := aws.ToString(created.Service.CurrentServiceDeployment)
	if !sdARN.MatchString(first) || len(created.Service.CurrentServiceRevisions) != 1 || !revARN.MatchString(aws.ToString(created.Service.CurrentServiceRevisions[0].Arn)) {
		t.Fatalf("CreateService: current %q %+v", first, created.Service.CurrentServiceRevisions)
	}
	describe := func(arn string) types.ServiceDeployment {
		t.Helper()
		out, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
		if err != nil || len(out.ServiceDeployments) != 1 {
			t.Fatalf("describe %s: %v %+v", arn, err, out)
		}
		return out.ServiceDeployments[0]
	}
	waitFor(t, "the first deployment to succeed", func() bool { return describe(first).Status == types.ServiceDeploymentStatusSuccessful })
	sd := describe(first)
	rev1 := aws.ToString(sd.TargetServiceRevision.Arn)
	if aws.ToString(sd.ServiceArn) != svcARNPrefix+"default/web" || sd.CreatedAt == nil || sd.StartedAt == nil || sd.FinishedAt == nil || sd.UpdatedAt == nil ||
		rev1 != aws.ToString(created.Service.CurrentServiceRevisions[0].Arn) || len(sd.SourceServiceRevisions) != 0 ||
		sd.DeploymentConfiguration == nil || sd.DeploymentCircuitBreaker.Status != types.ServiceDeploymentRollbackMonitorsStatusDisabled || sd.Alarms == nil {
		t.Errorf("service deployment %+v", sd)
	}
	revs, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{rev1, strings.Replace(rev1, "/web/", "/api/", 1)}})
	if err != nil || len(revs.ServiceRevisions) != 1 || len(revs.Failures) != 1 || aws.ToString(revs.Failures[0].Reason) != "MISSING" {
		t.Fatalf("DescribeServiceRevisions: %v %+v", err, revs)
	}
	if r := revs.ServiceRevisions[0]; aws.ToString(r.TaskDefinition) != td1 || r.LaunchType != types.LaunchTypeEc2 || len(r.ContainerImages) != 1 ||
		aws.ToString(r.ContainerImages[0].Image) != "nginx" || r.CreatedAt == nil || aws.ToString(r.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/default" {
		t.Errorf("service revision %+v", r)
	}

	// A deployment that cannot finish (no instance), stopped: rollback.
	td2 := registerWebTD(t, c, "web")
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String(td2), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String("web")})
	if err != nil || len(list.ServiceDeployments) != 2 || list.ServiceDeployments[0].Status != types.ServiceDeploymentStatusInProgress ||
		aws.ToString(list.ServiceDeployments[1].ServiceDeploymentArn) != first || list.NextToken != nil {
		t.Fatalf("ListServiceDeployments: %v %+v", err, list)
	}
	second := aws.ToString(list.ServiceDeployments[0].ServiceDeploymentArn)
	stopped, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(second), StopType: types.StopServiceDeploymentStopTypeRollback})
	if err != nil || aws.ToString(stopped.ServiceDeploymentArn) != second {
		t.Fatalf("StopServiceDeployment: %v %+v", err, stopped)
	}
	if sd = describe(second); sd.Status != types.ServiceDeploymentStatusRollbackInProgress || aws.ToString(sd.Rollback.ServiceRevisionArn) != rev1 || sd.Rollback.StartedAt == nil {
		t.Fatalf("after the stop: %+v", sd)
	}
	svc, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"web"}})
	if err != nil || aws.ToString(svc.Services[0].TaskDefinition) != td1 || aws.ToString(svc.Services[0].Deployments[0].TaskDefinition) != td1 ||
		aws.ToString(svc.Services[0].CurrentServiceDeployment) != second {
		t.Fatalf("service after the stop: %v %+v", err, svc.Services)
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rollback to succeed", func() bool { return describe(second).Status == types.ServiceDeploymentStatusRollbackSuccessful })

	// Errors.
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(second)})
	wantCode(t, err, "ConflictException")
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(second), StopType: types.StopServiceDeploymentStopTypeAbort})
	wantCode(t, err, "InvalidParameterException")
	unknown := "arn:aws:ecs:us-east-1:123456789012:service-deployment/default/web/AAAAAAAAAAAAAAAAAAAAA"
	_, err = c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(unknown)})
	wantCode(t, err, "ServiceDeploymentNotFoundException")
	_, err = c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String("api")})
	wantCode(t, err, "ServiceNotFoundException")
	_, err = c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String("web"), MaxResults: aws.Int32(0)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{"web"}})
	wantCode(t, err, "InvalidParameterException")
	missing, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{unknown, first}})
	if err != nil || len(missing.ServiceDeployments) != 1 || len(missing.Failures) != 1 || aws.ToString(missing.Failures[0].Arn) != unknown {
		t.Fatalf("describe with an unknown ARN: %v %+v", err, missing)
	}
	filtered, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Service: aws.String("web"), Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusSuccessful},
		CreatedAt: &types.CreatedAt{Before: sd.CreatedAt}})
	if err != nil || len(filtered.ServiceDeployments) != 1 || aws.ToString(filtered.ServiceDeployments[0].ServiceDeploymentArn) != first {
		t.Fatalf("filtered: %v %+v", err, filtered)
	}
}

// TestServiceDeploymentsCLI: the AWS CLI v1's list-service-deployments,
// describe-service-deployments and describe-service-revisions, with a
// status filter and paging by hand (the CLI does not paginate this call).
func TestServiceDeploymentsCLI(t *testing.T) {
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	s := startServer(t, t.TempDir())
	run := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: output is not JSON: %q", args, out)
		}
		return m
	}
	td := `[{"name":"app","image":"nginx","memory":32}]`
	run("ecs", "register-task-definition", "--family", "web", "--container-definitions", td)
	run("ecs", "create-service", "--service-name", "web", "--task-definition", "web", "--desired-count", "0")
	var first map[string]any
	waitFor(t, "the first deployment to succeed", func() bool {
		list := run("ecs", "list-service-deployments", "--service", "web")["serviceDeployments"].([]any)
		first = list[0].(map[string]any)
		return len(list) == 1 && first["status"] == "SUCCESSFUL"
	})
	run("ecs", "register-task-definition", "--family", "web", "--container-definitions", td)
	run("ecs", "update-service", "--service", "web", "--task-definition", "web", "--desired-count", "1")

	page := run("ecs", "list-service-deployments", "--service", "web", "--cluster", "default", "--max-results", "1")
	items := page["serviceDeployments"].([]any)
	newest := items[0].(map[string]any)
	if len(items) != 1 || newest["status"] != "IN_PROGRESS" || page["nextToken"] == nil || !sdARN.MatchString(newest["serviceDeploymentArn"].(string)) ||
		!revARN.MatchString(newest["targetServiceRevisionArn"].(string)) || newest["createdAt"] == nil || newest["finishedAt"] != nil {
		t.Fatalf("first page: %v", page)
	}
	page = run("ecs", "list-service-deployments", "--service", "web", "--max-results", "1", "--next-token", page["nextToken"].(string))
	if items = page["serviceDeployments"].([]any); len(items) != 1 || items[0].(map[string]any)["serviceDeploymentArn"] != first["serviceDeploymentArn"] || page["nextToken"] != nil {
		t.Fatalf("second page: %v", page)
	}
	if got := run("ecs", "list-service-deployments", "--service", "web", "--status", "SUCCESSFUL", "STOPPED")["serviceDeployments"].([]any); len(got) != 1 {
		t.Errorf("--status SUCCESSFUL STOPPED: %v", got)
	}

	out := run("ecs", "describe-service-deployments", "--service-deployment-arns", newest["serviceDeploymentArn"].(string), first["serviceDeploymentArn"].(string))
	sds := out["serviceDeployments"].([]any)
	if len(sds) != 2 || len(out["failures"].([]any)) != 0 {
		t.Fatalf("describe-service-deployments: %v", out)
	}
	sd := sds[0].(map[string]any)
	sources := sd["sourceServiceRevisions"].([]any)
	target := sd["targetServiceRevision"].(map[string]any)
	if sd["status"] != "IN_PROGRESS" || len(sources) != 1 || sources[0].(map[string]any)["arn"] != first["targetServiceRevisionArn"] ||
		target["arn"] != newest["targetServiceRevisionArn"] || target["requestedTaskCount"] != float64(1) || sd["deploymentConfiguration"] == nil {
		t.Errorf("service deployment: %v", sd)
	}

	out = run("ecs", "describe-service-revisions", "--service-revision-arns", newest["targetServiceRevisionArn"].(string))
	revs := out["serviceRevisions"].([]any)
	if len(revs) != 1 || len(out["failures"].([]any)) != 0 {
		t.Fatalf("describe-service-revisions: %v", out)
	}
	r := revs[0].(map[string]any)
	if r["serviceRevisionArn"] != newest["targetServiceRevisionArn"] || !strings.HasSuffix(r["taskDefinition"].(string), "task-definition/web:2") ||
		r["launchType"] != "EC2" || r["guardDutyEnabled"] != false || len(r["containerImages"].([]any)) != 1 {
		t.Errorf("service revision: %v", r)
	}
}
