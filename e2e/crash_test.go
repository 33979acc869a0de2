package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestCrashKeepsAcknowledgedRevisions kills the server with SIGKILL in the
// middle of a stream of RegisterTaskDefinition calls. After a restart every
// acknowledged revision is there, and the family's revisions run 1..N with
// no gap and no duplicate.
func TestCrashKeepsAcknowledgedRevisions(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const workers = 4
	var mu sync.Mutex
	acked := map[int32]bool{}
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && ctx.Err() == nil; i++ {
				out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("crashy"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[out.TaskDefinition.Revision] = true
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatal("the server acknowledged fewer than 300 registrations in time")
	}
	s.kill()
	wg.Wait()
	s.start()

	stored := map[int32]int{}
	var max int32
	p := ecs.NewListTaskDefinitionsPaginator(c, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("crashy")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.TaskDefinitionArns {
			d, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(a)})
			if err != nil {
				t.Fatalf("describe %s after restart: %v", a, err)
			}
			r := d.TaskDefinition.Revision
			stored[r]++
			if r > max {
				max = r
			}
		}
	}
	for r := range acked {
		if stored[r] == 0 {
			t.Errorf("acknowledged revision %d lost in the crash", r)
		}
	}
	for r := int32(1); r <= max; r++ {
		if stored[r] != 1 {
			t.Errorf("revision %d stored %d times, want once", r, stored[r])
		}
	}
	t.Logf("%d acknowledged, %d stored after the crash", len(acked), len(stored))

	// The next registration continues the sequence.
	out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("crashy"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web")}})
	if err != nil || out.TaskDefinition.Revision != max+1 {
		t.Fatalf("next revision = %v, %v; want %d", out, err, max+1)
	}
}
