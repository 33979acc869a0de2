package api

import "testing"

// A cached task is used only while its revision is the stored one.
func TestTaskCacheFollowsRevisions(t *testing.T) {
	var c taskCache
	v, err := c.view("/tasks/c/1", 5, []byte(`{"task":{"lastStatus":"PENDING"},"instanceId":"i1"}`))
	if err != nil || *v.Task.LastStatus != "PENDING" || v.InstanceID != "i1" {
		t.Fatalf("first view %+v, %v", v, err)
	}
	// Same revision: the cached value, even if the bytes say otherwise.
	v, _ = c.view("/tasks/c/1", 5, []byte(`{"task":{"lastStatus":"RUNNING"}}`))
	if *v.Task.LastStatus != "PENDING" {
		t.Errorf("same revision re-decoded: %s", *v.Task.LastStatus)
	}
	// A new revision: decoded again.
	v, _ = c.view("/tasks/c/1", 6, []byte(`{"task":{"lastStatus":"RUNNING"}}`))
	if *v.Task.LastStatus != "RUNNING" {
		t.Errorf("new revision served stale: %s", *v.Task.LastStatus)
	}
	if _, err := c.view("/tasks/c/2", 1, []byte(`not json`)); err == nil {
		t.Error("a corrupt record decoded")
	}
	for i := 0; i < revCacheSize+10; i++ {
		_, _ = c.view("/tasks/c/x"+string(rune('a'+i%26))+string(rune(i)), 1, []byte(`{"task":{}}`))
	}
	if len(c.m) > revCacheSize {
		t.Errorf("cache grew to %d entries, bound %d", len(c.m), revCacheSize)
	}
}
