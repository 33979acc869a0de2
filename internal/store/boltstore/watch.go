package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/store"
	bolt "go.etcd.io/bbolt"
)

// replayChunk caps how many revisions a watcher reads from the log per bbolt
// read transaction while catching up.
const replayChunk = 256

// Watch implements store.Store.
//
// Each watcher has its own goroutine. It first replays the on-disk event log
// after afterRev, then switches to being fed live by the committer through an
// in-memory queue of at most Options.WatchBuffer events. The committer never
// waits for a watcher: if a slow consumer lets the queue overflow, the queue
// is dropped and the watcher goes back to replaying from the log, right
// after the last revision it had taken, so no event is lost or repeated. Only
// if the consumer falls more than Options.HistoryLimit revisions behind (the
// events it still needs have been compacted) does the store close the
// channel while ctx is still live; the caller then re-watches from the last
// revision it received and gets store.ErrCompacted if it must re-list.
//
// Event values are shared between watchers and must not be modified.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) (<-chan store.Event, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if afterRev < 0 {
		afterRev = 0
	}
	var compacted int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		compacted, err = readInt(tx.Bucket(bucketMeta), metaCompact)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: watch: %w", err)
	}
	if afterRev < compacted {
		return nil, fmt.Errorf("boltstore: watch %q after revision %d: history is kept only after revision %d: %w",
			prefix, afterRev, compacted, store.ErrCompacted)
	}
	w := &watcher{
		prefix: prefix,
		ch:     make(chan store.Event, 64),
		wake:   make(chan struct{}, 1),
	}
	s.hub.add(w)
	s.wg.Add(1)
	go s.runWatcher(ctx, w, afterRev)
	return w.ch, nil
}

// runWatcher feeds w.ch until ctx ends, the store closes or the history w
// needs is compacted. pos is the revision through which w has taken every
// event.
func (s *Store) runWatcher(ctx context.Context, w *watcher, pos int64) {
	defer s.wg.Done()
	defer close(w.ch)
	defer s.hub.remove(w)
	for {
		// Catch up from the log until pos reaches the last published
		// revision, then atomically switch to live feeding.
		for !s.hub.trySync(w, pos) {
			evs, next, err := s.readLog(w.prefix, pos, s.hub.publishedRev())
			if err != nil {
				return // compacted past pos, or the store is closing
			}
			if !s.sendAll(ctx, w, evs) {
				return
			}
			pos = next
		}
		// Live: forward what the committer queues.
		for {
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			case <-s.closing:
				return
			}
			evs, through, synced := s.hub.take(w)
			if !synced {
				break // overflowed: back to the log from pos
			}
			if !s.sendAll(ctx, w, evs) {
				return
			}
			pos = through
		}
	}
}

func (s *Store) sendAll(ctx context.Context, w *watcher, evs []store.Event) bool {
	for _, ev := range evs {
		select {
		case w.ch <- ev:
		case <-ctx.Done():
			return false
		case <-s.closing:
			return false
		}
	}
	return true
}

// readLog returns the events under prefix with revision in (pos, upTo],
// reading at most replayChunk revisions, and the revision it read through.
func (s *Store) readLog(prefix string, pos, upTo int64) ([]store.Event, int64, error) {
	var evs []store.Event
	next := upTo
	err := s.db.View(func(tx *bolt.Tx) error {
		compacted, err := readInt(tx.Bucket(bucketMeta), metaCompact)
		if err != nil {
			return err
		}
		if pos < compacted {
			return store.ErrCompacted
		}
		c := tx.Bucket(bucketLog).Cursor()
		n := 0
		for k, v := c.Seek(u64(pos + 1)); k != nil; k, v = c.Next() {
			rev := int64(binary.BigEndian.Uint64(k))
			if rev > upTo {
				break
			}
			if evs, err = decodeEvents(evs, rev, v, prefix); err != nil {
				return err
			}
			if n++; n == replayChunk {
				next = rev
				break
			}
		}
		return nil
	})
	return evs, next, err
}

// hub hands committed events to live watchers. The committer calls publish
// once per new revision, in revision order.
type hub struct {
	mu        sync.Mutex
	published int64 // newest revision handed to the hub
	limit     int   // per-watcher queue cap
	watchers  map[*watcher]struct{}
}

// watcher is one Watch call. The fields after wake are guarded by hub.mu.
type watcher struct {
	prefix string
	ch     chan store.Event
	wake   chan struct{} // capacity 1: "queue changed"

	live    bool          // fed by publish; false while catching up from the log
	queue   []store.Event // events not yet taken by the watcher goroutine
	through int64         // every revision <= through is queued or taken
}

func (h *hub) init(rev int64, limit int) {
	h.published = rev
	h.limit = limit
	h.watchers = make(map[*watcher]struct{})
}

func (h *hub) add(w *watcher) {
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

func (h *hub) publishedRev() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.published
}

// trySync switches w to live feeding if it has taken everything published
// (pos may also be ahead of it, when watching from a future revision).
func (h *hub) trySync(w *watcher, pos int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.published > pos {
		return false
	}
	w.live, w.queue, w.through = true, nil, pos
	return true
}

// take hands the queued events to the watcher goroutine. synced is false
// if the queue overflowed since the last take.
func (h *hub) take(w *watcher) (evs []store.Event, through int64, synced bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !w.live {
		return nil, 0, false
	}
	evs, w.queue = w.queue, nil
	return evs, w.through, true
}

// publish queues the events of revision rev for every live watcher. It never
// blocks on a watcher: one whose queue would exceed the limit is switched
// back to catching up from the log.
func (h *hub) publish(rev int64, evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.published = rev
	for w := range h.watchers {
		if !w.live || rev <= w.through {
			continue
		}
		w.through = rev
		queued := false
		for _, ev := range evs {
			if !strings.HasPrefix(ev.KV.Key, w.prefix) {
				continue
			}
			if len(w.queue) >= h.limit {
				w.live, w.queue = false, nil
				break
			}
			w.queue = append(w.queue, ev)
			queued = true
		}
		if queued || !w.live {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}
