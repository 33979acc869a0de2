package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The task metadata endpoint v4 is injected into every container and
// reachable from inside it, in bridge and awsvpc mode.
func TestTaskMetadataFromInsideContainers(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	introAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAgent(t, s, "default", "--introspection-addr", introAddr)
	img := requireDocker(t)
	for _, mode := range []types.NetworkMode{types.NetworkModeBridge, types.NetworkModeAwsvpc} {
		t.Run(string(mode), func(t *testing.T) {
			reader := ctrDef("reader", img, true, "testapp", "get", "--retry", "20", "${ECS_CONTAINER_METADATA_URI_V4}/task")
			td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-" + string(mode)), NetworkMode: mode, ContainerDefinitions: []types.ContainerDefinition{reader}})
			in := &ecs.RunTaskInput{TaskDefinition: aws.String(td)}
			if mode == types.NetworkModeAwsvpc {
				in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
			}
			tk := runTask(t, c, in)
			arn := aws.ToString(tk.TaskArn)
			tk = waitStatus(t, c, "default", arn, "STOPPED")
			id := aws.ToString(container(t, tk, "reader").RuntimeId)
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			if e := container(t, tk, "reader").ExitCode; e == nil || *e != 0 {
				t.Fatalf("reader could not read the metadata endpoint (exit %s): %s", fmtExit(e), logs)
			}
			var meta struct {
				Cluster, TaskARN, Family, Revision, KnownStatus string
				Containers                                      []struct{ Name, DockerId string }
			}
			if err := json.Unmarshal(logs, &meta); err != nil {
				t.Fatalf("metadata is not JSON: %v: %s", err, logs)
			}
			if meta.TaskARN != arn || meta.Family != "meta-"+string(mode) || len(meta.Containers) != 1 || meta.Containers[0].Name != "reader" || meta.Containers[0].DockerId != id {
				t.Errorf("task metadata %+v for task %s container %s", meta, arn, id)
			}
		})
	}
	// The introspection API names the agent and its tasks.
	body := httpGet(t, "http://"+introAddr+"/v1/metadata")
	if !strings.Contains(body, a.ARN) || !strings.Contains(body, `"Cluster":"default"`) {
		t.Errorf("/v1/metadata = %s", body)
	}
	if body := httpGet(t, "http://"+introAddr+"/v1/tasks"); !strings.Contains(body, "meta-bridge") {
		t.Errorf("/v1/tasks = %s", body)
	}
}
