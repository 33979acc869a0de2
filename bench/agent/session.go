package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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
func (s *session) memory(agentPID, serverPID int) {
	if s.ctx.Err() != nil {
		return
	}
	n := s.rep.RSSTasks
	progress("memory: launching %d tasks (RunTask count %d, concurrently)", n, s.rep.TputPer)
	s.rep.RSSLaunch, s.rep.RSSLaunchT = s.b.burst(s.ctx, n, s.rep.TputPer)
	if d := clientDist(s.rep.RSSLaunch); d.Errors > 0 {
		s.fail("memory: %d of %d tasks did not reach RUNNING: %s", d.Errors, n, d.FirstError)
	}
	// Let the agent settle (its last reports, the collector) before reading.
	sleep(s.ctx, 2*time.Second)
	s.rep.AgentLoaded, s.rep.ServerLoaded = readMem(agentPID), readMem(serverPID)
	progress("memory: %d tasks RUNNING in %s; agent VmRSS %.1f MiB (idle %.1f MiB)", n-clientDist(s.rep.RSSLaunch).Errors,
		s.rep.RSSLaunchT.Round(time.Millisecond), s.rep.AgentLoaded.RSSMiB(), s.rep.AgentIdle.RSSMiB())
	s.resetBerth()
}

// latency measures n launches at concurrency c: Docker, then berth.
func (s *session) latency(c, n int) {
	if s.ctx.Err() != nil {
		return
	}
	ce := &cell{Conc: c, N: n}
	s.rep.Cells = append(s.rep.Cells, ce)

	ce.Docker, _ = runN(s.ctx, n, c, s.fl.launch)
	ce.DockerTimes = s.times(ce.Docker, func(r result) string { return r.ID })
	s.resetDocker()
	d := clientDist(ce.Docker)
	progress("latency c=%d: Docker create+start n=%d p50 %s ms p90 %s ms max %s ms errors %d", c, d.N, ms(d.P50), ms(d.P90), ms(d.Max), d.Errors)

	ce.Berth, _ = runN(s.ctx, n, c, s.b.launch)
	ce.BerthTimes = s.times(ce.Berth, func(r result) string { return r.ContainerID })
	s.resetBerth()
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

// throughput launches TputN containers (Docker, TputConc at a time) and
// TputN tasks (RunTask calls of TputPer, all at once).
func (s *session) throughput() {
	if s.ctx.Err() != nil {
		return
	}
	r := s.rep
	r.TputDocker, r.TputDockerT = runN(s.ctx, r.TputN, r.TputConc, s.fl.launch)
	s.resetDocker()
	progress("throughput: %d Docker create+start (%d concurrent) in %s", r.TputN, r.TputConc, r.TputDockerT.Round(time.Millisecond))
	r.TputBerth, r.TputBerthT = s.b.burst(s.ctx, r.TputN, r.TputPer)
	s.resetBerth()
	progress("throughput: %d tasks (RunTask count %d ×%d) RUNNING in %s", r.TputN, r.TputPer, (r.TputN+r.TputPer-1)/r.TputPer, r.TputBerthT.Round(time.Millisecond))
	if d := clientDist(r.TputBerth); d.Errors > 0 {
		s.fail("throughput: %d berth tasks failed: %s", d.Errors, d.FirstError)
	}
	if d := clientDist(r.TputDocker); d.Errors > 0 {
		s.fail("throughput: %d Docker launches failed: %s", d.Errors, d.FirstError)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// procMem is a process's resident memory from /proc/PID/status (kB).
type procMem struct {
	RSS, HWM int64
	Err      string
}

func (m procMem) RSSMiB() float64 { return float64(m.RSS) / 1024 }
func (m procMem) HWMMiB() float64 { return float64(m.HWM) / 1024 }

func readMem(pid int) procMem {
	if pid <= 0 {
		return procMem{Err: "no pid"}
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{Err: err.Error()}
	}
	defer f.Close()
	var m procMem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		}
	}
	return m
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
