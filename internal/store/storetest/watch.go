package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

func watch(t *testing.T, ctx context.Context, s store.Store, prefix string, afterRev int64) <-chan store.Event {
	t.Helper()
	ch, err := s.Watch(ctx, prefix, afterRev)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, afterRev, err)
	}
	return ch
}

// next returns the next event, failing if none arrives within waitTimeout or
// the channel closes.
func next(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed; want an event")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %s", waitTimeout)
	}
	panic("unreachable")
}

// waitClosed drains ch until it is closed, failing after waitTimeout.
func waitClosed(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("watch channel not closed within %s", waitTimeout)
		}
	}
}

type wantEv struct {
	typ       store.EventType
	key       string
	value     string
	createRev int64 // checked for puts only
	modRev    int64
}

func fmtEv(ev store.Event) string {
	return fmt.Sprintf("type=%d %s", ev.Type, fmtKV(ev.KV))
}

func expect(t *testing.T, ch <-chan store.Event, want ...wantEv) {
	t.Helper()
	for i, w := range want {
		ev := next(t, ch)
		ok := ev.Type == w.typ && ev.KV.Key == w.key && ev.KV.ModRev == w.modRev
		if w.typ == store.EventPut {
			ok = ok && bytes.Equal(ev.KV.Value, []byte(w.value)) && ev.KV.CreateRev == w.createRev
		} else {
			ok = ok && ev.KV.Value == nil
		}
		if !ok {
			t.Fatalf("event %d = %s; want %+v", i, fmtEv(ev), w)
		}
	}
}

func putEv(key, value string, createRev, modRev int64) wantEv {
	return wantEv{store.EventPut, key, value, createRev, modRev}
}

func delEv(key string, modRev int64) wantEv {
	return wantEv{typ: store.EventDelete, key: key, modRev: modRev}
}

func testWatchLive(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	ch := watch(t, ctx, s, "w/", rev(t, s))
	r1 := put(t, s, "w/a", "1")
	put(t, s, "other/x", "no")
	r3 := put(t, s, "w/b", "2")
	r4 := del(t, s, "w/a")
	r5, err := s.Txn(ctx, nil, []store.Op{
		store.Put("w/c", []byte("3")), store.Put("other/y", nil), store.Delete("w/b"),
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "w", "not under w/")
	put(t, s, "wx", "not under w/")
	r8 := put(t, s, "w/end", "sentinel")
	expect(t, ch,
		putEv("w/a", "1", r1, r1),
		putEv("w/b", "2", r3, r3),
		delEv("w/a", r4),
		putEv("w/c", "3", r5, r5),
		delEv("w/b", r5),
		putEv("w/end", "sentinel", r8, r8), // nothing from other prefixes came in between
	)
}

func testWatchReplay(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r0 := rev(t, s)
	r1 := put(t, s, "w/a", "1")
	put(t, s, "x/a", "no")
	r3 := put(t, s, "w/b", "2")
	r4 := del(t, s, "w/a")

	t.Run("FromMiddle", func(t *testing.T) {
		ch := watch(t, ctx, s, "w/", r1)
		expect(t, ch, putEv("w/b", "2", r3, r3), delEv("w/a", r4))
	})
	ch := watch(t, ctx, s, "w/", r0)
	expect(t, ch, putEv("w/a", "1", r1, r1), putEv("w/b", "2", r3, r3), delEv("w/a", r4))
	r5 := put(t, s, "w/c", "3")
	expect(t, ch, putEv("w/c", "3", r5, r5)) // replay continued live

	chNow := watch(t, ctx, s, "w/", r5)
	r6 := put(t, s, "w/d", "4")
	expect(t, chNow, putEv("w/d", "4", r6, r6))
	expect(t, ch, putEv("w/d", "4", r6, r6))
}

func testWatchMultiOp(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r0 := rev(t, s)
	live := watch(t, ctx, s, "m/", r0)
	r1, err := s.Txn(ctx, nil, []store.Op{
		store.Put("m/3", []byte("c")), store.Put("m/1", []byte("a")), store.Put("n/1", nil), store.Put("m/2", []byte("b")),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []wantEv{putEv("m/3", "c", r1, r1), putEv("m/1", "a", r1, r1), putEv("m/2", "b", r1, r1)}
	expect(t, live, want...)
	expect(t, watch(t, ctx, s, "m/", r0), want...) // same from history
}

// testWatchBacklog writes many revisions (concurrently, so that writes group)
// while a watcher reads nothing, then checks that every event arrives once,
// in revision order.
func testWatchBacklog(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	const workers, perWorker = 8, 40
	ch := watch(t, ctx, s, "bl/", rev(t, s))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := fmt.Sprintf("bl/%d/%d", w, i)
				if _, err := s.Txn(ctx, nil, []store.Op{store.Put(k, []byte(k)), store.Put("noise/"+k, nil)}); err != nil {
					t.Errorf("put %s: %v", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[string]bool{}
	var last int64
	for range workers * perWorker {
		ev := next(t, ch)
		if ev.Type != store.EventPut || !bytes.Equal(ev.KV.Value, []byte(ev.KV.Key)) || seen[ev.KV.Key] {
			t.Fatalf("unexpected or repeated event %s", fmtEv(ev))
		}
		if ev.KV.ModRev <= last {
			t.Fatalf("event %s after revision %d: out of order", fmtEv(ev), last)
		}
		seen[ev.KV.Key], last = true, ev.KV.ModRev
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(testCtx(t))
	ch := watch(t, ctx, s, "c/", rev(t, s))
	idle := watch(t, ctx, s, "idle/", rev(t, s))
	r := put(t, s, "c/1", "x")
	expect(t, ch, putEv("c/1", "x", r, r))
	cancel()
	waitClosed(t, ch)
	waitClosed(t, idle)
}

func testWatchCompacted(t *testing.T, s store.Store) {
	c, ok := s.(Compactor)
	if !ok {
		t.Skip("backend does not implement storetest.Compactor")
	}
	ctx := testCtx(t)
	var revs []int64
	for i := range 5 {
		revs = append(revs, put(t, s, "c/"+strconv.Itoa(i), "v"))
	}
	if err := c.Compact(ctx, revs[2]); err != nil {
		t.Fatalf("Compact(%d): %v", revs[2], err)
	}
	for _, after := range []int64{0, revs[0], revs[1]} {
		if _, err := s.Watch(ctx, "c/", after); !errors.Is(err, store.ErrCompacted) {
			t.Fatalf("Watch after %d (compacted through %d): %v; want ErrCompacted", after, revs[2], err)
		}
	}
	ch := watch(t, ctx, s, "c/", revs[2])
	expect(t, ch, putEv("c/3", "v", revs[3], revs[3]), putEv("c/4", "v", revs[4], revs[4]))
}

// testConcurrentCAS has many goroutines increment one counter with
// read-then-CAS loops; no increment may be lost and the counter's history
// must be 1..n at consecutive revisions.
func testConcurrentCAS(t *testing.T, s store.Store) {
	const workers, incs = 8, 50
	ctx := testCtx(t)
	r0 := rev(t, s)
	ch := watch(t, ctx, s, "counter", r0)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		revs   []int64
		owners = map[string]string{} // owners/N -> worker whose CAS set the counter to N
	)
	for worker := range workers {
		wg.Go(func() {
			for range incs {
				for attempt := 0; ; attempt++ {
					if attempt > 100*workers*incs {
						t.Errorf("increment still conflicting after %d attempts", attempt)
						return
					}
					var n, modRev int64
					kv, err := s.Get(ctx, "counter")
					switch {
					case err == nil:
						modRev = kv.ModRev
						if n, err = strconv.ParseInt(string(kv.Value), 10, 64); err != nil {
							t.Errorf("counter value %q: %v", kv.Value, err)
							return
						}
					case !errors.Is(err, store.ErrNotFound):
						t.Errorf("get counter: %v", err)
						return
					}
					// The second op makes a losing Txn's leaked write visible.
					r, err := s.Txn(ctx, []store.Cond{{Key: "counter", ModRev: modRev}}, []store.Op{
						store.Put("counter", []byte(strconv.FormatInt(n+1, 10))),
						store.Put(fmt.Sprintf("owners/%04d", n+1), []byte(strconv.Itoa(worker))),
					})
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("CAS increment: %v", err)
						return
					}
					mu.Lock()
					revs = append(revs, r)
					owners[fmt.Sprintf("owners/%04d", n+1)] = strconv.Itoa(worker)
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = workers * incs
	if kv := get(t, s, "counter"); string(kv.Value) != strconv.Itoa(total) {
		t.Fatalf("counter = %q; want %d (lost updates)", kv.Value, total)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != r0+1+int64(i) {
			t.Fatalf("committed revisions %v...: want consecutive from %d (gap or duplicate at %d)", revs[:i+1], r0+1, i)
		}
	}
	kvs, _, err := s.List(ctx, "owners/", store.ListOptions{})
	if err != nil || len(kvs) != total {
		t.Fatalf("List owners/ = %d keys, %v; want %d", len(kvs), err, total)
	}
	for _, kv := range kvs {
		if string(kv.Value) != owners[kv.Key] {
			t.Fatalf("%s = %q; want %q: a conflicting Txn wrote", kv.Key, kv.Value, owners[kv.Key])
		}
	}
	for i := 1; i <= total; i++ {
		ev := next(t, ch)
		if ev.Type != store.EventPut || string(ev.KV.Value) != strconv.Itoa(i) || ev.KV.ModRev != r0+int64(i) || ev.KV.CreateRev != r0+1 {
			t.Fatalf("watch event %d = %s; want counter=%d at rev %d", i, fmtEv(ev), i, r0+int64(i))
		}
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	ch := watch(t, ctx, s, "", rev(t, s))
	put(t, s, "a", "1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, ch)
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v; want ErrClosed", op, err)
		}
	}
	_, err := s.Get(ctx, "a")
	check("Get", err)
	_, _, err = s.List(ctx, "", store.ListOptions{})
	check("List", err)
	_, err = s.Txn(ctx, nil, []store.Op{store.Put("b", nil)})
	check("Txn", err)
	_, err = s.Txn(ctx, nil, nil)
	check("empty Txn", err)
	_, err = s.Watch(ctx, "", 0)
	check("Watch", err)
	_, err = s.Rev(ctx)
	check("Rev", err)
}

func testWatchFutureRev(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	r0 := rev(t, s)
	ch := watch(t, ctx, s, "f/", r0+2)
	put(t, s, "f/1", "skip")
	put(t, s, "f/2", "skip")
	r3 := put(t, s, "f/3", "see")
	expect(t, ch, putEv("f/3", "see", r3, r3))
}

// testWatchStartDuringWrites starts watchers from recent revisions while
// writers are committing; each must see exactly the revisions after its
// start, once each and in order, across the switch from history to live.
func testWatchStartDuringWrites(t *testing.T, s store.Store) {
	const writers, perWriter, watchers = 4, 50, 20
	ctx := testCtx(t)
	r0 := rev(t, s)
	progress := make(chan struct{}, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := fmt.Sprintf("sw/%d/%03d", w, i)
				if _, err := s.Txn(ctx, nil, []store.Op{store.Put(k, []byte(k))}); err != nil {
					t.Errorf("put %s: %v", k, err)
					return
				}
				progress <- struct{}{}
			}
		})
	}
	type started struct {
		after int64
		ch    <-chan store.Event
	}
	var ws []started
	for i := range watchers {
		for range (writers * perWriter) / (watchers + 1) {
			<-progress
		}
		after := max(r0, rev(t, s)-int64(i%4)) // from history and from "now"
		ws = append(ws, started{after, watch(t, ctx, s, "sw/", after)})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	final := r0 + writers*perWriter
	for _, w := range ws {
		for want := w.after + 1; want <= final; want++ {
			if ev := next(t, w.ch); ev.KV.ModRev != want {
				t.Fatalf("watcher after %d: event %s; want revision %d", w.after, fmtEv(ev), want)
			}
		}
	}
}
