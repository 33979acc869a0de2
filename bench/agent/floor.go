package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// floorLabel marks the containers the floor measurement makes (value: the
// run's instance id), so run.sh finds them even if this program dies.
const floorLabel = "berth.bench.floor"

// floor is Docker's own cost of what the agent does for a one-container
// bridge task: ContainerCreate + ContainerStart of the same image, command,
// memory limit and CPU shares, straight through the moby client.
type floor struct {
	cli   *client.Client
	image string
	cmd   []string
	mem   int64 // bytes
	runID string
	seq   atomic.Int64
}

// stopTimeout is the task definition's stopTimeout (seconds).
var stopTimeout = 2

func (f *floor) launch(ctx context.Context) result {
	name := fmt.Sprintf("berth-bench-floor-%s-%d", f.runID, f.seq.Add(1))
	r := result{Begin: time.Now()}
	cr, err := f.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:       f.image,
			Cmd:         f.cmd,
			Labels:      map[string]string{floorLabel: f.runID},
			StopTimeout: &stopTimeout,
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "bridge",
			// CPUShares 2 is what the agent gives cpu 0.
			Resources:     container.Resources{Memory: f.mem, CPUShares: 2},
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		},
	})
	if err != nil {
		r.Err = fmt.Errorf("create: %w", err)
		return r
	}
	r.ID = cr.ID
	if _, err := f.cli.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		r.Err = fmt.Errorf("start: %w", err)
		return r
	}
	r.Client = time.Since(r.Begin)
	return r
}

// removeLabelled force-removes every container carrying label=value (and,
// when exitedOnly, only the exited ones) with a few workers. It returns how
// many it removed.
func removeLabelled(ctx context.Context, cli *client.Client, label, value string, exitedOnly bool) (int, error) {
	f := client.Filters{}
	f.Add("label", label+"="+value)
	if exitedOnly {
		f.Add("status", "exited")
	}
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	ids := make(chan string)
	var wg sync.WaitGroup
	var removed atomic.Int64
	var firstErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				removed.Add(1)
			}
		}()
	}
	for _, c := range res.Items {
		select {
		case ids <- c.ID:
		case <-ctx.Done():
		}
	}
	close(ids)
	wg.Wait()
	if e, _ := firstErr.Load().(error); e != nil {
		return int(removed.Load()), fmt.Errorf("remove container: %w", e)
	}
	return int(removed.Load()), nil
}

// engineTimes is what the engine recorded about one container: its Created
// and State.StartedAt stamps and the times of its create and start events
// (the engine emits them as each call completes).
type engineTimes struct {
	Created, StartedAt time.Time
	CreateEv, StartEv  time.Time
}

// eventLog records the engine's container create/start events of the run.
type eventLog struct {
	mu     sync.Mutex
	create map[string]time.Time
	start  map[string]time.Time
}

// watchEvents subscribes to the engine's container events until ctx ends.
func watchEvents(ctx context.Context, cli *client.Client) *eventLog {
	l := &eventLog{create: map[string]time.Time{}, start: map[string]time.Time{}}
	f := client.Filters{}
	f.Add("type", string(events.ContainerEventType))
	f.Add("event", string(events.ActionCreate), string(events.ActionStart))
	res := cli.Events(ctx, client.EventsListOptions{Filters: f})
	go func() {
		for {
			select {
			case m := <-res.Messages:
				t := time.Unix(0, m.TimeNano)
				l.mu.Lock()
				switch m.Action {
				case events.ActionCreate:
					l.create[m.Actor.ID] = t
				case events.ActionStart:
					if _, ok := l.start[m.Actor.ID]; !ok {
						l.start[m.Actor.ID] = t
					}
				}
				l.mu.Unlock()
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

// times inspects a container and joins its events.
func (l *eventLog) times(ctx context.Context, cli *client.Client, id string) (engineTimes, error) {
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return engineTimes{}, err
	}
	var et engineTimes
	et.Created, _ = time.Parse(time.RFC3339Nano, res.Container.Created)
	if res.Container.State != nil {
		et.StartedAt, _ = time.Parse(time.RFC3339Nano, res.Container.State.StartedAt)
	}
	// Events arrive asynchronously: give a late one a moment.
	for range 20 {
		l.mu.Lock()
		et.CreateEv, et.StartEv = l.create[res.Container.ID], l.start[res.Container.ID]
		l.mu.Unlock()
		if !et.CreateEv.IsZero() && !et.StartEv.IsZero() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return et, nil
}
