package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
)

// GPUs, as the ECS agent handles them with ECS_ENABLE_GPU_SUPPORT: the
// host's NVIDIA GPUs are registered as the STRINGSET resource "GPU" (their
// UUIDs, as nvidia-smi reports them) and as platform devices of type GPU;
// the scheduler reserves ids for each container whose resourceRequirements
// ask for GPUs (Container.gpuIds), and the agent gives the container exactly
// those: an NVIDIA device request and NVIDIA_VISIBLE_DEVICES.

// Values of Config.GPUs besides a list of ids.
const (
	// GPUsAuto registers the GPUs nvidia-smi finds, if any (the default).
	GPUsAuto = "auto"
	// GPUsNone registers no GPUs.
	GPUsNone = "none"
)

const (
	gpuResourceName      = "GPU"
	nvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES"
	nvidiaSMITimeout     = 10 * time.Second
)

// gpuPlan says where the agent's GPUs come from.
type gpuPlan struct {
	// detect: ask nvidia-smi. Otherwise ids are the GPUs (none when empty).
	detect bool
	// required: detection must find a GPU (ECS_ENABLE_GPU_SUPPORT=true).
	required bool
	ids      []string
	// setting names what decided, for messages.
	setting string
}

// planGPUs resolves the GPU settings: gpus (--gpus, BERTH_GPUS) when set
// wins; else ECS_ENABLE_GPU_SUPPORT as in the ECS agent (false, its
// default: no GPUs; true: the host's GPUs, and finding none is an error);
// else auto.
func planGPUs(gpus string, ecsEnable *bool) (gpuPlan, error) {
	gpus = strings.TrimSpace(gpus)
	switch {
	case gpus == "" && ecsEnable != nil && *ecsEnable:
		return gpuPlan{detect: true, required: true, setting: "ECS_ENABLE_GPU_SUPPORT=true"}, nil
	case gpus == "" && ecsEnable != nil:
		return gpuPlan{setting: "ECS_ENABLE_GPU_SUPPORT=false"}, nil
	case gpus == "" || gpus == GPUsAuto:
		return gpuPlan{detect: true, setting: "--gpus auto"}, nil
	case gpus == GPUsNone:
		return gpuPlan{setting: "--gpus none"}, nil
	}
	ids, err := parseGPUList(gpus)
	if err != nil {
		return gpuPlan{}, err
	}
	return gpuPlan{ids: ids, setting: "--gpus"}, nil
}

// parseGPUList reads a comma-separated list of GPU ids: each one once, none
// empty, none holding spaces, none a word the setting or NVIDIA's
// NVIDIA_VISIBLE_DEVICES gives a meaning of its own.
func parseGPUList(s string) ([]string, error) {
	var ids []string
	for _, f := range strings.Split(s, ",") {
		id := strings.TrimSpace(f)
		switch {
		case id == "":
			return nil, errors.New("want auto, none or comma-separated GPU ids, with no empty id")
		case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return nil, fmt.Errorf("GPU id %q holds a space or control character", id)
		case slices.Contains([]string{GPUsAuto, GPUsNone, "all", "void"}, strings.ToLower(id)):
			return nil, fmt.Errorf("%q is not a GPU id (auto and none stand alone; all and void mean other things to NVIDIA_VISIBLE_DEVICES)", id)
		case slices.Contains(ids, id):
			return nil, fmt.Errorf("GPU id %q is listed twice", id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// gpuUUID is the form nvidia-smi gives a GPU's UUID.
var gpuUUID = regexp.MustCompile(`^GPU-[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$`)

// noDevices is what nvidia-smi prints (exiting non-zero) on a host with a
// working driver and no GPU.
const noDevices = "No devices were found"

// parseNvidiaSMI reads the output of
// `nvidia-smi --query-gpu=uuid --format=csv,noheader` and how it exited
// (runErr): one GPU UUID per line. "No devices were found" is no GPUs; any
// other failure, or a line that is not a UUID, is an error quoting nvidia-smi.
func parseNvidiaSMI(out []byte, runErr error) ([]string, error) {
	text := strings.TrimSpace(string(out))
	if strings.Contains(text, noDevices) {
		return nil, nil
	}
	if runErr != nil {
		if first, _, _ := strings.Cut(text, "\n"); first != "" {
			return nil, fmt.Errorf("nvidia-smi: %w: %s", runErr, strings.TrimSpace(first))
		}
		return nil, fmt.Errorf("nvidia-smi: %w", runErr)
	}
	var ids []string
	for line := range strings.SplitSeq(text, "\n") {
		id := strings.TrimSpace(line)
		switch {
		case id == "":
			continue
		case !gpuUUID.MatchString(id):
			return nil, fmt.Errorf("nvidia-smi listed %q where a GPU UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) belongs", id)
		case slices.Contains(ids, id):
			return nil, fmt.Errorf("nvidia-smi listed GPU %s twice", id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// errNoNvidiaSMI: nvidia-smi is not on PATH (no NVIDIA driver here).
var errNoNvidiaSMI = errors.New("nvidia-smi is not on PATH")

// detectGPUs asks nvidia-smi for the host's GPU UUIDs, for at most
// nvidiaSMITimeout.
func detectGPUs(ctx context.Context) ([]string, error) {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, errNoNvidiaSMI
	}
	ctx, cancel := context.WithTimeout(ctx, nvidiaSMITimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "--query-gpu=uuid", "--format=csv,noheader")
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("nvidia-smi did not answer within %s: %w", nvidiaSMITimeout, ctx.Err())
	}
	return parseNvidiaSMI(out.Bytes(), runErr)
}

// findGPUs carries out plan with detect (detectGPUs outside tests): the ids
// to register. Under auto a failed detection is logged and registers no
// GPUs; under ECS_ENABLE_GPU_SUPPORT=true it is an error.
func findGPUs(ctx context.Context, plan gpuPlan, detect func(context.Context) ([]string, error), log *slog.Logger) ([]string, error) {
	if !plan.detect {
		return plan.ids, nil
	}
	ids, err := detect(ctx)
	switch {
	case err != nil && plan.required:
		return nil, fmt.Errorf("%s, but the GPUs cannot be listed: %w (pass --gpus with the ids, or none)", plan.setting, err)
	case len(ids) == 0 && plan.required:
		return nil, fmt.Errorf("%s, but nvidia-smi lists no GPU (pass --gpus with the ids, or none)", plan.setting)
	case errors.Is(err, errNoNvidiaSMI):
		log.Debug("no GPUs registered: nvidia-smi is not on PATH")
	case err != nil:
		log.Warn("no GPUs registered: listing them failed (pass --gpus with the ids, or none)", "err", err)
	}
	return ids, nil
}

// gpuCount is how many GPUs a container's resourceRequirements ask for
// (0 when none, or when the value is not a number).
func gpuCount(cd ecsapi.ContainerDefinition) int {
	n := 0
	for _, rr := range cd.ResourceRequirements {
		if rr.Type == ecsapi.ResourceTypeGPU {
			k, _ := strconv.Atoi(strings.TrimSpace(rr.Value))
			n += max(k, 0)
		}
	}
	return n
}

// withGPUs returns the container definition to build with the GPU ids the
// scheduler reserved for it: NVIDIA_VISIBLE_DEVICES set to them, as ECS
// sets it (over any value of the definition's own, so the container sees
// the GPUs it holds and no others). A container asking for GPUs that was
// given none is an error rather than a container without them.
func withGPUs(cd ecsapi.ContainerDefinition, ids []string) (ecsapi.ContainerDefinition, error) {
	if n := gpuCount(cd); n > 0 && len(ids) == 0 {
		return cd, fmt.Errorf("container %s requires %d GPU(s) but none were assigned to it", ecsapi.Value(cd.Name), n)
	}
	if len(ids) == 0 {
		return cd, nil
	}
	env := slices.DeleteFunc(slices.Clone(cd.Environment), func(kv ecsapi.KeyValuePair) bool {
		return ecsapi.Value(kv.Name) == nvidiaVisibleDevices
	})
	cd.Environment = append(env, ecsapi.KeyValuePair{Name: ecsapi.Ptr(nvidiaVisibleDevices), Value: ecsapi.Ptr(strings.Join(ids, ","))})
	return cd, nil
}
