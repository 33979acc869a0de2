// Package boltstore is berth's embedded store.Store backend, built on bbolt.
//
// Layout of the bbolt file:
//
//   - bucket "meta": "format" (schema version), "rev" (current store
//     revision) and "compact" (events at or below this revision are gone).
//   - bucket "keys": key -> createRev (8 bytes) | modRev (8 bytes) | value.
//   - bucket "log": revision (8 bytes, big endian) -> the events of that
//     revision, used to replay Watch history. Only the newest
//     Options.HistoryLimit revisions are kept.
//
// Writes go through a single committer goroutine that applies every Txn
// waiting at that moment in one bbolt transaction and one fsync (group
// commit), so a lone writer pays no batching delay and concurrent writers
// share the fsync. Txn returns only after the fsync. Watchers are fed after
// commit without ever blocking the committer; see Store.Watch.
package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/store"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults for Options fields left zero.
const (
	DefaultHistoryLimit = 100000
	DefaultWatchBuffer  = 1024
	DefaultLockTimeout  = time.Second
)

// formatVersion is the schema version stored in meta/format.
const formatVersion = "1"

var (
	bucketMeta = []byte("meta")
	bucketKeys = []byte("keys")
	bucketLog  = []byte("log")

	metaFormat  = []byte("format")
	metaRev     = []byte("rev")
	metaCompact = []byte("compact")
)

// Options tunes Open. The zero value uses the defaults above.
type Options struct {
	// HistoryLimit is how many of the newest revisions keep their events for
	// Watch replay; Watch from an older revision returns store.ErrCompacted.
	HistoryLimit int64
	// WatchBuffer is how many events a live watcher may have queued in memory
	// before it stops being fed live and catches up from the on-disk log.
	WatchBuffer int
	// LockTimeout bounds how long Open waits for the file lock held by
	// another process.
	LockTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = DefaultWatchBuffer
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o
}

// Store is a store.Store backed by a bbolt file. It is safe for concurrent
// use.
type Store struct {
	path string
	opts Options
	db   *bolt.DB

	rev atomic.Int64 // last committed revision; written only by the committer

	mu      sync.RWMutex // held for reading by every call; Close takes it for writing
	closed  bool
	closing chan struct{} // closed by Close

	reqs     chan *txnReq
	loopDone chan struct{}

	hub hub
	wg  sync.WaitGroup // watcher goroutines
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if missing) the store file at path. A directory,
// an unreadable file, a corrupted or foreign file, or a file locked by another
// process yields an error naming the path and the fix; Open never resets
// existing data.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("boltstore: empty data file path")
	}
	opts = opts.withDefaults()
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("boltstore: data file %s is a directory; pass a file path such as %s",
			path, filepath.Join(path, "berth.db"))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("boltstore: cannot access data file %s: %w; check the path and its permissions", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: cannot create the directory for data file %s: %w", path, err)
	}
	db, err := openBolt(path, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	rev, err := initSchema(db, path)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{
		path:     path,
		opts:     opts,
		db:       db,
		closing:  make(chan struct{}),
		reqs:     make(chan *txnReq, 256),
		loopDone: make(chan struct{}),
	}
	s.rev.Store(rev)
	s.hub.init(rev, opts.WatchBuffer)
	go s.commitLoop()
	return s, nil
}

// openBolt opens the bbolt file and turns bbolt's errors (and panics, which
// bbolt may raise on some corrupted files) into actionable errors.
func openBolt(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	var file *os.File
	bopts := *bolt.DefaultOptions
	bopts.Timeout = lockTimeout
	bopts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				_ = file.Close() // releases the lock bbolt took
			}
			db, err = nil, fmt.Errorf("boltstore: data file %s is corrupted (bbolt: %v); restore it from a backup, or move it aside to start with an empty store", path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bopts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("boltstore: data dir is in use by another berth process: %s is locked (waited %s); stop the other process or use a different data dir: %w",
			path, lockTimeout, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("boltstore: data file %s is corrupted or not a berth store: %w; restore it from a backup, or move it aside to start with an empty store", path, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("boltstore: cannot open data file %s: %w; it must be readable and writable by the berth user", path, err)
	default:
		return nil, fmt.Errorf("boltstore: cannot open data file %s, it may be corrupted or truncated: %w; restore it from a backup, or move it aside to start with an empty store", path, err)
	}
}

// initSchema creates the buckets of a brand-new file, or checks that an
// existing file is a berth store, and returns the stored revision.
func initSchema(db *bolt.DB, path string) (int64, error) {
	var rev int64
	fresh := false
	err := db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("boltstore: %s is a bbolt file but not a berth store (no meta bucket); point berth at its own data file", path)
			}
			fresh = true
			return nil
		}
		if f := meta.Get(metaFormat); string(f) != formatVersion {
			return fmt.Errorf("boltstore: %s has store format %q, this berth supports %q; use a matching berth version", path, f, formatVersion)
		}
		if tx.Bucket(bucketKeys) == nil || tx.Bucket(bucketLog) == nil {
			return fmt.Errorf("boltstore: data file %s is corrupted (missing buckets); restore it from a backup", path)
		}
		var err error
		if rev, err = readInt(meta, metaRev); err != nil {
			return fmt.Errorf("boltstore: data file %s is corrupted: %w; restore it from a backup", path, err)
		}
		if _, err = readInt(meta, metaCompact); err != nil {
			return fmt.Errorf("boltstore: data file %s is corrupted: %w; restore it from a backup", path, err)
		}
		return nil
	})
	if err != nil || !fresh {
		return rev, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketKeys); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketLog); err != nil {
			return err
		}
		if err := meta.Put(metaFormat, []byte(formatVersion)); err != nil {
			return err
		}
		if err := meta.Put(metaRev, u64(0)); err != nil {
			return err
		}
		return meta.Put(metaCompact, u64(0))
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: cannot initialize data file %s: %w", path, err)
	}
	return 0, nil
}

// Path returns the data file path.
func (s *Store) Path() string { return s.path }

// enter takes the read side of s.mu; it fails with store.ErrClosed after
// Close. Callers must call s.mu.RUnlock when it returns nil.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := s.enter(ctx); err != nil {
		return store.KV{}, err
	}
	defer s.mu.RUnlock()
	var kv store.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketKeys).Get([]byte(key))
		if raw == nil {
			return store.ErrNotFound
		}
		var err error
		kv, err = decodeRecord(key, raw, false)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.KV{}, fmt.Errorf("boltstore: get %q: %w", key, err)
	}
	return kv, err
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	if err := s.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer s.mu.RUnlock()
	var (
		out []store.KV
		rev int64
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if rev, err = readInt(tx.Bucket(bucketMeta), metaRev); err != nil {
			return err
		}
		c := tx.Bucket(bucketKeys).Cursor()
		p := []byte(prefix)
		k, v := listStart(c, p, []byte(opts.After), opts.After != "", opts.Reverse)
		for ; k != nil && hasPrefix(k, p); k, v = listNext(c, opts.Reverse) {
			if opts.Limit > 0 && len(out) >= opts.Limit {
				break
			}
			kv, err := decodeRecord(string(k), v, opts.KeysOnly)
			if err != nil {
				return err
			}
			out = append(out, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltstore: list %q: %w", prefix, err)
	}
	return out, rev, nil
}

// listStart positions c on the first key of a listing.
func listStart(c *bolt.Cursor, prefix, after []byte, hasAfter, reverse bool) ([]byte, []byte) {
	if !reverse {
		if !hasAfter || string(after) < string(prefix) {
			return c.Seek(prefix)
		}
		k, v := c.Seek(after)
		if k != nil && string(k) == string(after) {
			k, v = c.Next()
		}
		return k, v
	}
	// Reverse: start at the last key strictly below bound, where bound is
	// the smaller of After and the first key past the prefix range.
	bound, bounded := prefixEnd(prefix)
	if hasAfter && (!bounded || string(after) < string(bound)) {
		bound, bounded = after, true
	}
	if !bounded {
		return c.Last()
	}
	if k, _ := c.Seek(bound); k == nil {
		return c.Last()
	}
	return c.Prev()
}

func listNext(c *bolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

// prefixEnd returns the smallest key greater than every key with prefix, or
// false if there is none (empty prefix or all 0xff bytes).
func prefixEnd(prefix []byte) ([]byte, bool) {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1], true
		}
	}
	return nil, false
}

func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

// Rev implements store.Store.
func (s *Store) Rev(ctx context.Context) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	return s.rev.Load(), nil
}

// Close implements store.Store. It waits for in-flight calls, closes every
// watch channel and the file. Closing twice returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	<-s.loopDone
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// Record and integer encodings.

const recordHeader = 16

func u64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

func readInt(b *bolt.Bucket, key []byte) (int64, error) {
	v := b.Get(key)
	if len(v) != 8 {
		return 0, fmt.Errorf("meta %q has %d bytes, want 8", key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func encodeRecord(createRev, modRev int64, value []byte) []byte {
	b := make([]byte, recordHeader+len(value))
	binary.BigEndian.PutUint64(b[0:8], uint64(createRev))
	binary.BigEndian.PutUint64(b[8:16], uint64(modRev))
	copy(b[recordHeader:], value)
	return b
}

// decodeRecord copies a keys-bucket record out of bbolt's memory.
func decodeRecord(key string, raw []byte, keysOnly bool) (store.KV, error) {
	if len(raw) < recordHeader {
		return store.KV{}, fmt.Errorf("corrupt record for key %q (%d bytes)", key, len(raw))
	}
	kv := store.KV{
		Key:       key,
		CreateRev: int64(binary.BigEndian.Uint64(raw[0:8])),
		ModRev:    int64(binary.BigEndian.Uint64(raw[8:16])),
	}
	if !keysOnly {
		kv.Value = append([]byte{}, raw[recordHeader:]...)
	}
	return kv, nil
}
