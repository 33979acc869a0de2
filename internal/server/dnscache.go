package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/cloudmap"
	"github.com/berth-dev/berth/internal/dnsserver"
	"github.com/berth-dev/berth/internal/store"
)

// dnsCache answers the DNS server from Cloud Map, keeping each name's answer
// in memory until anything under /cloudmap/ changes: queries cost a map
// lookup, and a registration is visible to the very next query.
type dnsCache struct {
	cm  *cloudmap.CloudMap
	gen atomic.Uint64 // bumped on every change under /cloudmap/

	mu      sync.RWMutex
	entries map[string]dnsEntry
}

type dnsEntry struct {
	gen       uint64
	managed   bool
	instances []dnsserver.Instance
}

func newDNSCache(cm *cloudmap.CloudMap) *dnsCache {
	return &dnsCache{cm: cm, entries: map[string]dnsEntry{}}
}

// watch invalidates the cache on every change to Cloud Map's records.
func (c *dnsCache) watch(ctx context.Context, st store.Store, log *slog.Logger) {
	rev, err := st.Rev(ctx)
	for ctx.Err() == nil {
		if err != nil {
			time.Sleep(time.Second)
			rev, err = st.Rev(ctx)
			continue
		}
		var events <-chan store.Event
		if events, err = st.Watch(ctx, "/cloudmap/", rev); err != nil {
			log.Debug("dns cache: watch failed; resyncing", "err", err)
			c.gen.Add(1)
			rev, err = st.Rev(ctx)
			continue
		}
		for ev := range events {
			rev = ev.KV.ModRev
			c.gen.Add(1)
		}
		c.gen.Add(1) // the watch ended: whatever it missed is stale
	}
}

// lookup is the DNS server's Lookup.
func (c *dnsCache) lookup(ctx context.Context, name string) ([]dnsserver.Instance, bool, error) {
	gen := c.gen.Load()
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	if ok && e.gen == gen {
		return e.instances, e.managed, nil
	}
	managed, err := c.cm.Managed(ctx, name)
	if err != nil {
		return nil, false, err
	}
	var out []dnsserver.Instance
	if managed {
		insts, err := c.cm.Resolve(ctx, name)
		if err != nil && !errors.Is(err, cloudmap.ErrNoSuchName) {
			return nil, true, err
		}
		out = make([]dnsserver.Instance, 0, len(insts))
		for _, in := range insts {
			out = append(out, dnsserver.Instance{ID: in.ID, IP: in.IPv4, Port: uint16(in.Port)})
		}
	}
	c.mu.Lock()
	if len(c.entries) > 10000 { // names queried once (forwarded ones) must not pile up
		clear(c.entries)
	}
	c.entries[name] = dnsEntry{gen: gen, managed: managed, instances: out}
	c.mu.Unlock()
	return out, managed, nil
}
