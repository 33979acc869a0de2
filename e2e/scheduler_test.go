package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The scheduler end to end: RunTask's placement strategies and constraints,
// required attributes, DRAINING instances, failures[], dynamic host ports and
// ListContainerInstances filters, over several agents sharing the host's
// Docker Engine (each one a container instance of its own). Placement is
// read from RunTask's answer (containerInstanceArn), so most tasks need not
// reach RUNNING; every task is stopped at the end of its test.

const (
	detailMemberOf = "MemberOf placement constraint unsatisfied."
	detailDistinct = "DistinctInstance placement constraint unsatisfied."
)

// schedTD registers family: one essential container sleeping an hour, with
// a memory hard limit (MiB) and cpu units. mod adjusts the input.
func schedTD(t *testing.T, c *ecs.Client, family string, memory, cpu int32, mod ...func(*ecs.RegisterTaskDefinitionInput)) string {
	t.Helper()
	app := ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600")
	app.Memory = aws.Int32(memory)
	app.Cpu = cpu
	in := &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), ContainerDefinitions: []types.ContainerDefinition{app}}
	for _, m := range mod {
		m(in)
	}
	return registerTD(t, c, in)
}

func spreadBy(field string) types.PlacementStrategy {
	return types.PlacementStrategy{Type: types.PlacementStrategyTypeSpread, Field: aws.String(field)}
}

func binpackBy(field string) types.PlacementStrategy {
	return types.PlacementStrategy{Type: types.PlacementStrategyTypeBinpack, Field: aws.String(field)}
}

func memberOf(expr string) types.PlacementConstraint {
	return types.PlacementConstraint{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String(expr)}
}

var distinctInstance = types.PlacementConstraint{Type: types.PlacementConstraintTypeDistinctInstance}

// schedRun calls RunTask, failing the test on an error; failures[] are the
// caller's to check. The tasks it placed are added to *all for stopAll.
func schedRun(t *testing.T, c *ecs.Client, all *[]types.Task, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	out, err := c.RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	*all = append(*all, out.Tasks...)
	return out
}

// schedRunAll calls RunTask and fails the test unless every task was
// placed.
func schedRunAll(t *testing.T, c *ecs.Client, all *[]types.Task, in *ecs.RunTaskInput) []types.Task {
	t.Helper()
	out := schedRun(t, c, all, in)
	if want := int(aws.ToInt32(in.Count)); len(out.Tasks) != max(want, 1) || len(out.Failures) != 0 {
		t.Fatalf("RunTask placed %d of %d tasks; failures %s", len(out.Tasks), max(want, 1), failuresString(out.Failures))
	}
	return out.Tasks
}

// placedOn counts tasks by container instance ARN.
func placedOn(tasks []types.Task) map[string]int {
	m := map[string]int{}
	for _, tk := range tasks {
		m[aws.ToString(tk.ContainerInstanceArn)]++
	}
	return m
}

// placedNames renders a count per instance ARN with the agents' names.
func placedNames(m map[string]int, agents map[string]string) string {
	var parts []string
	for arn, n := range m {
		name := agents[arn]
		if name == "" {
			name = arn
		}
		parts = append(parts, fmt.Sprintf("%s:%d", name, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// wantFailures checks that fs lists exactly the instances arns, each with
// reason and detail ("" for none).
func wantFailures(t *testing.T, fs []types.Failure, reason, detail string, arns ...string) {
	t.Helper()
	var got []string
	ok := len(fs) == len(arns)
	for _, f := range fs {
		got = append(got, aws.ToString(f.Arn))
		if aws.ToString(f.Reason) != reason || aws.ToString(f.Detail) != detail {
			ok = false
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(arns))
	if !ok || !slices.Equal(got, want) {
		t.Errorf("failures %s; want one per instance %v with reason %s detail %q", failuresString(fs), want, reason, detail)
	}
}

// stopAll stops tasks and waits until every one is STOPPED.
func stopAll(t *testing.T, c *ecs.Client, cluster string, tasks []types.Task) {
	t.Helper()
	ctx := context.Background()
	arns := make([]string, 0, len(tasks))
	for _, tk := range tasks {
		arn := aws.ToString(tk.TaskArn)
		arns = append(arns, arn)
		if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(arn)}); err != nil {
			t.Fatalf("stop %s: %v", arn, err)
		}
	}
	waitFor(t, fmt.Sprintf("%d tasks STOPPED", len(arns)), func() bool { return allStatus(t, c, cluster, arns, "STOPPED") })
}

// allStatus says whether every task of arns has lastStatus status.
func allStatus(t *testing.T, c *ecs.Client, cluster string, arns []string, status string) bool {
	for chunk := range slices.Chunk(arns, 100) {
		out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
		if err != nil || len(out.Tasks) != len(chunk) {
			return false
		}
		for _, tk := range out.Tasks {
			if aws.ToString(tk.LastStatus) != status {
				return false
			}
		}
	}
	return true
}

// waitRunning waits until every task of arns is RUNNING, failing at once
// if one stops instead.
func waitRunning(t *testing.T, c *ecs.Client, cluster string, arns []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d tasks RUNNING", len(arns)), func() bool {
		running := true
		for chunk := range slices.Chunk(arns, 100) {
			out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: chunk})
			if err != nil || len(out.Tasks) != len(chunk) {
				return false
			}
			for _, tk := range out.Tasks {
				switch aws.ToString(tk.LastStatus) {
				case "RUNNING":
				case "STOPPED":
					t.Fatalf("task %s stopped instead of running: %s", aws.ToString(tk.TaskArn), taskString(tk))
				default:
					running = false
				}
			}
		}
		return running
	})
}

func taskARNs(tasks []types.Task) []string {
	out := make([]string, len(tasks))
	for i, tk := range tasks {
		out[i] = aws.ToString(tk.TaskArn)
	}
	return out
}

// listFiltered returns ListContainerInstances with filter, sorted.
func listFiltered(t *testing.T, c *ecs.Client, filter string) []string {
	t.Helper()
	out := ciList(t, c, &ecs.ListContainerInstancesInput{Filter: aws.String(filter)})
	slices.Sort(out)
	return out
}

func sortedARNs(agents ...*agentProc) []string {
	out := make([]string, len(agents))
	for i, a := range agents {
		out[i] = a.ARN
	}
	slices.Sort(out)
	return out
}

// schedAgent starts an agent in the default cluster of s. Its heartbeat is
// the server's (10 s): with the harness's 1 s the agent, which expects to
// hear the server every 3 of its own intervals, drops and reopens its
// session every few seconds, and an instance caught disconnected is no
// placement candidate.
func schedAgent(t *testing.T, s *server, flags ...string) *agentProc {
	t.Helper()
	return startAgent(t, s, "default", append(flags, "--heartbeat", "10s")...)
}

// agentConfig writes an ecs.config-style file for `berth agent --config`.
func agentConfig(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ecs.config")
	writeFile(t, path, strings.Join(lines, "\n")+"\n")
	return path
}

// reserveAllBut returns the ECS_RESERVED_MEMORY setting that leaves an agent
// on this host with mem MiB to register.
func reserveAllBut(t *testing.T, mem int64) string {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.MemTotal}}").Output()
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	total, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || total/(1<<20) <= mem {
		t.Fatalf("docker info MemTotal %q: %v", out, err)
	}
	return fmt.Sprintf("ECS_RESERVED_MEMORY=%d", total/(1<<20)-mem)
}

func registeredInt(ci *types.ContainerInstance, name string) int32 {
	for _, r := range ci.RegisteredResources {
		if aws.ToString(r.Name) == name {
			return r.IntegerValue
		}
	}
	return -1
}

func remainingPorts(t *testing.T, c *ecs.Client, arn string) []string {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe %s: %v %v", arn, out, err)
	}
	for _, r := range out.ContainerInstances[0].RemainingResources {
		if aws.ToString(r.Name) == "PORTS" {
			return r.StringSetValue
		}
	}
	return nil
}

// Spread: across Availability Zones (an attribute), then across instances;
// distinctInstance; memberOf on a built-in attribute; and
// ListContainerInstances filters on attributes and task groups.
func TestSchedulerSpreadAndDistinct(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	a := schedAgent(t, s, "--availability-zone", "us-east-1a")
	b := schedAgent(t, s, "--availability-zone", "us-east-1b")
	cc := schedAgent(t, s, "--availability-zone", "us-east-1c")
	d := schedAgent(t, s, "--availability-zone", "us-east-1a")
	agents := map[string]string{a.ARN: "a(1a)", b.ARN: "b(1b)", cc.ARN: "c(1c)", d.ARN: "d(1a)"}
	zone := map[string]string{a.ARN: "us-east-1a", b.ARN: "us-east-1b", cc.ARN: "us-east-1c", d.ARN: "us-east-1a"}
	var all []types.Task

	// spread(attribute:ecs.availability-zone): 6 tasks, 2 per zone, though
	// us-east-1a has two instances.
	td := schedTD(t, c, "zonal", 16, 0)
	tasks := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(6),
		PlacementStrategy: []types.PlacementStrategy{spreadBy("attribute:ecs.availability-zone")}})
	perZone := map[string]int{}
	for arn, n := range placedOn(tasks) {
		perZone[zone[arn]] += n
	}
	if perZone["us-east-1a"] != 2 || perZone["us-east-1b"] != 2 || perZone["us-east-1c"] != 2 {
		t.Errorf("spread over zones placed %v (%s), want 2 per zone", perZone, placedNames(placedOn(tasks), agents))
	}

	// spread(instanceId) ("host" is the same): 8 tasks, 2 per instance.
	td = schedTD(t, c, "perhost", 16, 0)
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(8),
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); len(m) != 4 || m[a.ARN] != 2 || m[b.ARN] != 2 || m[cc.ARN] != 2 || m[d.ARN] != 2 {
		t.Errorf("spread(instanceId) placed %s, want 2 on each of the 4 instances", placedNames(m, agents))
	}
	// The chain zone then instance: 2 tasks per zone, and in us-east-1a
	// one on each instance.
	td = schedTD(t, c, "chain", 16, 0)
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(6),
		PlacementStrategy: []types.PlacementStrategy{spreadBy("attribute:ecs.availability-zone"), spreadBy("host")}})
	if m := placedOn(tasks); m[a.ARN] != 1 || m[d.ARN] != 1 || m[b.ARN] != 2 || m[cc.ARN] != 2 {
		t.Errorf("spread(zone), spread(host) placed %s, want a:1 d:1 b:2 c:2", placedNames(m, agents))
	}

	// distinctInstance: one task per instance; the fifth fails on every
	// instance with ATTRIBUTE / DistinctInstance.
	td = schedTD(t, c, "unique", 16, 0)
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(5),
		PlacementConstraints: []types.PlacementConstraint{distinctInstance}})
	if m := placedOn(out.Tasks); len(out.Tasks) != 4 || len(m) != 4 {
		t.Errorf("distinctInstance with count 5 placed %d tasks: %s, want one on each of the 4 instances", len(out.Tasks), placedNames(m, agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", detailDistinct, a.ARN, b.ARN, cc.ARN, d.ARN)
	// The constraint counts the group's live tasks from earlier calls too.
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementConstraints: []types.PlacementConstraint{distinctInstance}})
	if len(out.Tasks) != 0 {
		t.Errorf("distinctInstance placed a second task of the group on %s", placedNames(placedOn(out.Tasks), agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", detailDistinct, a.ARN, b.ARN, cc.ARN, d.ARN)
	// Another group is not constrained by it.
	schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Group: aws.String("other-group"), PlacementConstraints: []types.PlacementConstraint{distinctInstance}})

	// memberOf on a built-in attribute.
	td = schedTD(t, c, "pinned", 16, 0)
	pinned := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2),
		PlacementConstraints: []types.PlacementConstraint{memberOf("attribute:ecs.availability-zone == us-east-1c")}})
	if m := placedOn(pinned); m[cc.ARN] != 2 {
		t.Errorf("memberOf zone us-east-1c placed %s, want both on c", placedNames(m, agents))
	}

	// ListContainerInstances --filter.
	for filter, want := range map[string][]string{
		"attribute:ecs.availability-zone == us-east-1b":                                           {b.ARN},
		"attribute:ecs.availability-zone == us-east-1a":                                           sortedARNs(a, d),
		"attribute:ecs.availability-zone in [us-east-1b, us-east-1c]":                             sortedARNs(b, cc),
		"task:group == family:pinned":                                                             {cc.ARN},
		"task:group == family:zonal and attribute:ecs.availability-zone == us-east-1b":            {b.ARN},
		"not(task:group == family:pinned) and attribute:ecs.availability-zone =~ 'us-east-1[ab]'": sortedARNs(a, b, d),
		"task:group == family:nothing":                                                            {},
	} {
		if got := listFiltered(t, c, filter); !slices.Equal(got, want) {
			t.Errorf("ListContainerInstances --filter %q = %v, want %v", filter, got, want)
		}
	}
	// A STOPPED task leaves its group.
	stopAll(t, c, "default", pinned)
	if got := listFiltered(t, c, "task:group == family:pinned"); len(got) != 0 {
		t.Errorf("task:group == family:pinned after its tasks stopped = %v, want none", got)
	}
	stopAll(t, c, "default", all)
}

// Binpack on memory with tight instances (ECS_RESERVED_MEMORY leaves each
// 200 MiB: three 64 MiB tasks): tasks fill one instance before the next;
// failures[] name RESOURCE:MEMORY (and RESOURCE:CPU) on every instance when
// nothing fits.
func TestSchedulerBinpackAndResourceFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	cfg := agentConfig(t, reserveAllBut(t, 200))
	a := schedAgent(t, s, "--config", cfg)
	b := schedAgent(t, s, "--config", cfg)
	cc := schedAgent(t, s, "--config", cfg)
	agents := map[string]string{a.ARN: "a", b.ARN: "b", cc.ARN: "c"}
	for _, ag := range []*agentProc{a, b, cc} {
		if mem := registeredInt(findInstance(t, c, "default", ag.InstanceID), "MEMORY"); mem != 200 {
			t.Fatalf("agent %s registered MEMORY %d with %s, want 200", ag.InstanceID, mem, reserveAllBut(t, 200))
		}
	}
	var all []types.Task

	// Nothing fits: every instance is listed with the resource it lacks.
	big := schedTD(t, c, "big", 256, 0)
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(big)})
	if len(out.Tasks) != 0 {
		t.Errorf("a 256 MiB task was placed on a 200 MiB instance")
	}
	wantFailures(t, out.Failures, "RESOURCE:MEMORY", "", a.ARN, b.ARN, cc.ARN)
	cpu := registeredInt(findInstance(t, c, "default", a.InstanceID), "CPU")
	hungry := schedTD(t, c, "hungry", 16, cpu+1)
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(hungry)})
	if len(out.Tasks) != 0 {
		t.Errorf("a task of %d cpu units was placed on instances of %d", cpu+1, cpu)
	}
	wantFailures(t, out.Failures, "RESOURCE:CPU", "", a.ARN, b.ARN, cc.ARN)

	// binpack(memory): 5 tasks, the first 3 on one instance, the next 2 on
	// another.
	td := schedTD(t, c, "packed", 64, 0)
	pack := []types.PlacementStrategy{binpackBy("memory")}
	tasks := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(5), PlacementStrategy: pack})
	first, second := aws.ToString(tasks[0].ContainerInstanceArn), aws.ToString(tasks[3].ContainerInstanceArn)
	if m := placedOn(tasks[:3]); len(m) != 1 || first == second || placedOn(tasks[3:])[second] != 2 {
		t.Errorf("binpack(memory) placed tasks 1-3 on %s and 4-5 on %s, want 3 on one instance then 2 on another",
			placedNames(m, agents), placedNames(placedOn(tasks[3:]), agents))
	}
	// The next task goes to the fuller instance that still has room.
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: pack})
	if got := aws.ToString(tasks[0].ContainerInstanceArn); got != second {
		t.Errorf("binpack(memory) placed the 6th task on %s, want %s (72 MiB left)", agents[got], agents[second])
	}
	// Then the empty one fills; the 10th task fits nowhere.
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(4), PlacementStrategy: pack})
	if m := placedOn(out.Tasks); len(out.Tasks) != 3 || len(m) != 1 || m[first] != 0 || m[second] != 0 {
		t.Errorf("binpack(memory) count 4 with room for 3 placed %s", placedNames(m, agents))
	}
	wantFailures(t, out.Failures, "RESOURCE:MEMORY", "", a.ARN, b.ARN, cc.ARN)
	for _, ag := range []*agentProc{a, b, cc} {
		ci := findInstance(t, c, "default", ag.InstanceID)
		for _, r := range ci.RemainingResources {
			if aws.ToString(r.Name) == "MEMORY" && r.IntegerValue != 200-3*64 {
				t.Errorf("instance %s remaining MEMORY %d with 3 tasks, want %d", agents[ag.ARN], r.IntegerValue, 200-3*64)
			}
		}
	}
	// The packed tasks really run within their instances' capacity.
	arns := taskARNs(all)
	waitRunning(t, c, "default", arns)

	// binpack(cpu) is accepted and, with memory exhausted, still reports
	// memory.
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{binpackBy("cpu")}})
	if len(out.Tasks) != 0 {
		t.Errorf("binpack(cpu) placed a task on a full instance")
	}
	wantFailures(t, out.Failures, "RESOURCE:MEMORY", "", a.ARN, b.ARN, cc.ARN)

	// Stopped tasks give their memory back.
	stopAll(t, c, "default", all)
	all = nil
	schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(9), PlacementStrategy: pack})
	stopAll(t, c, "default", all)
}

// memberOf on a custom attribute set with PutAttributes, combined with the
// task definition's memberOf; requiresAttributes.
func TestSchedulerMemberOfAttributes(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	a := schedAgent(t, s, "--availability-zone", "us-east-1a")
	b := schedAgent(t, s, "--availability-zone", "us-east-1b")
	cc := schedAgent(t, s, "--availability-zone", "us-east-1c")
	agents := map[string]string{a.ARN: "a(1a)", b.ARN: "b(1b)", cc.ARN: "c(1c)"}
	var all []types.Task
	putAttr := func(arn, name, value string) {
		t.Helper()
		attr := types.Attribute{Name: aws.String(name), TargetId: aws.String(arn), TargetType: types.TargetTypeContainerInstance}
		if value != "" {
			attr.Value = aws.String(value)
		}
		if _, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Attributes: []types.Attribute{attr}}); err != nil {
			t.Fatalf("PutAttributes %s=%s on %s: %v", name, value, agents[arn], err)
		}
	}

	td := schedTD(t, c, "tagged", 16, 0)
	prod := []types.PlacementConstraint{memberOf("attribute:stack == prod")}
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2), PlacementConstraints: prod})
	if len(out.Tasks) != 0 {
		t.Errorf("memberOf stack == prod placed %s before any instance has the attribute", placedNames(placedOn(out.Tasks), agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", detailMemberOf, a.ARN, b.ARN, cc.ARN)

	putAttr(b.ARN, "stack", "prod")
	tasks := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(3), PlacementConstraints: prod,
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); m[b.ARN] != 3 {
		t.Errorf("memberOf stack == prod placed %s, want all 3 on b", placedNames(m, agents))
	}
	// c qualifies once it has the attribute: spread sends the group there.
	putAttr(cc.ARN, "stack", "prod")
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2), PlacementConstraints: prod,
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); m[cc.ARN] != 2 {
		t.Errorf("memberOf stack == prod with b and c tagged placed %s, want both on c (b has 3 of the group)", placedNames(m, agents))
	}

	// The task definition's memberOf (zones a and b) and the call's (stack
	// == prod, b and c) both apply: only b.
	zoned := schedTD(t, c, "zoned", 16, 0, func(in *ecs.RegisterTaskDefinitionInput) {
		in.PlacementConstraints = []types.TaskDefinitionPlacementConstraint{{Type: types.TaskDefinitionPlacementConstraintTypeMemberOf,
			Expression: aws.String("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]")}}
	})
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(zoned), Count: aws.Int32(4), PlacementConstraints: prod,
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); m[b.ARN] != 4 {
		t.Errorf("task definition memberOf zone in [a, b] with memberOf stack == prod placed %s, want all 4 on b", placedNames(m, agents))
	}
	// The task definition's alone: a and b, never c.
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(zoned), Count: aws.Int32(4), Group: aws.String("zoned-alone"),
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); m[a.ARN] != 2 || m[b.ARN] != 2 {
		t.Errorf("task definition memberOf zone in [a, b] placed %s, want a:2 b:2", placedNames(m, agents))
	}
	// Both, unsatisfiable together: every instance fails MemberOf.
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(zoned),
		PlacementConstraints: []types.PlacementConstraint{memberOf("attribute:ecs.availability-zone == us-east-1c")}})
	if len(out.Tasks) != 0 {
		t.Errorf("contradicting memberOf constraints placed %s", placedNames(placedOn(out.Tasks), agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", detailMemberOf, a.ARN, b.ARN, cc.ARN)

	// DeleteAttributes takes b out again.
	if _, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Attributes: []types.Attribute{
		{Name: aws.String("stack"), TargetId: aws.String(b.ARN), TargetType: types.TargetTypeContainerInstance}}}); err != nil {
		t.Fatal(err)
	}
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(3), Group: aws.String("after-delete"), PlacementConstraints: prod,
		PlacementStrategy: []types.PlacementStrategy{spreadBy("instanceId")}})
	if m := placedOn(tasks); m[cc.ARN] != 3 {
		t.Errorf("memberOf stack == prod after deleting b's attribute placed %s, want all on c", placedNames(m, agents))
	}

	// requiresAttributes: a task role needs
	// com.amazonaws.ecs.capability.task-iam-role, which the agents do not
	// offer until it is put on one.
	const iamRole = "com.amazonaws.ecs.capability.task-iam-role"
	roled := schedTD(t, c, "roled", 16, 0, func(in *ecs.RegisterTaskDefinitionInput) {
		in.TaskRoleArn = aws.String("arn:aws:iam::123456789012:role/app")
	})
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(roled)})
	if len(out.Tasks) != 0 {
		t.Errorf("a task needing %s was placed on %s", iamRole, placedNames(placedOn(out.Tasks), agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", "MissingAttribute: "+iamRole, a.ARN, b.ARN, cc.ARN)
	putAttr(a.ARN, iamRole, "")
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(roled), Count: aws.Int32(2)})
	if m := placedOn(tasks); m[a.ARN] != 2 {
		t.Errorf("tasks needing %s placed %s, want both on a", iamRole, placedNames(m, agents))
	}
	stopAll(t, c, "default", all)
}

// DRAINING instances get no new tasks; a standalone task already on one
// keeps running; ACTIVE again, it gets tasks again.
func TestSchedulerDraining(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	a := schedAgent(t, s, "--availability-zone", "us-east-1a")
	b := schedAgent(t, s, "--availability-zone", "us-east-1b")
	cc := schedAgent(t, s, "--availability-zone", "us-east-1c")
	agents := map[string]string{a.ARN: "a", b.ARN: "b", cc.ARN: "c"}
	var all []types.Task
	setState := func(status types.ContainerInstanceStatus, arns ...string) {
		t.Helper()
		out, err := c.UpdateContainerInstancesState(ctx, &ecs.UpdateContainerInstancesStateInput{ContainerInstances: arns, Status: status})
		if err != nil || len(out.Failures) != 0 || len(out.ContainerInstances) != len(arns) {
			t.Fatalf("UpdateContainerInstancesState %s: %v %+v", status, err, out)
		}
		for _, ci := range out.ContainerInstances {
			if aws.ToString(ci.Status) != string(status) {
				t.Fatalf("instance %s status %s, want %s", agents[aws.ToString(ci.ContainerInstanceArn)], aws.ToString(ci.Status), status)
			}
		}
	}

	td := schedTD(t, c, "drain", 16, 0)
	st, err := c.StartTask(ctx, &ecs.StartTaskInput{TaskDefinition: aws.String(td), ContainerInstances: []string{cc.ARN}})
	if err != nil || len(st.Tasks) != 1 {
		t.Fatalf("StartTask on c: %v %+v", err, st)
	}
	all = append(all, st.Tasks...)
	standalone := aws.ToString(st.Tasks[0].TaskArn)
	waitStatus(t, c, "default", standalone, "RUNNING")

	setState(types.ContainerInstanceStatusDraining, cc.ARN)
	// spread(instanceId) would send tasks to c (it has the fewest of the
	// group after a and b get theirs); DRAINING, it gets none.
	spread := []types.PlacementStrategy{spreadBy("instanceId")}
	tasks := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(6), PlacementStrategy: spread})
	if m := placedOn(tasks); m[a.ARN] != 3 || m[b.ARN] != 3 {
		t.Errorf("with c DRAINING spread(instanceId) placed %s, want a:3 b:3", placedNames(m, agents))
	}
	// Random placement (no strategy) avoids it too.
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(6), Group: aws.String("random")})
	if m := placedOn(tasks); m[cc.ARN] != 0 {
		t.Errorf("with c DRAINING random placement placed %s", placedNames(m, agents))
	}
	// Asking for c by name: no task, and a DRAINING instance is not a
	// candidate, so failures[] lists only a and b.
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td),
		PlacementConstraints: []types.PlacementConstraint{memberOf("ec2InstanceId == " + cc.InstanceID)}})
	if len(out.Tasks) != 0 {
		t.Errorf("memberOf c while DRAINING placed %s", placedNames(placedOn(out.Tasks), agents))
	}
	wantFailures(t, out.Failures, "ATTRIBUTE", detailMemberOf, a.ARN, b.ARN)

	// The standalone task on c keeps running while the others start.
	arns := taskARNs(all)
	waitRunning(t, c, "default", arns)
	if tk := waitStatus(t, c, "default", standalone, "RUNNING"); aws.ToString(tk.DesiredStatus) != "RUNNING" {
		t.Errorf("standalone task on the DRAINING instance: %s", taskString(tk))
	}
	if ci := findInstance(t, c, "default", cc.InstanceID); aws.ToString(ci.Status) != "DRAINING" || ci.RunningTasksCount != 1 {
		t.Errorf("c: status %s runningTasksCount %d, want DRAINING with 1", aws.ToString(ci.Status), ci.RunningTasksCount)
	}

	// ACTIVE again: c has 1 of the group against 3 each, so it gets the next.
	setState(types.ContainerInstanceStatusActive, cc.ARN)
	tasks = schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td), Count: aws.Int32(2), PlacementStrategy: spread})
	if m := placedOn(tasks); m[cc.ARN] != 2 {
		t.Errorf("c ACTIVE again: spread(instanceId) placed %s, want both on c", placedNames(m, agents))
	}

	// Every instance DRAINING: nothing to place on, as ECS answers.
	setState(types.ContainerInstanceStatusDraining, a.ARN, b.ARN, cc.ARN)
	_, err = c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	ciWantMessage(t, err, "InvalidParameterException", "No Container Instances")
	stopAll(t, c, "default", all)
}

// failures[] for ports, and dynamic host ports: bridge portMappings without
// a hostPort get distinct ports from 49153-65535, reserved until the task
// is STOPPED, and the containers answer on them.
func TestSchedulerPorts(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	img := requireDocker(t)
	// Ports of the dynamic range already taken on this host (by other tests'
	// containers) are reserved, so the server does not pick them.
	var busy []string
	for p := 49153; p < 49153+64; p++ {
		if l, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", p)); err != nil {
			busy = append(busy, strconv.Itoa(p))
		} else {
			l.Close()
		}
	}
	var extra []string
	if len(busy) > 0 {
		extra = []string{"--config", agentConfig(t, "ECS_RESERVED_PORTS=["+strings.Join(busy, ",")+"]")}
	}
	a := schedAgent(t, s, extra...)
	var all []types.Task

	// A static host port taken by a task, and one the agent reserves (22).
	port := freePort(t)
	static := registerTD(t, c, webTD("static", img, aws.Int32(port)))
	schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(static)})
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(static)})
	if len(out.Tasks) != 0 {
		t.Errorf("a second task on host port %d was placed", port)
	}
	wantFailures(t, out.Failures, "RESOURCE:PORTS", "", a.ARN)
	ssh := registerTD(t, c, webTD("ssh", img, aws.Int32(22)))
	out = schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(ssh)})
	if len(out.Tasks) != 0 {
		t.Errorf("a task on the reserved host port 22 was placed")
	}
	wantFailures(t, out.Failures, "RESOURCE:PORTS", "", a.ARN)

	// Dynamic host ports.
	web := ctrDef("web", img, true, "testapp", "serve", "8080")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), Protocol: types.TransportProtocolTcp}}
	dyn := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("dyn"), NetworkMode: types.NetworkModeBridge, ContainerDefinitions: []types.ContainerDefinition{web}})
	tasks := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(dyn), Count: aws.Int32(2)})
	waitRunning(t, c, "default", taskARNs(tasks))
	hostPorts := map[int32]bool{}
	for _, tk := range tasks {
		tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
		nb := container(t, tk, "web").NetworkBindings
		if len(nb) != 1 || aws.ToInt32(nb[0].ContainerPort) != 8080 || aws.ToInt32(nb[0].HostPort) < 49153 {
			t.Errorf("task %s networkBindings %+v, want 8080 on a host port >= 49153", aws.ToString(tk.TaskArn), nb)
			continue
		}
		hp := aws.ToInt32(nb[0].HostPort)
		hostPorts[hp] = true
		if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hp)); !strings.HasPrefix(body, "hello from") {
			t.Errorf("GET on dynamic host port %d = %q", hp, body)
		}
	}
	if len(hostPorts) != 2 {
		t.Errorf("the two tasks got host ports %v, want two different ones", hostPorts)
	}
	// The instance reserves them while the tasks live.
	reserved := remainingPorts(t, c, a.ARN)
	for hp := range hostPorts {
		if !slices.Contains(reserved, strconv.Itoa(int(hp))) {
			t.Errorf("dynamic host port %d not in the instance's PORTS %v", hp, reserved)
		}
	}
	stopAll(t, c, "default", tasks)
	reserved = remainingPorts(t, c, a.ARN)
	for hp := range hostPorts {
		if slices.Contains(reserved, strconv.Itoa(int(hp))) {
			t.Errorf("dynamic host port %d still reserved after its task STOPPED: %v", hp, reserved)
		}
	}
	stopAll(t, c, "default", all)
}

// Invalid strategies and constraints are InvalidParameterException naming
// the problem, before any placement (the cluster has no instance at all).
func TestSchedulerValidation(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	ctx := context.Background()
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("v"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", "berth-testapp:latest", true, "testapp", "sleep", "3600")}})
	six := make([]types.PlacementStrategy, 6)
	for i := range six {
		six[i] = types.PlacementStrategy{Type: types.PlacementStrategyTypeRandom}
	}
	for _, tc := range []struct {
		name        string
		strategy    []types.PlacementStrategy
		constraints []types.PlacementConstraint
		want        string
	}{
		{"unknown strategy type", []types.PlacementStrategy{{Type: "pack", Field: aws.String("memory")}}, nil, "pack"},
		{"binpack field", []types.PlacementStrategy{binpackBy("disk")}, nil, `"disk"`},
		{"spread field", []types.PlacementStrategy{spreadBy("zone")}, nil, `"zone"`},
		{"spread attribute without a name", []types.PlacementStrategy{spreadBy("attribute:")}, nil, `"attribute:"`},
		{"six strategies", six, nil, "at most 5"},
		{"syntax error", nil, []types.PlacementConstraint{memberOf("attribute:stack = prod")}, `did you mean "=="?`},
		{"unclosed parenthesis", nil, []types.PlacementConstraint{memberOf("(attribute:stack == prod")}, `missing ")"`},
		{"unknown subject", nil, []types.PlacementConstraint{memberOf("zone == a")}, "unknown subject"},
		{"memberOf without expression", nil, []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf}}, "expression is required"},
		{"distinctInstance with expression", nil, []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance, Expression: aws.String("x == y")}}, "must be empty"},
		{"unknown constraint type", nil, []types.PlacementConstraint{{Type: "sameHost"}}, "sameHost"},
	} {
		_, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: tc.strategy, PlacementConstraints: tc.constraints})
		if err == nil || apiErrorCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: RunTask error %v, want InvalidParameterException saying %s", tc.name, err, tc.want)
		}
	}
	// A valid call reaches placement: with no instance, ECS's error.
	_, err := c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(td), PlacementStrategy: []types.PlacementStrategy{spreadBy("host"), binpackBy("MEMORY")},
		PlacementConstraints: []types.PlacementConstraint{distinctInstance, memberOf("attribute:ecs.instance-type =~ t2.*")}})
	ciWantMessage(t, err, "InvalidParameterException", "No Container Instances")
	// A task definition's bad memberOf expression is refused when it is
	// registered.
	_, err = c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("badtd"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", "berth-testapp:latest", true, "testapp", "sleep", "3600")},
		PlacementConstraints: []types.TaskDefinitionPlacementConstraint{{Type: types.TaskDefinitionPlacementConstraintTypeMemberOf, Expression: aws.String("attribute:stack ==")}}})
	ciWantMessage(t, err, "ClientException", "expected a value")
	// ListContainerInstances checks its filter the same way.
	_, err = c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Filter: aws.String("attribute:stack ==")})
	ciWantMessage(t, err, "InvalidParameterException", "Invalid filter")
}
