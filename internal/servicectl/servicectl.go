// Package servicectl runs the service controller: it decides when each
// cluster's services are reconciled. The decisions themselves are pure
// (internal/deploy) and applied transactionally by the API layer
// (api.ECS.ReconcileCluster); this package only watches the store for
// changes to services, tasks and instances, and keeps per-cluster timers
// for changes that come with time alone (a task turning healthy after
// 40 s, a grace period ending).
package servicectl

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Reconciler runs one pass over a cluster and says when it wants the next
// one for time alone (0: only on change). api.ECS implements it.
type Reconciler interface {
	ReconcileCluster(ctx context.Context, cluster string) (time.Duration, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, cluster string) (time.Duration, error)

// ReconcileCluster calls f.
func (f ReconcilerFunc) ReconcileCluster(ctx context.Context, cluster string) (time.Duration, error) {
	return f(ctx, cluster)
}

// Controller schedules reconcile passes.
type Controller struct {
	Store store.Store
	Rec   Reconciler
	Log   *slog.Logger
	// Resync is how often every cluster with services is reconciled even
	// without a change (a safety net; default 30 s).
	Resync time.Duration
	// Debounce gathers bursts of changes into one pass (default 20 ms).
	Debounce time.Duration

	mu    sync.Mutex
	due   map[string]time.Time // cluster → when its next pass is due
	wake  chan struct{}
	clock func() time.Time
}

// Prefixes whose changes trigger a pass of the cluster named in the key.
var watched = []string{"/services/", "/tasks/", "/instances/"}

// Run reconciles until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	if c.Resync == 0 {
		c.Resync = 30 * time.Second
	}
	if c.Debounce == 0 {
		c.Debounce = 20 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.clock = time.Now
	c.due = map[string]time.Time{}
	c.wake = make(chan struct{}, 1)
	rev, err := c.Store.Rev(ctx)
	if err != nil {
		return err
	}
	if err := c.scheduleAll(ctx); err != nil {
		return err
	}
	for _, prefix := range watched {
		go c.watch(ctx, prefix, rev)
	}
	resync := time.NewTicker(c.Resync)
	defer resync.Stop()
	for {
		cluster, wait := c.next()
		if cluster != "" && wait <= 0 {
			c.reconcile(ctx, cluster)
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if cluster != "" {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-fire:
		case <-resync.C:
			if err := c.scheduleAll(ctx); err != nil {
				c.Log.Warn("service controller: listing clusters", "err", err)
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// reconcile runs one pass and schedules the next.
func (c *Controller) reconcile(ctx context.Context, cluster string) {
	c.mu.Lock()
	delete(c.due, cluster)
	c.mu.Unlock()
	wait, err := c.Rec.ReconcileCluster(ctx, cluster)
	switch {
	case errors.Is(err, store.ErrConflict):
		wait = c.Debounce // another writer won: read again shortly
	case err != nil && ctx.Err() == nil:
		c.Log.Warn("service controller: reconcile failed; retrying", "cluster", cluster, "err", err)
		wait = time.Second
	}
	if wait > 0 {
		c.schedule(cluster, wait)
	}
}

// next returns the cluster due soonest and how long until it is due.
func (c *Controller) next() (string, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best string
	var at time.Time
	for cl, t := range c.due {
		if best == "" || t.Before(at) {
			best, at = cl, t
		}
	}
	if best == "" {
		return "", 0
	}
	return best, at.Sub(c.clock())
}

// schedule asks for a pass of cluster after d (or sooner if one is due).
func (c *Controller) schedule(cluster string, d time.Duration) {
	at := c.clock().Add(d)
	c.mu.Lock()
	if t, ok := c.due[cluster]; !ok || at.Before(t) {
		c.due[cluster] = at
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// scheduleAll asks for a pass of every cluster that has services.
func (c *Controller) scheduleAll(ctx context.Context) error {
	kvs, _, err := c.Store.List(ctx, "/services/", store.ListOptions{KeysOnly: true})
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if cl := clusterOf("/services/", kv.Key); cl != "" {
			c.schedule(cl, 0)
		}
	}
	return nil
}

// watch turns changes under prefix into passes of their cluster.
func (c *Controller) watch(ctx context.Context, prefix string, rev int64) {
	for ctx.Err() == nil {
		events, err := c.Store.Watch(ctx, prefix, rev)
		if err != nil {
			// Compacted or failing: re-list everything and resume from now.
			c.Log.Warn("service controller: watch failed; resyncing", "prefix", prefix, "err", err)
			if rev, err = c.Store.Rev(ctx); err != nil {
				time.Sleep(time.Second)
				continue
			}
			_ = c.scheduleAll(ctx)
			continue
		}
		for ev := range events {
			rev = ev.KV.ModRev
			if cl := clusterOf(prefix, ev.KV.Key); cl != "" {
				c.schedule(cl, c.Debounce)
			}
		}
	}
}

// clusterOf is the cluster named by a key "<prefix><cluster>/...".
func clusterOf(prefix, key string) string {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return ""
	}
	cl, _, _ := strings.Cut(rest, "/")
	return cl
}
