// Package store defines berth's durable, revisioned key-value store: the one
// place where cluster state lives. Every write is a transaction guarded by
// compare-and-swap conditions on key revisions, and every acknowledged write
// has reached stable storage. Implementations: boltstore (embedded, the
// default) and, later, an etcd backend; both must pass storetest.Run.
package store

import (
	"context"
	"errors"
)

// Errors returned by every Store implementation. Callers classify them with
// errors.Is; implementations may wrap them with more context.
var (
	// ErrNotFound: Get found no value at the key.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict: a Txn condition did not hold; nothing was written.
	ErrConflict = errors.New("store: revision conflict")
	// ErrCompacted: Watch was asked to start at a revision whose events are
	// no longer kept. The caller must re-list and watch from the new revision.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// KV is one stored value with its revisions. The store revision is a single
// counter that every committed Txn increments by one; CreateRev is the
// revision that created the key, ModRev the one that last wrote it.
type KV struct {
	Key       string
	Value     []byte
	CreateRev int64
	ModRev    int64
}

// Cond is a Txn precondition on one key: it holds when the key's ModRev
// equals ModRev. ModRev 0 means "the key does not exist".
type Cond struct {
	Key    string
	ModRev int64
}

// Op is one write in a Txn: a put when Delete is false, else a delete
// (deleting a missing key is not an error).
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Put returns an Op that writes value at key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete returns an Op that removes key.
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// ListOptions narrows List. The zero value lists every key under the prefix
// in ascending order.
type ListOptions struct {
	// After, when set, starts the listing strictly after this key (strictly
	// before it when Reverse). Used for pagination.
	After string
	// Limit caps the number of keys returned; 0 means no limit.
	Limit int
	// Reverse lists in descending key order.
	Reverse bool
	// KeysOnly leaves Value nil.
	KeysOnly bool
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one change seen by Watch. For EventDelete, KV.Value is nil and
// KV.ModRev is the revision of the delete.
type Event struct {
	Type EventType
	KV   KV
}

// Store is the durable state backend.
type Store interface {
	// Get returns the value at key or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the keys with the given prefix and the store revision the
	// listing was read at.
	List(ctx context.Context, prefix string, opts ListOptions) ([]KV, int64, error)
	// Txn applies ops atomically if every cond holds, and returns the new
	// store revision. If any cond fails it returns ErrConflict and writes
	// nothing. When Txn returns nil the write is durable (fsynced).
	// A Txn with no ops returns the current revision after checking conds;
	// so does a Txn whose ops change nothing (only deletes of missing keys),
	// as in etcd. Ops apply in order. Txn does not retain ops' Value slices.
	Txn(ctx context.Context, conds []Cond, ops []Op) (int64, error)
	// Watch streams every change to keys under prefix with revision greater
	// than afterRev, in revision order, until ctx is done (then the channel is
	// closed). If afterRev is older than the retained history it returns
	// ErrCompacted.
	//
	// The store may also close the channel before ctx is done: when the store
	// is closed, or when a watcher fell so far behind that the events it
	// still needed were compacted. Events are never skipped: everything up to
	// the last event received was delivered, so the caller resumes with
	// Watch(ctx, prefix, lastReceivedModRev) and re-lists if that returns
	// ErrCompacted. Event values may be shared between watchers; treat them
	// as read-only.
	Watch(ctx context.Context, prefix string, afterRev int64) (<-chan Event, error)
	// Rev returns the current store revision.
	Rev(ctx context.Context) (int64, error)
	// Close releases the store. Pending watches are closed.
	Close() error
}
