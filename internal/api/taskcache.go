package api

import (
	"encoding/json"
	"sync"
)

// revCache keeps decoded records by store key and revision, so hot calls
// decode a record once per change rather than once per call. An entry is
// used only while its revision matches the stored one; the store stays the
// source of truth. Values are shared: callers copy before changing them.
type revCache[T any] struct {
	mu sync.Mutex
	m  map[string]revEntry[T]
}

type revEntry[T any] struct {
	rev int64
	v   T
}

// revCacheSize bounds each cache; past it an arbitrary entry is dropped.
const revCacheSize = 20000

func (c *revCache[T]) get(key string, rev int64) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.rev != rev {
		var zero T
		return zero, false
	}
	return e.v, true
}

func (c *revCache[T]) put(key string, rev int64, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]revEntry[T])
	}
	if len(c.m) >= revCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = revEntry[T]{rev: rev, v: v}
}

// taskCache keeps decoded task views for the calls clients poll
// (DescribeTasks, ListTasks).
type taskCache struct{ revCache[taskView] }

// view returns the decoded task stored at key with revision rev.
func (c *taskCache) view(key string, rev int64, value []byte) (taskView, error) {
	if v, ok := c.get(key, rev); ok {
		return v, nil
	}
	var v taskView
	if err := json.Unmarshal(value, &v); err != nil {
		return v, err
	}
	c.put(key, rev, v)
	return v, nil
}
