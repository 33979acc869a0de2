package api

import (
	"encoding/json"
	"sync"
)

// taskCache keeps decoded task views by store key and revision, so the
// calls clients poll (DescribeTasks, ListTasks) decode a task record once
// per change rather than once per call. An entry is used only while its
// revision matches the stored one; the store stays the source of truth.
type taskCache struct {
	mu sync.Mutex
	m  map[string]cachedTask
}

type cachedTask struct {
	rev int64
	v   taskView
}

// taskCacheSize bounds the cache; past it an arbitrary entry is dropped.
const taskCacheSize = 20000

// view returns the decoded task stored at key with revision rev.
func (c *taskCache) view(key string, rev int64, value []byte) (taskView, error) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok && e.rev == rev {
		c.mu.Unlock()
		return e.v, nil
	}
	c.mu.Unlock()
	var v taskView
	if err := json.Unmarshal(value, &v); err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedTask)
	}
	if len(c.m) >= taskCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cachedTask{rev: rev, v: v}
	c.mu.Unlock()
	return v, nil
}
