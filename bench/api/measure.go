package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"
)

// op is one API call of a scenario.
type op func(ctx context.Context) error

// cell is the measurement of one target × scenario × client × concurrency.
type cell struct {
	Target      string         `json:"target"`
	Scenario    string         `json:"scenario"`
	Client      string         `json:"client"` // raw (signed HTTP) or sdk (aws-sdk-go-v2)
	Concurrency int            `json:"concurrency"`
	Requests    int            `json:"requests"`
	Errors      int            `json:"errors"`
	Seconds     float64        `json:"seconds"`
	ReqPerSec   float64        `json:"req_per_sec"`
	P50ms       float64        `json:"p50_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	Capped      bool           `json:"capped,omitempty"`
	Skipped     string         `json:"skipped,omitempty"`
}

// errorTally counts errors by a short description.
type errorTally struct {
	mu    sync.Mutex
	kinds map[string]int
}

func (t *errorTally) add(err error) {
	k := describeError(err)
	t.mu.Lock()
	if t.kinds == nil {
		t.kinds = map[string]int{}
	}
	t.kinds[k]++
	t.mu.Unlock()
}

// describeError keeps the API error code and message when there is one, so
// the report says what the server answered.
func describeError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return oneLine(fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage()), 200)
	}
	return oneLine(err.Error(), 400)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// run drives fn with conc workers for warmup (not recorded) and then for dur,
// stopping early once maxReq calls were issued in the measured phase. Each
// call has its own timeout.
func run(fn op, conc int, warmup, dur time.Duration, maxReq int, callTimeout time.Duration) (lat []time.Duration, errs *errorTally, elapsed time.Duration, capped bool) {
	if warmup > 0 {
		phase(fn, conc, warmup, maxReq, callTimeout, false)
	}
	return phase(fn, conc, dur, maxReq, callTimeout, true)
}

func phase(fn op, conc int, dur time.Duration, maxReq int, callTimeout time.Duration, record bool) ([]time.Duration, *errorTally, time.Duration, bool) {
	var (
		issued atomic.Int64
		capped atomic.Bool
		errs   = &errorTally{}
		wg     sync.WaitGroup
		per    = make([][]time.Duration, conc)
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				if maxReq > 0 && issued.Add(1) > int64(maxReq) {
					capped.Store(true)
					break
				}
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				t0 := time.Now()
				err := fn(ctx)
				d := time.Since(t0)
				cancel()
				if !record {
					continue
				}
				if err != nil {
					errs.add(err)
					continue
				}
				local = append(local, d)
			}
			per[w] = local
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	return all, errs, elapsed, capped.Load()
}

// summarize fills a cell from the successful latencies and the error tally.
// req/s counts successful calls only.
func summarize(c *cell, lat []time.Duration, errs *errorTally, elapsed time.Duration, capped bool) {
	slices.Sort(lat)
	c.Requests = len(lat)
	c.Seconds = elapsed.Seconds()
	for _, n := range errs.kinds {
		c.Errors += n
	}
	if len(errs.kinds) > 0 {
		c.ErrorKinds = errs.kinds
	}
	c.Capped = capped
	if elapsed > 0 {
		c.ReqPerSec = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		c.P50ms = ms(percentile(lat, 0.50))
		c.P99ms = ms(percentile(lat, 0.99))
		c.MaxMs = ms(lat[len(lat)-1])
	}
}

// percentile uses the nearest-rank method on sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
