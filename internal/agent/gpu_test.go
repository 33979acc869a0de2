package agent

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/containerspec"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
)

const (
	uuidA = "GPU-5d6c0d0d-2b35-4a1f-8f0c-0c6d9b0f3e61"
	uuidB = "GPU-a1b2c3d4-0000-1111-2222-333344445555"
)

func TestParseNvidiaSMI(t *testing.T) {
	exit := func(code string) error { return errors.New("exit status " + code) }
	for _, tc := range []struct {
		name    string
		out     string
		runErr  error
		want    []string
		wantErr string // substring; "" for no error
	}{
		{name: "one GPU", out: uuidA + "\n", want: []string{uuidA}},
		{name: "two GPUs, CRLF and blank lines", out: "\r\n" + uuidA + "\r\n" + uuidB + "\r\n\n", want: []string{uuidA, uuidB}},
		{name: "no output", out: "", want: nil},
		{name: "no devices", out: "No devices were found\n", runErr: exit("6"), want: nil},
		{name: "driver not loaded", out: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n", runErr: exit("9"),
			wantErr: "nvidia-smi: exit status 9: NVIDIA-SMI has failed because it couldn't communicate"},
		{name: "failure without output", runErr: exit("255"), wantErr: "nvidia-smi: exit status 255"},
		{name: "not a UUID", out: uuidA + "\n[N/A]\n", wantErr: `"[N/A]" where a GPU UUID`},
		{name: "header line", out: "uuid\n" + uuidA + "\n", wantErr: `"uuid" where a GPU UUID`},
		{name: "MIG device", out: "MIG-5d6c0d0d-2b35-4a1f-8f0c-0c6d9b0f3e61\n", wantErr: "where a GPU UUID"},
		{name: "listed twice", out: uuidA + "\n" + uuidA + "\n", wantErr: "listed GPU " + uuidA + " twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNvidiaSMI([]byte(tc.out), tc.runErr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if tc.runErr != nil && !errors.Is(err, tc.runErr) {
					t.Errorf("error %v does not wrap the run error", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestPlanGPUs(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name    string
		gpus    string
		ecs     *bool
		want    gpuPlan
		wantErr string
	}{
		{name: "default is auto", want: gpuPlan{detect: true, setting: "--gpus auto"}},
		{name: "auto", gpus: "auto", want: gpuPlan{detect: true, setting: "--gpus auto"}},
		{name: "none", gpus: "none", want: gpuPlan{setting: "--gpus none"}},
		{name: "list", gpus: "GPU-test-0, GPU-test-1", want: gpuPlan{ids: []string{"GPU-test-0", "GPU-test-1"}, setting: "--gpus"}},
		{name: "ECS_ENABLE_GPU_SUPPORT=true requires detection", ecs: &on, want: gpuPlan{detect: true, required: true, setting: "ECS_ENABLE_GPU_SUPPORT=true"}},
		{name: "ECS_ENABLE_GPU_SUPPORT=false is none", ecs: &off, want: gpuPlan{setting: "ECS_ENABLE_GPU_SUPPORT=false"}},
		{name: "--gpus wins over ECS_ENABLE_GPU_SUPPORT", gpus: "GPU-x", ecs: &off, want: gpuPlan{ids: []string{"GPU-x"}, setting: "--gpus"}},
		{name: "--gpus none wins over ECS_ENABLE_GPU_SUPPORT=true", gpus: "none", ecs: &on, want: gpuPlan{setting: "--gpus none"}},
		{name: "empty id", gpus: "GPU-a,,GPU-b", wantErr: "no empty id"},
		{name: "trailing comma", gpus: "GPU-a,", wantErr: "no empty id"},
		{name: "space inside an id", gpus: "GPU a", wantErr: "space"},
		{name: "duplicate", gpus: "GPU-a,GPU-a", wantErr: "listed twice"},
		{name: "all", gpus: "all", wantErr: `"all" is not a GPU id`},
		{name: "none in a list", gpus: "GPU-a,none", wantErr: `"none" is not a GPU id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planGPUs(tc.gpus, tc.ecs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestFindGPUs(t *testing.T) {
	found := func(ids ...string) func(context.Context) ([]string, error) {
		return func(context.Context) ([]string, error) { return ids, nil }
	}
	failing := func(err error) func(context.Context) ([]string, error) {
		return func(context.Context) ([]string, error) { return nil, err }
	}
	never := func(context.Context) ([]string, error) { panic("detection ran for a plan without it") }
	auto := gpuPlan{detect: true, setting: "--gpus auto"}
	required := gpuPlan{detect: true, required: true, setting: "ECS_ENABLE_GPU_SUPPORT=true"}
	driverDown := errors.New("nvidia-smi: exit status 9: NVIDIA-SMI has failed")
	for _, tc := range []struct {
		name    string
		plan    gpuPlan
		detect  func(context.Context) ([]string, error)
		want    []string
		wantErr string
	}{
		{name: "given ids are registered as given", plan: gpuPlan{ids: []string{"GPU-test-0"}}, detect: never, want: []string{"GPU-test-0"}},
		{name: "none", plan: gpuPlan{}, detect: never},
		{name: "auto finds GPUs", plan: auto, detect: found(uuidA, uuidB), want: []string{uuidA, uuidB}},
		{name: "auto without nvidia-smi", plan: auto, detect: failing(errNoNvidiaSMI)},
		{name: "auto with a failing driver", plan: auto, detect: failing(driverDown)},
		{name: "required finds GPUs", plan: required, detect: found(uuidA), want: []string{uuidA}},
		{name: "required without nvidia-smi", plan: required, detect: failing(errNoNvidiaSMI), wantErr: "ECS_ENABLE_GPU_SUPPORT=true, but the GPUs cannot be listed: nvidia-smi is not on PATH"},
		{name: "required with a failing driver", plan: required, detect: failing(driverDown), wantErr: "NVIDIA-SMI has failed"},
		{name: "required, no GPU", plan: required, detect: found(), wantErr: "nvidia-smi lists no GPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findGPUs(context.Background(), tc.plan, tc.detect, discardLogger())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// On a host without nvidia-smi, detection says so (and auto registers no
// GPUs); where nvidia-smi exists, this only checks that it answers in time.
func TestDetectGPUsBounded(t *testing.T) {
	ids, err := detectGPUs(context.Background())
	if _, lookErr := exec.LookPath("nvidia-smi"); lookErr != nil {
		if !errors.Is(err, errNoNvidiaSMI) || ids != nil {
			t.Errorf("without nvidia-smi: %v, %v; want errNoNvidiaSMI", ids, err)
		}
		return
	}
	t.Logf("nvidia-smi lists %v (err %v)", ids, err)
}

// The registration carries the GPUs as ECS's agent registers them: the
// STRINGSET resource GPU and one platform device of type GPU per id; a host
// without GPUs registers neither.
func TestRegistrationGPUs(t *testing.T) {
	a := &Agent{cfg: Config{Cluster: "c", Version: "dev"}, host: runtime.HostInfo{NCPU: 2, MemTotal: 4 << 30}, ec2ID: "i-1"}
	in := a.registration()
	for _, r := range in.TotalResources {
		if aws.ToString(r.Name) == "GPU" {
			t.Errorf("a host without GPUs registered %+v", r)
		}
	}
	if len(in.PlatformDevices) != 0 {
		t.Errorf("a host without GPUs registered platform devices %+v", in.PlatformDevices)
	}

	a.gpus = []string{"GPU-test-0", "GPU-test-1"}
	in = a.registration()
	var gpu *types.Resource
	for i, r := range in.TotalResources {
		if aws.ToString(r.Name) == "GPU" {
			gpu = &in.TotalResources[i]
		}
	}
	if gpu == nil || aws.ToString(gpu.Type) != "STRINGSET" || !slices.Equal(gpu.StringSetValue, a.gpus) {
		t.Fatalf("GPU resource %+v, want STRINGSET %v", gpu, a.gpus)
	}
	want := []types.PlatformDevice{
		{Id: aws.String("GPU-test-0"), Type: types.PlatformDeviceTypeGpu},
		{Id: aws.String("GPU-test-1"), Type: types.PlatformDeviceTypeGpu},
	}
	if !reflect.DeepEqual(in.PlatformDevices, want) {
		t.Errorf("platform devices %+v, want %+v", in.PlatformDevices, want)
	}
}

func TestWithGPUs(t *testing.T) {
	gpuDef := ecsapi.ContainerDefinition{
		Name:                 ecsapi.Ptr("train"),
		ResourceRequirements: []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "2"}},
		Environment: []ecsapi.KeyValuePair{
			{Name: ecsapi.Ptr("A"), Value: ecsapi.Ptr("1")},
			{Name: ecsapi.Ptr(nvidiaVisibleDevices), Value: ecsapi.Ptr("all")},
		},
	}
	got, err := withGPUs(gpuDef, []string{"GPU-a", "GPU-b"})
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []ecsapi.KeyValuePair{
		{Name: ecsapi.Ptr("A"), Value: ecsapi.Ptr("1")},
		{Name: ecsapi.Ptr(nvidiaVisibleDevices), Value: ecsapi.Ptr("GPU-a,GPU-b")},
	}
	if !reflect.DeepEqual(got.Environment, wantEnv) {
		t.Errorf("environment %s, want the definition's own NVIDIA_VISIBLE_DEVICES replaced by the reserved ids", envString(got.Environment))
	}
	if ecsapi.Value(gpuDef.Environment[1].Value) != "all" {
		t.Error("withGPUs changed the caller's definition")
	}

	if _, err := withGPUs(gpuDef, nil); err == nil || !strings.Contains(err.Error(), "container train requires 2 GPU(s) but none were assigned") {
		t.Errorf("a GPU container without reserved GPUs: %v", err)
	}
	plain := ecsapi.ContainerDefinition{Name: ecsapi.Ptr("web")}
	if got, err := withGPUs(plain, nil); err != nil || !reflect.DeepEqual(got, plain) {
		t.Errorf("a container without GPUs was changed: %+v, %v", got, err)
	}
	zero := ecsapi.ContainerDefinition{Name: ecsapi.Ptr("z"), ResourceRequirements: []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "0"}}}
	if _, err := withGPUs(zero, nil); err != nil {
		t.Errorf("a requirement of 0 GPUs: %v", err)
	}
}

func envString(kvs []ecsapi.KeyValuePair) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, ecsapi.Value(kv.Name)+"="+ecsapi.Value(kv.Value))
	}
	return strings.Join(parts, " ")
}

// A task container with gpuIds becomes a Docker container with an NVIDIA
// device request for exactly those GPUs and NVIDIA_VISIBLE_DEVICES naming
// them; its sibling without GPUs gets neither.
func TestTaskContainerGPUSpec(t *testing.T) {
	def := &ecsapi.TaskDefinition{Family: ecsapi.Ptr("gpu"), Revision: 3, ContainerDefinitions: []ecsapi.ContainerDefinition{
		{Name: ecsapi.Ptr("train"), Image: ecsapi.Ptr("cuda"), ResourceRequirements: []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "2"}}},
		{Name: ecsapi.Ptr("sidecar"), Image: ecsapi.Ptr("busybox")},
	}}
	e := &engine{cfg: &Config{Region: "us-east-1"}, log: discardLogger(), metadataBase: "http://169.254.170.2", instanceID: "i-1"}
	tk := newTask(e, &taskCheckpoint{Manifest: agentproto.TaskManifest{TaskARN: "arn:aws:ecs:us-east-1:1:task/c/t1", Cluster: "c", DesiredStatus: "RUNNING", Definition: def, Seq: 1}, Containers: map[string]*containerCheckpoint{}}, false)
	tk.ctrs["train"].gpuIDs = []string{"GPU-test-0", "GPU-test-1"}

	build := func(name string) runtime.Spec {
		t.Helper()
		in, err := tk.specInput(tk.ctrs[name], *tk.cp.Containers[name], "", nil, map[string]string{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := containerspec.Build(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return out.Spec
	}
	train := build("train")
	if reqs := train.HostConfig.DeviceRequests; len(reqs) != 1 || reqs[0].Driver != "nvidia" ||
		!slices.Equal(reqs[0].DeviceIDs, []string{"GPU-test-0", "GPU-test-1"}) || !reflect.DeepEqual(reqs[0].Capabilities, [][]string{{"gpu"}}) {
		t.Errorf("device requests %+v, want one nvidia request for GPU-test-0 and GPU-test-1", reqs)
	}
	if !slices.Contains(train.Config.Env, "NVIDIA_VISIBLE_DEVICES=GPU-test-0,GPU-test-1") {
		t.Errorf("environment %v lacks NVIDIA_VISIBLE_DEVICES=GPU-test-0,GPU-test-1", train.Config.Env)
	}
	if !slices.Contains(train.Config.Env, "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/"+tk.cp.Containers["train"].MetadataID) {
		t.Errorf("environment %v lost the agent's variables", train.Config.Env)
	}

	sidecar := build("sidecar")
	if len(sidecar.HostConfig.DeviceRequests) != 0 {
		t.Errorf("a container without gpuIds got device requests %+v", sidecar.HostConfig.DeviceRequests)
	}
	for _, kv := range sidecar.Config.Env {
		if strings.HasPrefix(kv, nvidiaVisibleDevices+"=") {
			t.Errorf("a container without gpuIds got %s", kv)
		}
	}

	// Without the ids the GPU container is not built at all.
	tk.ctrs["train"].gpuIDs = nil
	if _, err := tk.specInput(tk.ctrs["train"], *tk.cp.Containers["train"], "", nil, map[string]string{}, nil); err == nil {
		t.Error("a container requiring GPUs was built without any")
	}
}
