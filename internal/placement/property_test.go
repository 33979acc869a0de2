package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/clusterquery"
)

// TestPlaceProperties checks Place against a naive reference over many
// random clusters and requests: every placed task fits where it lands,
// nothing is double-booked, constraints hold, each choice is optimal under
// the strategy chain, failures are only reported when nothing fits, and the
// same seed replays the same plan.
func TestPlaceProperties(t *testing.T) {
	rackExpr, err := clusterquery.Parse("attribute:rack == r1")
	if err != nil {
		t.Fatal(err)
	}
	strategies := [][]Strategy{
		nil,
		{{Type: Binpack, Field: "memory"}},
		{{Type: Binpack, Field: "cpu"}},
		{{Type: Spread, Field: "instanceId"}},
		DefaultServiceStrategy,
		{{Type: Spread, Field: "attribute:ecs.availability-zone"}, {Type: Binpack, Field: "memory"}},
		{{Type: Spread, Field: "attribute:rack"}, {Type: Random}},
		{{Type: Random}},
	}
	for seed := uint64(0); seed < 3000; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		insts := randomCluster(r)
		req := Request{
			Demand: Demand{
				CPU:        int64(r.IntN(5)) * 256,
				Memory:     int64(r.IntN(5)) * 256,
				DynamicTCP: r.IntN(3),
				GPUs:       r.IntN(2),
			},
			Count:    1 + r.IntN(10),
			Group:    []string{"family:a", "family:b", "service:s"}[r.IntN(3)],
			Strategy: strategies[r.IntN(len(strategies))],
			Seed:     seed,
		}
		if r.IntN(3) == 0 {
			req.Demand.TCP = []uint16{uint16(80 + r.IntN(3))}
		}
		if r.IntN(4) == 0 {
			req.Constraints = append(req.Constraints, DistinctInstance)
		}
		if r.IntN(4) == 0 {
			req.Constraints = append(req.Constraints, MemberOf(rackExpr))
		}
		if r.IntN(5) == 0 {
			req.LaunchType = LaunchFargate
		}
		before := cloneAll(insts)
		plan := Place(insts, req)
		if !reflect.DeepEqual(insts, before) {
			t.Fatalf("seed %d: Place changed its snapshot", seed)
		}
		if again := Place(insts, req); !reflect.DeepEqual(again, plan) {
			t.Fatalf("seed %d: same seed, different plan", seed)
		}
		checkPlan(t, fmt.Sprintf("seed %d", seed), insts, req, plan)
	}
}

// checkPlan replays plan step by step over a copy of insts, checking each
// placement against the reference.
func checkPlan(t *testing.T, name string, snapshot []Instance, req Request, plan Plan) {
	t.Helper()
	insts := cloneAll(snapshot)
	if len(plan.Placements) > req.Count {
		t.Fatalf("%s: %d placements for count %d", name, len(plan.Placements), req.Count)
	}
	if (len(plan.Placements) < req.Count) != (plan.Failures != nil) {
		t.Fatalf("%s: %d of %d placed but failures=%v", name, len(plan.Placements), req.Count, plan.Failures)
	}
	for k, pl := range plan.Placements {
		fit := refFits(insts, req)
		if !slices.Contains(fit, pl.Instance) {
			t.Fatalf("%s: task %d placed on %s, which cannot take it (fits: %v)", name, k, insts[pl.Instance].ID, fit)
		}
		if best := refBest(insts, req, fit); !slices.Contains(best, pl.Instance) {
			t.Fatalf("%s: task %d placed on %s; %v wants one of %v", name, k, insts[pl.Instance].ID, req.Strategy, best)
		}
		in := &insts[pl.Instance]
		if len(pl.DynamicTCP) != req.Demand.DynamicTCP || len(pl.GPUs) != req.Demand.GPUs {
			t.Fatalf("%s: task %d got ports %v gpus %v", name, k, pl.DynamicTCP, pl.GPUs)
		}
		for _, p := range pl.DynamicTCP {
			if p < DynamicPortFirst || in.UsedTCP[p] || slices.Contains(req.Demand.TCP, p) || count(pl.DynamicTCP, p) > 1 {
				t.Fatalf("%s: task %d got dynamic port %d (used %v)", name, k, p, in.UsedTCP)
			}
		}
		for _, g := range pl.GPUs {
			if !slices.Contains(in.FreeGPUs, g) || count(pl.GPUs, g) > 1 {
				t.Fatalf("%s: task %d got GPU %s (free %v)", name, k, g, in.FreeGPUs)
			}
		}
		reserveOn(in, &req, pl)
	}
	if plan.Failures != nil {
		if fit := refFits(insts, req); len(fit) > 0 {
			t.Fatalf("%s: failures reported but %v can take the task", name, fit)
		}
		for _, f := range plan.Failures {
			if f.Reason == "" {
				t.Fatalf("%s: failure without reason: %+v", name, f)
			}
		}
	}
}

// refFits is the reference feasibility check, written apart from refuse.
func refFits(insts []Instance, req Request) []int {
	var out []int
	lt := req.LaunchType
	if lt == "" {
		lt = LaunchEC2
	}
	for i, in := range insts {
		d := req.Demand
		ok := in.Active && in.Connected && in.launchType() == lt &&
			in.CPU >= d.CPU && in.Memory >= d.Memory && len(in.FreeGPUs) >= d.GPUs
		for _, p := range d.TCP {
			ok = ok && !in.UsedTCP[p]
		}
		free := DynamicPortLast - DynamicPortFirst + 1
		for p, used := range in.UsedTCP {
			if used && p >= DynamicPortFirst && !slices.Contains(d.TCP, p) {
				free--
			}
		}
		for _, p := range d.TCP {
			if p >= DynamicPortFirst {
				free--
			}
		}
		ok = ok && free >= d.DynamicTCP
		for _, c := range req.Constraints {
			if c.Expr == nil {
				ok = ok && in.Groups[req.Group] == 0
			} else {
				ok = ok && in.Attributes["rack"] == "r1"
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// refBest narrows fit by the strategy chain, lexicographically.
func refBest(insts []Instance, req Request, fit []int) []int {
	set := fit
	for _, s := range req.Strategy {
		if s.Type == Random {
			return set
		}
		key := func(i int) int64 {
			switch {
			case s.Type == Binpack && s.Field == "cpu":
				return insts[i].CPU
			case s.Type == Binpack:
				return insts[i].Memory
			case s.Field == "instanceId":
				return int64(insts[i].Groups[req.Group])
			}
			name := s.Field[len("attribute:"):]
			v, has := insts[i].Attributes[name]
			var n int64
			for _, o := range insts {
				if ov, ohas := o.Attributes[name]; ohas == has && ov == v {
					n += int64(o.Groups[req.Group])
				}
			}
			return n
		}
		best := key(set[0])
		for _, i := range set {
			best = min(best, key(i))
		}
		set = slices.DeleteFunc(slices.Clone(set), func(i int) bool { return key(i) != best })
	}
	return set
}

func randomCluster(r *rand.Rand) []Instance {
	n := 1 + r.IntN(12)
	insts := make([]Instance, n)
	for i := range insts {
		id := fmt.Sprintf("i%02d", i)
		in := Instance{
			ARN: arn(id), ID: id,
			Active:     r.IntN(8) != 0,
			Connected:  r.IntN(8) != 0,
			CPU:        int64(r.IntN(9)) * 256,
			Memory:     int64(r.IntN(9)) * 256,
			Attributes: map[string]string{},
			Groups:     map[string]int{},
			UsedTCP:    map[uint16]bool{},
		}
		if r.IntN(5) == 0 {
			in.LaunchType = LaunchFargate
		}
		if r.IntN(6) != 0 {
			in.Attributes["ecs.availability-zone"] = []string{"a", "b", "c"}[r.IntN(3)]
		}
		if r.IntN(2) == 0 {
			in.Attributes["rack"] = []string{"r1", "r2"}[r.IntN(2)]
		}
		for p := 80; p < 83; p++ {
			if r.IntN(3) == 0 {
				in.UsedTCP[uint16(p)] = true
			}
		}
		for g := range r.IntN(3) {
			in.FreeGPUs = append(in.FreeGPUs, fmt.Sprintf("gpu%d", g))
		}
		for _, g := range []string{"family:a", "family:b", "service:s"} {
			if c := r.IntN(4) - 1; c > 0 {
				in.Groups[g] = c
			}
		}
		insts[i] = in
	}
	return insts
}

func cloneAll(insts []Instance) []Instance {
	out := slices.Clone(insts)
	for i := range out {
		out[i].UsedTCP = maps.Clone(out[i].UsedTCP)
		out[i].UsedUDP = maps.Clone(out[i].UsedUDP)
		out[i].Groups = maps.Clone(out[i].Groups)
		out[i].Attributes = maps.Clone(out[i].Attributes)
		out[i].FreeGPUs = slices.Clone(out[i].FreeGPUs)
	}
	return out
}

func TestParseStrategy(t *testing.T) {
	cases := []struct {
		typ, field string
		want       string
		err        bool
	}{
		{"random", "", "random", false},
		{"random", "ignored", "random", false},
		{"binpack", "memory", "binpack(memory)", false},
		{"binpack", "CPU", "binpack(cpu)", false},
		{"binpack", "disk", "", true},
		{"binpack", "", "", true},
		{"spread", "host", "spread(instanceId)", false},
		{"spread", "instanceId", "spread(instanceId)", false},
		{"spread", "attribute:ecs.availability-zone", "spread(attribute:ecs.availability-zone)", false},
		{"spread", "attribute:", "", true},
		{"spread", "az", "", true},
		{"pack", "cpu", "", true},
		{"", "", "", true},
	}
	for _, c := range cases {
		s, err := ParseStrategy(c.typ, c.field)
		if (err != nil) != c.err || (err == nil && s.String() != c.want) {
			t.Errorf("ParseStrategy(%q, %q) = %v, %v; want %q (error %v)", c.typ, c.field, s, err, c.want, c.err)
		}
	}
}

func TestCheck(t *testing.T) {
	in := Instance{ARN: arn("a"), Active: true, Connected: true, CPU: 512, Memory: 512, Attributes: map[string]string{"rack": "r2"}}
	e, _ := clusterquery.Parse("attribute:rack == r1")
	if f := Check(&in, Request{Demand: Demand{CPU: 512, Memory: 512}}); f != nil {
		t.Errorf("Check = %+v, want it to fit", f)
	}
	if f := Check(&in, Request{Demand: Demand{CPU: 513}}); f == nil || f.Reason != ReasonCPU {
		t.Errorf("Check = %+v, want RESOURCE:CPU", f)
	}
	if f := Check(&in, Request{Constraints: []Constraint{MemberOf(e)}}); f == nil || f.Detail != DetailMemberOf {
		t.Errorf("Check = %+v, want memberOf", f)
	}
}

func count[T comparable](s []T, v T) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestPickPorts(t *testing.T) {
	used := addPorts(nil, []uint16{49153, 49155, 65535})
	cases := []struct {
		n, start int
		static   []uint16
		want     []uint16
	}{
		{2, 0, []uint16{49154}, []uint16{49156, 49157}},
		{3, DynamicPortLast - DynamicPortFirst - 1, nil, []uint16{65534, 49154, 49156}}, // wraps, skipping used ones
		{0, 5, nil, nil},
	}
	for _, c := range cases {
		got, ok := pickPorts(used, c.static, c.n, c.start)
		if !ok || !slices.Equal(got, c.want) {
			t.Errorf("pickPorts(n=%d, start=%d) = %v, %v; want %v", c.n, c.start, got, ok, c.want)
		}
	}
	full := map[uint16]bool{}
	for p := DynamicPortFirst; p <= DynamicPortLast; p++ {
		full[uint16(p)] = true
	}
	delete(full, 50000)
	if got, ok := pickPorts(full, nil, 2, 100); ok || len(got) != 1 {
		t.Errorf("one free port, two wanted: %v, %v", got, ok)
	}
}
