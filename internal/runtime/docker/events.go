package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// engineAttributes are the event attributes the engine adds next to a
// container's labels; everything else in an event's attributes is a label.
// (A label with one of these keys cannot be told apart from the engine's.)
var engineAttributes = map[string]bool{
	"name": true, "image": true, "exitCode": true, "signal": true,
	"execID": true, "execDuration": true,
}

// eventBuffer is the capacity of the channel Events returns.
const eventBuffer = 256

// Events streams the events of the containers carrying every given label
// (value "" matches any value), from the moment of the call: the engine
// replays what happened between the call and its subscription, so an event
// of a container created right after Events returns is not lost. Actions
// are Docker's with any ": detail" suffix removed: "health_status:
// healthy" is Action "health_status" with Health "healthy", and
// "exec_start: cmd args" (a health check probe, for one) is "exec_start".
//
// The engine drops events for a subscriber that falls behind, so the caller
// should drain the event channel promptly (it buffers eventBuffer events).
// Both channels are closed when the stream ends. If it ends because of an
// engine or connection failure, the error channel first receives the
// error; if it ends because ctx is done, it receives nothing. Reconnecting
// is the caller's job: a new stream starts at its own call, so the caller
// should reconcile what it missed with ListContainers.
func (d *Docker) Events(ctx context.Context, labels map[string]string) (<-chan runtime.Event, <-chan error) {
	filters := labelFilters(labels).Add("type", string(events.ContainerEventType))
	now := time.Now()
	res := d.cli.Events(ctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()),
		Filters: filters,
	})
	out := make(chan runtime.Event, eventBuffer)
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-res.Messages:
				ev, ok := eventOf(msg)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case err, ok := <-res.Err:
				if ctx.Err() == nil {
					if !ok || err == nil {
						err = io.ErrUnexpectedEOF
					}
					errc <- fmt.Errorf("container events: %w", err)
				}
				return
			}
		}
	}()
	return out, errc
}

// eventOf converts a container event; ok is false for other events.
func eventOf(m events.Message) (ev runtime.Event, ok bool) {
	if m.Type != events.ContainerEventType {
		return ev, false
	}
	action, detail, _ := strings.Cut(string(m.Action), ": ")
	ev = runtime.Event{ContainerID: m.Actor.ID, Action: action}
	if action == string(events.ActionHealthStatus) {
		ev.Health = detail
	}
	if m.TimeNano != 0 {
		ev.Time = time.Unix(0, m.TimeNano)
	} else if m.Time != 0 {
		ev.Time = time.Unix(m.Time, 0)
	}
	for k, v := range m.Actor.Attributes {
		switch {
		case k == "exitCode" && action == string(events.ActionDie):
			ev.ExitCode, _ = strconv.Atoi(v)
		case !engineAttributes[k]:
			if ev.Labels == nil {
				ev.Labels = make(map[string]string)
			}
			ev.Labels[k] = v
		}
	}
	return ev, true
}

// Stats returns one stats sample of a container: the body of the engine's
// /containers/{id}/stats?stream=false&one-shot=true, Docker's stats JSON.
func (d *Docker) Stats(ctx context.Context, id string) ([]byte, error) {
	res, err := d.cli.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		return nil, wrap(err, "stats of container %s", id)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("stats of container %s: %w", id, err)
	}
	return b, nil
}
