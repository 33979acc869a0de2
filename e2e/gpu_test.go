package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// GPUs on a host without any: the agent registers the ids --gpus names, the
// scheduler reserves them one per container that asks, and the containers,
// which this Docker Engine (no nvidia runtime) cannot give a GPU, stop
// their tasks with a clear reason instead of running without a GPU or
// hanging.

var fakeGPUs = []string{"GPU-test-0", "GPU-test-1"}

// gpuResource returns the STRINGSET resource GPU of rs (nil if absent).
func gpuResource(rs []types.Resource) *types.Resource {
	for i := range rs {
		if aws.ToString(rs[i].Name) == "GPU" {
			return &rs[i]
		}
	}
	return nil
}

func describeInstance(t *testing.T, c *ecs.Client, arn string) types.ContainerInstance {
	t.Helper()
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{arn}})
	if err != nil || len(out.ContainerInstances) != 1 {
		t.Fatalf("describe container instance %s: %v %+v", arn, err, out)
	}
	return out.ContainerInstances[0]
}

// remainingGPUs are the instance's free GPU ids, sorted.
func remainingGPUs(t *testing.T, c *ecs.Client, arn string) []string {
	t.Helper()
	r := gpuResource(describeInstance(t, c, arn).RemainingResources)
	if r == nil {
		t.Fatalf("instance %s has no remaining GPU resource", arn)
	}
	return slices.Sorted(slices.Values(r.StringSetValue))
}

func TestGPUReservationOnAHostWithoutGPUs(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	c := s.ecs(t)
	a := schedAgent(t, s, "--gpus", strings.Join(fakeGPUs, ","))
	plainAgent := schedAgent(t, s, "--gpus", "none")

	// Registration: the GPU resource (STRINGSET, both ids) in registered
	// and remaining resources; an agent with --gpus none has none.
	ci := describeInstance(t, c, a.ARN)
	reg := gpuResource(ci.RegisteredResources)
	if reg == nil || aws.ToString(reg.Type) != "STRINGSET" || !slices.Equal(slices.Sorted(slices.Values(reg.StringSetValue)), fakeGPUs) {
		t.Fatalf("registeredResources GPU %+v, want STRINGSET %v", reg, fakeGPUs)
	}
	if got := remainingGPUs(t, c, a.ARN); !slices.Equal(got, fakeGPUs) {
		t.Fatalf("remainingResources GPU %v, want %v", got, fakeGPUs)
	}
	if r := gpuResource(describeInstance(t, c, plainAgent.ARN).RegisteredResources); r != nil {
		t.Errorf("an agent started with --gpus none registered %+v", r)
	}

	img := requireDocker(t)
	gpu := ctrDef("gpu", img, true, "testapp", "sleep", "3600")
	gpu.ResourceRequirements = []types.ResourceRequirement{{Type: types.ResourceTypeGpu, Value: aws.String("1")}}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("gpu"), ContainerDefinitions: []types.ContainerDefinition{gpu}})

	// Two tasks take one GPU each, on the GPU agent only.
	var all []types.Task
	reserved := map[string]string{} // task ARN -> GPU id
	for i := range 2 {
		tk := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})[0]
		if got := aws.ToString(tk.ContainerInstanceArn); got != a.ARN {
			t.Fatalf("GPU task %d placed on %s, want the GPU agent %s", i+1, got, a.ARN)
		}
		ids := container(t, tk, "gpu").GpuIds
		if len(ids) != 1 || !slices.Contains(fakeGPUs, ids[0]) {
			t.Fatalf("GPU task %d: containers[].gpuIds %v, want one of %v", i+1, ids, fakeGPUs)
		}
		for _, other := range reserved {
			if other == ids[0] {
				t.Fatalf("GPU %s reserved for two tasks", other)
			}
		}
		reserved[aws.ToString(tk.TaskArn)] = ids[0]
	}
	if got := gpuResource(describeInstance(t, c, a.ARN).RemainingResources); got == nil || len(got.StringSetValue) != 0 {
		t.Errorf("remainingResources GPU with both GPUs reserved: %+v, want empty", got)
	}

	// A third finds no GPU anywhere.
	out := schedRun(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	if len(out.Tasks) != 0 {
		t.Errorf("a third GPU task was placed with both GPUs reserved")
	}
	wantFailures(t, out.Failures, "RESOURCE:GPU", "", a.ARN, plainAgent.ARN)

	// A task without GPU requirements on the GPU agent runs, with no GPU.
	plainTD := schedTD(t, c, "nogpu", 32, 0)
	plain := schedRunAll(t, c, &all, &ecs.RunTaskInput{TaskDefinition: aws.String(plainTD),
		PlacementConstraints: []types.PlacementConstraint{memberOf("ec2InstanceId == " + a.InstanceID)}})[0]
	if ids := container(t, plain, "app").GpuIds; len(ids) != 0 {
		t.Errorf("a container without GPU requirements got gpuIds %v", ids)
	}
	waitRunning(t, c, "default", []string{aws.ToString(plain.TaskArn)})
	if ids := taskContainers(t, aws.ToString(plain.TaskArn)); len(ids) != 1 {
		t.Errorf("task without GPUs has containers %v", ids)
	} else {
		if dr := dockerInspect(t, ids[0], "{{json .HostConfig.DeviceRequests}}"); dr != "null" && dr != "[]" {
			t.Errorf("a container without gpuIds has device requests %s", dr)
		}
		if env := dockerInspect(t, ids[0], "{{json .Config.Env}}"); strings.Contains(env, "NVIDIA_VISIBLE_DEVICES") {
			t.Errorf("a container without gpuIds has %s", env)
		}
	}

	// This Docker Engine has no nvidia runtime: the agent creates each GPU
	// container with an NVIDIA device request for its reserved GPU and
	// NVIDIA_VISIBLE_DEVICES set to it, Docker refuses the request at
	// start, and the task stops as TaskFailedToStart saying why.
	reason := regexp.MustCompile(`^CannotStartContainerError: .*nvidia`)
	for arn, id := range reserved {
		tk := waitStatus(t, c, "default", arn, "STOPPED")
		t.Logf("GPU task holding %s stopped: %s", id, taskString(tk))
		if tk.StopCode != types.TaskStopCodeTaskFailedToStart || !reason.MatchString(aws.ToString(tk.StoppedReason)) {
			t.Errorf("GPU task stopped with stopCode %s reason %q; want TaskFailedToStart and a reason matching %s", tk.StopCode, aws.ToString(tk.StoppedReason), reason)
		}
		ctr := container(t, tk, "gpu")
		if !reason.MatchString(aws.ToString(ctr.Reason)) {
			t.Errorf("GPU container reason %q does not say why it did not start", aws.ToString(ctr.Reason))
		}
		if rid := aws.ToString(ctr.RuntimeId); rid == "" {
			t.Errorf("GPU container was never created")
		} else {
			if dr := dockerInspect(t, rid, "{{json .HostConfig.DeviceRequests}}"); !strings.Contains(dr, `"DeviceIDs":["`+id+`"]`) || !strings.Contains(dr, `"gpu"`) {
				t.Errorf("GPU container's device requests %s, want the NVIDIA request for %s", dr, id)
			}
			if env := dockerInspect(t, rid, "{{json .Config.Env}}"); !strings.Contains(env, `"NVIDIA_VISIBLE_DEVICES=`+id+`"`) {
				t.Errorf("GPU container's environment %s lacks NVIDIA_VISIBLE_DEVICES=%s", env, id)
			}
		}
		// The stopped task still shows which GPU it held.
		if ids := ctr.GpuIds; !slices.Equal(ids, []string{id}) {
			t.Errorf("stopped task's gpuIds %v, want [%s]", ids, id)
		}
	}

	// Stopped tasks give their GPUs back: both are free again.
	waitFor(t, "both GPUs free again", func() bool {
		return slices.Equal(remainingGPUs(t, c, a.ARN), fakeGPUs)
	})
	stopAll(t, c, "default", []types.Task{plain})
}

// ECS_ENABLE_GPU_SUPPORT=true on a host where nvidia-smi is missing is a
// start-up error naming the setting, not an agent without GPUs.
func TestGPUEnableSupportWithoutNvidiaSMI(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nvidia-smi"); err == nil {
		t.Skip("nvidia-smi is on PATH: this host may have GPUs")
	}
	requireDocker(t)
	s := startServer(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, "agent", "--server", s.URL, "--data-dir", t.TempDir(),
		"--credentials", s.Creds, "--region", testRegion, "--instance-id", "i-"+randHex(17),
		"--introspection-addr", "127.0.0.1:0", "--metadata-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ECS_ENABLE_GPU_SUPPORT=true", "BERTH_GPUS=")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the agent kept running for 60s with ECS_ENABLE_GPU_SUPPORT=true and no GPU; output:\n%s", tail(string(out), 20))
	}
	if err == nil || !strings.Contains(string(out), "ECS_ENABLE_GPU_SUPPORT=true, but the GPUs cannot be listed: nvidia-smi is not on PATH") {
		t.Errorf("agent exit %v; output:\n%s", err, tail(string(out), 20))
	}
}
