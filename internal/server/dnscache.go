package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/berth-dev/berth/internal/cloudmap"
	"github.com/berth-dev/berth/internal/dnsserver"
	"github.com/berth-dev/berth/internal/store"
)

// dnsCache answers the DNS server from Cloud Map, keeping each name's
// answer in memory with the store revision it was read at. A query costs
// the store's revision (an atomic load for the embedded store) and a map
// lookup; when the revision moved, the name is read again, so an answer is
// never older than the last change acknowledged to a client: a Cloud Map
// call that has returned is seen by every query after it. (A watch on
// /cloudmap/ could not promise that: it delivers changes a little after
// they are acknowledged.) Reading again costs a few store reads per name
// queried and per revision, and keeps the old slice when nothing changed,
// so the DNS server's cache of packed answers keeps serving it.
type dnsCache struct {
	cm *cloudmap.CloudMap

	mu      sync.RWMutex
	st      store.Store // set while enable runs; nil: nothing is cached
	entries map[string]dnsEntry
}

type dnsEntry struct {
	rev       int64 // the store revision read before the lookup
	managed   bool
	instances []dnsserver.Instance
}

// maxDNSEntries bounds the cache: names queried once (forwarded ones) must
// not pile up.
const maxDNSEntries = 10000

func newDNSCache(cm *cloudmap.CloudMap) *dnsCache {
	return &dnsCache{cm: cm, entries: map[string]dnsEntry{}}
}

// enable keeps answers cached, checked against st's revision, until ctx is
// done; before and after, every lookup reads Cloud Map.
func (c *dnsCache) enable(ctx context.Context, st store.Store, log *slog.Logger) {
	c.mu.Lock()
	c.st = st
	c.mu.Unlock()
	log.Debug("dns cache: answers cached until the store revision moves")
	<-ctx.Done()
	c.mu.Lock()
	c.st = nil
	clear(c.entries)
	c.mu.Unlock()
}

// lookup is the DNS server's Lookup. While nothing changed in the store, a
// name returns the same slice every time.
func (c *dnsCache) lookup(ctx context.Context, name string) ([]dnsserver.Instance, bool, error) {
	c.mu.RLock()
	st := c.st
	e, cached := c.entries[name]
	c.mu.RUnlock()
	if st == nil {
		return c.read(ctx, name)
	}
	rev, err := st.Rev(ctx)
	if err != nil {
		return nil, false, err
	}
	if cached && e.rev == rev {
		return e.instances, e.managed, nil
	}
	// rev was read first: a change committed while reading is newer than
	// rev, so the entry is read again next time.
	insts, managed, err := c.read(ctx, name)
	if err != nil {
		return nil, false, err
	}
	if cached && e.managed == managed && slices.Equal(e.instances, insts) {
		insts = e.instances
	}
	c.mu.Lock()
	if c.st != nil {
		if len(c.entries) >= maxDNSEntries {
			clear(c.entries)
		}
		if old, ok := c.entries[name]; !ok || old.rev <= rev {
			c.entries[name] = dnsEntry{rev: rev, managed: managed, instances: insts}
		}
	}
	c.mu.Unlock()
	return insts, managed, nil
}

// read looks a name up in Cloud Map.
func (c *dnsCache) read(ctx context.Context, name string) ([]dnsserver.Instance, bool, error) {
	managed, err := c.cm.Managed(ctx, name)
	if err != nil || !managed {
		return nil, false, err
	}
	insts, err := c.cm.Resolve(ctx, name)
	if err != nil && !errors.Is(err, cloudmap.ErrNoSuchName) {
		return nil, true, err
	}
	out := make([]dnsserver.Instance, 0, len(insts))
	for _, in := range insts {
		out = append(out, dnsserver.Instance{ID: in.ID, IP: in.IPv4, Port: uint16(in.Port)})
	}
	return out, true, nil
}
