package deploy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1700000000, 0)

func TestLimits(t *testing.T) {
	cases := []struct{ desired, maxPct, minPct, maxTasks, minHealthy int }{
		{4, 200, 100, 8, 4},
		{4, 100, 50, 4, 2},
		{3, 150, 50, 4, 2},  // floor(4.5), ceil(1.5)
		{1, 200, 100, 2, 1}, //
		{10, 125, 75, 12, 8},
		{5, 100, 0, 5, 0},
		{0, 200, 100, 0, 0},
		{7, 133, 33, 9, 3}, // floor(9.31), ceil(2.31)
	}
	for _, c := range cases {
		mx, mn := Limits(c.desired, c.maxPct, c.minPct)
		if mx != c.maxTasks || mn != c.minHealthy {
			t.Errorf("Limits(%d, %d, %d) = %d, %d; want %d, %d", c.desired, c.maxPct, c.minPct, mx, mn, c.maxTasks, c.minHealthy)
		}
	}
}

func running(id, dep string, since time.Duration) Task {
	return Task{ID: id, Deployment: dep, State: Running, RunningSince: t0.Add(-since), CreatedAt: t0.Add(-since - time.Second)}
}

func pending(id, dep string) Task {
	return Task{ID: id, Deployment: dep, State: Pending, CreatedAt: t0}
}

func base(desired, maxPct, minPct int, tasks ...Task) Input {
	return Input{Now: t0, Desired: desired, MaximumPercent: maxPct, MinimumHealthyPct: minPct, HealthyAfter: 40 * time.Second, Primary: "new", Tasks: tasks}
}

func stopIDs(d Decision) []string {
	var out []string
	for _, s := range d.Stop {
		out = append(out, s.TaskID)
	}
	slices.Sort(out)
	return out
}

func TestPlan(t *testing.T) {
	old := func(in Input) Input { in.Others = []string{"old"}; return in }
	cases := []struct {
		name    string
		in      Input
		start   int
		stop    []string
		steady  bool
		retired []string
	}{
		{"new service starts desired", base(3, 200, 100), 3, nil, false, nil},
		{"pending tasks are not started again", base(3, 200, 100, pending("a", "new")), 2, nil, false, nil},
		{"steady", base(2, 200, 100, running("a", "new", time.Minute), running("b", "new", time.Minute)), 0, nil, true, nil},
		{"not steady before 40 s without health check", base(1, 200, 100, running("a", "new", 39*time.Second)), 0, nil, false, nil},
		{"a stopped task is replaced", base(2, 200, 100, running("a", "new", time.Minute)), 1, nil, false, nil},
		{"scale in stops pending first, then newest", base(1, 200, 100, running("a", "new", 3*time.Minute), running("b", "new", time.Minute), pending("c", "new")), 0, []string{"b", "c"}, false, nil},
		{"desired 0 stops all", base(0, 200, 100, running("a", "new", time.Minute)), 0, []string{"a"}, false, nil},

		// Rolling 100/200: start all new first, stop old when new are healthy.
		{"rolling 100/200 starts new", old(base(2, 200, 100, running("o1", "old", time.Hour), running("o2", "old", time.Hour))), 2, nil, false, nil},
		{"rolling 100/200 waits for health", old(base(2, 200, 100, running("o1", "old", time.Hour), running("o2", "old", time.Hour), running("n1", "new", time.Second), pending("n2", "new"))), 0, nil, false, nil},
		{"rolling 100/200 stops old as new turn healthy", old(base(2, 200, 100, running("o1", "old", time.Hour), running("o2", "old", time.Hour), running("n1", "new", time.Minute), pending("n2", "new"))), 0, []string{"o1"}, false, nil},
		{"old deployment drained is retired", old(base(1, 200, 100, running("n1", "new", time.Minute))), 0, nil, true, []string{"old"}},
		{"old deployment with a stopping task is kept", old(base(1, 200, 100, running("n1", "new", time.Minute), Task{ID: "o1", Deployment: "old", State: Stopping})), 0, nil, false, nil},

		// Rolling 50/100: stop half first, then start.
		{"rolling 50/100 stops half", old(base(4, 100, 50, running("o1", "old", time.Hour), running("o2", "old", time.Hour), running("o3", "old", time.Hour), running("o4", "old", time.Hour))), 0, []string{"o1", "o2"}, false, nil},
		{"rolling 50/100 starts into freed room", old(base(4, 100, 50, running("o3", "old", time.Hour), running("o4", "old", time.Hour))), 2, nil, false, nil},
		{"stopping tasks count toward max", old(base(4, 100, 50, running("o3", "old", time.Hour), running("o4", "old", time.Hour), Task{ID: "o1", Deployment: "old", State: Stopping})), 1, nil, false, nil},

		// 0/100: stop everything, then start.
		{"rolling 0/100", old(base(2, 100, 0, running("o1", "old", time.Hour), running("o2", "old", time.Hour))), 0, []string{"o1", "o2"}, false, nil},

		// Old pending tasks are stopped freely: they are not healthy.
		{"old pending tasks go", old(base(2, 200, 100, running("o1", "old", time.Hour), pending("o2", "old"))), 2, []string{"o2"}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Plan(c.in)
			if d.Start != c.start || !slices.Equal(stopIDs(d), c.stop) || d.Steady != c.steady || !slices.Equal(d.Retired, c.retired) {
				t.Errorf("Plan = start %d stop %v steady %v retired %v; want start %d stop %v steady %v retired %v",
					d.Start, stopIDs(d), d.Steady, d.Retired, c.start, c.stop, c.steady, c.retired)
			}
		})
	}
}

func TestPlanHealth(t *testing.T) {
	hc := func(id string, h Health, since time.Duration) Task {
		tk := running(id, "new", since)
		tk.HasHealthCheck, tk.Health = true, h
		return tk
	}
	in := base(2, 200, 100, hc("a", Healthy, time.Second), hc("b", HealthUnknown, time.Hour))
	if d := Plan(in); d.Start != 0 || len(d.Stop) != 0 || d.Steady || d.Counts["new"].Healthy != 1 {
		t.Errorf("UNKNOWN health: %+v", d)
	}
	in = base(2, 200, 100, hc("a", Healthy, time.Second), hc("b", Unhealthy, time.Hour))
	if d := Plan(in); d.Start != 1 || len(d.Stop) != 0 {
		t.Errorf("UNHEALTHY: the replacement starts first: %+v", d)
	}
	in.Tasks = append(in.Tasks, hc("r", Healthy, time.Second))
	if d := Plan(in); d.Start != 0 || !slices.Equal(stopIDs(d), []string{"b"}) || !d.Stop[0].Unhealthy {
		t.Errorf("UNHEALTHY: stopped once its replacement is healthy: %+v", d)
	}
	in = base(2, 100, 100, hc("a", Healthy, time.Second), hc("b", Unhealthy, time.Hour), hc("c", Unhealthy, time.Hour))
	if d := Plan(in); d.Start != 0 || len(d.Stop) != 1 || !d.Stop[0].Unhealthy {
		t.Errorf("UNHEALTHY without room: stopped one at a time: %+v", d)
	}
	in = base(2, 200, 100, hc("a", Healthy, time.Second), hc("b", Unhealthy, time.Hour))
	in.Grace = 2 * time.Hour
	if d := Plan(in); d.Start != 0 || len(d.Stop) != 0 || d.Recheck != time.Hour {
		t.Errorf("UNHEALTHY within the grace period is kept: %+v", d)
	}
	in = base(1, 200, 100, running("a", "new", 10*time.Second))
	if d := Plan(in); d.Recheck != 30*time.Second {
		t.Errorf("recheck = %v, want 30s (40 s after RUNNING)", d.Recheck)
	}
}

func TestPlanDrainingAndLost(t *testing.T) {
	dr := running("d", "new", time.Hour)
	dr.Draining = true
	in := base(2, 200, 100, dr, running("a", "new", time.Hour))
	if d := Plan(in); d.Start != 1 || len(d.Stop) != 0 {
		t.Errorf("draining: replacement first: %+v", d)
	}
	in.Tasks = append(in.Tasks, running("r", "new", time.Minute))
	if d := Plan(in); d.Start != 0 || !slices.Equal(stopIDs(d), []string{"d"}) {
		t.Errorf("draining: stopped once its replacement is healthy: %+v", d)
	}
	lost := running("l", "new", time.Hour)
	lost.Lost = true
	in = base(2, 100, 100, lost, running("a", "new", time.Hour))
	if d := Plan(in); d.Start != 1 || !slices.Equal(stopIDs(d), []string{"l"}) {
		t.Errorf("lost: replaced and stopped, not counted toward max: %+v", d)
	}
	in = base(2, 200, 100, running("a", "new", time.Hour))
	in.Deleting = true
	if d := Plan(in); d.Start != 0 || !slices.Equal(stopIDs(d), []string{"a"}) {
		t.Errorf("deleting: %+v", d)
	}
	in = base(2, 200, 100)
	in.HoldStarts = true
	if d := Plan(in); d.Start != 0 {
		t.Errorf("held starts: %+v", d)
	}
}

// TestRolloutSimulation plays whole rolling deployments step by step with
// random start and health delays and checks ECS's invariants throughout:
// running + pending never above floor(desired × max%), healthy never below
// ceil(desired × min%) once the old deployment was healthy, and the
// rollout ends steady with only new tasks.
func TestRolloutSimulation(t *testing.T) {
	for seed := uint64(0); seed < 400; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		desired := 1 + r.IntN(10)
		settings := [][2]int{{200, 100}, {100, 50}, {150, 50}, {100, 0}, {125, 75}, {200, 0}}[r.IntN(6)]
		maxPct, minPct := settings[0], settings[1]
		maxTasks, minHealthy := Limits(desired, maxPct, minPct)
		if maxTasks <= minHealthy {
			// No room to start and none to stop: the rollout cannot move,
			// as in ECS (desired 2 at 125 %/75 % is 2 and 2).
			continue
		}
		name := fmt.Sprintf("seed %d desired %d max %d min %d", seed, desired, maxPct, minPct)
		var tasks []Task
		for i := range desired {
			tasks = append(tasks, running(fmt.Sprintf("o%d", i), "old", time.Hour))
		}
		now := t0
		next := 0
		steady := false
		for step := 0; step < 500 && !steady; step++ {
			now = now.Add(5 * time.Second)
			// The world moves: pending tasks start, stopping tasks stop.
			for i := 0; i < len(tasks); i++ {
				tk := &tasks[i]
				switch {
				case tk.State == Pending && r.IntN(3) == 0:
					tk.State, tk.RunningSince = Running, now
				case tk.State == Stopping && r.IntN(2) == 0:
					tasks = slices.Delete(tasks, i, i+1)
					i--
				}
			}
			in := Input{Now: now, Desired: desired, MaximumPercent: maxPct, MinimumHealthyPct: minPct, HealthyAfter: 40 * time.Second, Primary: "new", Tasks: tasks}
			if slices.ContainsFunc(tasks, func(tk Task) bool { return tk.Deployment == "old" }) {
				in.Others = []string{"old"}
			}
			d := Plan(in)
			for _, s := range d.Stop {
				i := slices.IndexFunc(tasks, func(tk Task) bool { return tk.ID == s.TaskID })
				tasks[i].State = Stopping
			}
			for range d.Start {
				tasks = append(tasks, Task{ID: fmt.Sprintf("n%d", next), Deployment: "new", State: Pending, CreatedAt: now})
				next++
			}
			if len(tasks) > max(maxTasks, desired) {
				t.Fatalf("%s step %d: %d tasks live, max %d", name, step, len(tasks), maxTasks)
			}
			healthy := 0
			for _, tk := range tasks {
				if tk.State == Running && now.Sub(tk.RunningSince) >= 40*time.Second {
					healthy++
				}
			}
			if healthy < minHealthy {
				t.Fatalf("%s step %d: %d healthy, min %d (tasks %+v)", name, step, healthy, minHealthy, tasks)
			}
			steady = d.Steady
		}
		if !steady {
			t.Fatalf("%s: never steady; tasks %+v", name, tasks)
		}
		for _, tk := range tasks {
			if tk.Deployment != "new" || tk.State != Running {
				t.Fatalf("%s: steady with %+v", name, tk)
			}
		}
	}
}

func TestCircuitThreshold(t *testing.T) {
	for desired, want := range map[int]int{0: 3, 1: 3, 5: 3, 6: 3, 7: 4, 10: 5, 100: 50, 399: 200, 1000: 200} {
		if got := CircuitThreshold(desired); got != want {
			t.Errorf("CircuitThreshold(%d) = %d, want %d", desired, got, want)
		}
	}
}

func TestThrottleDelay(t *testing.T) {
	base, limit := 10*time.Second, 15*time.Minute
	for n, want := range map[int]time.Duration{0: 0, 2: 0, 3: 10 * time.Second, 4: 20 * time.Second, 6: 80 * time.Second, 9: 640 * time.Second, 10: limit, 80: limit} {
		if got := ThrottleDelay(n, base, limit); got != want {
			t.Errorf("ThrottleDelay(%d) = %v, want %v", n, got, want)
		}
	}
}
