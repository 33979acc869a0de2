package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/agentproto"
)

// checkpoint is the agent's durable state (agent.db in the data dir): its
// identity and, per task, the manifest and the names and ids of the
// containers it made. Names are written before a container is created, so
// a restarted agent finds (adopts) every container it may have made.
type checkpoint struct{ db *bolt.DB }

var (
	bucketMeta  = []byte("meta")
	bucketTasks = []byte("tasks")
)

// taskCheckpoint is one task's durable state.
type taskCheckpoint struct {
	Manifest agentproto.TaskManifest `json:"manifest"`
	// Containers by container definition name.
	Containers map[string]*containerCheckpoint `json:"containers"`
	Pause      *containerCheckpoint            `json:"pause,omitempty"`
	// Volumes are task-scoped Docker volumes and scratch dirs to remove.
	Volumes    []string `json:"volumes,omitempty"`
	ScratchDir string   `json:"scratchDir,omitempty"`
	// State is the last state reported.
	State agentproto.TaskState `json:"state"`
	// StoppedAt is when the task stopped on this host (cleanup timer).
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
}

// containerCheckpoint names one container.
type containerCheckpoint struct {
	DockerName string `json:"dockerName"`
	ID         string `json:"id,omitempty"`
	// MetadataID is the path segment of its metadata endpoint URI.
	MetadataID string `json:"metadataId"`
	// Started says the agent started it at least once.
	Started   bool      `json:"started,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	LastStart time.Time `json:"lastStart,omitzero"`
}

func openCheckpoint(path string) (*checkpoint, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("agent state %s is locked by another agent: give each agent its own --data-dir", path)
		}
		return nil, fmt.Errorf("open agent state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketTasks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init agent state %s: %w", path, err)
	}
	return &checkpoint{db: db}, nil
}

func (c *checkpoint) Close() error { return c.db.Close() }

func (c *checkpoint) meta(key string) string {
	var v string
	_ = c.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get([]byte(key)))
		return nil
	})
	return v
}

func (c *checkpoint) setMeta(key, value string) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(key), []byte(value))
	})
}

func (c *checkpoint) saveTask(t *taskCheckpoint) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).Put([]byte(t.Manifest.TaskARN), b)
	})
}

func (c *checkpoint) deleteTask(arn string) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).Delete([]byte(arn))
	})
}

func (c *checkpoint) tasks() ([]*taskCheckpoint, error) {
	var out []*taskCheckpoint
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var t taskCheckpoint
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode checkpoint of %s: %w", k, err)
			}
			out = append(out, &t)
			return nil
		})
	})
	return out, err
}
