package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// TestWatchSkipsCommittedButUnpublished pins down the window between a
// commit and its publish to watchers: a watcher catching up from the log in
// that window must not replay the new revision itself, or it would get it a
// second time from the live feed.
func TestWatchSkipsCommittedButUnpublished(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "berth.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r1, err := s.Txn(ctx, nil, []store.Op{store.Put("u/a", []byte("a"))})
	if err != nil {
		t.Fatal(err)
	}
	// Commit r1+1 the way the committer does, but hold back the publish.
	req := &txnReq{ops: []store.Op{store.Put("u/b", []byte("b"))}, done: make(chan struct{})}
	if err := s.commitTx([]*txnReq{req}); err != nil || req.rev != r1+1 {
		t.Fatalf("commitTx: rev %d, %v", req.rev, err)
	}
	ch, err := s.Watch(ctx, "u/", 0)
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string, rev int64) {
		t.Helper()
		select {
		case ev := <-ch:
			if ev.KV.Key != want || ev.KV.ModRev != rev {
				t.Fatalf("event %s at %d; want %s at %d", ev.KV.Key, ev.KV.ModRev, want, rev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event; want %s at %d", want, rev)
		}
	}
	next("u/a", r1)
	s.hub.publish(req.rev, req.events)
	next("u/b", r1+1)
	r3, err := s.Txn(ctx, nil, []store.Op{store.Put("u/c", []byte("c"))})
	if err != nil {
		t.Fatal(err)
	}
	next("u/c", r3) // not a second u/b
}
