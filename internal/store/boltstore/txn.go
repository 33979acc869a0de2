package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/internal/store"
	bolt "go.etcd.io/bbolt"
)

// maxBatch caps how many Txns share one bbolt transaction.
const maxBatch = 512

// txnReq is one Txn waiting for the committer.
type txnReq struct {
	conds []store.Cond
	ops   []store.Op
	done  chan struct{}

	// Results, written by the committer before done is closed.
	rev    int64
	err    error
	events []store.Event // events at rev; nil if the Txn changed nothing
}

// Txn implements store.Store. Concurrent Txns are group-committed: they are
// applied one after another, in arrival order, inside one bbolt transaction
// that is fsynced once before any of them returns.
func (s *Store) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (int64, error) {
	for _, op := range ops {
		if op.Key == "" {
			return 0, errors.New("boltstore: txn: empty key")
		}
		if len(op.Key) > bolt.MaxKeySize {
			return 0, fmt.Errorf("boltstore: txn: key of %d bytes exceeds %d", len(op.Key), bolt.MaxKeySize)
		}
	}
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	if len(ops) == 0 {
		return s.checkConds(conds)
	}
	r := &txnReq{conds: conds, ops: ops, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued the Txn may commit, so wait for the verdict even if ctx
	// ends; this is bounded by one bbolt commit.
	<-r.done
	return r.rev, r.err
}

// checkConds serves a Txn without ops: a read-only check, no revision bump.
func (s *Store) checkConds(conds []store.Cond) (int64, error) {
	var rev int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if rev, err = readInt(tx.Bucket(bucketMeta), metaRev); err != nil {
			return err
		}
		ok, err := condsHold(tx.Bucket(bucketKeys), conds)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrConflict
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, fmt.Errorf("boltstore: txn: %w", err)
	}
	return rev, err
}

func condsHold(keys *bolt.Bucket, conds []store.Cond) (bool, error) {
	for _, c := range conds {
		raw := keys.Get([]byte(c.Key))
		var modRev int64
		if raw != nil {
			if len(raw) < recordHeader {
				return false, fmt.Errorf("corrupt record for key %q", c.Key)
			}
			modRev = int64(binary.BigEndian.Uint64(raw[8:16]))
		}
		if modRev != c.ModRev {
			return false, nil
		}
	}
	return true, nil
}

// commitLoop is the single writer. It takes every queued Txn (up to
// maxBatch), commits them together, publishes their events to watchers in
// revision order and then releases the callers.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	batch := make([]*txnReq, 0, maxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		drain:
			for len(batch) < maxBatch {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			s.commit(batch)
		case <-s.closing:
			return
		}
	}
}

// commit applies batch in one bbolt transaction. If that transaction fails,
// each Txn is retried alone so that one bad Txn cannot fail the others.
func (s *Store) commit(batch []*txnReq) {
	err := s.commitTx(batch)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			s.commit([]*txnReq{r})
		}
		return
	}
	for _, r := range batch {
		if err != nil {
			r.rev, r.err, r.events = 0, fmt.Errorf("boltstore: txn: %w", err), nil
		} else if r.events != nil {
			s.hub.publish(r.rev, r.events)
		}
		close(r.done)
	}
}

func (s *Store) commitTx(batch []*txnReq) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	start := s.rev.Load()
	rev, err := s.apply(tx, batch, start)
	if err != nil || rev == start {
		// Nothing to write (every Txn conflicted or changed nothing): skip
		// the commit and its fsync.
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.rev.Store(rev)
	return nil
}

// apply runs each Txn of batch against tx, in order, starting from store
// revision rev, and returns the new revision. It fills in each request's
// results; they only count if tx commits.
func (s *Store) apply(tx *bolt.Tx, batch []*txnReq, rev int64) (int64, error) {
	keys := tx.Bucket(bucketKeys)
	log := tx.Bucket(bucketLog)
	log.FillPercent = 0.95 // append-only by revision
	start := rev
	for _, r := range batch {
		r.rev, r.err, r.events = rev, nil, nil
		ok, err := condsHold(keys, r.conds)
		if err != nil {
			return 0, err
		}
		if !ok {
			r.err = store.ErrConflict
			continue
		}
		next := rev + 1
		var evs []store.Event
		for _, op := range r.ops {
			k := []byte(op.Key)
			old := keys.Get(k)
			if op.Delete {
				if old == nil {
					continue
				}
				if err := keys.Delete(k); err != nil {
					return 0, err
				}
				evs = append(evs, store.Event{Type: store.EventDelete, KV: store.KV{Key: op.Key, ModRev: next}})
				continue
			}
			createRev := next
			if old != nil {
				if len(old) < recordHeader {
					return 0, fmt.Errorf("corrupt record for key %q", op.Key)
				}
				createRev = int64(binary.BigEndian.Uint64(old[0:8]))
			}
			val := append([]byte{}, op.Value...) // the caller may reuse op.Value
			if err := keys.Put(k, encodeRecord(createRev, next, val)); err != nil {
				return 0, err
			}
			evs = append(evs, store.Event{Type: store.EventPut, KV: store.KV{
				Key: op.Key, Value: val, CreateRev: createRev, ModRev: next,
			}})
		}
		if len(evs) == 0 {
			continue // only deletes of missing keys: no new revision
		}
		if err := log.Put(u64(next), encodeEvents(evs)); err != nil {
			return 0, err
		}
		rev = next
		r.rev, r.events = rev, evs
	}
	if rev == start {
		return rev, nil
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaRev, u64(rev)); err != nil {
		return 0, err
	}
	return rev, compactLog(meta, log, rev-s.opts.HistoryLimit)
}

// compactLog deletes the log entries at or below upTo, if any remain.
func compactLog(meta, log *bolt.Bucket, upTo int64) error {
	compacted, err := readInt(meta, metaCompact)
	if err != nil {
		return err
	}
	if upTo <= compacted {
		return nil
	}
	var dead [][]byte
	c := log.Cursor()
	for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k)) <= upTo; k, _ = c.Next() {
		dead = append(dead, append([]byte(nil), k...))
	}
	for _, k := range dead {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return meta.Put(metaCompact, u64(upTo))
}

// Compact discards the Watch history at and below rev (as the automatic
// HistoryLimit retention does); Watch from an older revision then returns
// store.ErrCompacted. rev must not exceed the current revision.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cur, err := readInt(meta, metaRev)
		if err != nil {
			return err
		}
		if rev > cur {
			return fmt.Errorf("revision %d is in the future (current %d)", rev, cur)
		}
		return compactLog(meta, tx.Bucket(bucketLog), rev)
	})
	if err != nil {
		return fmt.Errorf("boltstore: compact: %w", err)
	}
	return nil
}

// Event log encoding. One log value holds all events of a revision:
//
//	type (1 byte) | uvarint len(key) | key | for puts: createRev (8 bytes) |
//	uvarint len(value) | value
//
// ModRev is the log key.

func encodeEvents(evs []store.Event) []byte {
	n := 0
	for _, ev := range evs {
		n += 1 + 2*binary.MaxVarintLen64 + 8 + len(ev.KV.Key) + len(ev.KV.Value)
	}
	b := make([]byte, 0, n)
	for _, ev := range evs {
		b = append(b, byte(ev.Type))
		b = binary.AppendUvarint(b, uint64(len(ev.KV.Key)))
		b = append(b, ev.KV.Key...)
		if ev.Type == store.EventPut {
			b = binary.BigEndian.AppendUint64(b, uint64(ev.KV.CreateRev))
			b = binary.AppendUvarint(b, uint64(len(ev.KV.Value)))
			b = append(b, ev.KV.Value...)
		}
	}
	return b
}

// decodeEvents appends to dst the events of revision rev whose key has
// prefix, copying them out of bbolt's memory.
func decodeEvents(dst []store.Event, rev int64, b []byte, prefix string) ([]store.Event, error) {
	corrupt := fmt.Errorf("corrupt event log entry at revision %d", rev)
	for len(b) > 0 {
		typ := store.EventType(b[0])
		b = b[1:]
		kl, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < kl {
			return dst, corrupt
		}
		key := b[n : n+int(kl)]
		b = b[n+int(kl):]
		match := hasPrefix(key, []byte(prefix))
		switch typ {
		case store.EventDelete:
			if match {
				dst = append(dst, store.Event{Type: typ, KV: store.KV{Key: string(key), ModRev: rev}})
			}
		case store.EventPut:
			if len(b) < 8 {
				return dst, corrupt
			}
			createRev := int64(binary.BigEndian.Uint64(b[:8]))
			b = b[8:]
			vl, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < vl {
				return dst, corrupt
			}
			val := b[n : n+int(vl)]
			b = b[n+int(vl):]
			if match {
				dst = append(dst, store.Event{Type: typ, KV: store.KV{
					Key: string(key), Value: append([]byte{}, val...), CreateRev: createRev, ModRev: rev,
				}})
			}
		default:
			return dst, corrupt
		}
	}
	return dst, nil
}
