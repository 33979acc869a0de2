package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/bench/internal/rawecs"
)

// poller watches the tasks being launched with one DescribeTasks call (up
// to 100 tasks each) every interval, whatever the number of launches in
// flight (each answer holds every task not seen RUNNING yet). A task's
// RUNNING is observed when the first response showing it arrives:
// up to one interval plus one DescribeTasks round trip after the server
// recorded it. The calls go through the light client (rawecs), decoding
// only the fields read: the SDK client spent ~1.5 ms of CPU per call,
// which on two cores competed with the engine being measured.
type poller struct {
	ecs     *rawecs.Client
	cluster string
	every   atomic.Int64 // interval (ns)

	mu      sync.Mutex
	pending map[string]chan obs
	calls   atomic.Int64
	callErr atomic.Int64
}

// obs is the first observation of a task RUNNING (or its failure).
type obs struct {
	at               time.Time // when the response showing RUNNING arrived
	created, started time.Time // the task's createdAt and startedAt
	containerID      string
	err              error
}

func newPoller(c *rawecs.Client, cluster string, every time.Duration) *poller {
	p := &poller{ecs: c, cluster: cluster, pending: map[string]chan obs{}}
	p.setInterval(every)
	return p
}

func (p *poller) setInterval(d time.Duration) { p.every.Store(int64(d)) }
func (p *poller) interval() time.Duration     { return time.Duration(p.every.Load()) }

// run polls until ctx ends: one round every interval (a round that takes
// longer delays the next, as a ticker would drop ticks).
func (p *poller) run(ctx context.Context) {
	next := time.Now()
	for {
		next = next.Add(p.interval())
		if now := time.Now(); next.Before(now) {
			next = now
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			p.pollOnce(ctx)
		}
	}
}

// wait returns the first observation of arn RUNNING, or an error when the
// task stopped, timeout passed or ctx ended.
func (p *poller) wait(ctx context.Context, arn string, timeout time.Duration) obs {
	ch := make(chan obs, 1)
	p.mu.Lock()
	p.pending[arn] = ch
	p.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case o := <-ch:
		return o
	case <-timer.C:
	case <-ctx.Done():
	}
	p.mu.Lock()
	delete(p.pending, arn)
	p.mu.Unlock()
	select {
	case o := <-ch: // delivered while giving up
		return o
	default:
	}
	if ctx.Err() != nil {
		return obs{err: fmt.Errorf("task %s: %w", shortARN(arn), ctx.Err())}
	}
	return obs{err: fmt.Errorf("task %s not RUNNING within %s", shortARN(arn), timeout)}
}

func (p *poller) pollOnce(ctx context.Context) {
	p.mu.Lock()
	arns := make([]string, 0, len(p.pending))
	for arn := range p.pending {
		arns = append(arns, arn)
	}
	p.mu.Unlock()
	for i := 0; i < len(arns); i += 100 {
		batch := arns[i:min(i+100, len(arns))]
		p.calls.Add(1)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var out describeTasksOut
		err := p.ecs.Do(cctx, rawecs.Prepare("DescribeTasks", map[string]any{"cluster": p.cluster, "tasks": batch}), &out)
		cancel()
		at := time.Now()
		if err != nil {
			p.callErr.Add(1) // retried at the next tick
			continue
		}
		for _, t := range out.Tasks {
			var o obs
			switch t.LastStatus {
			case "RUNNING":
				o = obs{at: at, created: epoch(t.CreatedAt), started: epoch(t.StartedAt)}
				if len(t.Containers) > 0 {
					o.containerID = t.Containers[0].RuntimeID
				}
			case "STOPPED", "DEPROVISIONING", "STOPPING":
				o = obs{err: fmt.Errorf("task %s stopped before RUNNING: %s", shortARN(t.TaskArn), stopReason(t))}
			default:
				continue
			}
			p.deliver(t.TaskArn, o)
		}
	}
}

func (p *poller) deliver(arn string, o obs) {
	p.mu.Lock()
	ch, ok := p.pending[arn]
	delete(p.pending, arn)
	p.mu.Unlock()
	if ok {
		ch <- o
	}
}

// describeTasksOut holds the fields of a DescribeTasks answer the poller
// reads.
type describeTasksOut struct {
	Tasks []polledTask `json:"tasks"`
}

type polledTask struct {
	TaskArn       string  `json:"taskArn"`
	LastStatus    string  `json:"lastStatus"`
	CreatedAt     float64 `json:"createdAt"`
	StartedAt     float64 `json:"startedAt"`
	StopCode      string  `json:"stopCode"`
	StoppedReason string  `json:"stoppedReason"`
	Containers    []struct {
		Name      string `json:"name"`
		RuntimeID string `json:"runtimeId"`
		Reason    string `json:"reason"`
	} `json:"containers"`
}

// epoch converts an AWS JSON timestamp (epoch seconds) to a time.
func epoch(s float64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	sec := math.Floor(s)
	return time.Unix(int64(sec), int64(math.Round((s-sec)*1e9)))
}

func stopReason(t polledTask) string {
	parts := []string{t.StopCode, t.StoppedReason}
	for _, c := range t.Containers {
		if c.Reason != "" {
			parts = append(parts, c.Name+": "+c.Reason)
		}
	}
	return strings.Join(parts, " ")
}

func shortARN(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
