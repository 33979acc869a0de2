package main

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// session runs the measurements in order and resets the engine between
// them: floor containers removed, tasks stopped and their exited
// containers removed, all outside the timings.
type session struct {
	ctx        context.Context
	rep        *report
	cli        *client.Client
	fl         *floor
	b          *berth
	ev         *eventLog
	instanceID string
	procs      procs
}

// sample is the CPU time used so far and the poller's calls.
func (s *session) sample() cpuSample {
	c := s.procs.sample()
	c.Polls = s.b.poll.calls.Load()
	return c
}

func (s *session) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	progress("FAILED: %s", msg)
	s.rep.Failures = append(s.rep.Failures, msg)
}

// resetDocker removes the floor's containers.
func (s *session) resetDocker() {
	if _, err := removeLabelled(s.ctx, s.cli, floorLabel, s.instanceID, false); err != nil && s.ctx.Err() == nil {
		s.fail("remove floor containers: %v", err)
	}
}

// resetBerth stops every launched task and removes the exited containers
// of this agent, so every cell starts from the same engine state.
func (s *session) resetBerth() {
	if _, err := s.b.stopAll(s.ctx, 2*time.Minute); err != nil && s.ctx.Err() == nil {
		s.fail("stop tasks: %v", err)
	}
	if _, err := removeLabelled(s.ctx, s.cli, "berth.instance", s.instanceID, true); err != nil && s.ctx.Err() == nil {
		s.fail("remove stopped task containers: %v", err)
	}
}

// warmUp makes two unrecorded launches each way: the first launch pays
// one-off costs (image and layer caches, the agent's first task).
func (s *session) warmUp() {
	progress("warm-up: 2 Docker create+start, 2 RunTask → RUNNING (not recorded)")
	for range 2 {
		if r := s.fl.launch(s.ctx); r.Err != nil {
			s.fail("warm-up Docker: %v", r.Err)
		}
		if r := s.b.launch(s.ctx); r.Err != nil {
			s.fail("warm-up berth: %v", r.Err)
		}
	}
	s.resetDocker()
	s.resetBerth()
}

// memory launches rssTasks tasks, waits until all are RUNNING and reads
// the agent's (and server's) memory.
func (s *session) memory() {
	if s.ctx.Err() != nil {
		return
	}
	n := s.rep.RSSTasks
	progress("memory: launching %d tasks (RunTask count %d, concurrently)", n, s.rep.TputPer)
	before := s.sample()
	s.rep.RSSLaunch, s.rep.RSSLaunchT = s.b.burst(s.ctx, n, s.rep.TputPer)
	s.rep.RSSCPU = s.sample().since(before)
	if d := clientDist(s.rep.RSSLaunch); d.Errors > 0 {
		s.fail("memory: %d of %d tasks did not reach RUNNING: %s", d.Errors, n, d.FirstError)
	}
	// Let the agent settle (its last reports, the collector) before reading.
	sleep(s.ctx, 2*time.Second)
	s.rep.AgentLoaded, s.rep.ServerLoaded = readMem(s.procs.Agent), readMem(s.procs.Server)
	progress("memory: %d tasks RUNNING in %s; agent VmRSS %.1f MiB (idle %.1f MiB)", ok(s.rep.RSSLaunch),
		s.rep.RSSLaunchT.Round(time.Millisecond), s.rep.AgentLoaded.RSSMiB(), s.rep.AgentIdle.RSSMiB())
	s.resetBerth()
}

// latency measures n launches each way at concurrency c, in alternating
// rounds (Docker, then berth; the engine reset after each) so that both
// sides see the same drift of a shared machine: rounds of one launch when
// sequential, of 2c launches otherwise.
func (s *session) latency(c, n int) {
	if s.ctx.Err() != nil {
		return
	}
	ce := &cell{Conc: c, N: n}
	s.rep.Cells = append(s.rep.Cells, ce)
	round := 1
	if c > 1 {
		round = 2 * c
	}
	for done := 0; done < n && s.ctx.Err() == nil; done += round {
		k := min(round, n-done)
		before := s.sample()
		rs, _ := runN(s.ctx, k, c, s.fl.launch)
		ce.DockerCPU = ce.DockerCPU.add(s.sample().since(before))
		ce.Docker = append(ce.Docker, rs...)
		ce.DockerTimes = append(ce.DockerTimes, s.times(rs, func(r result) string { return r.ID })...)
		s.resetDocker()

		before = s.sample()
		rs, _ = runN(s.ctx, k, c, s.b.launch)
		ce.BerthCPU = ce.BerthCPU.add(s.sample().since(before))
		ce.Berth = append(ce.Berth, rs...)
		ce.BerthTimes = append(ce.BerthTimes, s.times(rs, func(r result) string { return r.ContainerID })...)
		s.resetBerth()
	}
	d := clientDist(ce.Docker)
	progress("latency c=%d: Docker create+start n=%d p50 %s ms p90 %s ms max %s ms errors %d", c, d.N, ms(d.P50), ms(d.P90), ms(d.Max), d.Errors)
	d, sd := clientDist(ce.Berth), serverDist(ce.Berth)
	progress("latency c=%d: berth RunTask → RUNNING n=%d p50 %s ms p90 %s ms max %s ms (server-side p50 %s ms p90 %s ms) errors %d",
		c, d.N, ms(d.P50), ms(d.P90), ms(d.Max), ms(sd.P50), ms(sd.P90), d.Errors)
	if d.Errors > 0 {
		s.fail("latency c=%d: %d berth launches failed: %s", c, d.Errors, d.FirstError)
	}
	if dd := clientDist(ce.Docker); dd.Errors > 0 {
		s.fail("latency c=%d: %d Docker launches failed: %s", c, dd.Errors, dd.FirstError)
	}
}

// times reads the engine's timestamps of each successful result's
// container (empty entries for failures), for the breakdown.
func (s *session) times(rs []result, id func(result) string) []engineTimes {
	out := make([]engineTimes, len(rs))
	for i, r := range rs {
		if r.Err != nil || id(r) == "" {
			continue
		}
		et, err := s.ev.times(s.ctx, s.cli, id(r))
		if err != nil {
			progress("inspect %s: %v", id(r), err)
			continue
		}
		out[i] = et
	}
	return out
}

// throughput launches TputN containers (Docker, TputConc at a time), then
// TputN tasks (RunTask calls of TputPer, all at once) once per polling
// interval of TputPolls (the poller's own CPU competes with the engine),
// TputReps times, alternating.
func (s *session) throughput() {
	r := s.rep
	calls := (r.TputN + r.TputPer - 1) / r.TputPer
	docker := &tputRun{Label: fmt.Sprintf("Docker create+start, %d concurrent", r.TputConc)}
	r.Tput = append(r.Tput, docker)
	var berths []*tputRun
	for _, poll := range r.TputPolls {
		t := &tputRun{Berth: true, Poll: poll,
			Label: fmt.Sprintf("berth: %d concurrent RunTask (count %d) until all RUNNING, polled every %s", calls, r.TputPer, poll)}
		berths = append(berths, t)
		r.Tput = append(r.Tput, t)
	}
	for rep := 1; rep <= r.TputReps && s.ctx.Err() == nil; rep++ {
		before := s.sample()
		rs, elapsed := runN(s.ctx, r.TputN, r.TputConc, s.fl.launch)
		docker.add(rs, elapsed, s.sample().since(before), false)
		s.resetDocker()
		progress("throughput %d/%d: %d Docker create+start (%d concurrent) in %s", rep, r.TputReps, ok(rs), r.TputConc, elapsed.Round(time.Millisecond))
		if d := clientDist(rs); d.Errors > 0 {
			s.fail("throughput: %d Docker launches failed: %s", d.Errors, d.FirstError)
		}
		for _, t := range berths {
			if s.ctx.Err() != nil {
				return
			}
			s.b.poll.setInterval(t.Poll)
			before := s.sample()
			rs, elapsed := s.b.burst(s.ctx, r.TputN, r.TputPer)
			t.add(rs, elapsed, s.sample().since(before), true)
			s.resetBerth()
			progress("throughput %d/%d: %d tasks RUNNING in %s (polled every %s)", rep, r.TputReps, ok(rs), elapsed.Round(time.Millisecond), t.Poll)
			if d := clientDist(rs); d.Errors > 0 {
				s.fail("throughput (poll %s): %d berth tasks failed: %s", t.Poll, d.Errors, d.FirstError)
			}
		}
	}
}

// add records one burst.
func (t *tputRun) add(rs []result, elapsed time.Duration, cpu cpuSample, berth bool) {
	t.Results = append(t.Results, rs...)
	t.CPU = t.CPU.add(cpu)
	b := burst{N: ok(rs), Elapsed: elapsed}
	var began time.Time
	for _, r := range rs {
		if began.IsZero() || r.Begin.Before(began) {
			began = r.Begin
		}
	}
	for _, r := range rs {
		if r.Err == nil {
			t.FromStart = append(t.FromStart, r.Begin.Add(r.Client).Sub(began))
		}
	}
	if berth {
		b.Server = serverSpan(rs)
	}
	t.Bursts = append(t.Bursts, b)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
