package main

// One launch: change the service, then poll the task, the DNS server and
// the target group side by side until each shows the new task.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/miekg/dns"
)

// launch is what one step observed. Times are the client's clock when the
// response that first showed the change arrived; startedAt is the
// server's stamp.
type launch struct {
	desired     int
	called      time.Time
	task, ip    string
	startedAt   time.Time
	running     time.Time // DescribeTasks first shows the task RUNNING
	inDNS       time.Time // the A answer first holds its address
	inTG        time.Time // DescribeTargetHealth first lists its target
	targetState string    // the target's state then
	polls       [3]pollStats
}

// pollStats counts one poller's calls.
type pollStats struct {
	calls, errors int
	busy          time.Duration // summed call time
}

const (
	pollTasks = iota
	pollDNS
	pollTG
)

var pollNames = [3]string{"DescribeTasks", "DNS A query", "DescribeTargetHealth"}

// snapshot is what already existed before a step: the service's tasks,
// the addresses in DNS and the targets.
type snapshot struct {
	tasks, ips, targets []string
}

func takeSnapshot(ctx context.Context, c clients, w world, dnsAddr string) (snapshot, error) {
	var s snapshot
	var err error
	if s.tasks, err = serviceTasks(ctx, c); err != nil {
		return s, err
	}
	if s.ips, err = resolveA(ctx, dnsAddr); err != nil {
		return s, err
	}
	if s.targets, _, err = targets(ctx, c, w); err != nil {
		return s, err
	}
	return s, nil
}

// step runs action (create or scale the service) and measures the launch
// it causes.
func step(ctx context.Context, c clients, w world, dnsAddr string, desired int, every time.Duration, action func(context.Context) error) (launch, error) {
	l := launch{desired: desired}
	before, err := takeSnapshot(ctx, c, w, dnsAddr)
	if err != nil {
		return l, fmt.Errorf("snapshot before step %d: %w", desired, err)
	}
	l.called = time.Now()
	if err := action(ctx); err != nil {
		return l, err
	}
	var mu sync.Mutex // guards l's fields set by the pollers
	var wg sync.WaitGroup
	errs := make([]error, 3)
	run := func(i int, f func(context.Context) (bool, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = poll(ctx, every, &l.polls[i], f)
		}()
	}
	run(pollTasks, func(ctx context.Context) (bool, error) {
		tk, err := newRunningTask(ctx, c, before.tasks)
		if err != nil || tk == nil {
			return false, err
		}
		mu.Lock()
		defer mu.Unlock()
		l.running = time.Now()
		l.task, l.ip = aws.ToString(tk.TaskArn), taskIP(tk)
		l.startedAt = aws.ToTime(tk.StartedAt)
		return true, nil
	})
	run(pollDNS, func(ctx context.Context) (bool, error) {
		ips, err := resolveA(ctx, dnsAddr)
		if err != nil || len(without(ips, before.ips)) == 0 {
			return false, err
		}
		mu.Lock()
		defer mu.Unlock()
		l.inDNS = time.Now()
		return true, nil
	})
	run(pollTG, func(ctx context.Context) (bool, error) {
		ids, states, err := targets(ctx, c, w)
		if err != nil || len(without(ids, before.targets)) == 0 {
			return false, err
		}
		mu.Lock()
		defer mu.Unlock()
		l.inTG = time.Now()
		l.targetState = states[without(ids, before.targets)[0]]
		return true, nil
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return l, fmt.Errorf("step to desired count %d: %w", desired, err)
	}
	// The new address in DNS and the new target must be the new task's.
	after, err := takeSnapshot(ctx, c, w, dnsAddr)
	if err != nil {
		return l, fmt.Errorf("snapshot after step %d: %w", desired, err)
	}
	if newIPs := without(after.ips, before.ips); !slices.Equal(newIPs, []string{l.ip}) {
		return l, fmt.Errorf("step %d: the new task has address %s, DNS added %v", desired, l.ip, newIPs)
	}
	if newTargets := without(after.targets, before.targets); !slices.Equal(newTargets, []string{l.ip}) {
		return l, fmt.Errorf("step %d: the new task has address %s, the target group added %v", desired, l.ip, newTargets)
	}
	return l, nil
}

// poll calls f every interval (or back to back when a call takes longer)
// until it reports true, fails for good or ctx ends. Errors of single
// calls are counted and retried.
func poll(ctx context.Context, every time.Duration, st *pollStats, f func(context.Context) (bool, error)) error {
	var last error
	for {
		t0 := time.Now()
		ok, err := f(ctx)
		st.calls++
		st.busy += time.Since(t0)
		if ok {
			return nil
		}
		if err != nil {
			st.errors++
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("gave up after %d calls (%w); last error: %w", st.calls, ctx.Err(), last)
			}
			return fmt.Errorf("gave up after %d calls: %w", st.calls, ctx.Err())
		case <-time.After(time.Until(t0.Add(every))):
		}
	}
}

// serviceTasks lists the service's task ARNs (desired RUNNING).
func serviceTasks(ctx context.Context, c clients) ([]string, error) {
	out, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(clusterName), ServiceName: aws.String(serviceName)})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out.TaskArns, nil
}

// newRunningTask returns a task of the service that is not in known and is
// RUNNING and not UNHEALTHY with an address (what the controller registers),
// or nil.
func newRunningTask(ctx context.Context, c clients, known []string) (*types.Task, error) {
	arns, err := serviceTasks(ctx, c)
	if err != nil {
		return nil, err
	}
	arns = without(arns, known)
	if len(arns) == 0 {
		return nil, nil
	}
	out, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: arns})
	if err != nil {
		return nil, fmt.Errorf("describe tasks: %w", err)
	}
	for i := range out.Tasks {
		tk := &out.Tasks[i]
		if aws.ToString(tk.LastStatus) == "RUNNING" && tk.HealthStatus != types.HealthStatusUnhealthy && taskIP(tk) != "" {
			return tk, nil
		}
	}
	return nil, nil
}

// taskIP is an awsvpc task's address.
func taskIP(tk *types.Task) string {
	for _, a := range tk.Attachments {
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" {
				return aws.ToString(d.Value)
			}
		}
	}
	return ""
}

// resolveA asks the DNS server for the service's A records; NXDOMAIN is no
// addresses.
func resolveA(ctx context.Context, dnsAddr string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dnsName, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: time.Second}).ExchangeContext(ctx, m, dnsAddr)
	if err != nil {
		return nil, fmt.Errorf("DNS query: %w", err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("DNS query: rcode %s", dns.RcodeToString[r.Rcode])
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	slices.Sort(ips)
	return ips, nil
}

// targets lists the target group's targets (ids) and their states.
func targets(ctx context.Context, c clients, w world) ([]string, map[string]string, error) {
	out, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(w.targetGroup)})
	if err != nil {
		return nil, nil, fmt.Errorf("describe target health: %w", err)
	}
	var ids []string
	states := map[string]string{}
	for _, d := range out.TargetHealthDescriptions {
		id := aws.ToString(d.Target.Id)
		ids = append(ids, id)
		if d.TargetHealth != nil {
			states[id] = string(d.TargetHealth.State)
		}
	}
	slices.Sort(ids)
	return ids, states, nil
}

// without returns the items of xs not in ys.
func without(xs, ys []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(ys, x) {
			out = append(out, x)
		}
	}
	return out
}
