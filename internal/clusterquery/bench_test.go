package clusterquery

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fleet builds n instances with varied types, zones and task groups.
func fleet(n int) []*inst {
	types := []string{"t2.micro", "t2.small", "m5.large", "c5.xlarge", "t3.medium", "g2.2xlarge"}
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"}
	out := make([]*inst, n)
	for i := range out {
		in := base()
		in.attrs["ecs.instance-type"] = types[i%len(types)]
		in.attrs["ecs.availability-zone"] = zones[i%len(zones)]
		in.ec2 = fmt.Sprintf("i-%08x", i)
		in.running = i % 7
		in.reg = mustTime("2018-01-01T00:00:00Z").Add(time.Duration(i) * time.Hour)
		in.withGroups(fmt.Sprintf("service:svc-%d", i%50), "family:web")
		out[i] = in
	}
	return out
}

var sink int

const typicalExpr = `attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone in [us-east-1a, us-east-1b]`

// BenchmarkMatch measures one Match of a typical placement constraint.
func BenchmarkMatch(b *testing.B) {
	e, err := Parse(typicalExpr)
	if err != nil {
		b.Fatal(err)
	}
	instances := fleet(10000)
	b.ReportAllocs()
	n := 0
	for i := 0; b.Loop(); i++ {
		if e.Match(instances[i%len(instances)]) {
			n++
		}
	}
	sink = n
}

// BenchmarkMatchKinds measures one Match per kind of condition.
func BenchmarkMatchKinds(b *testing.B) {
	instances := fleet(10000)
	for _, expr := range []string{
		"attribute:ecs.instance-type == t2.small",
		"attribute:ecs.instance-type == t2.*",
		"ec2InstanceId in [i-00000001, i-00000002, i-00000003, i-00000004, i-00000005, i-00000006, i-00000007, i-00000008]",
		"runningTasksCount < 3",
		"registeredAt < 2018-06-01",
		"agentVersion >= 1.14.0",
		"task:group == service:svc-7",
		"not(task:group == database)",
	} {
		e, err := Parse(expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(expr, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				if e.Match(instances[i%len(instances)]) {
					n++
				}
			}
			sink = n
		})
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(typicalExpr); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchDoesNotAllocate holds Match to zero allocations for every kind
// of condition, task groups included.
func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	in := base()
	for _, expr := range []string{
		typicalExpr,
		"attribute:ecs.instance-type == t2.small",
		"attribute:ecs.instance-type != 'm*.s*l'",
		"attribute:weight > 9 and attribute:stack <= prod",
		"attribute:gpu exists and attribute:nosuch not_exists",
		"ec2InstanceId in [a1, a2, a3, a4, a5, a6, a7, a8, i-0abc1234]",
		"ec2InstanceId =~ 'i-[0-9a-f]+'",
		"agentConnected == true and agentConnected =~ t.*",
		"agentVersion >= 1.14.0",
		"registeredAt < 2018-06-19 and registeredAt != 2018-06-18T22:28:29Z",
		"runningTasksCount < 4",
		"task:group == service:production",
		"task:group not_in [database, cache] and task:group =~ 'service:.*'",
		"task:group exists",
	} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if !e.Match(in) {
			t.Errorf("Parse(%q).Match = false, want true", expr)
		}
		if allocs := testing.AllocsPerRun(200, func() { e.Match(in) }); allocs != 0 {
			t.Errorf("Parse(%q).Match allocates %.1f times per call", expr, allocs)
		}
	}
}

// TestConcurrentMatch shares one Expr between goroutines (run with -race).
func TestConcurrentMatch(t *testing.T) {
	e, err := Parse("task:group == service:svc-3 or (attribute:ecs.instance-type =~ t2.* and not task:group exists)")
	if err != nil {
		t.Fatal(err)
	}
	instances := fleet(500)
	want := make([]bool, len(instances))
	for i, in := range instances {
		want[i] = e.Match(in)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, in := range instances {
				if got := e.Match(in); got != want[i] {
					t.Errorf("instance %d: concurrent Match = %v, want %v", i, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestVersionCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.14.5", "1.14.5", 0},
		{"1.14.5", "1.9.0", 1},
		{"1.9", "1.10", -1},
		{"1", "1.0.0.0", 0},
		{"v2", "1.99", 1},
		{"1.2.3-rc1", "1.2.3", -1},
		{"1.2.3-rc1", "1.2.3-rc2", -1},
		{"1.2.3+a", "1.2.3+b", 0},
		{"0.0.1", "0.0.0.1", 1},
	}
	for _, tc := range cases {
		a, okA := parseVersion(tc.a)
		b, okB := parseVersion(tc.b)
		if !okA || !okB {
			t.Fatalf("parseVersion(%q, %q) failed", tc.a, tc.b)
		}
		if got := a.compare(b); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.compare(a); got != -tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	for _, bad := range []string{"", "v", "1.", ".1", "1..2", "a", "1.2.3.4.5", "1.2-", "1+", "1234567890", "1 .2"} {
		if _, ok := parseVersion(bad); ok {
			t.Errorf("parseVersion(%q) accepted", bad)
		}
	}
}
