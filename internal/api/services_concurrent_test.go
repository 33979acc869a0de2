package api

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// TestConcurrentCreateService: many CreateService calls on one cluster at
// once (as Terraform makes them) all succeed: each rewrites the cluster
// record, so they conflict, and retries must get every one through.
func TestConcurrentCreateService(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	td, err := e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "web", ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64))}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: fmt.Sprintf("svc%02d", i), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: ecsapi.Ptr(int32(1))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	out, err := e.ListServices(ctx, &ecsapi.ListServicesRequest{MaxResults: ecsapi.Ptr(int32(100))})
	if err != nil || len(out.ServiceArns) != 32 {
		t.Fatalf("ListServices = %d services, %v", len(out.ServiceArns), err)
	}
}
