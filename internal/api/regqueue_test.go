package api

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
)

func registerReq(family string) *ecsapi.RegisterTaskDefinitionRequest {
	return &ecsapi.RegisterTaskDefinitionRequest{
		Family: family,
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("busybox"), Memory: ecsapi.Ptr(int32(64)),
		}},
	}
}

// TestConcurrentRegistrationsCombine registers one family from many
// goroutines at once (plus a second family) and checks every caller got its
// own revision, the revisions are exactly 1..N, each stored once with the
// caller's definition, and the family record agrees.
func TestConcurrentRegistrationsCombine(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	const workers, each = 16, 25
	revs := make(chan int32, workers*each)
	var wg sync.WaitGroup
	startRev, _ := e.st.Rev(ctx)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				family := "web"
				if w == 0 {
					family = "other"
				}
				out, err := e.RegisterTaskDefinition(ctx, registerReq(family))
				if err != nil {
					t.Error(err)
					return
				}
				td := out.TaskDefinition
				if td.Family == nil || *td.Family != family || *td.TaskDefinitionArn != e.names.TaskDefinition(family, td.Revision) {
					t.Errorf("registration of %s answered with %v %v", family, ecsapi.Value(td.Family), ecsapi.Value(td.TaskDefinitionArn))
				}
				if family == "web" {
					revs <- td.Revision
				}
			}
		}()
	}
	wg.Wait()
	close(revs)
	seen := map[int32]bool{}
	for r := range revs {
		if seen[r] {
			t.Fatalf("revision %d handed to two callers", r)
		}
		seen[r] = true
	}
	const n = (workers - 1) * each
	for r := int32(1); r <= n; r++ {
		if !seen[r] {
			t.Fatalf("revision %d missing: revisions are not 1..%d", r, n)
		}
		d, err := e.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: fmt.Sprintf("web:%d", r)})
		if err != nil || d.TaskDefinition.Revision != r {
			t.Fatalf("describe web:%d = %v, %v", r, d, err)
		}
	}
	var fam familyRecord
	if _, err := e.getJSON(ctx, familyKey("web"), &fam); err != nil || fam.Latest != n || fam.Active != n {
		t.Fatalf("family record = %+v, %v; want latest and active %d", fam, err, n)
	}
	endRev, _ := e.st.Rev(ctx)
	t.Logf("%d registrations in %d store commits", workers*each, endRev-startRev)
	if e.reg.families["web"] != nil || e.reg.families["other"] != nil {
		t.Error("a family queue outlived its registrations")
	}
}

func TestRegistrationWaiterCancelled(t *testing.T) {
	e := newTestECS(t, nil)
	// A caller that stops waiting gets its context's error; the family
	// keeps working.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &registration{in: registerReq("web"), done: make(chan struct{})}
	e.reg.mu.Lock()
	e.reg.families = map[string]*familyQueue{"web": {}}
	e.reg.mu.Unlock()
	if _, err := e.register(cctx, r); err != context.Canceled {
		t.Fatalf("cancelled waiter = %v, want context.Canceled", err)
	}
	e.reg.mu.Lock()
	delete(e.reg.families, "web")
	e.reg.mu.Unlock()
	out, err := e.RegisterTaskDefinition(context.Background(), registerReq("web"))
	if err != nil || out.TaskDefinition.Revision != 1 {
		t.Fatalf("register after a cancelled waiter = %v, %v", out, err)
	}
}
