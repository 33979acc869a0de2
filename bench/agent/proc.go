package main

// Process accounting from /proc: CPU time and resident memory.

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat's times (100
// on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// procs are the processes whose CPU time a phase reports.
type procs struct {
	Agent, Server, Self, Dockerd int
}

// cpuSample is the CPU time (user+system) each process used so far, and
// the DescribeTasks calls the poller made.
type cpuSample struct {
	Agent, Server, Self, Dockerd time.Duration
	Polls                        int64
}

func (p procs) sample() cpuSample {
	return cpuSample{Agent: cpuOf(p.Agent), Server: cpuOf(p.Server), Self: cpuOf(p.Self), Dockerd: cpuOf(p.Dockerd)}
}

// since is the CPU time used between two samples.
func (s cpuSample) since(before cpuSample) cpuSample {
	return cpuSample{Agent: s.Agent - before.Agent, Server: s.Server - before.Server,
		Self: s.Self - before.Self, Dockerd: s.Dockerd - before.Dockerd, Polls: s.Polls - before.Polls}
}

func (s cpuSample) add(o cpuSample) cpuSample {
	return cpuSample{Agent: s.Agent + o.Agent, Server: s.Server + o.Server, Self: s.Self + o.Self,
		Dockerd: s.Dockerd + o.Dockerd, Polls: s.Polls + o.Polls}
}

// cpuOf reads utime+stime of pid (0 when unknown or gone).
func cpuOf(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * clockTick
}

// dockerdPID is the engine's pid from its pid file (0 if unreadable, e.g.
// a remote engine).
func dockerdPID() int {
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
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
