package api

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/store/boltstore"
)

func newTestECS(t testing.TB, now func() time.Time) *ECS {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "berth.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Config{Region: "us-east-1", AccountID: "123456789012", Now: now})
}

type fakeParams struct {
	Count int `json:"count"`
}

// create is a stand-in idempotent operation: it writes one key per call and
// returns its name.
func create(t *testing.T, e *ECS, token string, p fakeParams, name string) (string, error) {
	ctx := context.Background()
	var result string
	err := retry(ctx, func() error {
		call, prev, err := e.lookupToken(ctx, "default", "RunTask", token, p)
		if err != nil {
			return err
		}
		if prev != nil {
			result = string(prev)
			return nil
		}
		result = `"` + name + `"`
		return e.commitWithToken(ctx, call, name, []store.Cond{{Key: "/fake/" + name}}, []store.Op{store.Put("/fake/"+name, []byte("x"))})
	})
	return result, err
}

func TestClientTokenSemantics(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	e := newTestECS(t, func() time.Time { return now })
	first, err := create(t, e, "tok", fakeParams{Count: 1}, "a")
	if err != nil || first != `"a"` {
		t.Fatalf("first = %q, %v", first, err)
	}
	// Same token, same parameters: the first result, nothing new written.
	again, err := create(t, e, "tok", fakeParams{Count: 1}, "b")
	if err != nil || again != `"a"` {
		t.Fatalf("repeat = %q, %v", again, err)
	}
	if _, err := e.st.Get(context.Background(), "/fake/b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("repeat wrote its effect: %v", err)
	}
	// Same token, other parameters: ConflictException.
	_, err = create(t, e, "tok", fakeParams{Count: 2}, "c")
	var ae *awsjson.Error
	if !errors.As(err, &ae) || ae.Code != "ConflictException" {
		t.Fatalf("changed params = %v, want ConflictException", err)
	}
	// Another token is independent.
	if other, err := create(t, e, "tok2", fakeParams{Count: 2}, "d"); err != nil || other != `"d"` {
		t.Fatalf("other token = %q, %v", other, err)
	}
	// After the TTL the token is forgotten.
	now = now.Add(tokenTTL + time.Minute)
	if later, err := create(t, e, "tok", fakeParams{Count: 2}, "e"); err != nil || later != `"e"` {
		t.Fatalf("expired token = %q, %v", later, err)
	}
}

func TestClientTokenConcurrent(t *testing.T) {
	e := newTestECS(t, nil)
	results := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			r, err := create(t, e, "race", fakeParams{Count: 1}, string(rune('a'+i)))
			if err != nil {
				t.Error(err)
			}
			results <- r
		}(i)
	}
	first := <-results
	for i := 1; i < 8; i++ {
		if r := <-results; r != first {
			t.Fatalf("concurrent uses of one token returned %q and %q", first, r)
		}
	}
	kvs, _, err := e.st.List(context.Background(), "/fake/", store.ListOptions{KeysOnly: true})
	if err != nil || len(kvs) != 1 {
		t.Fatalf("effects written = %d, %v; want exactly 1", len(kvs), err)
	}
}
