package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// BenchmarkRunTask is one RunTask (count 10) through the API and the real
// store, fsync included, on 1,000 connected instances that each carry 40
// attributes, as ECS agents register them.
func BenchmarkRunTask(b *testing.B) {
	e := newTestECS(b, nil)
	ctx := context.Background()
	var caps []ecsapi.Attribute
	for i := range 40 {
		caps = append(caps, ecsapi.Attribute{Name: fmt.Sprintf("com.amazonaws.ecs.capability.c%02d", i)})
	}
	for range 1000 {
		out, err := e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{
			TotalResources: []ecsapi.Resource{res("CPU", "INTEGER", 1<<20), res("MEMORY", "INTEGER", 1<<20)},
			Attributes:     caps,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.SetAgentConnected(ctx, "default", lastSegment(ecsapi.Value(out.ContainerInstance.ContainerInstanceArn)), true); err != nil {
			b.Fatal(err)
		}
	}
	td, err := e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "bench", ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("a"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(6))}}})
	if err != nil {
		b.Fatal(err)
	}
	in := &ecsapi.RunTaskRequest{TaskDefinition: ecsapi.Value(td.TaskDefinition.TaskDefinitionArn), Count: ecsapi.Ptr(int32(10))}
	b.ResetTimer()
	for range b.N {
		if out, err := e.RunTask(ctx, in); err != nil || len(out.Tasks) != 10 {
			b.Fatal(err, out.Failures)
		}
	}
}
