package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// Task definition keys. A family's revisions sort by family name, then by
// revision: '#' sorts below every character a family name may contain, and
// revisions are zero-padded.
//
//	/taskdefs/<family>#<rev>          taskDefRecord
//	/tdfam/<family>                   familyRecord (revision counter)
//	/tdidx/<status>/<family>#<rev>    empty: the status index lists read
const (
	taskDefsPrefix = "/taskdefs/"
	familiesPrefix = "/tdfam/"
	tdIndexPrefix  = "/tdidx/"
)

const statusDeleteInProgress = "DELETE_IN_PROGRESS"

func revKey(family string, rev int32) string { return family + "#" + fmt.Sprintf("%010d", rev) }
func taskDefKey(family string, rev int32) string {
	return taskDefsPrefix + revKey(family, rev)
}
func tdIndexKey(status, family string, rev int32) string {
	return tdIndexPrefix + status + "/" + revKey(family, rev)
}
func familyKey(family string) string { return familiesPrefix + family }

// parseRevKey splits "<family>#<rev>".
func parseRevKey(s string) (string, int32) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return s, 0
	}
	n, _ := strconv.ParseInt(s[i+1:], 10, 32)
	return s[:i], int32(n)
}

type taskDefRecord struct {
	Status         string                `json:"status"`
	TaskDefinition ecsapi.TaskDefinition `json:"taskDefinition"`
	Tags           []ecsapi.Tag          `json:"tags"`
}

type familyRecord struct {
	Latest int32 `json:"latest"`
	Active int32 `json:"active"`
}

// RegisterTaskDefinition validates and stores a new revision of a family.
// Revisions are allocated with compare-and-swap on the family record, so
// concurrent registrations get distinct, gap-free revisions; concurrent
// registrations of one family share a transaction (regqueue.go).
func (e *ECS) RegisterTaskDefinition(ctx context.Context, in *ecsapi.RegisterTaskDefinitionRequest) (*ecsapi.RegisterTaskDefinitionResponse, error) {
	if err := taskdef.Validate(in); err != nil {
		return nil, err
	}
	rec, err := e.register(ctx, &registration{in: in, registeredBy: e.callerARN(ctx), done: make(chan struct{})})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.RegisterTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition}
	if len(rec.Tags) > 0 {
		out.Tags = rec.Tags
	}
	return out, nil
}

var errNoTaskDef = clientErr("Unable to describe task definition.")

// loadTaskDef resolves "family", "family:revision" or an ARN. A bare family
// means its latest ACTIVE revision.
func (e *ECS) loadTaskDef(ctx context.Context, ref string) (taskDefRecord, int64, error) {
	var rec taskDefRecord
	family, rev, err := arn.TaskDefinitionRef(ref)
	if err != nil {
		return rec, 0, clientErr("Invalid task definition %q: %v.", ref, err)
	}
	if rev == 0 {
		kvs, _, err := e.st.List(ctx, tdIndexPrefix+statusActive+"/"+family+"#", store.ListOptions{Reverse: true, Limit: 1, KeysOnly: true})
		if err != nil {
			return rec, 0, err
		}
		if len(kvs) == 0 {
			return rec, 0, errNoTaskDef
		}
		_, rev = parseRevKey(kvs[0].Key[len(tdIndexPrefix+statusActive+"/"):])
	}
	modRev, err := e.getJSON(ctx, taskDefKey(family, rev), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, errNoTaskDef
	}
	return rec, modRev, err
}

// DescribeTaskDefinition returns one revision, with its tags when asked.
func (e *ECS) DescribeTaskDefinition(ctx context.Context, in *ecsapi.DescribeTaskDefinitionRequest) (*ecsapi.DescribeTaskDefinitionResponse, error) {
	rec, _, err := e.loadTaskDef(ctx, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition}
	for _, f := range in.Include {
		if f == ecsapi.TaskDefinitionFieldTAGS {
			out.Tags = nonNil(rec.Tags)
		}
	}
	return out, nil
}

// ListTaskDefinitions lists revision ARNs of one status (ACTIVE by default),
// optionally of one family, sorted by family then revision.
func (e *ECS) ListTaskDefinitions(ctx context.Context, in *ecsapi.ListTaskDefinitionsRequest) (*ecsapi.ListTaskDefinitionsResponse, error) {
	status := string(ecsapi.Value(in.Status))
	if status == "" {
		status = statusActive
	}
	prefix := tdIndexPrefix + status + "/"
	if f := ecsapi.Value(in.FamilyPrefix); f != "" {
		prefix += f + "#"
	}
	p, err := parsePage(in.NextToken, in.MaxResults, prefix, 100, 100)
	if err != nil {
		return nil, err
	}
	kvs, next, err := e.scan(ctx, prefix, p, ecsapi.Value(in.Sort) == ecsapi.SortOrderDESC, true, nil)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListTaskDefinitionsResponse{TaskDefinitionArns: make([]string, 0, len(kvs)), NextToken: next}
	base := len(tdIndexPrefix + status + "/")
	for _, kv := range kvs {
		family, rev := parseRevKey(kv.Key[base:])
		out.TaskDefinitionArns = append(out.TaskDefinitionArns, e.names.TaskDefinition(family, rev))
	}
	return out, nil
}

// ListTaskDefinitionFamilies lists family names starting with familyPrefix:
// ACTIVE families have an ACTIVE revision, INACTIVE ones have none.
func (e *ECS) ListTaskDefinitionFamilies(ctx context.Context, in *ecsapi.ListTaskDefinitionFamiliesRequest) (*ecsapi.ListTaskDefinitionFamiliesResponse, error) {
	status := string(ecsapi.Value(in.Status))
	if status == "" {
		status = statusActive
	}
	prefix := familiesPrefix + ecsapi.Value(in.FamilyPrefix)
	p, err := parsePage(in.NextToken, in.MaxResults, familiesPrefix, 100, 100)
	if err != nil {
		return nil, err
	}
	kvs, next, err := e.scan(ctx, prefix, p, false, false, func(kv store.KV) bool {
		if status == "ALL" {
			return true
		}
		var fam familyRecord
		if err := json.Unmarshal(kv.Value, &fam); err != nil {
			return false
		}
		return (fam.Active > 0) == (status == statusActive)
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListTaskDefinitionFamiliesResponse{Families: make([]string, 0, len(kvs)), NextToken: next}
	for _, kv := range kvs {
		out.Families = append(out.Families, kv.Key[len(familiesPrefix):])
	}
	return out, nil
}

// setTaskDefStatus moves one revision from ACTIVE or INACTIVE to status,
// keeping the index and the family's active count in step.
func (e *ECS) setTaskDefStatus(ctx context.Context, ref, status string, allowed ...string) (*taskDefRecord, error) {
	var out taskDefRecord
	if family, _, err := arn.TaskDefinitionRef(ref); err == nil {
		defer e.locks.lock(familyKey(family))()
	}
	err := retry(ctx, func() error {
		family, rev, err := arn.TaskDefinitionRef(ref)
		if err != nil || rev == 0 {
			return clientErr("Invalid task definition %q: a revision (family:revision or a full ARN) is required.", ref)
		}
		rec, modRev, err := e.loadTaskDef(ctx, ref)
		if err != nil {
			return err
		}
		if rec.Status == status {
			out = rec
			return nil
		}
		if !slices.Contains(allowed, rec.Status) {
			return clientErr("The specified task definition %s is %s and cannot become %s.", ref, rec.Status, status)
		}
		var fam familyRecord
		famRev, err := e.getJSON(ctx, familyKey(family), &fam)
		if err != nil {
			return err
		}
		if rec.Status == statusActive {
			fam.Active--
		}
		old := rec.Status
		rec.Status = status
		rec.TaskDefinition.Status = ecsapi.Ptr(ecsapi.TaskDefinitionStatus(status))
		if status == statusInactive {
			rec.TaskDefinition.DeregisteredAt = ecsapi.Time(e.now())
		}
		_, err = e.st.Txn(ctx,
			[]store.Cond{{Key: taskDefKey(family, rev), ModRev: modRev}, {Key: familyKey(family), ModRev: famRev}},
			[]store.Op{
				store.Put(taskDefKey(family, rev), mustJSON(rec)),
				store.Put(familyKey(family), mustJSON(fam)),
				store.Delete(tdIndexKey(old, family, rev)),
				store.Put(tdIndexKey(status, family, rev), nil),
			})
		out = rec
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeregisterTaskDefinition marks a revision INACTIVE. Running tasks and
// services that use it are not affected.
func (e *ECS) DeregisterTaskDefinition(ctx context.Context, in *ecsapi.DeregisterTaskDefinitionRequest) (*ecsapi.DeregisterTaskDefinitionResponse, error) {
	rec, err := e.setTaskDefStatus(ctx, in.TaskDefinition, statusInactive, statusActive)
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeregisterTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition}, nil
}

// DeleteTaskDefinitions moves up to 10 INACTIVE revisions to
// DELETE_IN_PROGRESS; the rest are reported in failures.
func (e *ECS) DeleteTaskDefinitions(ctx context.Context, in *ecsapi.DeleteTaskDefinitionsRequest) (*ecsapi.DeleteTaskDefinitionsResponse, error) {
	if len(in.TaskDefinitions) > 10 {
		return nil, invalidParam("You can specify up to 10 task definitions in a single request.")
	}
	out := &ecsapi.DeleteTaskDefinitionsResponse{TaskDefinitions: []ecsapi.TaskDefinition{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.TaskDefinitions {
		rec, err := e.setTaskDefStatus(ctx, ref, statusDeleteInProgress, statusInactive)
		var ae *awsjson.Error
		switch {
		case err == nil:
			out.TaskDefinitions = append(out.TaskDefinitions, rec.TaskDefinition)
		case errors.As(err, &ae) && !ae.Fault:
			reason := "The specified task definition does not exist."
			if !errors.Is(err, errNoTaskDef) {
				reason = "The specified task definition is not in an INACTIVE state. Deregister it first."
			}
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: ecsapi.Ptr(ref), Reason: ecsapi.Ptr(reason)})
		default:
			return nil, err
		}
	}
	return out, nil
}
