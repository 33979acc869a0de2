package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// result is one measured launch: a Docker create+start, or a RunTask until
// the task was seen RUNNING.
type result struct {
	// Begin is when the caller started (ContainerCreate or RunTask).
	Begin time.Time
	// Client is what the caller waited: until ContainerStart returned, or
	// until DescribeTasks first showed the task RUNNING.
	Client time.Duration
	// Server is the task's own startedAt − createdAt (berth only).
	Server time.Duration
	// ID is the container id (Docker) or the task ARN (berth).
	ID string
	// ContainerID is the Docker container of a berth task.
	ContainerID string
	// Created and Started are the server's timestamps of a berth task.
	Created, Started time.Time
	Err              error
}

// runN makes n launches with conc workers and returns them in completion
// order with the wall time of the whole batch. It stops early when ctx
// ends; the launches not made are missing from the results.
func runN(ctx context.Context, n, conc int, launch func(ctx context.Context) result) ([]result, time.Duration) {
	var (
		next atomic.Int64
		mu   sync.Mutex
		out  = make([]result, 0, n)
		wg   sync.WaitGroup
	)
	began := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				r := launch(ctx)
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, time.Since(began)
}

// dist is a latency distribution: nearest-rank percentiles.
type dist struct {
	N              int
	P50, P90, Max  time.Duration
	Errors         int
	FirstError     string
	Min, Mean, Sum time.Duration
}

func distOf(ds []time.Duration) dist {
	d := dist{N: len(ds)}
	if len(ds) == 0 {
		return d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	d.P50, d.P90, d.Max, d.Min = pct(s, 0.50), pct(s, 0.90), s[len(s)-1], s[0]
	for _, x := range s {
		d.Sum += x
	}
	d.Mean = d.Sum / time.Duration(len(s))
	return d
}

// pct is the nearest-rank percentile of sorted s.
func pct(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// median of unsorted ds (0 when empty).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return distOf(ds).P50
}

// clientDist and serverDist summarise the successful results of a cell and
// count its failures.
func clientDist(rs []result) dist {
	return summarize(rs, func(r result) time.Duration { return r.Client })
}

func serverDist(rs []result) dist {
	return summarize(rs, func(r result) time.Duration { return r.Server })
}

func summarize(rs []result, f func(result) time.Duration) dist {
	var ds []time.Duration
	var errs []string
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, r.Err.Error())
			continue
		}
		ds = append(ds, f(r))
	}
	d := distOf(ds)
	d.Errors = len(errs)
	if len(errs) > 0 {
		sort.Strings(errs)
		d.FirstError = errs[0]
	}
	return d
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// ratio is a/b as "1.23×" ("n/a" when b is 0).
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// forEach calls fn for every item with conc workers, until ctx ends.
func forEach[T any](ctx context.Context, items []T, conc int, fn func(context.Context, T)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(items)) {
					return
				}
				fn(ctx, items[i])
			}
		}()
	}
	wg.Wait()
}
