package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The tight capacity of TestConcurrentRunTaskTightCapacity: each agent
// registers concMem MiB, room for exactly concMemSlots memory tasks and one
// port task in any order (a port task takes less than a memory task, and
// what is left once concMemSlots memory tasks are placed is exactly one
// port task).
const (
	concMemTask   = 128 // MiB of a memory task
	concPortTask  = 64  // MiB of a port task (two containers of 32)
	concMemSlots  = 6
	concMem       = concMemSlots*concMemTask + concPortTask
	concAgents    = 2
	concPerFamily = 24
)

// concDockerMemMiB is the Docker Engine's memory in MiB, as the agent reads it.
func concDockerMemMiB(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.MemTotal}}").Output()
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("docker info MemTotal %q: %v", out, err)
	}
	return n / (1 << 20)
}

// Dozens of RunTask calls at once through the SDK against two real agents
// with tight memory: a bridge-mode task on a static host port (one per
// instance can hold it) and a memory task asking for more than the cluster
// holds. No instance shares the host port or is oversubscribed, every call
// that was not placed says why (RESOURCE:PORTS or RESOURCE:MEMORY), exactly
// the capacity is placed, and stopping the tasks gives it all back.
func TestConcurrentRunTaskTightCapacity(t *testing.T) {
	img := requireDocker(t)
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()

	// ECS_RESERVED_MEMORY leaves each agent concMem MiB.
	cfg := filepath.Join(t.TempDir(), "ecs.config")
	writeFile(t, cfg, fmt.Sprintf("ECS_RESERVED_MEMORY=%d\n", concDockerMemMiB(t)-concMem))
	agents := map[string]*agentProc{}
	for range concAgents {
		a := startAgent(t, s, "default", "--config", cfg)
		agents[a.ARN] = a
	}
	registeredPorts := map[string][]string{}
	instances := concDescribeInstances(t, c, agents)
	for arn, ci := range instances {
		if got := concResourceInt(ci.RegisteredResources, "MEMORY"); got != concMem {
			t.Fatalf("agent %s registered %d MiB, want %d (ECS_RESERVED_MEMORY not applied?)", arn, got, concMem)
		}
		registeredPorts[arn] = concResourceSet(ci.RegisteredResources, "PORTS")
	}

	// A host port free now and not among the agents' reserved ones.
	reserved := func(p int32) bool {
		for _, ps := range registeredPorts {
			if slices.Contains(ps, strconv.Itoa(int(p))) {
				return true
			}
		}
		return false
	}
	port := freePort(t)
	for reserved(port) {
		port = freePort(t)
	}
	// The port task's web container waits for gate, which runs until the
	// task is stopped: it never binds the host port, so the two agents
	// sharing one Docker Engine do not collide on it and no task stops on
	// its own while the calls run.
	gate := ctrDef("gate", img, false, "testapp", "sleep", "3600")
	web := ctrDef("web", img, true, "testapp", "serve", "80")
	web.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("gate"), Condition: types.ContainerConditionComplete}}
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(port), Protocol: types.TransportProtocolTcp}}
	portTD := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("conc-port"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{gate, web}})
	app := ctrDef("app", img, true, "testapp", "sleep", "3600")
	app.Memory = aws.Int32(concMemTask)
	memTD := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("conc-mem"), ContainerDefinitions: []types.ContainerDefinition{app}})
	memOf := map[string]int64{portTD: concPortTask, memTD: concMemTask}

	strategies := [][]types.PlacementStrategy{
		nil,
		{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("memory")}},
		{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("instanceId")}},
		{{Type: types.PlacementStrategyTypeRandom}},
	}
	type call struct {
		td  string
		out *ecs.RunTaskOutput
		err error
	}
	var calls []*call
	for i := range 2 * concPerFamily {
		td := memTD
		if i%2 == 0 {
			td = portTD
		}
		calls = append(calls, &call{td: td})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, cl := range calls {
		wg.Go(func() {
			<-start
			cl.out, cl.err = c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(cl.td), PlacementStrategy: strategies[i/2%len(strategies)]})
		})
	}
	close(start)
	wg.Wait()

	placed := map[string]int{}  // task definition -> tasks placed
	reasons := map[string]int{} // failure reason -> how many
	var arns []string
	for i, cl := range calls {
		if cl.err != nil {
			t.Errorf("call %d (%s): %v", i, cl.td, cl.err)
			continue
		}
		placed[cl.td] += len(cl.out.Tasks)
		for _, tk := range cl.out.Tasks {
			arns = append(arns, aws.ToString(tk.TaskArn))
		}
		switch {
		case len(cl.out.Tasks) > 1:
			t.Errorf("call %d placed %d tasks, asked for 1", i, len(cl.out.Tasks))
		case len(cl.out.Tasks) == 1 && len(cl.out.Failures) > 0:
			t.Errorf("call %d placed its task and reports failures %s", i, failuresString(cl.out.Failures))
		case len(cl.out.Tasks) == 0:
			if len(cl.out.Failures) != concAgents {
				t.Errorf("call %d (%s) placed nothing; failures %s, want one per instance", i, cl.td, failuresString(cl.out.Failures))
			}
			for _, f := range cl.out.Failures {
				reason := aws.ToString(f.Reason)
				reasons[reason]++
				if agents[aws.ToString(f.Arn)] == nil || (reason != "RESOURCE:PORTS" && reason != "RESOURCE:MEMORY") {
					t.Errorf("call %d (%s): failure %s, want RESOURCE:PORTS or RESOURCE:MEMORY on an instance", i, cl.td, failuresString([]types.Failure{f}))
				}
			}
		}
	}
	// Both families asked for more than fits and nothing stopped: a call
	// that came back empty saw every instance full for its task, so the
	// cluster holds exactly its capacity of each.
	if placed[portTD] != concAgents || placed[memTD] != concAgents*concMemSlots {
		t.Errorf("placed %d port tasks and %d memory tasks, want %d and %d", placed[portTD], placed[memTD], concAgents, concAgents*concMemSlots)
	}
	t.Logf("placed %d port tasks and %d memory tasks from %d concurrent calls; failures %v", placed[portTD], placed[memTD], len(calls), reasons)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			concStopAll(t, c, arns)
		}
	})

	tasks := concDescribeTasks(t, c, arns)
	if len(tasks) != len(arns) {
		t.Fatalf("DescribeTasks found %d of the %d tasks placed", len(tasks), len(arns))
	}
	checkPlacement := func(what string, tasks []types.Task) {
		t.Helper()
		mem := map[string]int64{}
		withPort := map[string][]string{}
		for _, tk := range tasks {
			if aws.ToString(tk.LastStatus) == "STOPPED" {
				t.Errorf("%s: task %s stopped on its own: %s", what, aws.ToString(tk.TaskArn), taskString(tk))
				continue
			}
			inst := aws.ToString(tk.ContainerInstanceArn)
			var m int64
			for _, ct := range tk.Containers {
				n, _ := strconv.ParseInt(aws.ToString(ct.Memory), 10, 64)
				m += n
			}
			if want := memOf[aws.ToString(tk.TaskDefinitionArn)]; m != want {
				t.Errorf("%s: task %s: its containers' memory adds up to %d MiB, want %d", what, aws.ToString(tk.TaskArn), m, want)
			}
			mem[inst] += m
			if aws.ToString(tk.TaskDefinitionArn) == portTD {
				withPort[inst] = append(withPort[inst], aws.ToString(tk.TaskArn))
			}
		}
		for arn, ci := range concDescribeInstances(t, c, agents) {
			if len(withPort[arn]) > 1 {
				t.Errorf("%s: instance %s runs %d tasks on host port %d: %v", what, arn, len(withPort[arn]), port, withPort[arn])
			}
			reg, rem := concResourceInt(ci.RegisteredResources, "MEMORY"), concResourceInt(ci.RemainingResources, "MEMORY")
			if mem[arn] > reg || reg-rem != mem[arn] {
				t.Errorf("%s: instance %s: tasks hold %d MiB of %d; registered-remaining is %d", what, arn, mem[arn], reg, reg-rem)
			}
			want := slices.Clone(registeredPorts[arn])
			if len(withPort[arn]) > 0 {
				want = append(want, strconv.Itoa(int(port)))
			}
			got := concResourceSet(ci.RemainingResources, "PORTS")
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: instance %s: remaining PORTS %v, want %v", what, arn, got, want)
			}
		}
	}
	checkPlacement("placed", tasks)

	// The agents start them all: memory tasks run, port tasks run their gate.
	for _, tk := range tasks {
		arn := aws.ToString(tk.TaskArn)
		name := "app"
		if aws.ToString(tk.TaskDefinitionArn) == portTD {
			name = "gate"
		}
		waitTask(t, c, "default", arn, name+" RUNNING", func(tk types.Task) bool {
			for _, ct := range tk.Containers {
				if aws.ToString(ct.Name) == name {
					return aws.ToString(ct.LastStatus) == "RUNNING"
				}
			}
			return false
		})
	}
	checkPlacement("started", concDescribeTasks(t, c, arns))

	// Stopping every task gives every instance all its room back.
	concStopAll(t, c, arns)
	stopped = true
	for arn, ci := range concDescribeInstances(t, c, agents) {
		if reg, rem := concResourceInt(ci.RegisteredResources, "MEMORY"), concResourceInt(ci.RemainingResources, "MEMORY"); rem != reg {
			t.Errorf("instance %s: %d of %d MiB remaining with every task stopped", arn, rem, reg)
		}
		got, want := concResourceSet(ci.RemainingResources, "PORTS"), registeredPorts[arn]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("instance %s: remaining PORTS %v with every task stopped, want %v", arn, got, want)
		}
	}
}

// concStopAll stops the tasks (at once) and waits until each is STOPPED.
func concStopAll(t *testing.T, c *ecs.Client, arns []string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, arn := range arns {
		wg.Go(func() {
			if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
				t.Errorf("StopTask %s: %v", arn, err)
			}
		})
	}
	wg.Wait()
	for _, arn := range arns {
		waitStatus(t, c, "default", arn, "STOPPED")
	}
}

// concDescribeTasks describes tasks in the default cluster, 100 at a time.
func concDescribeTasks(t *testing.T, c *ecs.Client, arns []string) []types.Task {
	t.Helper()
	var out []types.Task
	for chunk := range slices.Chunk(arns, 100) {
		d, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Tasks: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Failures) > 0 {
			t.Errorf("DescribeTasks failures: %s", failuresString(d.Failures))
		}
		out = append(out, d.Tasks...)
	}
	return out
}

// concDescribeInstances describes the agents' container instances by ARN.
func concDescribeInstances(t *testing.T, c *ecs.Client, agents map[string]*agentProc) map[string]types.ContainerInstance {
	t.Helper()
	var arns []string
	for arn := range agents {
		arns = append(arns, arn)
	}
	d, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: arns})
	if err != nil || len(d.ContainerInstances) != len(arns) {
		t.Fatalf("DescribeContainerInstances: %v, %+v", err, d)
	}
	out := map[string]types.ContainerInstance{}
	for _, ci := range d.ContainerInstances {
		out[aws.ToString(ci.ContainerInstanceArn)] = ci
	}
	return out
}

func concResourceInt(rs []types.Resource, name string) int64 {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return int64(r.IntegerValue)
		}
	}
	return 0
}

func concResourceSet(rs []types.Resource, name string) []string {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return slices.Clone(r.StringSetValue)
		}
	}
	return nil
}
