package cloudmapapi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/awsjson"
)

type recorder struct {
	Unimplemented
	got *DiscoverInstancesRequest
}

func (r *recorder) DiscoverInstances(_ context.Context, in *DiscoverInstancesRequest) (*DiscoverInstancesResponse, error) {
	r.got = in
	return &DiscoverInstancesResponse{}, nil
}

func code(err error) string {
	var e *awsjson.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestDispatch(t *testing.T) {
	r := &recorder{}
	ctx := context.Background()
	if _, err := Dispatch(ctx, r, OpDiscoverInstances, []byte(`{"NamespaceName":"ns","ServiceName":"svc","MaxResults":5}`)); err != nil {
		t.Fatal(err)
	}
	if r.got.NamespaceName != "ns" || Value(r.got.MaxResults) != 5 || r.got.HealthStatus != nil {
		t.Fatalf("decoded %+v", r.got)
	}
	// Optional scalars are pointers: absent MaxResults is not 0.
	if _, err := Dispatch(ctx, r, OpDiscoverInstances, []byte(`{"NamespaceName":"ns","ServiceName":"svc"}`)); err != nil || r.got.MaxResults != nil {
		t.Fatalf("absent MaxResults: %v, %v", r.got.MaxResults, err)
	}
	_, err := Dispatch(ctx, r, OpDiscoverInstances, []byte(`{"NamespaceName":"ns","MaxResults":5000,"HealthStatus":"SOMETIMES"}`))
	if code(err) != CodeInvalidInput || !strings.Contains(err.Error(), "3 validation errors") {
		t.Fatalf("validation = %v", err)
	}
	// An absent list with a minimum size is fine; a present empty one is not.
	if _, err := Dispatch(ctx, r, OpGetInstancesHealthStatus, []byte(`{"ServiceId":"srv-1"}`)); code(err) != CodeInvalidInput || !strings.Contains(err.Error(), "does not implement") {
		t.Fatalf("absent list = %v", err)
	}
	if _, err := Dispatch(ctx, r, OpGetInstancesHealthStatus, []byte(`{"ServiceId":"srv-1","Instances":[]}`)); code(err) != CodeInvalidInput || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("empty list = %v", err)
	}
	if _, err := Dispatch(ctx, r, "Nope", nil); code(err) != awsjson.CodeUnknownOperation {
		t.Fatalf("unknown op = %v", err)
	}
	if TargetPrefix != "Route53AutoNaming_v20170314" || SigningName != "servicediscovery" {
		t.Fatalf("metadata %s %s", TargetPrefix, SigningName)
	}
}
