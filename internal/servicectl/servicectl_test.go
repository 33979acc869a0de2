package servicectl

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

// recorder is a Reconciler that records its passes and asks for the waits
// it is given.
type recorder struct {
	mu     sync.Mutex
	passes map[string]int
	wait   map[string]time.Duration
	err    error
}

func (r *recorder) ReconcileCluster(_ context.Context, cluster string) (time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes[cluster]++
	err := r.err
	r.err = nil
	return r.wait[cluster], err
}

func (r *recorder) count(cluster string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passes[cluster]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestController: existing services get a pass at start; a change under
// /services/, /tasks/ or /instances/ triggers a pass of its cluster only;
// a requested wait brings a pass back; a conflict is retried.
func TestController(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "b.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	put := func(key string) {
		if _, err := st.Txn(ctx, nil, []store.Op{store.Put(key, []byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	put("/services/a/web")
	rec := &recorder{passes: map[string]int{}, wait: map[string]time.Duration{}}
	c := &Controller{Store: st, Rec: rec, Resync: time.Hour}
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()

	waitFor(t, "the pass at start", func() bool { return rec.count("a") == 1 })
	put("/tasks/b/t1")
	waitFor(t, "a pass of b after a task change", func() bool { return rec.count("b") == 1 })
	put("/instances/a/i1")
	waitFor(t, "a pass of a after an instance change", func() bool { return rec.count("a") == 2 })
	put("/other/a/x")
	time.Sleep(100 * time.Millisecond)
	if rec.count("a") != 2 {
		t.Errorf("a change outside the watched prefixes ran a pass")
	}

	rec.mu.Lock()
	rec.wait["a"] = 50 * time.Millisecond
	rec.mu.Unlock()
	put("/services/a/web")
	waitFor(t, "passes brought back by the requested wait", func() bool { return rec.count("a") >= 5 })

	rec.mu.Lock()
	rec.wait["a"] = 0
	rec.err = store.ErrConflict
	rec.mu.Unlock()
	n := rec.count("a")
	put("/services/a/web")
	waitFor(t, "a retry after a conflict", func() bool { return rec.count("a") >= n+2 })

	cancel()
	<-done
}

func TestClusterOf(t *testing.T) {
	for key, want := range map[string]string{
		"/tasks/prod/abc":  "prod",
		"/services/x/web":  "x",
		"/services/":       "",
		"/instances/c":     "c",
		"/elsewhere/c/abc": "",
	} {
		prefix := "/tasks/"
		for _, p := range watched {
			if len(key) >= len(p) && key[:len(p)] == p {
				prefix = p
			}
		}
		if got := clusterOf(prefix, key); got != want {
			t.Errorf("clusterOf(%q) = %q, want %q", key, got, want)
		}
	}
}
