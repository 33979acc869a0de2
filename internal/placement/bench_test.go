package placement

import (
	"fmt"
	"testing"

	"github.com/berth-dev/berth/internal/clusterquery"
)

func benchCluster(n int) []Instance {
	zones := []string{"a", "b", "c", "d"}
	types := []string{"t3.large", "m5.large", "c5.xlarge"}
	insts := make([]Instance, n)
	for i := range insts {
		insts[i] = Instance{ARN: fmt.Sprint(i), Active: true, Connected: true, CPU: 1 << 30, Memory: 1 << 30,
			Attributes: map[string]string{"ecs.availability-zone": zones[i%4], "ecs.instance-type": types[(i/4)%3]},
			UsedTCP:    map[uint16]bool{22: true}, Groups: map[string]int{}}
	}
	return insts
}

// BenchmarkPlace10 is one RunTask-sized call (count 10) on 10,000 instances.
func BenchmarkPlace10(b *testing.B) {
	e, _ := clusterquery.Parse("attribute:ecs.instance-type =~ t3.* or attribute:ecs.instance-type == m5.large")
	for _, m := range []struct {
		name string
		req  Request
	}{
		{"binpack", Request{Demand: Demand{CPU: 1, Memory: 1}, Count: 10, Group: "g", Strategy: []Strategy{{Type: Binpack, Field: "memory"}}}},
		{"spread+memberOf", Request{Demand: Demand{CPU: 1, Memory: 1}, Count: 10, Group: "g", Strategy: []Strategy{{Type: Spread, Field: "attribute:ecs.availability-zone"}}, Constraints: []Constraint{MemberOf(e)}}},
	} {
		b.Run(m.name, func(b *testing.B) {
			insts := benchCluster(10000)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				m.req.Seed = uint64(i)
				Commit(insts, m.req, Place(insts, m.req))
			}
		})
	}
}
