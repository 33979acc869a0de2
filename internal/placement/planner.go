package placement

import (
	"math/rand/v2"
	"slices"
	"sync"
)

// planner holds one Place call's working state. Instances it reserves on
// are cloned into shadow (and flagged in touched), so the snapshot is never
// changed.
type planner struct {
	insts   []Instance
	req     *Request
	lt      string
	rng     *rand.Rand
	shadow  map[int]*Instance
	touched []uint64 // bitset over insts: has a shadow

	cands []int // instances that can take the next task
	buf   []int

	spreads []spreadIndex // one per spread-on-attribute strategy
	distinc bool          // distinctInstance is among the constraints
}

// spreadIndex maps each instance to its bucket (an attribute value) and
// counts the group's tasks per bucket.
type spreadIndex struct {
	bucket []int32
	count  []int
}

func newPlanner(insts []Instance, req *Request) *planner {
	p := &planner{
		buf:     getInts(),
		insts:   insts,
		req:     req,
		lt:      req.LaunchType,
		rng:     rand.New(rand.NewPCG(req.Seed, req.Seed^0x9e3779b97f4a7c15)),
		touched: make([]uint64, len(insts)/64+1),
	}
	if p.lt == "" {
		p.lt = LaunchEC2
	}
	p.distinc = slices.ContainsFunc(req.Constraints, func(c Constraint) bool { return c.Expr == nil })
	for _, s := range req.Strategy {
		if name := s.attribute(); name != "" {
			p.spreads = append(p.spreads, p.spreadBy(name))
		}
	}
	return p
}

// eligible says whether instance i is a candidate at all: ACTIVE, of the
// request's launch type and pool. Others are neither used nor listed in
// failures.
func (p *planner) eligible(i int) bool {
	in := &p.insts[i]
	return in.Active && in.launchType() == p.lt && (p.req.Pool == "" || in.Pool == p.req.Pool)
}

func (p *planner) memberOf(in *Instance) bool {
	for _, c := range p.req.Constraints {
		if c.Expr != nil && !c.Expr.Match(subject{in}) {
			return false
		}
	}
	return true
}

// spreadBy buckets every instance of the snapshot by an attribute's value
// (instances without it share one bucket) and counts the group's tasks.
func (p *planner) spreadBy(name string) spreadIndex {
	// Clusters have few distinct values (zones, instance types): a short
	// list beats a map; the map takes over past it.
	var vals []string
	var ids map[string]int32
	idx := spreadIndex{bucket: make([]int32, len(p.insts))}
	for i := range p.insts {
		in := &p.insts[i]
		v, ok := in.Attributes[name]
		if !ok {
			v = "\x00missing"
		}
		b := int32(slices.Index(vals, v))
		if b < 0 && ids != nil {
			if id, seen := ids[v]; seen {
				b = id
			}
		}
		if b < 0 {
			b = int32(len(idx.count))
			idx.count = append(idx.count, 0)
			switch {
			case len(vals) < 16:
				vals = append(vals, v)
			case ids == nil:
				ids = map[string]int32{v: b}
			default:
				ids[v] = b
			}
		}
		idx.bucket[i] = b
		if len(in.Groups) > 0 {
			idx.count[b] += in.Groups[p.req.Group]
		}
	}
	return idx
}

func (p *planner) get(i int) *Instance {
	if p.touched[i/64]&(1<<(i%64)) != 0 {
		return p.shadow[i]
	}
	return &p.insts[i]
}

// refuse says why instance i cannot take the next task ("" if it can).
// It does not allocate: it runs over every instance of the cluster.
func (p *planner) refuse(i int) (reason, detail string) {
	in := p.get(i)
	d := &p.req.Demand
	fail := func(reason, detail string) (string, string) { return reason, detail }
	switch {
	case !in.Connected:
		return fail(ReasonAgent, "")
	case in.CPU < d.CPU:
		return fail(ReasonCPU, "")
	case in.Memory < d.Memory:
		return fail(ReasonMemory, "")
	}
	for _, port := range d.TCP {
		if in.UsedTCP[port] {
			return fail(ReasonPorts, "")
		}
	}
	for _, port := range d.UDP {
		if in.UsedUDP[port] {
			return fail(ReasonPortsUDP, "")
		}
	}
	if _, ok := pickPorts(in.UsedTCP, d.TCP, d.DynamicTCP, 0); d.DynamicTCP > 0 && !ok {
		return fail(ReasonPorts, "")
	}
	if _, ok := pickPorts(in.UsedUDP, d.UDP, d.DynamicUDP, 0); d.DynamicUDP > 0 && !ok {
		return fail(ReasonPortsUDP, "")
	}
	if d.GPUs > 0 && len(in.FreeGPUs) < d.GPUs {
		return fail(ReasonGPU, "")
	}
	for _, a := range p.req.Requires {
		if v, ok := in.Attributes[a.Name]; !ok || (a.Value != "" && v != a.Value) {
			return fail(ReasonAttribute, "MissingAttribute: "+a.Name)
		}
	}
	if !p.memberOf(in) {
		return fail(ReasonAttribute, DetailMemberOf)
	}
	if p.distinc && in.Groups[p.req.Group] > 0 {
		return fail(ReasonAttribute, DetailDistinct)
	}
	return "", ""
}

// choose picks the instance for the next task.
func (p *planner) choose() (int, bool) {
	if p.cands == nil {
		p.cands = getInts()
		for i := range p.insts {
			if !p.eligible(i) {
				continue
			}
			if reason, _ := p.refuse(i); reason == "" {
				p.cands = append(p.cands, i)
			}
		}
	}
	if len(p.cands) == 0 {
		return 0, false
	}
	set := p.cands
	spread := 0
	for _, s := range p.req.Strategy {
		if len(set) == 1 {
			break
		}
		switch {
		case s.Type == Random:
			return set[p.rng.IntN(len(set))], true
		case s.Type == Binpack:
			set = p.keepMin(set, func(i int) int64 {
				if s.Field == "cpu" {
					return p.get(i).CPU
				}
				return p.get(i).Memory
			})
		case s.attribute() != "":
			idx := &p.spreads[spread]
			spread++
			set = p.keepMin(set, func(i int) int64 { return int64(idx.count[idx.bucket[i]]) })
		default: // spread(instanceId)
			set = p.keepMin(set, func(i int) int64 { return int64(p.get(i).Groups[p.req.Group]) })
		}
	}
	return set[p.rng.IntN(len(set))], true
}

// intPool recycles candidate lists: each is as long as the cluster.
var intPool = sync.Pool{New: func() any { return new([]int) }}

func getInts() []int { return (*intPool.Get().(*[]int))[:0] }

func putInts(s []int) {
	if cap(s) > 0 {
		intPool.Put(&s)
	}
}

// release returns the planner's buffers to their pool.
func (p *planner) release() {
	putInts(p.cands)
	putInts(p.buf)
	p.cands, p.buf = nil, nil
}

// keepMin returns the members of set with the lowest key, in p.buf. It may
// read p.buf itself: each write lands at or before the element just read.
func (p *planner) keepMin(set []int, key func(int) int64) []int {
	out := p.buf[:0]
	var best int64
	for _, i := range set {
		k := key(i)
		switch {
		case len(out) == 0 || k < best:
			best = k
			out = append(out[:0], i)
		case k == best:
			out = append(out, i)
		}
	}
	if len(out) == len(set) {
		return set
	}
	p.buf = out
	return out
}

// reserve places the next task on instance i and updates the working state.
func (p *planner) reserve(i int) Placement {
	in := p.get(i)
	if in == &p.insts[i] {
		c := p.insts[i] // reserveOn replaces what it changes
		in = &c
		if p.shadow == nil {
			p.shadow = map[int]*Instance{}
		}
		p.shadow[i] = in
		p.touched[i/64] |= 1 << (i % 64)
	}
	d := &p.req.Demand
	pl := Placement{Instance: i}
	if d.DynamicTCP > 0 {
		pl.DynamicTCP, _ = pickPorts(in.UsedTCP, d.TCP, d.DynamicTCP, p.rng.IntN(DynamicPortLast-DynamicPortFirst+1))
	}
	if d.DynamicUDP > 0 {
		pl.DynamicUDP, _ = pickPorts(in.UsedUDP, d.UDP, d.DynamicUDP, p.rng.IntN(DynamicPortLast-DynamicPortFirst+1))
	}
	if d.GPUs > 0 {
		pl.GPUs = slices.Clone(in.FreeGPUs[:d.GPUs])
	}
	reserveOn(in, p.req, pl)
	for k := range p.spreads {
		p.spreads[k].count[p.spreads[k].bucket[i]]++
	}
	// Only instance i changed: re-check it alone.
	at := slices.Index(p.cands, i)
	reason, _ := p.refuse(i)
	fits := reason == ""
	switch {
	case at >= 0 && !fits:
		p.cands = slices.Delete(p.cands, at, at+1)
	case at < 0 && fits:
		p.cands = append(p.cands, i)
	}
	return pl
}

// failures lists, for each eligible instance, why it refused the task that
// could not be placed.
func (p *planner) failures() []Failure {
	out := []Failure{}
	for i := range p.insts {
		if !p.eligible(i) {
			continue
		}
		if reason, detail := p.refuse(i); reason != "" {
			out = append(out, Failure{ARN: p.insts[i].ARN, Reason: reason, Detail: detail})
		}
	}
	return out
}
