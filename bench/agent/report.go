package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// Targets of the agent issue.
const (
	latencyTarget    = 1.15 // berth latency ≤ 1.15× Docker's
	throughputTarget = 0.90 // berth throughput ≥ 0.9× Docker's
)

func writeMarkdown(w io.Writer, rep *report) {
	commit := ""
	if rep.Commit != "" {
		commit = ", commit `" + rep.Commit + "`"
	}
	fmt.Fprintf(w, "Run %s%s — image `%s`, command `%s`, memory %d MiB, cpu 0, networkMode bridge, no ports; %d CPUs, GOMAXPROCS %d. "+
		"berth's RUNNING is observed by one poller calling DescribeTasks every %s (latency cells) for all tasks in flight (%d calls, %d failed): "+
		"the observed latency includes up to %s of polling granularity plus one DescribeTasks round trip; the server-side column "+
		"is the task's own startedAt − createdAt (millisecond stamps).\n\n",
		rep.Started.Format("2006-01-02 15:04 UTC"), commit, rep.Image, strings.Join(rep.Cmd, " "), rep.MemMiB, runtime.NumCPU(), rep.GoMaxProcs,
		rep.Poll, rep.PollCalls, rep.PollErrs, rep.Poll)

	fmt.Fprintln(w, "### Latency: RunTask → RUNNING vs Docker create+start")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| clients | n | Docker create+start p50 / p90 / max ms | berth observed p50 / p90 / max ms | berth server-side p50 / p90 / max ms | berth/Docker p50, p90 (observed) | berth/Docker p50, p90 (server-side) | errors Docker / berth |")
	fmt.Fprintln(w, "|---:|---:|---|---|---|---|---|---|")
	var verdicts []string
	for _, c := range rep.Cells {
		d, b, s := clientDist(c.Docker), clientDist(c.Berth), serverDist(c.Berth)
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s, %s | %s, %s | %d / %d |\n", c.Conc, c.N,
			triple(d), triple(b), triple(s),
			ratio(float64(b.P50), float64(d.P50)), ratio(float64(b.P90), float64(d.P90)),
			ratio(float64(s.P50), float64(d.P50)), ratio(float64(s.P90), float64(d.P90)),
			d.Errors, b.Errors)
		verdicts = append(verdicts, fmt.Sprintf("%d client(s): observed p50 %s, p90 %s; server-side p50 %s, p90 %s", c.Conc,
			meets(float64(b.P50) <= latencyTarget*float64(d.P50)), meets(float64(b.P90) <= latencyTarget*float64(d.P90)),
			meets(float64(s.P50) <= latencyTarget*float64(d.P50)), meets(float64(s.P90) <= latencyTarget*float64(d.P90))))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Target: latency ≤ %.2f× Docker's. %s.\n\n", latencyTarget, strings.Join(verdicts, "; "))

	if len(rep.Cells) > 0 {
		writeBreakdown(w, rep.Cells)
	}
	writeThroughput(w, rep)
	writeMemory(w, rep)
	writeCPU(w, rep)
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "**%s**\n\n", f)
	}
}

func triple(d dist) string {
	if d.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", ms(d.P50), ms(d.P90), ms(d.Max))
}

func meets(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// steps are the breakdown's rows: one value per launch, or false when the
// launch cannot be split (failed, or a stamp is missing).
type step struct {
	name          string
	docker, berth func(r result, t engineTimes) time.Duration
}

var steps = []step{
	{"RunTask call → task createdAt (API, before the store commit)", nil,
		func(r result, t engineTimes) time.Duration { return r.Created.Sub(r.Begin) }},
	{"→ engine stamps the container Created (Docker: create request in; berth: store commit, push to the agent, agent until its create call is in)",
		func(r result, t engineTimes) time.Duration { return t.Created.Sub(r.Begin) },
		func(r result, t engineTimes) time.Duration { return t.Created.Sub(r.Created) }},
	{"Created → create done (`create` event)",
		func(r result, t engineTimes) time.Duration { return t.CreateEv.Sub(t.Created) },
		func(r result, t engineTimes) time.Duration { return t.CreateEv.Sub(t.Created) }},
	{"create done → start done (`start` event): Docker: the start call; berth: agent steps between the calls + the start call",
		func(r result, t engineTimes) time.Duration { return t.StartEv.Sub(t.CreateEv) },
		func(r result, t engineTimes) time.Duration { return t.StartEv.Sub(t.CreateEv) }},
	{"start done → ContainerStart returned (Docker) / task startedAt stamped by the server (berth: the agent's report)",
		func(r result, t engineTimes) time.Duration { return r.Begin.Add(r.Client).Sub(t.StartEv) },
		func(r result, t engineTimes) time.Duration { return r.Started.Sub(t.StartEv) }},
	{"startedAt → RUNNING observed (store commit + DescribeTasks polling)", nil,
		func(r result, t engineTimes) time.Duration { return r.Begin.Add(r.Client).Sub(r.Started) }},
	{"**total**",
		func(r result, t engineTimes) time.Duration { return r.Client },
		func(r result, t engineTimes) time.Duration { return r.Client }},
}

// stepMedian is the median of f over the launches that can be split.
func stepMedian(rs []result, ts []engineTimes, f func(result, engineTimes) time.Duration) string {
	if f == nil {
		return "–"
	}
	var ds []time.Duration
	for i, r := range rs {
		if i >= len(ts) {
			break
		}
		t := ts[i]
		if r.Err != nil || t.Created.IsZero() || t.CreateEv.IsZero() || t.StartEv.IsZero() {
			continue
		}
		ds = append(ds, f(r, t))
	}
	if len(ds) == 0 {
		return "–"
	}
	return ms(median(ds))
}

// writeBreakdown splits the launches of every cell at the engine's own
// timestamps (same host clock): medians of each step.
func writeBreakdown(w io.Writer, cells []*cell) {
	fmt.Fprintln(w, "### Where the time goes (medians per step, ms)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Launches split at the engine's own stamps (container `Created`; its `create` and `start` events, which the engine emits as each call completes) and the task's stamps (createdAt, startedAt: milliseconds), all on this host's clock. Medians of steps do not add up exactly to the median total.")
	fmt.Fprintln(w)
	head, sep := "| step |", "|---|"
	for _, c := range cells {
		head += fmt.Sprintf(" Docker c=%d | berth c=%d |", c.Conc, c.Conc)
		sep += "---:|---:|"
	}
	fmt.Fprintln(w, head+"\n"+sep)
	for _, st := range steps {
		line := "| " + st.name + " |"
		for _, c := range cells {
			line += " " + stepMedian(c.Docker, c.DockerTimes, st.docker) + " | " + stepMedian(c.Berth, c.BerthTimes, st.berth) + " |"
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}

func writeThroughput(w io.Writer, rep *report) {
	if len(rep.Tput) == 0 || len(rep.Tput[0].Bursts) == 0 {
		return
	}
	fmt.Fprintf(w, "### Throughput: %d launches as fast as possible, %d bursts per launcher (alternating)\n\n", rep.TputN, len(rep.Tput[0].Bursts))
	fmt.Fprintln(w, "| launcher | started | until all started (per burst) | per second, all bursts (per burst) | server-side: last startedAt − first createdAt, per second | each one's time from its burst's start, p50 / p90 / max ms |")
	fmt.Fprintln(w, "|---|---:|---|---|---|---|")
	var dockerRate float64
	var verdicts []string
	for _, t := range rep.Tput {
		var n int
		var el, sv time.Duration
		var per, rates []string
		for _, b := range t.Bursts {
			n, el, sv = n+b.N, el+b.Elapsed, sv+b.Server
			per = append(per, fmt.Sprintf("%.2f s", b.Elapsed.Seconds()))
			rates = append(rates, fmt.Sprintf("%.1f", rate(b.N, b.Elapsed)))
		}
		r, sr := rate(n, el), rate(n, sv)
		server := "–"
		if t.Berth {
			server = fmt.Sprintf("%.1f tasks/s", sr)
		} else {
			dockerRate = r
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.1f (%s) | %s | %s |\n", t.Label, n, strings.Join(per, ", "), r, strings.Join(rates, ", "), server, triple(distOf(t.FromStart)))
		if t.Berth {
			verdicts = append(verdicts, fmt.Sprintf("polled every %s: %s observed (%s), %s server-side (%s)", t.Poll,
				ratio(r, dockerRate), meets(r >= throughputTarget*dockerRate), ratio(sr, dockerRate), meets(sr >= throughputTarget*dockerRate)))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "berth/Docker throughput, target ≥ %.1f×: %s.\n\n", throughputTarget, strings.Join(verdicts, "; "))
}

// serverSpan is the last startedAt − the first createdAt of the tasks.
func serverSpan(rs []result) time.Duration {
	var first, last time.Time
	for _, r := range rs {
		if r.Err != nil {
			continue
		}
		if first.IsZero() || r.Created.Before(first) {
			first = r.Created
		}
		if r.Started.After(last) {
			last = r.Started
		}
	}
	return last.Sub(first)
}

// writeCPU prints the CPU time each process used during each phase.
func writeCPU(w io.Writer, rep *report) {
	fmt.Fprintln(w, "### CPU time used per phase")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "User+system time from /proc/PID/stat (10 ms ticks) while the phase ran; the bench client includes the DescribeTasks poller and, for Docker, the moby client. Containers' own start-up (runc, shims) is in none of these columns.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | launches | agent s | server s | bench client s | dockerd s | agent ms per task | DescribeTasks calls |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	row := func(name string, n int, c cpuSample, berth bool) {
		per := "–"
		if berth && n > 0 {
			per = ms(c.Agent / time.Duration(n))
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %d |\n", name, n, c.Agent.Seconds(), c.Server.Seconds(), c.Self.Seconds(), c.Dockerd.Seconds(), per, c.Polls)
	}
	if len(rep.RSSLaunch) > 0 {
		row(fmt.Sprintf("berth: %d tasks for the memory reading", rep.RSSTasks), ok(rep.RSSLaunch), rep.RSSCPU, true)
	}
	for _, c := range rep.Cells {
		row(fmt.Sprintf("latency, %d client(s): Docker", c.Conc), ok(c.Docker), c.DockerCPU, false)
		row(fmt.Sprintf("latency, %d client(s): berth", c.Conc), ok(c.Berth), c.BerthCPU, true)
	}
	for _, t := range rep.Tput {
		row("throughput: "+t.Label, ok(t.Results), t.CPU, t.Berth)
	}
	fmt.Fprintln(w)
}

func ok(rs []result) int {
	n := 0
	for _, r := range rs {
		if r.Err == nil {
			n++
		}
	}
	return n
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func writeMemory(w io.Writer, rep *report) {
	fmt.Fprintln(w, "### Memory")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| state | agent VmRSS MiB | agent VmHWM (peak) MiB | server VmRSS MiB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	mem := func(m procMem, f func(procMem) float64) string {
		if m.Err != "" {
			return "– (" + m.Err + ")"
		}
		return fmt.Sprintf("%.1f", f(m))
	}
	rss, hwm := procMem.RSSMiB, procMem.HWMMiB
	fmt.Fprintf(w, "| idle (connected, before any task) | %s | %s | %s |\n", mem(rep.AgentIdle, rss), mem(rep.AgentIdle, hwm), mem(rep.ServerIdle, rss))
	fmt.Fprintf(w, "| %d tasks RUNNING | %s | %s | %s |\n", ok(rep.RSSLaunch), mem(rep.AgentLoaded, rss), mem(rep.AgentLoaded, hwm), mem(rep.ServerLoaded, rss))
	fmt.Fprintf(w, "| end of run (no task running; the stopped ones kept until the cleanup wait) | %s | %s | – |\n", mem(rep.AgentEnd, rss), mem(rep.AgentEnd, hwm))
	fmt.Fprintln(w)
	if n := ok(rep.RSSLaunch); n > 0 && rep.AgentLoaded.Err == "" && rep.AgentIdle.Err == "" {
		fmt.Fprintf(w, "Agent: %.2f MiB per running task above idle. The %d tasks were launched as %d concurrent RunTask calls of %d and were all RUNNING (observed) in %.2f s (%.1f tasks/s).\n\n",
			(rep.AgentLoaded.RSSMiB()-rep.AgentIdle.RSSMiB())/float64(n), n, (rep.RSSTasks+rep.TputPer-1)/rep.TputPer, rep.TputPer,
			rep.RSSLaunchT.Seconds(), rate(n, rep.RSSLaunchT))
	}
}
