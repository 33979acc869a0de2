package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func arn(id string) string {
	return "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id
}

// inst is an ACTIVE, connected instance with the given remaining resources.
func inst(id string, cpu, mem int64) Instance {
	return Instance{ARN: arn(id), Active: true, Connected: true, CPU: cpu, Memory: mem}
}

func ports(ps ...uint16) map[uint16]bool {
	m := map[uint16]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

func clone(insts []Instance) []Instance {
	out := slices.Clone(insts)
	for i := range out {
		out[i].UsedTCP = maps.Clone(out[i].UsedTCP)
		out[i].UsedUDP = maps.Clone(out[i].UsedUDP)
	}
	return out
}

func fmtFailures(fs []Failure) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s=%s ", f.ARN[strings.LastIndexByte(f.ARN, '/')+1:], f.Reason)
	}
	return strings.TrimSpace(b.String())
}

func TestFits(t *testing.T) {
	d := Demand{CPU: 256, Memory: 512, TCP: []uint16{80, 443}, UDP: []uint16{53}}
	cases := []struct {
		name string
		in   Instance
		d    Demand
		want string
	}{
		{"fits", inst("a", 1024, 2048), d, ""},
		{"fits exactly", inst("a", 256, 512), d, ""},
		{"empty demand on an empty instance", inst("a", 0, 0), Demand{}, ""},
		{"nil port maps", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512}, d, ""},
		{"inactive is not Fits' business", Instance{ARN: arn("a"), Active: false, Connected: true, CPU: 256, Memory: 512}, d, ""},
		{"other ports used", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedTCP: ports(8080, 53), UsedUDP: ports(80, 443, 54)}, d, ""},

		{"agent disconnected", Instance{ARN: arn("a"), Active: true, CPU: 1024, Memory: 2048}, d, ReasonAgent},
		{"agent before everything", Instance{ARN: arn("a"), Active: true, UsedTCP: ports(80), UsedUDP: ports(53)}, d, ReasonAgent},
		{"cpu short by one", inst("a", 255, 512), d, ReasonCPU},
		{"cpu before memory and ports", Instance{ARN: arn("a"), Connected: true, CPU: 0, Memory: 0, UsedTCP: ports(80), UsedUDP: ports(53)}, d, ReasonCPU},
		{"memory short by one", inst("a", 256, 511), d, ReasonMemory},
		{"memory before ports", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 0, UsedTCP: ports(443), UsedUDP: ports(53)}, d, ReasonMemory},
		{"first tcp port used", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedTCP: ports(80)}, d, ReasonPorts},
		{"second tcp port used", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedTCP: ports(443)}, d, ReasonPorts},
		{"tcp before udp", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedTCP: ports(443), UsedUDP: ports(53)}, d, ReasonPorts},
		{"udp port used", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedUDP: ports(53)}, d, ReasonPortsUDP},
		{"a false entry is free", Instance{ARN: arn("a"), Connected: true, CPU: 256, Memory: 512, UsedTCP: map[uint16]bool{80: false}, UsedUDP: map[uint16]bool{53: false}}, d, ""},
		{"negative remaining", inst("a", -1, -1), Demand{}, ReasonCPU},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := clone([]Instance{c.in})
			if got := Fits(&in[0], c.d); got != c.want {
				t.Errorf("Fits = %q, want %q", got, c.want)
			}
			if fmt.Sprint(in[0]) != fmt.Sprint(c.in) {
				t.Errorf("Fits changed the instance: %+v → %+v", c.in, in[0])
			}
		})
	}
}

func TestReserve(t *testing.T) {
	t.Run("nil port maps", func(t *testing.T) {
		in := Instance{ARN: arn("a"), Active: true, Connected: true, CPU: 2048, Memory: 4096}
		Reserve(&in, Demand{CPU: 300, Memory: 700, TCP: []uint16{80, 8080}, UDP: []uint16{53}})
		if in.CPU != 1748 || in.Memory != 3396 {
			t.Errorf("remaining cpu %d memory %d, want 1748 3396", in.CPU, in.Memory)
		}
		if !maps.Equal(in.UsedTCP, ports(80, 8080)) || !maps.Equal(in.UsedUDP, ports(53)) {
			t.Errorf("used tcp %v udp %v", in.UsedTCP, in.UsedUDP)
		}
		// The reserved ports now refuse the same demand.
		if why := Fits(&in, Demand{TCP: []uint16{8080}}); why != ReasonPorts {
			t.Errorf("Fits after Reserve = %q, want %q", why, ReasonPorts)
		}
		if why := Fits(&in, Demand{UDP: []uint16{53}}); why != ReasonPortsUDP {
			t.Errorf("Fits after Reserve = %q, want %q", why, ReasonPortsUDP)
		}
	})
	t.Run("no ports on nil maps", func(t *testing.T) {
		in := Instance{ARN: arn("a"), CPU: 10, Memory: 10}
		Reserve(&in, Demand{CPU: 10, Memory: 3})
		if in.CPU != 0 || in.Memory != 7 || len(in.UsedTCP) != 0 || len(in.UsedUDP) != 0 {
			t.Errorf("after Reserve: %+v", in)
		}
		// The maps Reserve made are usable by the next Reserve.
		Reserve(&in, Demand{TCP: []uint16{1}, UDP: []uint16{2}})
		if !in.UsedTCP[1] || !in.UsedUDP[2] || len(in.UsedTCP) != 1 || len(in.UsedUDP) != 1 {
			t.Errorf("after second Reserve: %+v", in)
		}
	})
	t.Run("existing ports kept and accumulated", func(t *testing.T) {
		in := Instance{ARN: arn("a"), CPU: 1000, Memory: 1000, UsedTCP: ports(22), UsedUDP: ports(123)}
		Reserve(&in, Demand{CPU: 1, Memory: 2, TCP: []uint16{80}})
		Reserve(&in, Demand{CPU: 10, Memory: 20, TCP: []uint16{443}, UDP: []uint16{53}})
		Reserve(&in, Demand{CPU: 100, Memory: 200})
		if in.CPU != 889 || in.Memory != 778 {
			t.Errorf("remaining cpu %d memory %d, want 889 778", in.CPU, in.Memory)
		}
		if !maps.Equal(in.UsedTCP, ports(22, 80, 443)) || !maps.Equal(in.UsedUDP, ports(123, 53)) {
			t.Errorf("used tcp %v udp %v", in.UsedTCP, in.UsedUDP)
		}
	})
	t.Run("tcp and udp are separate", func(t *testing.T) {
		in := inst("a", 100, 100)
		Reserve(&in, Demand{TCP: []uint16{53}})
		if in.UsedUDP[53] || Fits(&in, Demand{UDP: []uint16{53}}) != "" {
			t.Errorf("a tcp reservation blocks udp: %+v", in)
		}
	})
}

func TestFirstFit(t *testing.T) {
	small := Demand{CPU: 512, Memory: 1024}
	cases := []struct {
		name    string
		insts   []Instance
		d       Demand
		count   int
		placed  []int
		fails   string
		remains []int64 // CPU left on each instance, if checked
	}{
		{name: "count zero", insts: []Instance{inst("a", 4096, 8192)}, d: small, count: 0},
		{name: "no instances", d: small, count: 1},
		{name: "one task", insts: []Instance{inst("a", 4096, 8192)}, d: small, count: 1, placed: []int{0}, remains: []int64{3584}},
		{name: "all on the first that fits", insts: []Instance{inst("a", 4096, 8192), inst("b", 4096, 8192)}, d: small, count: 3,
			placed: []int{0, 0, 0}, remains: []int64{2560, 4096}},
		{name: "fills in order", insts: []Instance{inst("a", 1024, 8192), inst("b", 512, 8192), inst("c", 4096, 8192)}, d: small, count: 5,
			placed: []int{0, 0, 1, 2, 2}, remains: []int64{0, 0, 3072}},
		{name: "skips what does not fit, no failures when all are placed",
			insts: []Instance{inst("a", 100, 8192), {ARN: arn("b"), Active: true, CPU: 4096, Memory: 8192}, inst("c", 4096, 8192)},
			d:     small, count: 1, placed: []int{2}},
		{name: "draining skipped", insts: []Instance{{ARN: arn("a"), Connected: true, CPU: 4096, Memory: 8192}, inst("b", 4096, 8192)},
			d: small, count: 2, placed: []int{1, 1}, remains: []int64{4096, 3072}},
		{name: "only draining: nothing considered", insts: []Instance{{ARN: arn("a"), Connected: true, CPU: 4096, Memory: 8192}},
			d: small, count: 1, remains: []int64{4096}},
		{name: "agent", insts: []Instance{{ARN: arn("a"), Active: true, CPU: 4096, Memory: 8192}}, d: small, count: 1, fails: "a=AGENT"},
		{name: "cpu", insts: []Instance{inst("a", 511, 8192)}, d: small, count: 1, fails: "a=RESOURCE:CPU"},
		{name: "memory", insts: []Instance{inst("a", 4096, 1023)}, d: small, count: 1, fails: "a=RESOURCE:MEMORY"},
		{name: "ports", insts: []Instance{{ARN: arn("a"), Active: true, Connected: true, CPU: 4096, Memory: 8192, UsedTCP: ports(80)}},
			d: Demand{CPU: 1, Memory: 1, TCP: []uint16{80}}, count: 1, fails: "a=RESOURCE:PORTS"},
		{name: "ports udp", insts: []Instance{{ARN: arn("a"), Active: true, Connected: true, CPU: 4096, Memory: 8192, UsedUDP: ports(80)}},
			d: Demand{CPU: 1, Memory: 1, TCP: []uint16{80}, UDP: []uint16{80}}, count: 1, fails: "a=RESOURCE:PORTS_UDP"},
		{name: "every reason, sorted by ARN, draining not listed",
			insts: []Instance{
				{ARN: arn("e"), Active: true, Connected: true, CPU: 4096, Memory: 8192, UsedUDP: ports(53)},
				{ARN: arn("b"), Active: true, Connected: true, CPU: 511, Memory: 0},
				{ARN: arn("a"), Active: true, Connected: false, CPU: 4096, Memory: 8192},
				{ARN: arn("f"), Active: false, Connected: true, CPU: 4096, Memory: 8192},
				{ARN: arn("d"), Active: true, Connected: true, CPU: 4096, Memory: 8192, UsedTCP: ports(80), UsedUDP: ports(53)},
				{ARN: arn("c"), Active: true, Connected: true, CPU: 512, Memory: 1023, UsedTCP: ports(80)},
			},
			d: Demand{CPU: 512, Memory: 1024, TCP: []uint16{80}, UDP: []uint16{53}}, count: 1,
			fails: "a=AGENT b=RESOURCE:CPU c=RESOURCE:MEMORY d=RESOURCE:PORTS e=RESOURCE:PORTS_UDP"},
		{name: "count beyond capacity: placed prefix, then each instance once",
			insts: []Instance{inst("c", 1024, 8192), {ARN: arn("z"), CPU: 4096, Memory: 8192, Connected: true}, inst("a", 512, 8192), {ARN: arn("b"), Active: true, CPU: 4096, Memory: 8192}},
			d:     small, count: 10, placed: []int{0, 0, 2}, fails: "a=RESOURCE:CPU b=AGENT c=RESOURCE:CPU", remains: []int64{0, 4096, 0, 4096}},
		{name: "the reason is the one for the first task that did not fit",
			insts: []Instance{inst("b", 4096, 1024), inst("a", 1024, 8192)},
			d:     small, count: 4, placed: []int{0, 1, 1}, fails: "a=RESOURCE:CPU b=RESOURCE:MEMORY", remains: []int64{3584, 0}},
		{name: "static host port spreads the copies",
			insts: []Instance{inst("a", 4096, 8192), inst("b", 4096, 8192), inst("c", 4096, 8192)},
			d:     Demand{CPU: 128, Memory: 128, TCP: []uint16{8080}}, count: 3, placed: []int{0, 1, 2}, remains: []int64{3968, 3968, 3968}},
		{name: "static host port: one copy per instance at most",
			insts: []Instance{inst("c", 4096, 8192), inst("b", 4096, 8192), inst("a", 4096, 8192)},
			d:     Demand{CPU: 128, Memory: 128, TCP: []uint16{8080}}, count: 5, placed: []int{0, 1, 2},
			fails: "a=RESOURCE:PORTS b=RESOURCE:PORTS c=RESOURCE:PORTS"},
		{name: "static udp port spreads the copies",
			insts: []Instance{inst("a", 4096, 8192), inst("b", 4096, 8192)},
			d:     Demand{CPU: 128, Memory: 128, UDP: []uint16{514}}, count: 3, placed: []int{0, 1},
			fails: "a=RESOURCE:PORTS_UDP b=RESOURCE:PORTS_UDP"},
		{name: "no static port: copies share an instance",
			insts: []Instance{inst("a", 4096, 8192), inst("b", 4096, 8192)},
			d:     Demand{CPU: 128, Memory: 128}, count: 3, placed: []int{0, 0, 0}},
		{name: "duplicate ARN listed once",
			insts: []Instance{{ARN: arn("a"), Active: true, CPU: 4096, Memory: 8192}, inst("a", 0, 0)},
			d:     small, count: 1, fails: "a=AGENT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			insts := clone(c.insts)
			placed, fails := FirstFit(insts, c.d, c.count)
			if !slices.Equal(placed, c.placed) {
				t.Errorf("placed %v, want %v", placed, c.placed)
			}
			if got := fmtFailures(fails); got != c.fails {
				t.Errorf("failures %q, want %q", got, c.fails)
			}
			if c.fails == "" && fails != nil {
				t.Errorf("failures %#v, want nil", fails)
			}
			for i, want := range c.remains {
				if insts[i].CPU != want {
					t.Errorf("instance %d: cpu left %d, want %d", i, insts[i].CPU, want)
				}
			}
			checkPlan(t, c.insts, insts, c.d, placed)
		})
	}
}

// checkPlan checks what FirstFit left in after against the instances it
// was given: exact arithmetic, and no resource or port over-committed.
func checkPlan(t *testing.T, before, after []Instance, d Demand, placed []int) {
	t.Helper()
	n := make([]int64, len(before))
	for _, i := range placed {
		if i < 0 || i >= len(before) {
			t.Fatalf("placed on instance %d of %d", i, len(before))
		}
		if !before[i].Active || !before[i].Connected {
			t.Errorf("placed on instance %d which is active=%v connected=%v", i, before[i].Active, before[i].Connected)
		}
		n[i]++
	}
	for i, b := range before {
		a := after[i]
		if a.ARN != b.ARN || a.Active != b.Active || a.Connected != b.Connected {
			t.Errorf("instance %d identity changed: %+v → %+v", i, b, a)
		}
		if a.CPU != b.CPU-n[i]*d.CPU || a.Memory != b.Memory-n[i]*d.Memory {
			t.Errorf("instance %d: cpu %d→%d memory %d→%d with %d tasks of %d/%d", i, b.CPU, a.CPU, b.Memory, a.Memory, n[i], d.CPU, d.Memory)
		}
		if b.CPU >= 0 && a.CPU < 0 || b.Memory >= 0 && a.Memory < 0 {
			t.Errorf("instance %d over-committed: cpu %d memory %d", i, a.CPU, a.Memory)
		}
		if n[i] == 0 {
			if !maps.Equal(a.UsedTCP, b.UsedTCP) || !maps.Equal(a.UsedUDP, b.UsedUDP) {
				t.Errorf("instance %d without tasks had its ports changed", i)
			}
			continue
		}
		checkPorts := func(proto string, demand []uint16, was, now map[uint16]bool) {
			if len(demand) > 0 && n[i] > 1 {
				t.Errorf("instance %d: %d tasks binding static %s ports %v", i, n[i], proto, demand)
			}
			for _, p := range demand {
				if was[p] {
					t.Errorf("instance %d: %s port %d was in use and was booked again", i, proto, p)
				}
				if !now[p] {
					t.Errorf("instance %d: %s port %d not reserved", i, proto, p)
				}
			}
			for p, v := range was {
				if v && !now[p] {
					t.Errorf("instance %d: %s port %d released", i, proto, p)
				}
			}
			for p, v := range now {
				if v && !was[p] && !slices.Contains(demand, p) {
					t.Errorf("instance %d: %s port %d reserved without being asked for", i, proto, p)
				}
			}
		}
		checkPorts("tcp", d.TCP, b.UsedTCP, a.UsedTCP)
		checkPorts("udp", d.UDP, b.UsedUDP, a.UsedUDP)
	}
}

// refuse is an independent statement of ECS's reasons, in precedence order.
func refuse(in Instance, d Demand) string {
	if !in.Connected {
		return ReasonAgent
	}
	if in.CPU < d.CPU {
		return ReasonCPU
	}
	if in.Memory < d.Memory {
		return ReasonMemory
	}
	if slices.ContainsFunc(d.TCP, func(p uint16) bool { return in.UsedTCP[p] }) {
		return ReasonPorts
	}
	if slices.ContainsFunc(d.UDP, func(p uint16) bool { return in.UsedUDP[p] }) {
		return ReasonPortsUDP
	}
	return ""
}

// TestFirstFitProperties places random demands on random instances (seeded,
// so reproducible) and checks the plan against a model: each task on the
// first instance that fits at that point, nothing over-committed, and the
// failures of the first task that did not fit.
func TestFirstFitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(0xbe27, 0x1))
	portPool := []uint16{22, 53, 80, 443, 8080}
	somePorts := func(max int) []uint16 {
		var ps []uint16
		for _, i := range rng.Perm(len(portPool))[:rng.IntN(max+1)] {
			ps = append(ps, portPool[i])
		}
		return ps
	}
	var placedTotal, failedRuns, portRuns int
	for iter := range 2000 {
		insts := make([]Instance, rng.IntN(7))
		for i, id := range rng.Perm(len(insts)) {
			insts[i] = Instance{
				ARN:       arn(fmt.Sprintf("i-%02d", id)),
				Active:    rng.IntN(5) > 0,
				Connected: rng.IntN(7) > 0,
				CPU:       int64(rng.IntN(17)) * 256,
				Memory:    int64(rng.IntN(17)) * 512,
			}
			if rng.IntN(2) == 0 {
				insts[i].UsedTCP = ports(somePorts(2)...)
			}
			if rng.IntN(2) == 0 {
				insts[i].UsedUDP = ports(somePorts(1)...)
			}
		}
		d := Demand{CPU: int64(rng.IntN(9)) * 256, Memory: int64(rng.IntN(9)) * 512}
		if rng.IntN(3) == 0 {
			d.TCP = somePorts(2)
		}
		if rng.IntN(4) == 0 {
			d.UDP = somePorts(1)
		}
		count := rng.IntN(9)

		work := clone(insts)
		placed, fails := FirstFit(work, d, count)

		// The model.
		model := clone(insts)
		var wantPlaced []int
		var wantFails []Failure
		for range count {
			chosen := -1
			var refused []Failure
			for i, in := range model {
				if !in.Active {
					continue
				}
				if why := refuse(in, d); why != "" {
					refused = append(refused, Failure{in.ARN, why})
					continue
				}
				chosen = i
				break
			}
			if chosen < 0 {
				slices.SortFunc(refused, func(a, b Failure) int { return strings.Compare(a.ARN, b.ARN) })
				wantFails = refused
				break
			}
			model[chosen].CPU -= d.CPU
			model[chosen].Memory -= d.Memory
			model[chosen].UsedTCP = maps.Clone(model[chosen].UsedTCP)
			model[chosen].UsedUDP = maps.Clone(model[chosen].UsedUDP)
			if model[chosen].UsedTCP == nil {
				model[chosen].UsedTCP = map[uint16]bool{}
			}
			if model[chosen].UsedUDP == nil {
				model[chosen].UsedUDP = map[uint16]bool{}
			}
			for _, p := range d.TCP {
				model[chosen].UsedTCP[p] = true
			}
			for _, p := range d.UDP {
				model[chosen].UsedUDP[p] = true
			}
			wantPlaced = append(wantPlaced, chosen)
		}

		name := fmt.Sprintf("iter %d: %d instances, demand %+v ×%d", iter, len(insts), d, count)
		if !slices.Equal(placed, wantPlaced) {
			t.Fatalf("%s: placed %v, want %v\ninstances %+v", name, placed, wantPlaced, insts)
		}
		if !slices.Equal(fails, wantFails) {
			t.Fatalf("%s: failures %v, want %v\ninstances %+v", name, fails, wantFails, insts)
		}
		if len(placed) > count || len(placed) < count && fails == nil && slices.ContainsFunc(insts, func(in Instance) bool { return in.Active }) {
			t.Fatalf("%s: placed %d of %d, failures %v", name, len(placed), count, fails)
		}
		if len(placed) == count && fails != nil {
			t.Fatalf("%s: all placed but failures %v", name, fails)
		}
		for i := 1; i < len(fails); i++ {
			if fails[i-1].ARN >= fails[i].ARN {
				t.Fatalf("%s: failures not sorted or repeated: %v", name, fails)
			}
		}
		for i := range model {
			if work[i].CPU != model[i].CPU || work[i].Memory != model[i].Memory {
				t.Fatalf("%s: instance %d left cpu %d memory %d, want %d %d", name, i, work[i].CPU, work[i].Memory, model[i].CPU, model[i].Memory)
			}
		}
		checkPlan(t, insts, work, d, placed)
		if t.Failed() {
			t.Fatalf("%s: plan check failed\ninstances %+v\nplaced %v", name, insts, placed)
		}
		placedTotal += len(placed)
		if fails != nil {
			failedRuns++
		}
		if len(placed) > 1 && len(d.TCP)+len(d.UDP) > 0 {
			portRuns++
		}
	}
	// The generator must exercise every branch it is meant to.
	if placedTotal < 1000 || failedRuns < 200 || portRuns < 50 {
		t.Errorf("weak generator: %d placed, %d runs with failures, %d spread by ports", placedTotal, failedRuns, portRuns)
	}
}
