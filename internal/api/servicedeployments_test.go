package api

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
)

var (
	sdARNRE  = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:service-deployment/default/web/[A-Za-z0-9_-]{21}$`)
	revARNRE = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:service-revision/default/web/[1-9][0-9]{18}$`)
)

// sdSettle plays the agent and the clock until the service's deployments
// settle: pending tasks run, stopping ones stop, 40 s pass.
func (w *ctlWorld) sdSettle() {
	w.t.Helper()
	for range 4 {
		w.reconcile()
		tk := w.tasks()
		w.report(tk[lifecycle.Pending], lifecycle.Running)
		w.report(tk["stopping"], lifecycle.Stopped)
		w.advance(40 * time.Second)
	}
	w.reconcile()
}

func (w *ctlWorld) sdList(in ecsapi.ListServiceDeploymentsRequest) *ecsapi.ListServiceDeploymentsResponse {
	w.t.Helper()
	if in.Service == "" {
		in.Service = "web"
	}
	out, err := w.e.ListServiceDeployments(context.Background(), &in)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// sdStatuses lists the service's service deployments, newest first, as
// "STATUS" strings, and their ARNs.
func (w *ctlWorld) sdStatuses() (statuses, arns []string) {
	w.t.Helper()
	for _, b := range w.sdList(ecsapi.ListServiceDeploymentsRequest{}).ServiceDeployments {
		statuses = append(statuses, string(ecsapi.Value(b.Status)))
		arns = append(arns, ecsapi.Value(b.ServiceDeploymentArn))
	}
	return statuses, arns
}

func (w *ctlWorld) sdDescribe(arn string) ecsapi.ServiceDeployment {
	w.t.Helper()
	out, err := w.e.DescribeServiceDeployments(context.Background(), &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{arn}})
	if err != nil || len(out.ServiceDeployments) != 1 {
		w.t.Fatalf("describe %s: %v %+v", arn, err, out)
	}
	return out.ServiceDeployments[0]
}

func (w *ctlWorld) sdUpdate(in ecsapi.UpdateServiceRequest) {
	w.t.Helper()
	in.Service = "web"
	if _, err := w.e.UpdateService(context.Background(), &in); err != nil {
		w.t.Fatal(err)
	}
}

func (w *ctlWorld) sdStop(arn string) error {
	_, err := w.e.StopServiceDeployment(context.Background(), &ecsapi.StopServiceDeploymentRequest{ServiceDeploymentArn: arn})
	return err
}

func sdJoin(s []string) string { return strings.Join(s, ",") }

func revSummary(r *ecsapi.ServiceRevisionSummary) []int32 {
	return []int32{r.RequestedTaskCount, r.RunningTaskCount, r.PendingTaskCount}
}

// TestServiceDeploymentsLifecycle: CreateService starts a service deployment
// of a new service revision, IN_PROGRESS until the controller completes its
// deployment (SUCCESSFUL); UpdateService starts the next one, and the
// previous one keeps its outcome (SUCCESSFUL, or STOPPED when it had not
// finished). The service shows its current service deployment and revisions.
func TestServiceDeploymentsLifecycle(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	v1 := w.td("web")
	created, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), DesiredCount: ecsapi.Ptr(int32(2))})
	if err != nil {
		t.Fatal(err)
	}
	st, arns := w.sdStatuses()
	if sdJoin(st) != "IN_PROGRESS" || !sdARNRE.MatchString(arns[0]) {
		t.Fatalf("after CreateService: %v %v", st, arns)
	}
	sd1 := w.sdDescribe(arns[0])
	rev1 := ecsapi.Value(sd1.TargetServiceRevision.Arn)
	svc := created.Service
	if !revARNRE.MatchString(rev1) || ecsapi.Value(svc.CurrentServiceDeployment) != arns[0] || len(svc.CurrentServiceRevisions) != 1 ||
		ecsapi.Value(svc.CurrentServiceRevisions[0].Arn) != rev1 || svc.CurrentServiceRevisions[0].RequestedTaskCount != 2 {
		t.Fatalf("service: current %v %+v; target %s", ecsapi.Value(svc.CurrentServiceDeployment), svc.CurrentServiceRevisions, rev1)
	}
	if ecsapi.Value(sd1.ServiceArn) != svcAccount+"service/default/web" || ecsapi.Value(sd1.ClusterArn) != svcAccount+"cluster/default" ||
		!sd1.CreatedAt.Equal(svc.CreatedAt.Time) || !sd1.StartedAt.Equal(svc.CreatedAt.Time) || sd1.FinishedAt != nil || len(sd1.SourceServiceRevisions) != 0 ||
		ecsapi.Value(sd1.DeploymentConfiguration.MaximumPercent) != 200 || ecsapi.Value(sd1.DeploymentCircuitBreaker.Status) != "DISABLED" ||
		sd1.DeploymentCircuitBreaker.Threshold != 3 || ecsapi.Value(sd1.Alarms.Status) != "DISABLED" || sd1.StatusReason != nil {
		t.Errorf("service deployment %+v", sd1)
	}
	revs, err := w.e.DescribeServiceRevisions(ctx, &ecsapi.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{rev1}})
	if err != nil || len(revs.ServiceRevisions) != 1 || len(revs.Failures) != 0 {
		t.Fatal(err, revs)
	}
	r := revs.ServiceRevisions[0]
	if ecsapi.Value(r.ServiceRevisionArn) != rev1 || ecsapi.Value(r.TaskDefinition) != v1 || ecsapi.Value(r.LaunchType) != ecsapi.LaunchTypeEC2 ||
		ecsapi.Value(r.ServiceArn) != ecsapi.Value(svc.ServiceArn) || ecsapi.Value(r.ClusterArn) != ecsapi.Value(svc.ClusterArn) || !r.CreatedAt.Equal(svc.CreatedAt.Time) ||
		len(r.ContainerImages) != 1 || ecsapi.Value(r.ContainerImages[0].ContainerName) != "app" || ecsapi.Value(r.ContainerImages[0].Image) != "berth-testapp:latest" ||
		r.LoadBalancers == nil || r.ServiceRegistries == nil || r.GuardDutyEnabled || r.PlatformVersion != nil {
		t.Errorf("service revision %+v", r)
	}

	// The controller runs the tasks and completes the deployment.
	w.reconcile()
	if got := revSummary(w.sdDescribe(arns[0]).TargetServiceRevision); got[0] != 2 || got[2] != 2 {
		t.Errorf("target counts while starting = %v, want requested 2 pending 2", got)
	}
	w.sdSettle()
	sd1 = w.sdDescribe(arns[0])
	done := w.service()
	var completed time.Time
	for _, ev := range done.Events {
		if strings.HasSuffix(ecsapi.Value(ev.Message), "deployment completed.") {
			completed = ev.CreatedAt.Time
		}
	}
	if ecsapi.Value(sd1.Status) != "SUCCESSFUL" || sd1.FinishedAt == nil || !sd1.FinishedAt.Equal(completed) ||
		sd1.FinishedAt.Equal(sd1.CreatedAt.Time) || sd1.StoppedAt != nil || revSummary(sd1.TargetServiceRevision)[1] != 2 {
		t.Fatalf("completed: %+v (events %q)", sd1, eventMessages(done))
	}

	// UpdateService: a new service deployment from revision 1 to 2.
	w.advance(time.Minute)
	v2 := w.td("web")
	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(v2)})
	st, arns = w.sdStatuses()
	if sdJoin(st) != "IN_PROGRESS,SUCCESSFUL" {
		t.Fatalf("after UpdateService: %v", st)
	}
	sd2 := w.sdDescribe(arns[0])
	rev2 := ecsapi.Value(sd2.TargetServiceRevision.Arn)
	if len(sd2.SourceServiceRevisions) != 1 || ecsapi.Value(sd2.SourceServiceRevisions[0].Arn) != rev1 || revSummary(&sd2.SourceServiceRevisions[0])[1] != 2 || rev2 == rev1 {
		t.Errorf("sources %+v target %s", sd2.SourceServiceRevisions, rev2)
	}
	svc2 := w.service()
	svc = &svc2
	if ecsapi.Value(svc.CurrentServiceDeployment) != arns[0] || len(svc.CurrentServiceRevisions) != 2 || ecsapi.Value(svc.CurrentServiceRevisions[0].Arn) != rev2 {
		t.Errorf("current %s %+v", ecsapi.Value(svc.CurrentServiceDeployment), svc.CurrentServiceRevisions)
	}
	w.sdSettle()
	if st, _ = w.sdStatuses(); sdJoin(st) != "SUCCESSFUL,SUCCESSFUL" || len(w.service().Deployments) != 1 {
		t.Fatalf("after the rollout: %v %+v", st, w.service().Deployments)
	}
	if old := w.sdDescribe(arns[1]); !old.FinishedAt.Equal(sd1.FinishedAt.Time) || ecsapi.Value(old.Status) != "SUCCESSFUL" {
		t.Errorf("the replaced service deployment changed: %+v", old)
	}
	if got := w.sdDescribe(arns[0]); revSummary(&got.SourceServiceRevisions[0])[1] != 0 || revSummary(got.TargetServiceRevision)[1] != 2 {
		t.Errorf("counts after the rollout: %+v %+v", got.SourceServiceRevisions, got.TargetServiceRevision)
	}

	// Two updates in a row: the first never finishes.
	w.advance(time.Minute)
	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(w.td("web"))})
	w.reconcile()
	w.advance(time.Minute)
	w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
	st, arns = w.sdStatuses()
	sd3 := w.sdDescribe(arns[1])
	if sdJoin(st) != "IN_PROGRESS,STOPPED,SUCCESSFUL,SUCCESSFUL" || ecsapi.Value(sd3.StatusReason) != reasonSuperseded ||
		!sd3.StoppedAt.Equal(w.now) || sd3.FinishedAt != nil || revSummary(sd3.TargetServiceRevision)[2] != 2 {
		t.Fatalf("superseded: %v %+v", st, sd3)
	}
	if got := w.sdDescribe(arns[0]); len(got.SourceServiceRevisions) != 2 {
		t.Errorf("sources of the last: %+v", got.SourceServiceRevisions)
	}
	w.sdSettle()
	if st, _ = w.sdStatuses(); sdJoin(st) != "SUCCESSFUL,STOPPED,SUCCESSFUL,SUCCESSFUL" {
		t.Errorf("at the end: %v", st)
	}
}

// TestServiceDeploymentsRollback: StopServiceDeployment rolls an
// IN_PROGRESS service deployment back to the last revision that completed,
// as a new PRIMARY deployment: ROLLBACK_IN_PROGRESS, then
// ROLLBACK_SUCCESSFUL. Only unfinished ones can be stopped.
func TestServiceDeploymentsRollback(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	v1 := w.td("web")
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(v1), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	_, arns := w.sdStatuses()
	wantErr(t, w.sdStop(arns[0]), ecsapi.CodeConflictException, "The service deployment cannot be rolled back: no earlier service deployment of the service completed.")
	w.sdSettle()
	wantErr(t, w.sdStop(arns[0]), ecsapi.CodeConflictException, "The service deployment is SUCCESSFUL: only a PENDING or IN_PROGRESS service deployment can be stopped.")
	rev1 := ecsapi.Value(w.sdDescribe(arns[0]).TargetServiceRevision.Arn)

	w.advance(time.Minute)
	v2 := w.td("web")
	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(v2)})
	w.reconcile()
	_, arns = w.sdStatuses()
	w.advance(time.Second)
	if err := w.sdStop(arns[0]); err != nil {
		t.Fatal(err)
	}
	stopped := w.now
	sd := w.sdDescribe(arns[0])
	svc := w.service()
	if ecsapi.Value(sd.Status) != "ROLLBACK_IN_PROGRESS" || ecsapi.Value(sd.StatusReason) != reasonRollback || sd.Rollback == nil ||
		ecsapi.Value(sd.Rollback.ServiceRevisionArn) != rev1 || !sd.Rollback.StartedAt.Equal(stopped) || ecsapi.Value(sd.Rollback.Reason) != reasonRollback {
		t.Fatalf("after the stop: %+v", sd)
	}
	if len(svc.Deployments) != 3 || ecsapi.Value(svc.Deployments[0].TaskDefinition) != v1 || ecsapi.Value(svc.Deployments[0].Status) != deploymentPrimary ||
		ecsapi.Value(svc.Deployments[1].TaskDefinition) != v2 || ecsapi.Value(svc.Deployments[1].Status) != statusActive || ecsapi.Value(svc.TaskDefinition) != v1 ||
		ecsapi.Value(svc.CurrentServiceDeployment) != arns[0] || ecsapi.Value(svc.CurrentServiceRevisions[0].Arn) != rev1 {
		t.Fatalf("service after the stop: %s %+v %+v", ecsapi.Value(svc.TaskDefinition), svc.Deployments, svc.CurrentServiceRevisions)
	}
	if err := w.sdStop(arns[0]); err != nil {
		t.Fatalf("stopping a rollback again: %v", err)
	}
	if st, _ := w.sdStatuses(); len(w.service().Deployments) != 3 || sdJoin(st) != "ROLLBACK_IN_PROGRESS,SUCCESSFUL" {
		t.Fatalf("a second stop changed the service: %v %d", st, len(w.service().Deployments))
	}

	w.sdSettle()
	sd = w.sdDescribe(arns[0])
	svc = w.service()
	if ecsapi.Value(sd.Status) != "ROLLBACK_SUCCESSFUL" || sd.FinishedAt == nil || !sd.FinishedAt.After(stopped) || len(svc.Deployments) != 1 || ecsapi.Value(svc.Deployments[0].TaskDefinition) != v1 {
		t.Fatalf("after the rollback: %+v %+v", sd, svc.Deployments)
	}
	for _, tk := range w.tasks()[lifecycle.Running] {
		if ecsapi.Value(tk.Task.TaskDefinitionArn) != v1 {
			t.Errorf("task of %s runs after the rollback", ecsapi.Value(tk.Task.TaskDefinitionArn))
		}
	}
	wantErr(t, w.sdStop(arns[0]), ecsapi.CodeConflictException, "The service deployment is ROLLBACK_SUCCESSFUL: only a PENDING or IN_PROGRESS service deployment can be stopped.")

	// The next rollback returns to what that rollback ran.
	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(w.td("web"))})
	if st, _ := w.sdStatuses(); sdJoin(st) != "IN_PROGRESS,ROLLBACK_SUCCESSFUL,SUCCESSFUL" {
		t.Fatalf("statuses %v", st)
	}
	_, arns = w.sdStatuses()
	if err := w.sdStop(arns[0]); err != nil {
		t.Fatal(err)
	}
	if sd = w.sdDescribe(arns[0]); ecsapi.Value(sd.Rollback.ServiceRevisionArn) != rev1 || ecsapi.Value(w.service().TaskDefinition) != v1 {
		t.Errorf("second rollback to %s, task definition %s", ecsapi.Value(sd.Rollback.ServiceRevisionArn), ecsapi.Value(w.service().TaskDefinition))
	}
	// A new deployment during a rollback stops it.
	w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
	if sd = w.sdDescribe(arns[0]); ecsapi.Value(sd.Status) != "STOPPED" || ecsapi.Value(sd.StatusReason) != reasonSuperseded {
		t.Errorf("rollback replaced: %+v", sd)
	}
}

// TestServiceDeploymentsList: status and createdAt filters, and paging
// newest first.
func TestServiceDeploymentsList(t *testing.T) {
	w := newCtlWorld(t, 0)
	ctx := context.Background()
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(0))}); err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for i := range 4 {
		times = append(times, w.now)
		w.reconcile() // nothing to run: the deployment completes
		w.advance(time.Minute)
		if i < 3 {
			w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
		}
	}
	// Two more in the same millisecond: the newer still lists first.
	w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
	w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
	st, all := w.sdStatuses()
	if sdJoin(st) != "IN_PROGRESS,STOPPED,SUCCESSFUL,SUCCESSFUL,SUCCESSFUL,SUCCESSFUL" {
		t.Fatalf("statuses %v", st)
	}
	if d := w.sdDescribe(all[0]); ecsapi.Value(d.SourceServiceRevisions[0].Arn) != ecsapi.Value(w.sdDescribe(all[1]).TargetServiceRevision.Arn) {
		t.Errorf("the newest does not come from the one before: %+v", d.SourceServiceRevisions)
	}
	var paged []string
	req := ecsapi.ListServiceDeploymentsRequest{MaxResults: ecsapi.Ptr(int32(4))}
	for {
		out := w.sdList(req)
		for _, b := range out.ServiceDeployments {
			paged = append(paged, ecsapi.Value(b.ServiceDeploymentArn))
		}
		if out.NextToken == nil {
			break
		}
		req.NextToken = out.NextToken
	}
	if sdJoin(paged) != sdJoin(all) {
		t.Errorf("paged %v, want %v", paged, all)
	}
	count := func(in ecsapi.ListServiceDeploymentsRequest) int { return len(w.sdList(in).ServiceDeployments) }
	if n := count(ecsapi.ListServiceDeploymentsRequest{Status: []ecsapi.ServiceDeploymentStatus{"SUCCESSFUL", "STOPPED"}}); n != 5 {
		t.Errorf("SUCCESSFUL or STOPPED: %d", n)
	}
	if n := count(ecsapi.ListServiceDeploymentsRequest{Status: []ecsapi.ServiceDeploymentStatus{"ROLLBACK_FAILED"}}); n != 0 {
		t.Errorf("ROLLBACK_FAILED: %d", n)
	}
	between := &ecsapi.CreatedAt{After: ecsapi.Time(times[0]), Before: ecsapi.Time(times[3])}
	if out := w.sdList(ecsapi.ListServiceDeploymentsRequest{CreatedAt: between}); len(out.ServiceDeployments) != 2 || !out.ServiceDeployments[0].CreatedAt.Equal(times[2]) {
		t.Errorf("created between: %+v", out.ServiceDeployments)
	}
	if n := count(ecsapi.ListServiceDeploymentsRequest{CreatedAt: &ecsapi.CreatedAt{Before: ecsapi.Time(times[1])}, Status: []ecsapi.ServiceDeploymentStatus{"SUCCESSFUL"}}); n != 1 {
		t.Errorf("created before the second: %d", n)
	}
	b := w.sdList(ecsapi.ListServiceDeploymentsRequest{MaxResults: ecsapi.Ptr(int32(1)), Service: svcAccount + "service/default/web", Cluster: ecsapi.Ptr(svcAccount + "cluster/default")}).ServiceDeployments[0]
	if ecsapi.Value(b.ServiceDeploymentArn) != all[0] || !revARNRE.MatchString(ecsapi.Value(b.TargetServiceRevisionArn)) || b.StartedAt == nil || b.FinishedAt != nil {
		t.Errorf("brief %+v", b)
	}
}

// TestServiceDeploymentsErrors: ECS's errors and failures for each call,
// and a deleted service's service deployments.
func TestServiceDeploymentsErrors(t *testing.T) {
	w := newCtlWorld(t, 0)
	e, ctx := w.e, context.Background()
	if _, err := e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	_, arns := w.sdStatuses()
	rev := ecsapi.Value(w.sdDescribe(arns[0]).TargetServiceRevision.Arn)
	many := make([]string, 21)
	for i := range many {
		many[i] = arns[0]
	}
	unknownSD := svcAccount + "service-deployment/default/web/AAAAAAAAAAAAAAAAAAAAA"
	otherSD := strings.Replace(arns[0], "123456789012", "210987654321", 1)
	unknownRev := svcAccount + "service-revision/default/web/1234567890123456789"
	_, err := e.DescribeServiceDeployments(ctx, &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{}})
	wantErr(t, err, ecsapi.CodeInvalidParameterException, "serviceDeploymentArns cannot be empty.")
	_, err = e.DescribeServiceDeployments(ctx, &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: many})
	wantErr(t, err, ecsapi.CodeInvalidParameterException, "serviceDeploymentArns can have at most 20 items.")
	_, err = e.DescribeServiceDeployments(ctx, &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{rev}})
	wantErr(t, err, ecsapi.CodeInvalidParameterException, "")
	out, err := e.DescribeServiceDeployments(ctx, &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: []string{unknownSD, arns[0], otherSD, strings.Replace(arns[0], "/web/", "/api/", 1)}})
	if err != nil || len(out.ServiceDeployments) != 1 || len(out.Failures) != 3 || ecsapi.Value(out.Failures[0].Arn) != unknownSD ||
		ecsapi.Value(out.Failures[1].Arn) != otherSD || ecsapi.Value(out.Failures[2].Reason) != "MISSING" {
		t.Fatalf("describe: %v %+v", err, out)
	}
	_, err = e.DescribeServiceRevisions(ctx, &ecsapi.DescribeServiceRevisionsRequest{ServiceRevisionArns: many})
	wantErr(t, err, ecsapi.CodeInvalidParameterException, "serviceRevisionArns can have at most 20 items.")
	_, err = e.DescribeServiceRevisions(ctx, &ecsapi.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{"web"}})
	wantErr(t, err, ecsapi.CodeInvalidParameterException, `"web" is not a valid service revision ARN: arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID.`)
	revs, err := e.DescribeServiceRevisions(ctx, &ecsapi.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{unknownRev, rev}})
	if err != nil || len(revs.ServiceRevisions) != 1 || len(revs.Failures) != 1 || ecsapi.Value(revs.Failures[0].Arn) != unknownRev || ecsapi.Value(revs.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe revisions: %v %+v", err, revs)
	}

	list := func(in ecsapi.ListServiceDeploymentsRequest) error {
		_, err := e.ListServiceDeployments(ctx, &in)
		return err
	}
	wantErr(t, list(ecsapi.ListServiceDeploymentsRequest{Service: "api"}), ecsapi.CodeServiceNotFoundException, "Service not found.")
	wantErr(t, list(ecsapi.ListServiceDeploymentsRequest{Service: "web", Cluster: ecsapi.Ptr("nope")}), ecsapi.CodeClusterNotFoundException, "")
	wantErr(t, list(ecsapi.ListServiceDeploymentsRequest{Service: "web", MaxResults: ecsapi.Ptr(int32(101))}), ecsapi.CodeInvalidParameterException, "maxResults must be between 1 and 100.")
	wantErr(t, list(ecsapi.ListServiceDeploymentsRequest{Service: "web", NextToken: ecsapi.Ptr("bogus")}), ecsapi.CodeInvalidParameterException, "")

	stop := func(arn string, stopType ecsapi.StopServiceDeploymentStopType) error {
		_, err := e.StopServiceDeployment(ctx, &ecsapi.StopServiceDeploymentRequest{ServiceDeploymentArn: arn, StopType: &stopType})
		return err
	}
	wantErr(t, stop(arns[0], ecsapi.StopServiceDeploymentStopTypeABORT), ecsapi.CodeInvalidParameterException, "The stop type ABORT is not supported. The valid value is ROLLBACK.")
	wantErr(t, stop("nope", ecsapi.StopServiceDeploymentStopTypeROLLBACK), ecsapi.CodeInvalidParameterException, "")
	for _, ref := range []string{unknownSD, otherSD, svcAccount + "service-deployment/nope/web/AAAAAAAAAAAAAAAAAAAAA", svcAccount + "service-deployment/default/api/AAAAAAAAAAAAAAAAAAAAA"} {
		wantErr(t, stop(ref, ecsapi.StopServiceDeploymentStopTypeROLLBACK), ecsapi.CodeServiceDeploymentNotFoundException, errServiceDeploymentNotFound.Message)
	}

	// Deleting the service deletes its service deployments; reusing the
	// name deletes its revisions too.
	if _, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web", Force: ecsapi.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := w.sdStatuses(); len(st) != 0 {
		t.Errorf("a deleted service lists %v", st)
	}
	if out, _ := e.DescribeServiceDeployments(ctx, &ecsapi.DescribeServiceDeploymentsRequest{ServiceDeploymentArns: arns}); len(out.Failures) != 1 {
		t.Errorf("a deleted service's deployment: %+v", out)
	}
	wantErr(t, stop(arns[0], ecsapi.StopServiceDeploymentStopTypeROLLBACK), ecsapi.CodeServiceDeploymentNotFoundException, "")
	w.reconcile()
	if _, err := e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
	if st, again := w.sdStatuses(); sdJoin(st) != "IN_PROGRESS" || again[0] == arns[0] {
		t.Errorf("the new service lists %v %v", st, again)
	}
	if revs, _ := e.DescribeServiceRevisions(ctx, &ecsapi.DescribeServiceRevisionsRequest{ServiceRevisionArns: []string{rev}}); len(revs.Failures) != 1 {
		t.Errorf("the deleted service's revision is still described: %+v", revs)
	}
}

// TestServiceDeploymentsCircuitBreaker: the controller's circuit breaker
// fails a deployment; with rollback on, its service deployment shows the
// rollback the controller started (ROLLBACK_IN_PROGRESS, then
// ROLLBACK_SUCCESSFUL), without it STOPPED.
func TestServiceDeploymentsCircuitBreaker(t *testing.T) {
	w := newCtlWorld(t, 2)
	ctx := context.Background()
	breaker := func(rollback bool) *ecsapi.DeploymentConfiguration {
		return &ecsapi.DeploymentConfiguration{DeploymentCircuitBreaker: &ecsapi.DeploymentCircuitBreaker{Enable: true, Rollback: rollback}}
	}
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr(w.td("web")), DesiredCount: ecsapi.Ptr(int32(2)), DeploymentConfiguration: breaker(true)}); err != nil {
		t.Fatal(err)
	}
	w.sdSettle()
	_, arns := w.sdStatuses()
	if sd := w.sdDescribe(arns[0]); ecsapi.Value(sd.DeploymentCircuitBreaker.Status) != "MONITORING_COMPLETE" {
		t.Errorf("circuit breaker of a completed deployment: %+v", sd.DeploymentCircuitBreaker)
	}
	rev1 := ecsapi.Value(w.sdDescribe(arns[0]).TargetServiceRevision.Arn)
	failDeployment := func() {
		w.reconcile()
		if sd := w.sdDescribe(arns[0]); ecsapi.Value(sd.DeploymentCircuitBreaker.Status) != "MONITORING" {
			t.Errorf("circuit breaker of a deployment in progress: %+v", sd.DeploymentCircuitBreaker)
		}
		w.fail(w.tasks()[lifecycle.Pending])
		w.reconcile()
		w.fail(w.tasks()[lifecycle.Pending][:1])
		w.reconcile() // the breaker trips
		w.reconcile() // the counts follow
	}

	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(w.td("web"))})
	_, arns = w.sdStatuses()
	failDeployment()
	sd := w.sdDescribe(arns[0])
	if ecsapi.Value(sd.Status) != "ROLLBACK_IN_PROGRESS" || sd.Rollback == nil || ecsapi.Value(sd.Rollback.ServiceRevisionArn) != rev1 ||
		ecsapi.Value(sd.StatusReason) != reasonBreaker || ecsapi.Value(sd.DeploymentCircuitBreaker.Status) != "TRIGGERED" || sd.DeploymentCircuitBreaker.FailureCount != 3 {
		t.Fatalf("after the breaker: %+v %+v %+v", sd, sd.Rollback, sd.DeploymentCircuitBreaker)
	}
	if n := len(w.service().Deployments); w.sdStop(arns[0]) != nil || len(w.service().Deployments) != n {
		t.Fatalf("stopping a rollback changed the service: %+v", w.service().Deployments)
	}
	w.sdSettle()
	if sd = w.sdDescribe(arns[0]); ecsapi.Value(sd.Status) != "ROLLBACK_SUCCESSFUL" || sd.FinishedAt == nil || ecsapi.Value(sd.Rollback.ServiceRevisionArn) != rev1 {
		t.Fatalf("after the rollback: %+v", sd)
	}
	w.sdUpdate(ecsapi.UpdateServiceRequest{DesiredCount: ecsapi.Ptr(int32(2))})
	if s := w.service(); ecsapi.Value(s.CurrentServiceDeployment) != arns[0] || len(s.CurrentServiceRevisions) != 1 || ecsapi.Value(s.CurrentServiceRevisions[0].Arn) != rev1 {
		t.Errorf("current after the rollback: %s %+v", ecsapi.Value(s.CurrentServiceDeployment), s.CurrentServiceRevisions)
	}

	// Without rollback: STOPPED, and stays so once replaced.
	w.sdUpdate(ecsapi.UpdateServiceRequest{TaskDefinition: ecsapi.Ptr(w.td("web")), DeploymentConfiguration: breaker(false)})
	st, arns := w.sdStatuses()
	if sdJoin(st) != "IN_PROGRESS,ROLLBACK_SUCCESSFUL,SUCCESSFUL" || ecsapi.Value(w.sdDescribe(arns[0]).SourceServiceRevisions[0].Arn) != rev1 {
		t.Fatalf("statuses %v", st)
	}
	failDeployment()
	if sd = w.sdDescribe(arns[0]); ecsapi.Value(sd.Status) != "STOPPED" || ecsapi.Value(sd.StatusReason) != reasonBreaker || sd.StoppedAt == nil || sd.Rollback != nil {
		t.Fatalf("failed without rollback: %+v", sd)
	}
	wantErr(t, w.sdStop(arns[0]), ecsapi.CodeConflictException, "")
	w.sdUpdate(ecsapi.UpdateServiceRequest{ForceNewDeployment: true})
	if st, _ = w.sdStatuses(); sdJoin(st) != "IN_PROGRESS,STOPPED,ROLLBACK_SUCCESSFUL,SUCCESSFUL" {
		t.Errorf("statuses %v", st)
	}
}
