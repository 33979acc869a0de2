package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/deploy"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Service revisions and service deployments:
//
//	/service-revisions/<cluster>/<service>/<id>     serviceRevisionRecord
//	/service-deployments/<cluster>/<service>/<id>   serviceDeploymentRecord
//
// Every deployment CreateService, UpdateService or a rollback puts in
// service.deployments runs a service revision and belongs to a service
// deployment, both written with the service (services_update.go). A service
// deployment's status and counts are derived, when read, from the service's
// deployments, which the controller keeps; when a newer deployment replaces
// it, its outcome is frozen as it stands (an unfinished one STOPPED), since
// the controller then drops the old deployment. Service deployment ids sort
// by creation, so ListServiceDeployments pages newest first with a reverse
// scan. ECS deletes a service's deployments with it: a DRAINING or INACTIVE
// service has none for the read calls, and CreateService reusing its name
// deletes its history.

// deploymentLink ties one deployment of service.deployments to its service
// revision and service deployment (both ARNs).
type deploymentLink struct {
	Revision          string `json:"revision"`
	ServiceDeployment string `json:"serviceDeployment"`
}

type serviceRevisionRecord struct {
	Revision ecsapi.ServiceRevision `json:"revision"`
	// PlatformVersion is the platform version the service asked for
	// (LATEST), which a rollback restores; the revision shows the one run.
	PlatformVersion *string `json:"platformVersion,omitempty"`
}

type serviceDeploymentRecord struct {
	// Deployment holds what the service deployment was created with, and
	// rollback once stopped.
	Deployment ecsapi.ServiceDeployment `json:"deployment"`
	// Target is the id (ecs-svc/…) of the deployment it started; Rollback
	// that of the deployment rolling it back.
	Target   string `json:"target"`
	Rollback string `json:"rollback,omitempty"`
	// Sources are the deployments that ran when it started.
	Sources []sourceLink `json:"sources,omitempty"`
	// Final is the service deployment frozen when a newer one replaced it.
	Final *ecsapi.ServiceDeployment `json:"final,omitempty"`
}

type sourceLink struct {
	Revision       string `json:"revision,omitempty"`
	Deployment     string `json:"deployment"`
	TaskDefinition string `json:"taskDefinition"`
}

const (
	kindServiceDeployment = "service-deployment"
	kindServiceRevision   = "service-revision"
	reasonSuperseded      = "Stopped because a new service deployment started before this one completed."
	reasonBreaker         = "ECS deployment circuit breaker: tasks failed to start."
	breakerRollingBack    = "ECS deployment circuit breaker: rolling back to deploymentId "
	reasonRollback        = "Stopped manually (StopServiceDeployment) and rolled back to the last service revision that completed a deployment."
)

var (
	errServiceDeploymentNotFound = ecsapi.Errorf(ecsapi.CodeServiceDeploymentNotFoundException, "The service deployment does not exist. Use ListServiceDeployments to retrieve the service deployment ARNs.")
	historyIDRE                  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func historyPrefix(kind, cluster, service string) string {
	return "/" + kind + "s/" + cluster + "/" + service + "/"
}

// historyRef parses a service deployment or service revision ARN (kind)
// into its store key. ok is false for a well-formed ARN that names nothing
// here (another account or region); text that is not such an ARN is an
// InvalidParameterException.
func (e *ECS) historyRef(ref, kind string) (cluster, service, key string, ok bool, err error) {
	k, rest, perr := arn.ECSResource(ref)
	parts := strings.Split(rest, "/")
	if perr != nil || k != kind || len(parts) != 3 || !nameRE.MatchString(parts[0]) || !nameRE.MatchString(parts[1]) || !historyIDRE.MatchString(parts[2]) {
		return "", "", "", false, invalidParam("%q is not a valid %s ARN: arn:aws:ecs:REGION:ACCOUNT:%s/CLUSTER/SERVICE/ID.", ref, strings.ReplaceAll(kind, "-", " "), kind)
	}
	return parts[0], parts[1], historyPrefix(kind, parts[0], parts[1]) + parts[2], e.names.Resource(kind+"/"+rest) == ref, nil
}

// historyKey is the store key of an ARN this package made.
func historyKey(resourceARN string) string {
	kind, rest, _ := arn.ECSResource(resourceARN)
	return "/" + kind + "s/" + rest
}

// idAlphabet is base64url's alphabet in byte order: ids made of it sort as
// the numbers they encode.
const idAlphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

// serviceDeploymentID is 21 characters like ECS's: the creation time in
// milliseconds (7), the service's sequence number (4), then random.
func serviceDeploymentID(t time.Time, seq int64) string {
	b := make([]byte, 21)
	_, _ = rand.Read(b[11:])
	for i := 11; i < 21; i++ {
		b[i] = idAlphabet[b[i]&63]
	}
	ms, n := uint64(max(t.UnixMilli(), 0)), uint64(seq)
	for i := 10; i >= 0; i-- {
		if i >= 7 {
			b[i], n = idAlphabet[n&63], n>>6
		} else {
			b[i], ms = idAlphabet[ms&63], ms>>6
		}
	}
	return string(b)
}

func primaryDeployment(s *ecsapi.Service) string {
	for _, d := range s.Deployments {
		if ecsapi.Value(d.Status) == deploymentPrimary {
			return ecsapi.Value(d.Id)
		}
	}
	return ""
}

func findDeployment(s *ecsapi.Service, id string) *ecsapi.Deployment {
	for i := range s.Deployments {
		if id != "" && ecsapi.Value(s.Deployments[i].Id) == id {
			return &s.Deployments[i]
		}
	}
	return nil
}

// link ties deployment id to l and updates the service's current ones.
func (rec *serviceRecord) link(id string, l deploymentLink) {
	if rec.Links == nil {
		rec.Links = map[string]deploymentLink{}
	}
	rec.Links[id] = l
	setCurrentRevisions(rec)
}

// setCurrentRevisions sets service.currentServiceDeployment and
// currentServiceRevisions from the deployments in service.deployments
// (with their counts as they stand) and forgets the links of the
// deployments the controller has dropped. It is safe on any service
// record: DescribeServices or the controller may call it for live counts.
func setCurrentRevisions(rec *serviceRecord) {
	s := &rec.Service
	cur := s.CurrentServiceDeployment // kept while the PRIMARY is the controller's
	s.CurrentServiceDeployment, s.CurrentServiceRevisions = cur, nil
	links := map[string]deploymentLink{}
	var sums []ecsapi.ServiceRevisionSummary
	for i, d := range s.Deployments {
		l, ok := rec.Links[ecsapi.Value(d.Id)]
		if !ok {
			continue
		}
		links[ecsapi.Value(d.Id)] = l
		if ecsapi.Value(d.Status) == deploymentPrimary && l.ServiceDeployment != "" {
			s.CurrentServiceDeployment = ecsapi.Ptr(l.ServiceDeployment)
		}
		sums = addSummary(sums, l.Revision, &s.Deployments[i])
	}
	for _, r := range sums {
		s.CurrentServiceRevisions = append(s.CurrentServiceRevisions, ecsapi.ServiceCurrentRevisionSummary{
			Arn: r.Arn, RequestedTaskCount: r.RequestedTaskCount, RunningTaskCount: r.RunningTaskCount, PendingTaskCount: r.PendingTaskCount,
		})
	}
	rec.Links = links
}

// addSummary adds deployment d's counts (none when nil: it is gone) to the
// summary of revision arn in list.
func addSummary(list []ecsapi.ServiceRevisionSummary, arn string, d *ecsapi.Deployment) []ecsapi.ServiceRevisionSummary {
	if arn == "" {
		return list // a deployment without a known revision
	}
	i := slices.IndexFunc(list, func(r ecsapi.ServiceRevisionSummary) bool { return ecsapi.Value(r.Arn) == arn })
	if i < 0 {
		list, i = append(list, ecsapi.ServiceRevisionSummary{Arn: ecsapi.Ptr(arn)}), len(list)
	}
	if d != nil {
		list[i].RequestedTaskCount += d.DesiredCount
		list[i].RunningTaskCount += d.RunningCount
		list[i].PendingTaskCount += d.PendingCount
	}
	return list
}

func finished(st *ecsapi.ServiceDeploymentStatus) bool {
	switch ecsapi.Value(st) {
	case ecsapi.ServiceDeploymentStatusSUCCESSFUL, ecsapi.ServiceDeploymentStatusSTOPPED, ecsapi.ServiceDeploymentStatusROLLBACKSUCCESSFUL, ecsapi.ServiceDeploymentStatusROLLBACKFAILED:
		return true
	}
	return false
}

// viewServiceDeployment is a service deployment as ECS shows it: frozen,
// or derived from the service's deployments.
func (e *ECS) viewServiceDeployment(sd *serviceDeploymentRecord, s *ecsapi.Service) ecsapi.ServiceDeployment {
	if sd.Final != nil {
		return *sd.Final
	}
	v := sd.Deployment
	target, rb := findDeployment(s, sd.Target), findDeployment(s, sd.Rollback)
	if sd.Rollback == "" && ecsapi.Value(s.CurrentServiceDeployment) == ecsapi.Value(v.ServiceDeploymentArn) {
		if rb = breakerRollback(s, sd); rb != nil {
			v.Rollback = &ecsapi.Rollback{Reason: ecsapi.Ptr(reasonBreaker), StartedAt: rb.CreatedAt}
			if target != nil && target.RolloutStateReason != nil {
				v.Rollback.Reason = target.RolloutStateReason
			}
			// It copies the last deployment that completed, named in its
			// rolloutStateReason until it completes.
			x, named := strings.CutPrefix(ecsapi.Value(rb.RolloutStateReason), breakerRollingBack)
			if i := slices.IndexFunc(sd.Sources, func(l sourceLink) bool {
				return l.Revision != "" && (l.Deployment == strings.TrimSuffix(x, ".") || !named && l.TaskDefinition == ecsapi.Value(rb.TaskDefinition))
			}); i >= 0 {
				v.Rollback.ServiceRevisionArn = ecsapi.Ptr(sd.Sources[i].Revision)
			}
		}
	}
	v.TargetServiceRevision = &addSummary(nil, ecsapi.Value(v.TargetServiceRevision.Arn), target)[0]
	v.SourceServiceRevisions = []ecsapi.ServiceRevisionSummary{}
	for _, src := range sd.Sources {
		v.SourceServiceRevisions = addSummary(v.SourceServiceRevisions, src.Revision, findDeployment(s, src.Deployment))
	}
	v.UpdatedAt = v.CreatedAt
	for _, d := range []*ecsapi.Deployment{target, rb} {
		if d != nil && d.UpdatedAt != nil && d.UpdatedAt.After(v.UpdatedAt.Time) {
			v.UpdatedAt = d.UpdatedAt
		}
	}
	// The deployment it started (or the one rolling it back) sets its
	// status: rolloutState IN_PROGRESS, COMPLETED or FAILED.
	by, outcome := target, [3]ecsapi.ServiceDeploymentStatus{ecsapi.ServiceDeploymentStatusINPROGRESS, ecsapi.ServiceDeploymentStatusSUCCESSFUL, ecsapi.ServiceDeploymentStatusSTOPPED}
	if v.Rollback != nil {
		by, outcome = rb, [3]ecsapi.ServiceDeploymentStatus{ecsapi.ServiceDeploymentStatusROLLBACKINPROGRESS, ecsapi.ServiceDeploymentStatusROLLBACKSUCCESSFUL, ecsapi.ServiceDeploymentStatusROLLBACKFAILED}
		v.StatusReason = v.Rollback.Reason
		if v.Rollback.StartedAt.After(v.UpdatedAt.Time) {
			v.UpdatedAt = v.Rollback.StartedAt
		}
	}
	switch {
	case rollout(by) == ecsapi.DeploymentRolloutStateCOMPLETED:
		v.Status, v.FinishedAt = &outcome[1], completedAt(s, by)
	case rollout(by) == ecsapi.DeploymentRolloutStateFAILED:
		v.Status, v.StatusReason = &outcome[2], by.RolloutStateReason
		if v.StoppedAt = by.UpdatedAt; v.Rollback != nil {
			v.FinishedAt, v.StoppedAt = by.UpdatedAt, nil
		}
	default: // also when not yet in the service as read (just started)
		v.Status = &outcome[0]
	}
	// The rollback monitors: berth evaluates no CloudWatch alarm, and its
	// circuit breaker counts the target's failed tasks.
	dc := ecsapi.Value(v.DeploymentConfiguration)
	cb, alarms := ecsapi.Value(dc.DeploymentCircuitBreaker), ecsapi.Value(dc.Alarms)
	v.DeploymentCircuitBreaker = &ecsapi.ServiceDeploymentCircuitBreaker{Status: monitor(cb.Enable, v.Status)}
	if target != nil {
		v.DeploymentCircuitBreaker.FailureCount, v.DeploymentCircuitBreaker.Threshold = target.FailedTasks, int32(deploy.CircuitThreshold(int(target.DesiredCount)))
	}
	if cb.Enable && rollout(target) == ecsapi.DeploymentRolloutStateFAILED {
		v.DeploymentCircuitBreaker.Status = ecsapi.Ptr(ecsapi.ServiceDeploymentRollbackMonitorsStatusTRIGGERED)
	}
	v.Alarms = &ecsapi.ServiceDeploymentAlarms{Status: monitor(alarms.Enable, v.Status)}
	if alarms.Enable {
		v.Alarms.AlarmNames = alarms.AlarmNames
	}
	return v
}

// monitor is the status of a rollback monitor of a service deployment.
func monitor(enabled bool, st *ecsapi.ServiceDeploymentStatus) *ecsapi.ServiceDeploymentRollbackMonitorsStatus {
	switch {
	case !enabled:
		return ecsapi.Ptr(ecsapi.ServiceDeploymentRollbackMonitorsStatusDISABLED)
	case finished(st):
		return ecsapi.Ptr(ecsapi.ServiceDeploymentRollbackMonitorsStatusMONITORINGCOMPLETE)
	}
	return ecsapi.Ptr(ecsapi.ServiceDeploymentRollbackMonitorsStatusMONITORING)
}

// breakerRollback is the deployment the controller's circuit breaker
// started to roll back the current service deployment sd
// (services_reconcile.go): the API did not start it, so it is neither sd's
// target nor a deployment that ran before sd.
func breakerRollback(s *ecsapi.Service, sd *serviceDeploymentRecord) *ecsapi.Deployment {
	for i, d := range s.Deployments {
		id := ecsapi.Value(d.Id)
		if id != sd.Target && id != sd.Rollback && !d.CreatedAt.Before(sd.Deployment.CreatedAt.Time) && !slices.ContainsFunc(sd.Sources, func(l sourceLink) bool { return l.Deployment == id }) {
			return &s.Deployments[i]
		}
	}
	return nil
}

func rollout(d *ecsapi.Deployment) ecsapi.DeploymentRolloutState {
	if d == nil {
		return ""
	}
	return ecsapi.Value(d.RolloutState)
}

// completedAt is when deployment d completed: the time of the controller's
// "deployment completed" event, else (events are bounded) its updatedAt.
func completedAt(s *ecsapi.Service, d *ecsapi.Deployment) *ecsapi.Timestamp {
	for _, ev := range s.Events {
		if strings.HasSuffix(ecsapi.Value(ev.Message), "(deployment "+ecsapi.Value(d.Id)+") deployment completed.") {
			return ev.CreatedAt
		}
	}
	return d.UpdatedAt
}

// forgetServiceHistory deletes a deleted service's service revisions and
// deployments.
func (e *ECS) forgetServiceHistory(ctx context.Context, cluster, name string) ([]store.Op, error) {
	var ops []store.Op
	for _, kind := range []string{kindServiceRevision, kindServiceDeployment} {
		kvs, _, err := e.st.List(ctx, historyPrefix(kind, cluster, name), store.ListOptions{KeysOnly: true})
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			ops = append(ops, store.Delete(kv.Key))
		}
	}
	return ops, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// activeService is the service whose service deployments a read call
// shows: nil when missing, DRAINING or INACTIVE, as ECS deletes a service's
// deployments with it. The service is read before the records: a newer
// record than the service read is one just started, IN_PROGRESS.
func (e *ECS) activeService(ctx context.Context, cluster, name string) (*ecsapi.Service, error) {
	var rec serviceRecord
	_, err := e.getJSON(ctx, serviceKey(cluster, name), &rec)
	if err != nil || ecsapi.Value(rec.Service.Status) != statusActive {
		return nil, ignoreNotFound(err)
	}
	return &rec.Service, nil
}

func checkARNCount(name string, n int) error {
	if n == 0 {
		return invalidParam("%s cannot be empty.", name)
	}
	if n > 20 {
		return invalidParam("%s can have at most 20 items.", name)
	}
	return nil
}

func missing(ref string) ecsapi.Failure {
	return ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr("MISSING")}
}

// DescribeServiceDeployments describes up to 20 service deployments by ARN;
// unknown ones are failures with reason MISSING.
func (e *ECS) DescribeServiceDeployments(ctx context.Context, in *ecsapi.DescribeServiceDeploymentsRequest) (*ecsapi.DescribeServiceDeploymentsResponse, error) {
	if err := checkARNCount("serviceDeploymentArns", len(in.ServiceDeploymentArns)); err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeServiceDeploymentsResponse{ServiceDeployments: []ecsapi.ServiceDeployment{}, Failures: []ecsapi.Failure{}}
	services := map[string]*ecsapi.Service{}
	for _, ref := range in.ServiceDeploymentArns {
		cluster, service, key, ok, err := e.historyRef(ref, kindServiceDeployment)
		if err != nil {
			return nil, err
		}
		s, seen := services[cluster+"/"+service]
		if ok && !seen {
			if s, err = e.activeService(ctx, cluster, service); err != nil {
				return nil, err
			}
			services[cluster+"/"+service] = s
		}
		var sd serviceDeploymentRecord
		if ok && s != nil {
			_, err = e.getJSON(ctx, key, &sd)
		}
		switch {
		case !ok || s == nil || errors.Is(err, store.ErrNotFound):
			out.Failures = append(out.Failures, missing(ref))
		case err != nil:
			return nil, err
		default:
			out.ServiceDeployments = append(out.ServiceDeployments, e.viewServiceDeployment(&sd, s))
		}
	}
	return out, nil
}

// ListServiceDeployments lists a service's service deployments, newest
// first, filtered by status and creation time.
func (e *ECS) ListServiceDeployments(ctx context.Context, in *ecsapi.ListServiceDeploymentsRequest) (*ecsapi.ListServiceDeploymentsResponse, error) {
	c, _, err := e.activeCluster(ctx, in.Cluster, false)
	if err != nil {
		return nil, err
	}
	cluster := ecsapi.Value(c.ClusterName)
	rec, _, err := e.loadService(ctx, cluster, in.Service)
	if err != nil {
		return nil, err
	}
	name := ecsapi.Value(rec.Service.ServiceName)
	prefix := historyPrefix(kindServiceDeployment, cluster, name)
	p, err := parsePage(in.NextToken, in.MaxResults, prefix, 20, 100)
	if err != nil {
		return nil, err
	}
	s, err := e.activeService(ctx, cluster, name)
	if err != nil || s == nil {
		return &ecsapi.ListServiceDeploymentsResponse{ServiceDeployments: []ecsapi.ServiceDeploymentBrief{}}, err
	}
	views := map[string]*ecsapi.ServiceDeployment{}
	kvs, next, err := e.scan(ctx, prefix, p, true, false, func(kv store.KV) bool {
		var sd serviceDeploymentRecord
		if json.Unmarshal(kv.Value, &sd) != nil {
			return false
		}
		v := e.viewServiceDeployment(&sd, s)
		if len(in.Status) > 0 && !slices.Contains(in.Status, *v.Status) {
			return false
		}
		if ca := in.CreatedAt; ca != nil && (ca.Before != nil && !v.CreatedAt.Before(ca.Before.Time) || ca.After != nil && !v.CreatedAt.After(ca.After.Time)) {
			return false
		}
		views[kv.Key] = &v
		return true
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListServiceDeploymentsResponse{ServiceDeployments: make([]ecsapi.ServiceDeploymentBrief, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		v := views[kv.Key]
		out.ServiceDeployments = append(out.ServiceDeployments, ecsapi.ServiceDeploymentBrief{
			ServiceDeploymentArn: v.ServiceDeploymentArn, ServiceArn: v.ServiceArn, ClusterArn: v.ClusterArn,
			StartedAt: v.StartedAt, CreatedAt: v.CreatedAt, FinishedAt: v.FinishedAt,
			TargetServiceRevisionArn: v.TargetServiceRevision.Arn, Status: v.Status, StatusReason: v.StatusReason,
		})
	}
	return out, nil
}

// DescribeServiceRevisions describes up to 20 service revisions by ARN;
// unknown ones are failures with reason MISSING.
func (e *ECS) DescribeServiceRevisions(ctx context.Context, in *ecsapi.DescribeServiceRevisionsRequest) (*ecsapi.DescribeServiceRevisionsResponse, error) {
	if err := checkARNCount("serviceRevisionArns", len(in.ServiceRevisionArns)); err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeServiceRevisionsResponse{ServiceRevisions: []ecsapi.ServiceRevision{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.ServiceRevisionArns {
		_, _, key, ok, err := e.historyRef(ref, kindServiceRevision)
		if err != nil {
			return nil, err
		}
		var rv serviceRevisionRecord
		if ok {
			_, err = e.getJSON(ctx, key, &rv)
		}
		switch {
		case !ok || errors.Is(err, store.ErrNotFound):
			out.Failures = append(out.Failures, missing(ref))
		case err != nil:
			return nil, err
		default:
			out.ServiceRevisions = append(out.ServiceRevisions, rv.Revision)
		}
	}
	return out, nil
}

// StopServiceDeployment stops an IN_PROGRESS (or PENDING) service
// deployment by rolling it back, the only stop type ECS accepts: a new
// PRIMARY deployment of the last service revision that completed a
// deployment, as UpdateService would start it. The service deployment
// shows ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL when that deployment
// completes. Stopping one already rolling back changes nothing; a finished
// one is a ConflictException.
func (e *ECS) StopServiceDeployment(ctx context.Context, in *ecsapi.StopServiceDeploymentRequest) (*ecsapi.StopServiceDeploymentResponse, error) {
	if st := ecsapi.Value(in.StopType); st != "" && st != ecsapi.StopServiceDeploymentStopTypeROLLBACK {
		return nil, invalidParam("The stop type %s is not supported. The valid value is ROLLBACK.", st)
	}
	cluster, service, key, ok, err := e.historyRef(in.ServiceDeploymentArn, kindServiceDeployment)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errServiceDeploymentNotFound
	}
	_, err = e.changeServiceRecord(ctx, &cluster, service, func(c *ecsapi.Cluster, rec *serviceRecord) ([]store.Cond, []store.Op, error) {
		s := &rec.Service
		var sd serviceDeploymentRecord
		mod, err := e.getJSON(ctx, key, &sd)
		if errors.Is(err, store.ErrNotFound) || err == nil && ecsapi.Value(s.Status) != statusActive {
			return nil, nil, errServiceDeploymentNotFound
		}
		if err != nil {
			return nil, nil, err
		}
		switch st := ecsapi.Value(e.viewServiceDeployment(&sd, s).Status); st {
		case ecsapi.ServiceDeploymentStatusPENDING, ecsapi.ServiceDeploymentStatusINPROGRESS:
		case ecsapi.ServiceDeploymentStatusROLLBACKREQUESTED, ecsapi.ServiceDeploymentStatusROLLBACKINPROGRESS, ecsapi.ServiceDeploymentStatusSTOPREQUESTED:
			return nil, nil, errUnchanged{}
		default:
			return nil, nil, ecsapi.Errorf(ecsapi.CodeConflictException, "The service deployment is %s: only a PENDING or IN_PROGRESS service deployment can be stopped.", st)
		}
		rv, err := e.rollbackRevision(ctx, s, key)
		if err != nil {
			return nil, nil, err
		}
		d, err := e.redeployRevision(ctx, c, s, rv)
		if err != nil {
			return nil, nil, err
		}
		r, now := &rv.Revision, d.CreatedAt
		rec.link(ecsapi.Value(d.Id), deploymentLink{Revision: ecsapi.Value(r.ServiceRevisionArn), ServiceDeployment: in.ServiceDeploymentArn})
		sd.Rollback = ecsapi.Value(d.Id)
		sd.Deployment.Rollback = &ecsapi.Rollback{Reason: ecsapi.Ptr(reasonRollback), StartedAt: now, ServiceRevisionArn: r.ServiceRevisionArn}
		return []store.Cond{{Key: key, ModRev: mod}}, []store.Op{store.Put(key, mustJSON(sd))}, nil
	})
	var u errUnchanged
	switch {
	case errors.As(err, &u):
	case isCode(err, ecsapi.CodeClusterNotFoundException) || isCode(err, ecsapi.CodeServiceNotFoundException):
		return nil, errServiceDeploymentNotFound
	case err != nil:
		return nil, err
	}
	return &ecsapi.StopServiceDeploymentResponse{ServiceDeploymentArn: ecsapi.Ptr(in.ServiceDeploymentArn)}, nil
}

// rollbackRevision is the service revision a rollback of the service
// deployment at key returns to: that of the newest older service
// deployment that completed (or completed its own rollback).
func (e *ECS) rollbackRevision(ctx context.Context, s *ecsapi.Service, key string) (*serviceRevisionRecord, error) {
	prefix := key[:strings.LastIndexByte(key, '/')+1]
	kvs, _, err := e.st.List(ctx, prefix, store.ListOptions{After: key, Reverse: true})
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		var sd serviceDeploymentRecord
		if err := json.Unmarshal(kv.Value, &sd); err != nil {
			return nil, err
		}
		var to *string
		switch v := e.viewServiceDeployment(&sd, s); ecsapi.Value(v.Status) {
		case ecsapi.ServiceDeploymentStatusSUCCESSFUL:
			to = v.TargetServiceRevision.Arn
		case ecsapi.ServiceDeploymentStatusROLLBACKSUCCESSFUL:
			to = v.Rollback.ServiceRevisionArn
		}
		if to == nil {
			continue // not a completed one, or its revision is unknown
		}
		var rv serviceRevisionRecord
		if _, err := e.getJSON(ctx, historyKey(*to), &rv); err != nil {
			return nil, err
		}
		return &rv, nil
	}
	return nil, ecsapi.Errorf(ecsapi.CodeConflictException, "The service deployment cannot be rolled back: no earlier service deployment of the service completed.")
}
