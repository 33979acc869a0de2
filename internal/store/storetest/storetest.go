// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a new, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// Subtests run one after another (a backend may share one revision counter
// between them). Run closes every store it opened when the subtest ends, so
// Close must tolerate being called twice.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Compactor is implemented by backends that can discard Watch history on
// demand: afterwards Watch from a revision below rev returns
// store.ErrCompacted. Run tests ErrCompacted only for such backends.
type Compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// waitTimeout bounds every wait for a watch event or channel close.
const waitTimeout = 10 * time.Second

// Run runs the conformance suite. open must return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Revisions", testRevisions},
		{"CAS", testCAS},
		{"CASMultiOpAllOrNothing", testCASMultiOp},
		{"CreateOnly", testCreateOnly},
		{"Delete", testDelete},
		{"ListPrefix", testListPrefix},
		{"ListPaging", testListPaging},
		{"ListHighBytePrefix", testListHighBytePrefix},
		{"WatchLive", testWatchLive},
		{"WatchReplayThenLive", testWatchReplay},
		{"WatchMultiOpTxn", testWatchMultiOp},
		{"WatchUnreadBacklog", testWatchBacklog},
		{"WatchFromFutureRevision", testWatchFutureRev},
		{"WatchStartDuringWrites", testWatchStartDuringWrites},
		{"WatchCancel", testWatchCancel},
		{"WatchCompacted", testWatchCompacted},
		{"ConcurrentCASCounter", testConcurrentCAS},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(testCtx(t), nil, []store.Op{store.Put(key, []byte(value))})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return rev
}

func del(t *testing.T, s store.Store, key string) int64 {
	t.Helper()
	rev, err := s.Txn(testCtx(t), nil, []store.Op{store.Delete(key)})
	if err != nil {
		t.Fatalf("delete %q: %v", key, err)
	}
	return rev
}

func get(t *testing.T, s store.Store, key string) store.KV {
	t.Helper()
	kv, err := s.Get(testCtx(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return kv
}

func rev(t *testing.T, s store.Store) int64 {
	t.Helper()
	r, err := s.Rev(testCtx(t))
	if err != nil {
		t.Fatalf("rev: %v", err)
	}
	return r
}

func wantMissing(t *testing.T, s store.Store, key string) {
	t.Helper()
	if kv, err := s.Get(testCtx(t), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %q = %+v, %v; want ErrNotFound", key, kv, err)
	}
}

func wantKV(t *testing.T, got store.KV, key, value string, createRev, modRev int64) {
	t.Helper()
	if got.Key != key || !bytes.Equal(got.Value, []byte(value)) || got.CreateRev != createRev || got.ModRev != modRev {
		t.Fatalf("got %s; want %s", fmtKV(got), fmtKV(store.KV{Key: key, Value: []byte(value), CreateRev: createRev, ModRev: modRev}))
	}
}

func fmtKV(kv store.KV) string {
	return fmt.Sprintf("{%q=%q create=%d mod=%d}", kv.Key, kv.Value, kv.CreateRev, kv.ModRev)
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "missing")
	put(t, s, "present", "x")
	wantMissing(t, s, "pres")
	wantMissing(t, s, "present/child")
}

func testPutGet(t *testing.T, s store.Store) {
	for _, tc := range []struct{ key, value string }{
		{"a", "1"},
		{"nested/key/with/slashes", "v"},
		{"unicode/ключ", "значение"},
		{"binary", "\x00\x01\xff\x00"},
		{"empty-value", ""},
	} {
		r := put(t, s, tc.key, tc.value)
		wantKV(t, get(t, s, tc.key), tc.key, tc.value, r, r)
	}
	// Txn must not keep the caller's slice.
	buf := []byte("original")
	r, err := s.Txn(testCtx(t), nil, []store.Op{store.Put("aliased", buf)})
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	wantKV(t, get(t, s, "aliased"), "aliased", "original", r, r)
	// Nor may Get hand out the store's memory.
	kv := get(t, s, "aliased")
	copy(kv.Value, "YYYYYYYY")
	wantKV(t, get(t, s, "aliased"), "aliased", "original", r, r)
}

func testRevisions(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r0 := rev(t, s)
	r1 := put(t, s, "a", "v1")
	if r1 != r0+1 {
		t.Fatalf("first put at rev %d; want %d", r1, r0+1)
	}
	if got := rev(t, s); got != r1 {
		t.Fatalf("Rev = %d after put at %d", got, r1)
	}
	r2 := put(t, s, "a", "v2")
	if r2 != r1+1 {
		t.Fatalf("update at rev %d; want %d", r2, r1+1)
	}
	wantKV(t, get(t, s, "a"), "a", "v2", r1, r2)

	r3, err := s.Txn(ctx, nil, []store.Op{store.Put("b", []byte("x")), store.Put("c", []byte("y"))})
	if err != nil {
		t.Fatal(err)
	}
	if r3 != r2+1 {
		t.Fatalf("two-op txn at rev %d; want %d (one revision per txn)", r3, r2+1)
	}
	wantKV(t, get(t, s, "b"), "b", "x", r3, r3)
	wantKV(t, get(t, s, "c"), "c", "y", r3, r3)

	if got, err := s.Txn(ctx, nil, nil); err != nil || got != r3 {
		t.Fatalf("empty txn = %d, %v; want %d, nil", got, err, r3)
	}
	if got, err := s.Txn(ctx, []store.Cond{{Key: "a", ModRev: r2}}, nil); err != nil || got != r3 {
		t.Fatalf("empty txn with holding cond = %d, %v; want %d, nil", got, err, r3)
	}
	if _, err := s.Txn(ctx, []store.Cond{{Key: "a", ModRev: r1}}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("empty txn with failing cond: %v; want ErrConflict", err)
	}
	if _, err := s.Txn(ctx, []store.Cond{{Key: "a", ModRev: r1}}, []store.Op{store.Put("a", nil)}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("failing txn: %v; want ErrConflict", err)
	}
	if got := rev(t, s); got != r3 {
		t.Fatalf("Rev = %d after no-op txns; want %d", got, r3)
	}
	if _, lrev, err := s.List(ctx, "", store.ListOptions{}); err != nil || lrev != r3 {
		t.Fatalf("List rev = %d, %v; want %d", lrev, err, r3)
	}

	r4 := del(t, s, "a")
	if r4 != r3+1 {
		t.Fatalf("delete at rev %d; want %d", r4, r3+1)
	}
	r5 := put(t, s, "a", "again")
	wantKV(t, get(t, s, "a"), "a", "again", r5, r5) // a new life: new CreateRev
	if r5 != r4+1 {
		t.Fatalf("re-create at rev %d; want %d", r5, r4+1)
	}
}

func testCAS(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r1 := put(t, s, "k", "v1")
	r2, err := s.Txn(ctx, []store.Cond{{Key: "k", ModRev: r1}}, []store.Op{store.Put("k", []byte("v2"))})
	if err != nil {
		t.Fatalf("CAS with current ModRev: %v", err)
	}
	wantKV(t, get(t, s, "k"), "k", "v2", r1, r2)

	_, err = s.Txn(ctx, []store.Cond{{Key: "k", ModRev: r1}}, []store.Op{store.Put("k", []byte("v3"))})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CAS with stale ModRev: %v; want ErrConflict", err)
	}
	wantKV(t, get(t, s, "k"), "k", "v2", r1, r2)
	if got := rev(t, s); got != r2 {
		t.Fatalf("Rev = %d after conflict; want %d", got, r2)
	}
	_, err = s.Txn(ctx, []store.Cond{{Key: "missing", ModRev: r1}}, []store.Op{store.Put("missing", nil)})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cond on missing key with ModRev %d: %v; want ErrConflict", r1, err)
	}
	wantMissing(t, s, "missing")
}

func testCASMultiOp(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	ra := put(t, s, "a", "a1")
	rb := put(t, s, "b", "b1")
	// One failing cond among holding ones: no op applies.
	_, err := s.Txn(ctx,
		[]store.Cond{{Key: "a", ModRev: ra}, {Key: "b", ModRev: ra}},
		[]store.Op{store.Put("a", []byte("a2")), store.Put("c", []byte("c1")), store.Delete("b")})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("multi-op txn with one stale cond: %v; want ErrConflict", err)
	}
	wantKV(t, get(t, s, "a"), "a", "a1", ra, ra)
	wantKV(t, get(t, s, "b"), "b", "b1", rb, rb)
	wantMissing(t, s, "c")
	if got := rev(t, s); got != rb {
		t.Fatalf("Rev = %d after conflict; want %d", got, rb)
	}
	// All conds hold: every op applies at one revision.
	r, err := s.Txn(ctx,
		[]store.Cond{{Key: "a", ModRev: ra}, {Key: "b", ModRev: rb}, {Key: "c", ModRev: 0}},
		[]store.Op{store.Put("a", []byte("a2")), store.Put("c", []byte("c1")), store.Delete("b")})
	if err != nil {
		t.Fatalf("multi-op txn: %v", err)
	}
	if r != rb+1 {
		t.Fatalf("multi-op txn at rev %d; want %d", r, rb+1)
	}
	wantKV(t, get(t, s, "a"), "a", "a2", ra, r)
	wantKV(t, get(t, s, "c"), "c", "c1", r, r)
	wantMissing(t, s, "b")
}

func testCreateOnly(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	create := func() (int64, error) {
		return s.Txn(ctx, []store.Cond{{Key: "x", ModRev: 0}}, []store.Op{store.Put("x", []byte("new"))})
	}
	r1, err := create()
	if err != nil {
		t.Fatalf("create-only on missing key: %v", err)
	}
	wantKV(t, get(t, s, "x"), "x", "new", r1, r1)
	if _, err := create(); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create-only on existing key: %v; want ErrConflict", err)
	}
	del(t, s, "x")
	r3, err := create()
	if err != nil {
		t.Fatalf("create-only after delete: %v", err)
	}
	wantKV(t, get(t, s, "x"), "x", "new", r3, r3)
}

func testDelete(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r1 := put(t, s, "d", "v")
	put(t, s, "d2", "keep")
	_, err := s.Txn(ctx, []store.Cond{{Key: "d", ModRev: r1 - 1}}, []store.Op{store.Delete("d")})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CAS delete with stale ModRev: %v; want ErrConflict", err)
	}
	get(t, s, "d")
	r2, err := s.Txn(ctx, []store.Cond{{Key: "d", ModRev: r1}}, []store.Op{store.Delete("d")})
	if err != nil {
		t.Fatalf("CAS delete: %v", err)
	}
	wantMissing(t, s, "d")
	get(t, s, "d2")
	kvs, _, err := s.List(ctx, "d", store.ListOptions{})
	if err != nil || len(kvs) != 1 || kvs[0].Key != "d2" {
		t.Fatalf("List after delete = %v, %v; want only d2", kvs, err)
	}
	// Deleting a missing key is not an error and changes nothing.
	if got, err := s.Txn(ctx, nil, []store.Op{store.Delete("never-existed")}); err != nil || got != r2 {
		t.Fatalf("delete missing key = %d, %v; want %d, nil", got, err, r2)
	}
}
