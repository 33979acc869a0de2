package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/store"
)

func list(t *testing.T, s store.Store, prefix string, opts store.ListOptions) ([]store.KV, int64) {
	t.Helper()
	kvs, rev, err := s.List(testCtx(t), prefix, opts)
	if err != nil {
		t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return kvs, rev
}

func keysOf(kvs []store.KV) []string {
	keys := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return keys
}

func testListPrefix(t *testing.T, s store.Store) {
	revs := map[string]int64{}
	for _, k := range []string{"a/2", "a/sub/x", "a", "ab", "a/1", "b/1", "a0", "a/3", "a.", "c"} {
		revs[k] = put(t, s, k, "v-"+k)
	}
	cur := rev(t, s)
	for _, tc := range []struct {
		name   string
		prefix string
		opts   store.ListOptions
		want   []string
	}{
		{"PrefixIsolation", "a/", store.ListOptions{}, []string{"a/1", "a/2", "a/3", "a/sub/x"}},
		{"ShortPrefix", "a", store.ListOptions{}, []string{"a", "a.", "a/1", "a/2", "a/3", "a/sub/x", "a0", "ab"}},
		{"EmptyPrefixListsAll", "", store.ListOptions{}, []string{"a", "a.", "a/1", "a/2", "a/3", "a/sub/x", "a0", "ab", "b/1", "c"}},
		{"NoMatch", "zzz/", store.ListOptions{}, nil},
		{"ExactKeyAsPrefix", "a/sub/x", store.ListOptions{}, []string{"a/sub/x"}},
		{"After", "a/", store.ListOptions{After: "a/1"}, []string{"a/2", "a/3", "a/sub/x"}},
		{"AfterAbsentKey", "a/", store.ListOptions{After: "a/15"}, []string{"a/2", "a/3", "a/sub/x"}},
		{"AfterBelowPrefix", "a/", store.ListOptions{After: "a"}, []string{"a/1", "a/2", "a/3", "a/sub/x"}},
		{"AfterLast", "a/", store.ListOptions{After: "a/sub/x"}, nil},
		{"AfterAbovePrefix", "a/", store.ListOptions{After: "b"}, nil},
		{"Limit", "a/", store.ListOptions{Limit: 2}, []string{"a/1", "a/2"}},
		{"LimitAboveCount", "a/", store.ListOptions{Limit: 100}, []string{"a/1", "a/2", "a/3", "a/sub/x"}},
		{"AfterLimit", "a/", store.ListOptions{After: "a/2", Limit: 1}, []string{"a/3"}},
		{"Reverse", "a/", store.ListOptions{Reverse: true}, []string{"a/sub/x", "a/3", "a/2", "a/1"}},
		{"ReverseEmptyPrefix", "", store.ListOptions{Reverse: true, Limit: 3}, []string{"c", "b/1", "ab"}},
		{"ReverseLimit", "a/", store.ListOptions{Reverse: true, Limit: 2}, []string{"a/sub/x", "a/3"}},
		{"ReverseAfter", "a/", store.ListOptions{Reverse: true, After: "a/3"}, []string{"a/2", "a/1"}},
		{"ReverseAfterAbsentKey", "a/", store.ListOptions{Reverse: true, After: "a/15"}, []string{"a/1"}},
		{"ReverseAfterLimit", "a/", store.ListOptions{Reverse: true, After: "a/sub/x", Limit: 1}, []string{"a/3"}},
		{"ReverseAfterFirst", "a/", store.ListOptions{Reverse: true, After: "a/1"}, nil},
		{"ReverseAfterAbovePrefix", "a/", store.ListOptions{Reverse: true, After: "b"}, []string{"a/sub/x", "a/3", "a/2", "a/1"}},
		{"ReverseAfterBelowPrefix", "a/", store.ListOptions{Reverse: true, After: "a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kvs, lrev := list(t, s, tc.prefix, tc.opts)
			if got := keysOf(kvs); !slices.Equal(got, tc.want) {
				t.Fatalf("keys = %q; want %q", got, tc.want)
			}
			if lrev != cur {
				t.Fatalf("list rev = %d; want %d", lrev, cur)
			}
			for _, kv := range kvs {
				if !bytes.Equal(kv.Value, []byte("v-"+kv.Key)) || kv.CreateRev != revs[kv.Key] || kv.ModRev != revs[kv.Key] {
					t.Fatalf("listed %s; want value %q at rev %d", fmtKV(kv), "v-"+kv.Key, revs[kv.Key])
				}
			}
		})
	}
	t.Run("KeysOnly", func(t *testing.T) {
		kvs, _ := list(t, s, "a/", store.ListOptions{KeysOnly: true})
		if got := keysOf(kvs); !slices.Equal(got, []string{"a/1", "a/2", "a/3", "a/sub/x"}) {
			t.Fatalf("keys = %q", got)
		}
		for _, kv := range kvs {
			if kv.Value != nil {
				t.Fatalf("KeysOnly returned value %q for %q", kv.Value, kv.Key)
			}
			if kv.ModRev != revs[kv.Key] || kv.CreateRev != revs[kv.Key] {
				t.Fatalf("KeysOnly %s; want revs %d", fmtKV(kv), revs[kv.Key])
			}
		}
	})
}

// testListPaging pages through a prefix with After+Limit in both directions
// and checks every key comes back exactly once, in order.
func testListPaging(t *testing.T, s store.Store) {
	const n = 25
	var ops []store.Op
	var want []string
	for i := range n {
		k := fmt.Sprintf("page/%03d", i)
		ops = append(ops, store.Put(k, []byte(k)))
		want = append(want, k)
	}
	ops = append(ops, store.Put("pagf", nil), store.Put("pag", nil))
	if _, err := s.Txn(testCtx(t), nil, ops); err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		for _, limit := range []int{1, 4, 7, n} {
			t.Run(fmt.Sprintf("reverse=%v/limit=%d", reverse, limit), func(t *testing.T) {
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > n+1 {
						t.Fatalf("paging did not terminate; got %q", got)
					}
					kvs, _ := list(t, s, "page/", store.ListOptions{After: after, Limit: limit, Reverse: reverse})
					if len(kvs) > limit {
						t.Fatalf("page of %d keys with Limit %d", len(kvs), limit)
					}
					if len(kvs) == 0 {
						break
					}
					got = append(got, keysOf(kvs)...)
					after = kvs[len(kvs)-1].Key
				}
				w := slices.Clone(want)
				if reverse {
					slices.Reverse(w)
				}
				if !slices.Equal(got, w) {
					t.Fatalf("paged keys = %q; want %q", got, w)
				}
			})
		}
	}
}

// testListHighBytePrefix checks prefix ranges whose last bytes are 0xff,
// where "the first key past the prefix" needs a carry.
func testListHighBytePrefix(t *testing.T, s store.Store) {
	for _, k := range []string{"x\xff", "x\xff1", "x\xff\xff", "x\xff\xff\xff", "y", "x\xfe"} {
		put(t, s, k, "v-"+k)
	}
	kvs, _ := list(t, s, "x\xff", store.ListOptions{})
	if got, want := keysOf(kvs), []string{"x\xff", "x\xff1", "x\xff\xff", "x\xff\xff\xff"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %q; want %q", got, want)
	}
	kvs, _ = list(t, s, "x\xff", store.ListOptions{Reverse: true})
	if got, want := keysOf(kvs), []string{"x\xff\xff\xff", "x\xff\xff", "x\xff1", "x\xff"}; !slices.Equal(got, want) {
		t.Fatalf("reverse keys = %q; want %q", got, want)
	}
	kvs, _ = list(t, s, "x\xff\xff", store.ListOptions{Reverse: true, Limit: 1})
	if got, want := keysOf(kvs), []string{"x\xff\xff\xff"}; !slices.Equal(got, want) {
		t.Fatalf("reverse keys = %q; want %q", got, want)
	}
}
