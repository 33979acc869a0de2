package capacity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func counts(out []string) map[string]int {
	m := map[string]int{}
	for _, p := range out {
		m[p]++
	}
	return m
}

// TestDistributeDocumented encodes the distributions the ECS documentation
// describes for capacity provider strategies.
func TestDistributeDocumented(t *testing.T) {
	tests := []struct {
		name     string
		strategy []Item
		count    int
		running  map[string]int
		want     map[string]int
		order    string // when set, the exact sequence
	}{
		{
			// Two providers with weight 1 split the tasks evenly.
			name:     "equal weights",
			strategy: []Item{{Provider: "A", Weight: 1}, {Provider: "B", Weight: 1}},
			count:    10,
			want:     map[string]int{"A": 5, "B": 5},
			order:    "A B A B A B A B A B",
		},
		{
			// Weight 1 on A and 4 on B: for every task on A, four on B.
			name:     "weights 1 and 4",
			strategy: []Item{{Provider: "A", Weight: 1}, {Provider: "B", Weight: 4}},
			count:    10,
			want:     map[string]int{"A": 2, "B": 8},
		},
		{
			// Base 1 on A, then 1:4: of 6 tasks A runs the base and one
			// weighted task, B the other four.
			name:     "base 1 then 1:4",
			strategy: []Item{{Provider: "A", Base: 1, Weight: 1}, {Provider: "B", Weight: 4}},
			count:    6,
			want:     map[string]int{"A": 2, "B": 4},
			order:    "A B B A B B",
		},
		{
			// Base 2 on on-demand, then 1:3 with spot: 2 first, then for
			// every on-demand task three spot tasks.
			name:     "base 2 then 1:3",
			strategy: []Item{{Provider: "OD", Base: 2, Weight: 1}, {Provider: "SPOT", Weight: 3}},
			count:    10,
			want:     map[string]int{"OD": 4, "SPOT": 6},
		},
		{
			// The base provider need not carry weight: FARGATE runs the
			// base, FARGATE_SPOT everything after it.
			name:     "base without weight",
			strategy: []Item{{Provider: "FARGATE", Base: 2}, {Provider: "FARGATE_SPOT", Weight: 1}},
			count:    5,
			want:     map[string]int{"FARGATE": 2, "FARGATE_SPOT": 3},
			order:    "FARGATE FARGATE FARGATE_SPOT FARGATE_SPOT FARGATE_SPOT",
		},
		{
			// A count below the base goes entirely to the base provider.
			name:     "count below base",
			strategy: []Item{{Provider: "A", Weight: 1}, {Provider: "B", Base: 5, Weight: 1}},
			count:    3,
			want:     map[string]int{"B": 3},
		},
		{
			// Weight 0 providers take no weighted tasks.
			name:     "weight 0 excluded",
			strategy: []Item{{Provider: "A", Weight: 0}, {Provider: "B", Weight: 2}},
			count:    4,
			want:     map[string]int{"B": 4},
		},
		{
			// A single provider of weight 0 is a valid strategy: it runs
			// everything.
			name:     "single provider weight 0",
			strategy: []Item{{Provider: "FARGATE"}},
			count:    3,
			want:     map[string]int{"FARGATE": 3},
		},
		{
			// Running tasks count towards the base: one more on A fills it.
			name:     "running tasks fill the base",
			strategy: []Item{{Provider: "A", Base: 2, Weight: 1}, {Provider: "B", Weight: 1}},
			count:    3,
			running:  map[string]int{"A": 1},
			want:     map[string]int{"A": 2, "B": 1},
			order:    "A A B", // the base, then a tie that the earlier item wins
		},
		{
			// Running tasks count towards the weighted shares: B catches up.
			name:     "running tasks rebalance",
			strategy: []Item{{Provider: "A", Weight: 1}, {Provider: "B", Weight: 1}},
			count:    4,
			running:  map[string]int{"A": 4, "C": 9},
			want:     map[string]int{"B": 4},
		},
		{
			// Running tasks beyond the base count as weighted on A.
			name:     "running beyond base",
			strategy: []Item{{Provider: "A", Base: 1, Weight: 1}, {Provider: "B", Weight: 1}},
			count:    2,
			running:  map[string]int{"A": 3, "B": 1},
			want:     map[string]int{"B": 1, "A": 1},
			order:    "B A",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Distribute(tt.strategy, tt.count, tt.running)
			if len(out) != tt.count {
				t.Fatalf("Distribute returned %d tasks, want %d: %v", len(out), tt.count, out)
			}
			if got := counts(out); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("counts = %v, want %v (order %v)", got, tt.want, out)
			}
			if tt.order != "" && strings.Join(out, " ") != tt.order {
				t.Errorf("order = %v, want %s", out, tt.order)
			}
		})
	}
}

func TestDistributeDegenerate(t *testing.T) {
	if out := Distribute(nil, 5, nil); out != nil {
		t.Errorf("empty strategy = %v", out)
	}
	if out := Distribute([]Item{{Provider: "A", Weight: 1}}, 0, nil); out != nil {
		t.Errorf("count 0 = %v", out)
	}
	if out := Distribute([]Item{{Provider: "A", Weight: 1}}, -1, nil); out != nil {
		t.Errorf("count -1 = %v", out)
	}
	// Two weight-0 items (invalid for ECS) still place every task.
	if out := Distribute([]Item{{Provider: "A"}, {Provider: "B"}}, 4, nil); fmt.Sprint(counts(out)) != "map[A:2 B:2]" {
		t.Errorf("all weights 0 = %v", out)
	}
}

// checkDistribution verifies the properties of one Distribute call: the
// count, providers from the strategy only, the base first, and (with no
// running tasks) every prefix of the weighted tasks within one task of the
// weights' shares.
func checkDistribution(t *testing.T, strategy []Item, count int, running map[string]int) {
	t.Helper()
	out := Distribute(strategy, count, running)
	if len(out) != max(count, 0) {
		t.Fatalf("%v count %d: got %d tasks", strategy, count, len(out))
	}
	names := make([]string, len(strategy))
	var total int64
	for i, it := range strategy {
		names[i] = it.Provider
		total += int64(it.Weight)
	}
	for _, p := range out {
		if !slices.Contains(names, p) {
			t.Fatalf("%v: task placed on %q, not in the strategy", strategy, p)
		}
	}
	// The base is satisfied first.
	pos := 0
	for _, it := range strategy {
		need := max(it.Base-running[it.Provider], 0)
		for ; need > 0 && pos < len(out); need-- {
			if out[pos] != it.Provider {
				t.Fatalf("%v running %v: task %d is %s, want base provider %s (%v)", strategy, running, pos, out[pos], it.Provider, out)
			}
			pos++
		}
	}
	if running != nil || total == 0 {
		return
	}
	// Weighted tasks after the bases: after n of them, item i holds c_i with
	// |c_i·W − n·w_i| < W.
	held := make([]int64, len(strategy))
	for n, p := range out[pos:] {
		held[slices.Index(names, p)]++
		for i, it := range strategy {
			dev := held[i]*total - int64(n+1)*int64(it.Weight)
			if dev <= -total || dev >= total {
				t.Fatalf("%v count %d: after %d weighted tasks %s holds %d, share %.2f (%v)", strategy, count, n+1, it.Provider, held[i], float64(int64(n+1)*int64(it.Weight))/float64(total), out)
			}
		}
	}
}

// TestDistributeExhaustive checks every two- and three-provider strategy
// with small weights and bases.
func TestDistributeExhaustive(t *testing.T) {
	for wa := range 5 {
		for wb := range 5 {
			for base := range 4 {
				for baseOn := range 2 {
					s := []Item{{Provider: "A", Weight: wa}, {Provider: "B", Weight: wb}}
					s[baseOn].Base = base
					if ValidateStrategy(s) != "" {
						continue
					}
					for count := range 25 {
						checkDistribution(t, s, count, nil)
					}
				}
			}
		}
	}
	for wa := range 4 {
		for wb := range 4 {
			for wc := range 4 {
				s := []Item{{Provider: "A", Weight: wa, Base: 2}, {Provider: "B", Weight: wb}, {Provider: "C", Weight: wc}}
				if ValidateStrategy(s) != "" {
					continue
				}
				checkDistribution(t, s, 40, nil)
			}
		}
	}
}

// TestDistributeRandom checks the properties on random strategies of up to
// 20 providers, with and without running tasks.
func TestDistributeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		n := 1 + r.IntN(MaxItems)
		s := make([]Item, n)
		for i := range s {
			s[i] = Item{Provider: fmt.Sprintf("p%d", i), Weight: r.IntN(MaxWeight + 1)}
			if r.IntN(4) == 0 {
				s[i].Weight = 0
			}
		}
		if r.IntN(2) == 0 {
			s[r.IntN(n)].Base = r.IntN(20)
		}
		if ValidateStrategy(s) != "" {
			continue
		}
		count := r.IntN(600)
		checkDistribution(t, s, count, nil)
		running := map[string]int{}
		for i := range s {
			if r.IntN(2) == 0 {
				running[s[i].Provider] = r.IntN(30)
			}
		}
		checkDistribution(t, s, count, running)
	}
}

// TestDistributeRunningMatchesSequential checks that distributing in batches,
// passing what earlier batches placed as running, gives the same counts as
// one call: a service scaled out step by step ends where one scale-out would.
func TestDistributeRunningMatchesSequential(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		s := []Item{{Provider: "A", Weight: 1 + r.IntN(5), Base: r.IntN(4)}, {Provider: "B", Weight: r.IntN(6)}, {Provider: "C", Weight: 1 + r.IntN(3)}}
		total := r.IntN(80)
		want := counts(Distribute(s, total, nil))
		running := map[string]int{}
		for left := total; left > 0; {
			step := min(left, 1+r.IntN(7))
			for _, p := range Distribute(s, step, running) {
				running[p]++
			}
			left -= step
		}
		for _, it := range s {
			if d := running[it.Provider] - want[it.Provider]; d < -1 || d > 1 {
				t.Fatalf("%v total %d: batched %v, one call %v", s, total, running, want)
			}
		}
	}
}

func TestValidateStrategy(t *testing.T) {
	many := make([]Item, MaxItems+1)
	for i := range many {
		many[i] = Item{Provider: fmt.Sprintf("p%d", i), Weight: 1}
	}
	tests := []struct {
		name     string
		strategy []Item
		want     string // substring of the message; "" for valid
	}{
		{"empty", nil, ""},
		{"single weight 0", []Item{{Provider: "FARGATE"}}, ""},
		{"single base", []Item{{Provider: "FARGATE", Base: 100000}}, ""},
		{"base and weights", []Item{{Provider: "A", Base: 2, Weight: 1}, {Provider: "B", Weight: 1000}}, ""},
		{"20 items", many[:MaxItems], ""},
		{"21 items", many, "maximum of 20 capacity providers"},
		{"two bases", []Item{{Provider: "A", Base: 1, Weight: 1}, {Provider: "B", Base: 1}}, "more than one capacity provider with a base value"},
		{"no weight", []Item{{Provider: "A", Base: 1}, {Provider: "B"}}, "no capacity providers with a weight value greater than zero"},
		{"duplicate", []Item{{Provider: "A", Weight: 1}, {Provider: "A", Weight: 2}}, "duplicate capacity providers"},
		{"base too big", []Item{{Provider: "A", Base: 100001, Weight: 1}}, "between 0 and 100000"},
		{"negative base", []Item{{Provider: "A", Base: -1, Weight: 1}}, "between 0 and 100000"},
		{"weight too big", []Item{{Provider: "A", Weight: 1001}}, "between 0 and 1000"},
		{"negative weight", []Item{{Provider: "A", Weight: -1}}, "between 0 and 1000"},
		{"no provider", []Item{{Weight: 1}}, "does not name a capacity provider"},
	}
	for _, tt := range tests {
		got := ValidateStrategy(tt.strategy)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: ValidateStrategy = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// fargateTable is the Developer Guide's table spelled out value by value.
func fargateTable() map[int64][]int64 {
	span := func(from, to, step int64) []int64 {
		var out []int64
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	return map[int64][]int64{
		256:   {512, 1024, 2048},
		512:   {1024, 2048, 3072, 4096},
		1024:  {2048, 3072, 4096, 5120, 6144, 7168, 8192},
		2048:  span(4096, 16384, 1024),
		4096:  span(8192, 30720, 1024),
		8192:  span(16*1024, 60*1024, 4*1024),
		16384: span(32*1024, 120*1024, 8*1024),
	}
}

func TestFargateSizeOK(t *testing.T) {
	table := fargateTable()
	cpus := []int64{0, 1, 128, 255, 256, 257, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 10240, 16384, 32768}
	valid := 0
	for _, cpu := range cpus {
		for mem := int64(0); mem <= 131072; mem += 256 {
			ok, msg := FargateSizeOK(cpu, mem)
			want := slices.Contains(table[cpu], mem)
			if ok != want {
				t.Errorf("FargateSizeOK(%d, %d) = %v, want %v", cpu, mem, ok, want)
			}
			if ok {
				valid++
				if msg != "" {
					t.Errorf("FargateSizeOK(%d, %d) ok with message %q", cpu, mem, msg)
				}
			} else if !strings.HasPrefix(msg, "No Fargate configuration exists for given values") {
				t.Errorf("FargateSizeOK(%d, %d) message %q", cpu, mem, msg)
			}
		}
	}
	n := 0
	for _, mems := range table {
		n += len(mems)
	}
	if valid != n {
		t.Errorf("found %d valid combinations, the table has %d", valid, n)
	}
	// Values off the 256 MiB grid.
	for _, c := range [][2]int64{{256, 513}, {512, 1025}, {2048, 4097}, {8192, 17408}, {16384, 33792}, {-256, 512}, {256, -512}} {
		if ok, _ := FargateSizeOK(c[0], c[1]); ok {
			t.Errorf("FargateSizeOK(%d, %d) = true", c[0], c[1])
		}
	}
}

func TestPoolOf(t *testing.T) {
	tests := []struct {
		in, pool string
		ok       bool
	}{
		{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5EXAMPLE:autoScalingGroupName/MyASG", "MyASG", true},
		{"arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:424941d1:autoScalingGroupName/Infra-ECS-Cluster-asg-1", "Infra-ECS-Cluster-asg-1", true},
		{"gpu-pool", "gpu-pool", true},
		{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94", "", false},
		{"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:57ffcb94:autoScalingGroupName/", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		pool, ok := PoolOf(tt.in)
		if pool != tt.pool || ok != tt.ok {
			t.Errorf("PoolOf(%q) = %q, %v, want %q, %v", tt.in, pool, ok, tt.pool, tt.ok)
		}
	}
}
