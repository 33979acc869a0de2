package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/boltstore"
	"github.com/berth-dev/berth/internal/store/storetest"
	bolt "go.etcd.io/bbolt"
)

func openAt(t testing.TB, path string, opts boltstore.Options) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t testing.TB, opts boltstore.Options) *boltstore.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "berth.db"), opts)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, boltstore.Options{}) })
}

// TestConformanceTinyBuffers reruns the suite with watch queues so small
// that every watcher keeps falling back to the on-disk log.
func TestConformanceTinyBuffers(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t, boltstore.Options{WatchBuffer: 1}) })
}

func put(t testing.TB, s store.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, []byte(value))})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return rev
}

func TestReopenKeepsDataAndHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "berth.db") // parent dirs are created
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, s, "a", "1")
	r2 := put(t, s, "a", "2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, boltstore.Options{})
	if rev, _ := s.Rev(ctx); rev != r2 {
		t.Fatalf("Rev after reopen = %d; want %d", rev, r2)
	}
	kv, err := s.Get(ctx, "a")
	if err != nil || string(kv.Value) != "2" || kv.CreateRev != r1 || kv.ModRev != r2 {
		t.Fatalf("Get after reopen = %+v, %v", kv, err)
	}
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{r1, r2} {
		if ev := <-ch; ev.KV.ModRev != want {
			t.Fatalf("replayed event at %d; want %d", ev.KV.ModRev, want)
		}
	}
	if r3 := put(t, s, "b", "x"); r3 != r2+1 {
		t.Fatalf("first Txn after reopen at %d; want %d", r3, r2+1)
	}
}

func TestOpenRejectsBadFiles(t *testing.T) {
	garbage := make([]byte, 64<<10)
	_, _ = rand.Read(garbage)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"Directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
		{"RandomGarbage", func(t *testing.T, path string) {
			writeFile(t, path, garbage)
		}, "corrupted"},
		{"ShortText", func(t *testing.T, path string) {
			writeFile(t, path, []byte("this is not a database\n"))
		}, "corrupted"},
		{"GarbageOnePage", func(t *testing.T, path string) {
			writeFile(t, path, garbage[:4096])
		}, "corrupted"},
		{"ForeignBoltFile", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			_ = db.Close()
		}, "not a berth store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "berth.db")
			tc.setup(t, path)
			before := readFileOrNil(path)
			s, err := boltstore.Open(path, boltstore.Options{})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded; want an error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want it to name %s and say %q", err, path, tc.want)
			}
			if after := readFileOrNil(path); !bytes.Equal(before, after) {
				t.Fatal("Open modified the rejected file")
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFileOrNil(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

func TestOpenLockedByAnotherOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.db")
	openAt(t, path, boltstore.Options{})
	start := time.Now()
	s, err := boltstore.Open(path, boltstore.Options{}) // default LockTimeout
	elapsed := time.Since(start)
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open succeeded; want a lock error")
	}
	if !strings.Contains(err.Error(), "in use by another berth process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q; want it to name %s and say it is in use", err, path)
	}
	if elapsed > boltstore.DefaultLockTimeout+2*time.Second {
		t.Fatalf("second Open took %s", elapsed)
	}
}

func TestHistoryLimit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, boltstore.Options{HistoryLimit: 10})
	var last int64
	for i := range 30 {
		last = put(t, s, fmt.Sprintf("h/%02d", i), "v")
	}
	for _, after := range []int64{0, last - 11} {
		if _, err := s.Watch(ctx, "h/", after); !errors.Is(err, store.ErrCompacted) {
			t.Fatalf("Watch after %d with 10 revisions kept (rev %d): %v; want ErrCompacted", after, last, err)
		}
	}
	ch, err := s.Watch(ctx, "h/", last-10)
	if err != nil {
		t.Fatal(err)
	}
	for want := last - 9; want <= last; want++ {
		if ev := <-ch; ev.KV.ModRev != want {
			t.Fatalf("replayed rev %d; want %d", ev.KV.ModRev, want)
		}
	}
}

// TestSlowWatcherCatchesUpFromLog: a watcher that reads nothing while far
// more events than its queue holds are written still gets all of them.
func TestSlowWatcherCatchesUpFromLog(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, boltstore.Options{WatchBuffer: 4})
	r0, _ := s.Rev(ctx)
	ch, err := s.Watch(ctx, "s/", r0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	writeConcurrently(t, s, "s/", n)
	for want := r0 + 1; want <= r0+n; want++ {
		if ev := recv(t, ch); ev.KV.ModRev != want {
			t.Fatalf("event at rev %d; want %d", ev.KV.ModRev, want)
		}
	}
	live := put(t, s, "s/live", "x")
	if ev := recv(t, ch); ev.KV.ModRev != live {
		t.Fatalf("live event at rev %d; want %d", ev.KV.ModRev, live)
	}
}

// TestSlowWatcherPastHistoryIsClosed: a watcher so slow that the events it
// needs are compacted gets a gap-free prefix of the stream, then its channel
// is closed while its ctx is live; re-watching reports ErrCompacted.
func TestSlowWatcherPastHistoryIsClosed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, boltstore.Options{WatchBuffer: 2, HistoryLimit: 5})
	r0, _ := s.Rev(ctx)
	ch, err := s.Watch(ctx, "s/", r0)
	if err != nil {
		t.Fatal(err)
	}
	writeConcurrently(t, s, "s/", 300)
	last := r0
	timeout := time.After(10 * time.Second)
	for closed := false; !closed; {
		select {
		case ev, ok := <-ch:
			if !ok {
				closed = true
				break
			}
			if ev.KV.ModRev != last+1 {
				t.Fatalf("event at rev %d after %d: gap", ev.KV.ModRev, last)
			}
			last = ev.KV.ModRev
		case <-timeout:
			t.Fatal("watch channel neither delivered nor closed")
		}
	}
	if last == r0+300 {
		t.Fatal("slow watcher received everything; the test did not overflow it")
	}
	if _, err := s.Watch(ctx, "s/", last); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("re-watch after %d: %v; want ErrCompacted", last, err)
	}
}

func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

// writeConcurrently writes n single-key revisions under prefix from 8
// goroutines.
func writeConcurrently(t *testing.T, s store.Store, prefix string, n int) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				k := fmt.Sprintf("%s%06d", prefix, i)
				if _, err := s.Txn(context.Background(), nil, []store.Op{store.Put(k, []byte(k))}); err != nil {
					t.Errorf("put %s: %v", k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

const crashChildEnv = "BOLTSTORE_CRASH_CHILD_DB"

// TestCrashDurability runs this test binary as a child that writes as fast as
// it can and prints every acknowledged Txn, SIGKILLs it mid-stream, and
// checks that every acknowledged write survived and revisions are gap-free.
func TestCrashDurability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	const wantAcks = 300
	path := filepath.Join(t.TempDir(), "berth.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	acked := map[string]int64{}
	parse := func(line string) {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ACK" {
			return // test framework output
		}
		rev, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("bad ack line %q", line)
		}
		acked[f[1]] = rev
	}
	timeout := time.After(60 * time.Second)
	for len(acked) < wantAcks {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("child exited after %d acks; stderr:\n%s", len(acked), stderr.String())
			}
			parse(line)
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatalf("only %d acks within 60s; stderr:\n%s", len(acked), stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	for line := range lines { // acks printed before the kill count too
		parse(line)
	}
	_ = cmd.Wait()
	t.Logf("child killed after %d acknowledged txns", len(acked))

	ctx := context.Background()
	s := openAt(t, path, boltstore.Options{})
	for key, rev := range acked {
		kv, err := s.Get(ctx, key)
		if err != nil || kv.ModRev != rev || string(kv.Value) != key {
			t.Fatalf("acknowledged %s at rev %d; after crash: %+v, %v", key, rev, kv, err)
		}
	}
	cur, _ := s.Rev(ctx)
	kvs, lrev, err := s.List(ctx, "", store.ListOptions{KeysOnly: true})
	if err != nil || lrev != cur || int64(len(kvs)) != cur {
		t.Fatalf("after crash: %d keys, list rev %d, Rev %d, err %v; want one key per revision", len(kvs), lrev, cur, err)
	}
	seen := make([]bool, cur+1)
	for _, kv := range kvs { // every Txn created one key: ModRevs must be exactly 1..cur
		if kv.ModRev < 1 || kv.ModRev > cur || seen[kv.ModRev] {
			t.Fatalf("key %s at rev %d: duplicate or out of range 1..%d", kv.Key, kv.ModRev, cur)
		}
		seen[kv.ModRev] = true
	}
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= cur; want++ {
		if ev := recv(t, ch); ev.KV.ModRev != want {
			t.Fatalf("event log after crash: rev %d; want %d", ev.KV.ModRev, want)
		}
	}
	if r := put(t, s, "after-crash", "x"); r != cur+1 {
		t.Fatalf("first Txn after crash at rev %d; want %d", r, cur+1)
	}
}

// crashChild is the writer side of TestCrashDurability. It stops by itself
// after a bounded number of writes or time, in case the parent is gone.
func crashChild(path string) {
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	deadline := time.Now().Add(60 * time.Second)
	for w := range 4 {
		wg.Go(func() {
			for i := next.Add(1); i <= 100000 && time.Now().Before(deadline); i = next.Add(1) {
				key := fmt.Sprintf("crash/%d/%06d", w, i)
				rev, err := s.Txn(context.Background(), nil, []store.Op{store.Put(key, []byte(key))})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ACK %s %d\n", key, rev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// Benchmarks.

var benchValue = bytes.Repeat([]byte("x"), 1024)

func BenchmarkTxnSerial(b *testing.B) {
	s := openTemp(b, boltstore.Options{})
	ctx := context.Background()
	b.SetBytes(int64(len(benchValue)))
	for i := 0; b.Loop(); i++ {
		if _, err := s.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("bench/%09d", i), benchValue)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTxnParallel(b *testing.B) {
	s := openTemp(b, boltstore.Options{})
	ctx := context.Background()
	var n atomic.Int64
	b.SetBytes(int64(len(benchValue)))
	b.SetParallelism(8) // 8 writers per CPU, like many controllers writing at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Txn(ctx, nil, []store.Op{store.Put(fmt.Sprintf("bench/%09d", n.Add(1)), benchValue)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// fill writes n keys prefix%06d with 1 KiB values, 500 per Txn.
func fill(b *testing.B, s store.Store, prefix string, n int) {
	b.Helper()
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Put(fmt.Sprintf("%s%06d", prefix, i), benchValue))
		if len(ops) == 500 || i == n-1 {
			if _, err := s.Txn(context.Background(), nil, ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := openTemp(b, boltstore.Options{})
	fill(b, s, "get/", 1000)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, fmt.Sprintf("get/%06d", (i*7919)%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListPage(b *testing.B) {
	s := openTemp(b, boltstore.Options{})
	fill(b, s, "a/", 1000) // neighbours outside the prefix
	fill(b, s, "list/", 10000)
	fill(b, s, "z/", 1000)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		after := fmt.Sprintf("list/%06d", (i*7919)%9900)
		kvs, _, err := s.List(ctx, "list/", store.ListOptions{After: after, Limit: 100})
		if err != nil || len(kvs) != 100 {
			b.Fatalf("List: %d keys, %v", len(kvs), err)
		}
	}
}
