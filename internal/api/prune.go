package api

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
)

// DefaultStoppedTaskRetention is how long a STOPPED task stays describable:
// ECS keeps stopped tasks visible for at least an hour.
const DefaultStoppedTaskRetention = time.Hour

// PruneStoppedTasks deletes the records of tasks STOPPED more than
// retention ago, in every cluster, and returns how many it deleted. Each
// delete is conditioned on the record's revision, so a task that changed
// meanwhile is left for the next round.
func (e *ECS) PruneStoppedTasks(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := e.now().Add(-retention)
	kvs, _, err := e.st.List(ctx, "/tasks/", store.ListOptions{KeysOnly: true})
	if err != nil {
		return 0, err
	}
	var conds []store.Cond
	var ops []store.Op
	pruned := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := e.st.Txn(ctx, conds, ops)
		if errors.Is(err, store.ErrConflict) {
			err = nil // something changed: the next round retries
		} else if err == nil {
			pruned += len(ops)
		}
		conds, ops = conds[:0], ops[:0]
		return err
	}
	for _, k := range kvs {
		v, ok := e.tasks.get(k.Key, k.ModRev)
		if !ok {
			kv, err := e.st.Get(ctx, k.Key)
			if err != nil {
				continue
			}
			if v, err = e.tasks.view(kv.Key, kv.ModRev, kv.Value); err != nil {
				continue
			}
			k.ModRev = kv.ModRev
		}
		t := &v.Task
		if ecsapi.Value(t.LastStatus) != lifecycle.Stopped || t.StoppedAt == nil || !t.StoppedAt.Before(cutoff) {
			continue
		}
		conds = append(conds, store.Cond{Key: k.Key, ModRev: k.ModRev})
		ops = append(ops, store.Delete(k.Key))
		if len(ops) == 100 {
			if err := flush(); err != nil {
				return pruned, err
			}
		}
	}
	return pruned, flush()
}
