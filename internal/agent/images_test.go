package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// inspectCounter is a runtime whose only working call is InspectImage.
type inspectCounter struct {
	runtime.Runtime
	calls int
	err   error
}

func (r *inspectCounter) InspectImage(_ context.Context, ref string) (runtime.Image, error) {
	r.calls++
	return runtime.Image{ID: "sha256:" + ref}, r.err
}

func TestImagesRememberedBriefly(t *testing.T) {
	rt := &inspectCounter{}
	var c images
	t0 := time.Unix(1000, 0)
	for _, at := range []time.Duration{0, time.Second, imageTTL - time.Millisecond} {
		img, err := c.inspect(context.Background(), rt, "app", t0.Add(at))
		if err != nil || img.ID != "sha256:app" {
			t.Fatalf("%v: %+v %v", at, img, err)
		}
	}
	if rt.calls != 1 {
		t.Fatalf("%d engine calls within the TTL, want 1", rt.calls)
	}
	c.inspect(context.Background(), rt, "app", t0.Add(imageTTL))
	c.inspect(context.Background(), rt, "other", t0.Add(imageTTL))
	if rt.calls != 3 {
		t.Fatalf("%d engine calls, want 3 (expired, other reference)", rt.calls)
	}
	// A missing image is asked about every time.
	rt.err = runtime.ErrNotFound
	for range 2 {
		if _, err := c.inspect(context.Background(), rt, "gone", t0); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if rt.calls != 5 {
		t.Fatalf("%d engine calls, want 5", rt.calls)
	}
}
