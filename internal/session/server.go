// Package session is the server side of berth's agent control session (the
// protocol is documented in internal/agentproto): one WebSocket per
// connected agent, over which the server pushes the desired state of the
// instance's tasks and receives their observed state.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/store"
)

// Backend is what a session needs from the ECS API.
type Backend interface {
	InstanceTasks(ctx context.Context, cluster, instanceID string) ([]agentproto.TaskManifest, int64, error)
	ApplyTaskState(ctx context.Context, cluster, instanceID string, st agentproto.TaskState) error
	SetAgentConnected(ctx context.Context, cluster, instanceID string, connected bool) error
}

// Decoder turns a stored task into a manifest and the instance it is on.
type Decoder func(value []byte, modRev int64) (agentproto.TaskManifest, string, error)

// Server accepts agent sessions.
type Server struct {
	Backend Backend
	Store   store.Store
	Decode  Decoder
	// TasksPrefix returns the store prefix of a cluster's tasks.
	TasksPrefix func(cluster string) string
	// Authenticate verifies the SigV4 signature of the upgrade request.
	Authenticate func(r *http.Request) error
	// Permanent reports whether ApplyTaskState's error means the report
	// can never apply (it is then acknowledged and dropped).
	Permanent func(error) bool
	Log       *slog.Logger
	// Heartbeat is the heartbeat interval (agentproto.HeartbeatInterval when 0).
	Heartbeat time.Duration

	mu   sync.Mutex
	gens map[string]int64 // instance → generation of its current session
	gen  int64
}

// ServeHTTP upgrades an agent's request to a session.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.Authenticate(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	cluster, inst := r.URL.Query().Get(agentproto.QueryCluster), r.URL.Query().Get(agentproto.QueryInstance)
	if i := strings.LastIndexByte(inst, '/'); i >= 0 {
		inst = inst[i+1:]
	}
	if cluster == "" || inst == "" {
		http.Error(w, "the session needs the cluster and containerInstance query parameters", http.StatusBadRequest)
		return
	}
	if err := s.Backend.SetAgentConnected(r.Context(), cluster, inst, true); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
			err = fmt.Errorf("container instance %s is not registered in cluster %s: register it with RegisterContainerInstance first", inst, cluster)
		}
		http.Error(w, err.Error(), status)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.Log.Warn("agent session upgrade failed", "instance", inst, "err", err)
		s.mu.Lock()
		live := s.gens[inst] != 0
		s.mu.Unlock()
		if !live {
			_ = s.Backend.SetAgentConnected(context.WithoutCancel(r.Context()), cluster, inst, false)
		}
		return
	}
	conn.SetReadLimit(4 << 20)
	gen := s.register(inst)
	log := s.Log.With("cluster", cluster, "instance", inst)
	log.Info("agent connected")
	err = s.run(r.Context(), conn, cluster, inst, log)
	log.Info("agent disconnected", "reason", err)
	if s.unregister(inst, gen) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Backend.SetAgentConnected(ctx, cluster, inst, false); err != nil {
			log.Warn("mark agent disconnected", "err", err)
		}
	}
	conn.CloseNow()
}

func (s *Server) register(inst string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gens == nil {
		s.gens = map[string]int64{}
	}
	s.gen++
	s.gens[inst] = s.gen
	return s.gen
}

// unregister reports whether gen was still the instance's latest session.
func (s *Server) unregister(inst string, gen int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gens[inst] != gen {
		return false
	}
	delete(s.gens, inst)
	return true
}

func (s *Server) interval() time.Duration {
	if s.Heartbeat > 0 {
		return s.Heartbeat
	}
	return agentproto.HeartbeatInterval
}

// run serves one session until it fails or ctx ends.
func (s *Server) run(ctx context.Context, conn *websocket.Conn, cluster, inst string, log *slog.Logger) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := make(chan agentproto.Message, 64)
	heard := make(chan struct{}, 1)

	go func() { cancel(s.read(ctx, conn, cluster, inst, out, heard, log)) }()
	go func() { cancel(s.push(ctx, cluster, inst, out)) }()

	hb := time.NewTicker(s.interval())
	defer hb.Stop()
	lastHeard := time.Now()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-heard:
			lastHeard = time.Now()
		case m := <-out:
			if err := write(ctx, conn, m); err != nil {
				return err
			}
		case <-hb.C:
			if time.Since(lastHeard) > time.Duration(agentproto.MissedHeartbeats)*s.interval() {
				_ = write(ctx, conn, agentproto.Message{Type: agentproto.TypeError, Error: "missed heartbeats"})
				return errors.New("agent missed heartbeats")
			}
			if err := write(ctx, conn, agentproto.Message{Type: agentproto.TypeHeartbeat}); err != nil {
				return err
			}
		}
	}
}

func write(ctx context.Context, conn *websocket.Conn, m agentproto.Message) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return wsjson.Write(wctx, conn, m)
}

// read applies the agent's reports and acknowledges them once durable.
func (s *Server) read(ctx context.Context, conn *websocket.Conn, cluster, inst string, out chan<- agentproto.Message, heard chan<- struct{}, log *slog.Logger) error {
	for {
		var m agentproto.Message
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		select {
		case heard <- struct{}{}:
		default:
		}
		switch m.Type {
		case agentproto.TypeState:
			if m.State == nil {
				continue
			}
			err := s.Backend.ApplyTaskState(ctx, cluster, inst, *m.State)
			switch {
			case err == nil:
			case s.Permanent != nil && s.Permanent(err):
				// Resending cannot help (unknown task, another
				// instance's task): acknowledge so the agent drops it.
				log.Warn("agent state report refused", "task", m.State.TaskARN, "err", err)
			default:
				// Not durable: close the session unacknowledged; the
				// agent resends after reconnecting.
				return fmt.Errorf("apply state of %s: %w", m.State.TaskARN, err)
			}
			select {
			case out <- agentproto.Message{Type: agentproto.TypeAck, Seq: m.Seq}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case agentproto.TypeAck, agentproto.TypeHeartbeat:
		default:
			log.Warn("unknown agent message", "type", m.Type)
		}
	}
}

// push sends the full set of live tasks, then every change to one of the
// instance's tasks, in store order. If the watch falls behind compaction it
// re-syncs.
func (s *Server) push(ctx context.Context, cluster, inst string, out chan<- agentproto.Message) error {
	for {
		tasks, rev, err := s.Backend.InstanceTasks(ctx, cluster, inst)
		if err != nil {
			return fmt.Errorf("list instance tasks: %w", err)
		}
		if tasks == nil {
			tasks = []agentproto.TaskManifest{}
		}
		select {
		case out <- agentproto.Message{Type: agentproto.TypeSync, Seq: rev, Tasks: tasks, HeartbeatMillis: s.interval().Milliseconds()}:
		case <-ctx.Done():
			return ctx.Err()
		}
		sent := make(map[string]string, len(tasks))
		for _, m := range tasks {
			sent[m.TaskARN] = m.DesiredStatus
			if m.DesiredStatus == lifecycle.Stopped {
				// Forget it so the map stays bounded; at most the task's
				// last few records are resent, which the agent drops.
				delete(sent, m.TaskARN)
			}
		}
		err = s.follow(ctx, cluster, inst, rev, sent, out)
		if !errors.Is(err, store.ErrCompacted) {
			return err
		}
	}
}

// follow sends a task's manifest when it is new to the session or its
// desired status changed; the agent's own state reports also rewrite the
// record, and echoing those back would double the traffic for nothing.
func (s *Server) follow(ctx context.Context, cluster, inst string, rev int64, sent map[string]string, out chan<- agentproto.Message) error {
	for {
		events, err := s.Store.Watch(ctx, s.TasksPrefix(cluster), rev)
		if err != nil {
			return err
		}
		for ev := range events {
			rev = ev.KV.ModRev
			if ev.Type != store.EventPut {
				continue
			}
			m, on, err := s.Decode(ev.KV.Value, ev.KV.ModRev)
			if err != nil || on != inst {
				continue
			}
			if d, ok := sent[m.TaskARN]; ok && d == m.DesiredStatus {
				continue
			}
			sent[m.TaskARN] = m.DesiredStatus
			if m.DesiredStatus == lifecycle.Stopped {
				// Forget it so the map stays bounded; at most the task's
				// last few records are resent, which the agent drops.
				delete(sent, m.TaskARN)
			}
			select {
			case out <- agentproto.Message{Type: agentproto.TypeTasks, Seq: ev.KV.ModRev, Tasks: []agentproto.TaskManifest{m}}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
