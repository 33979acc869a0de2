package agent

import (
	"context"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// imageTTL is how long an image inspection answers for the same
// reference: a burst of launches of one image asks the engine once, and
// an image removed or re-tagged meanwhile is seen again after at most this
// long (a task created in between fails to create, as with any missing
// image).
const imageTTL = 5 * time.Second

// images remembers recent image inspections by reference.
type images struct {
	mu   sync.Mutex
	seen map[string]seenImage
}

type seenImage struct {
	img runtime.Image
	at  time.Time
}

// inspect returns what the engine said about ref within imageTTL, or asks
// it. Errors (a missing image included) are not remembered.
func (c *images) inspect(ctx context.Context, rt runtime.Runtime, ref string, now time.Time) (runtime.Image, error) {
	c.mu.Lock()
	s, ok := c.seen[ref]
	c.mu.Unlock()
	if ok && now.Sub(s.at) < imageTTL {
		return s.img, nil
	}
	img, err := rt.InspectImage(ctx, ref)
	if err != nil {
		return img, err
	}
	c.mu.Lock()
	if c.seen == nil || len(c.seen) > 1000 {
		c.seen = map[string]seenImage{}
	}
	c.seen[ref] = seenImage{img: img, at: now}
	c.mu.Unlock()
	return img, nil
}
