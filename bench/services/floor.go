package main

// Docker's own floor for a rollout of n one-container tasks: create+start
// of n containers at once, then stop of n containers at once, straight
// through the moby client, with what the agent asks of Docker for the
// task definition the rollout uses.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// floorLabel marks the floor's containers (value: the run id), so run.sh
// removes them even if this program dies.
const floorLabel = "berth.bench.services.floor"

// stopTimeout is the task definition's stopTimeout (seconds).
const stopTimeout = 2

// settleBeforeStop is how long the floor's containers run before they are
// stopped.
const settleBeforeStop = 2 * time.Second

type floor struct {
	cli   *client.Client
	image string
	cmd   []string
	mem   int64 // bytes
	runID string
	n     int // containers per round
	conc  int // concurrent Docker calls
	seq   atomic.Int64
}

// floorRound is one round: the wall time until all n containers were
// started (each ContainerCreate then ContainerStart), and until all n were
// stopped (ContainerStop with the stop timeout: SIGTERM, testapp exits).
type floorRound struct {
	start, stop time.Duration
	// stop1 is one container's stop alone: with minimumHealthyPercent 100
	// a rolling update stops each old task as one new task turns healthy,
	// so only the last old task's stop follows the last healthy one.
	stop1 time.Duration
}

func (f *floor) round(ctx context.Context) (floorRound, error) {
	var r floorRound
	var err error
	if r.start, r.stop, err = f.startStop(ctx, f.n); err != nil {
		return r, err
	}
	_, r.stop1, err = f.startStop(ctx, 1)
	return r, err
}

// startStop creates and starts n containers at once (f.conc calls at a
// time), lets them run, then stops them at once, and removes them.
func (f *floor) startStop(ctx context.Context, n int) (start, stop time.Duration, err error) {
	ids := make([]string, n)
	defer f.remove(ids)
	t0 := time.Now()
	err = f.each(ctx, n, func(i int) error {
		name := fmt.Sprintf("berth-bench-services-floor-%s-%d", f.runID, f.seq.Add(1))
		sto := stopTimeout
		cr, err := f.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{
				Image:       f.image,
				Cmd:         f.cmd,
				Labels:      map[string]string{floorLabel: f.runID},
				StopTimeout: &sto,
			},
			HostConfig: &container.HostConfig{
				NetworkMode: "bridge",
				// CPUShares 2 is what the agent gives cpu 0.
				Resources:     container.Resources{Memory: f.mem, CPUShares: 2},
				RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			},
		})
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		ids[i] = cr.ID
		if _, err := f.cli.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		return nil
	})
	start = time.Since(t0)
	if err != nil {
		return start, 0, err
	}
	// The rollout stops tasks that have run for the healthy delay; stopped
	// right after its start, testapp (PID 1) may not have installed its
	// SIGTERM handler yet, the kernel drops the signal and Docker waits out
	// the stop timeout. Let them run a moment (outside the timing).
	select {
	case <-time.After(settleBeforeStop):
	case <-ctx.Done():
		return start, 0, ctx.Err()
	}
	t1 := time.Now()
	err = f.each(ctx, n, func(i int) error {
		sto := stopTimeout
		if _, err := f.cli.ContainerStop(ctx, ids[i], client.ContainerStopOptions{Timeout: &sto}); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		return nil
	})
	return start, time.Since(t1), err
}

// each runs fn(0..n-1) with f.conc at a time.
func (f *floor) each(ctx context.Context, n int, fn func(i int) error) error {
	sem := make(chan struct{}, f.conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// remove force-removes the round's containers (outside the timing).
func (f *floor) remove(ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if id != "" {
			_, _ = f.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}
