package api

import (
	"context"
	"errors"
	"sync"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// Registrations of one family are combined: a registration that finds
// others of its family in flight queues behind them, and whichever caller
// is committing takes everything queued and stores it in one transaction
// (one compare-and-swap of the family record, consecutive revisions, one
// fsync). Concurrent writers of a family thus share commits the way writers
// of different families already do in the store, and revisions stay
// gap-free: a batch commits whole or not at all.

// maxRegisterBatch bounds the registrations stored in one transaction.
const maxRegisterBatch = 64

type registration struct {
	in           *ecsapi.RegisterTaskDefinitionRequest
	registeredBy string
	done         chan struct{}
	rec          taskDefRecord
	err          error
}

// familyQueue is the registrations of one family waiting for a commit.
type familyQueue struct {
	pending []*registration
}

type registrar struct {
	mu       sync.Mutex
	families map[string]*familyQueue // families with a committer running
}

// register stores r, committing it (and whatever queued behind it) itself
// when no commit of its family is running, else waiting for the running
// committer to store it.
func (e *ECS) register(ctx context.Context, r *registration) (taskDefRecord, error) {
	g := &e.reg
	family := r.in.Family
	g.mu.Lock()
	if g.families == nil {
		g.families = map[string]*familyQueue{}
	}
	if q, running := g.families[family]; running {
		q.pending = append(q.pending, r)
		g.mu.Unlock()
		select {
		case <-r.done:
			return r.rec, r.err
		case <-ctx.Done():
			// The committer may still store it, as with any call whose
			// caller stops waiting.
			return taskDefRecord{}, ctx.Err()
		}
	}
	q := &familyQueue{}
	g.families[family] = q
	g.mu.Unlock()

	// This caller commits for the family until nothing is queued. It serves
	// others, so its own cancellation must not abort their commits.
	cctx := context.WithoutCancel(ctx)
	batch := []*registration{r}
	for {
		e.commitRegistrations(cctx, family, batch)
		g.mu.Lock()
		if len(q.pending) == 0 {
			delete(g.families, family)
			g.mu.Unlock()
			break
		}
		n := min(len(q.pending), maxRegisterBatch)
		batch = q.pending[:n:n]
		q.pending = q.pending[n:]
		g.mu.Unlock()
	}
	return r.rec, r.err
}

// commitRegistrations stores batch as consecutive revisions of family and
// reports each registration's outcome.
func (e *ECS) commitRegistrations(ctx context.Context, family string, batch []*registration) {
	var stored []*registration
	err := retry(ctx, func() error {
		stored = stored[:0]
		var fam familyRecord
		famRev, err := e.getJSON(ctx, familyKey(family), &fam)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ops := []store.Op{}
		for _, r := range batch {
			if fam.Latest == 1<<31-1 {
				r.err = clientErr("Family %s has reached the maximum revision number.", family)
				continue
			}
			rev := fam.Latest + 1
			td := taskdef.Build(r.in, e.names.TaskDefinition(family, rev), rev, e.now(), r.registeredBy)
			r.rec = taskDefRecord{Status: statusActive, TaskDefinition: *td, Tags: nonNil(r.in.Tags)}
			fam.Latest, fam.Active = rev, fam.Active+1
			ops = append(ops,
				store.Put(taskDefKey(family, rev), mustJSON(r.rec)),
				store.Put(tdIndexKey(statusActive, family, rev), nil))
			stored = append(stored, r)
		}
		if len(stored) == 0 {
			return nil
		}
		ops = append(ops, store.Put(familyKey(family), mustJSON(fam)))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: familyKey(family), ModRev: famRev}}, ops)
		return err
	})
	for _, r := range stored {
		r.err = err
	}
	for _, r := range batch {
		if r.err != nil {
			r.rec = taskDefRecord{}
		}
		close(r.done)
	}
}
