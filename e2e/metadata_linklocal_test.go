package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// As root on Linux the agent serves the task metadata endpoint at
// 169.254.170.2, as ECS does, and containers in bridge, awsvpc and host mode
// all reach it there. A second agent on the host serves at 169.254.170.2
// too, at a port of its own.
func TestTaskMetadataLinkLocal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent serves task metadata at 169.254.170.2 only as root")
	}
	s := startServer(t, "")
	c := s.ecs(t)
	a1 := startAgent(t, s, "default")
	img := requireDocker(t)
	var first string
	for _, mode := range []types.NetworkMode{types.NetworkModeBridge, types.NetworkModeAwsvpc, types.NetworkModeHost} {
		t.Run(string(mode), func(t *testing.T) {
			uri := readLinkLocalMetadata(t, c, img, mode, a1.ARN)
			if first == "" {
				first = uri
			} else if base(uri) != base(first) {
				t.Errorf("one agent gave two endpoints: %s and %s", uri, first)
			}
		})
	}
	if first == "" {
		return
	}
	// Only one agent can own port 80 of 169.254.170.2; another one on the
	// same host serves its own containers at another port of that address.
	a2 := startAgent(t, s, "default")
	uri := readLinkLocalMetadata(t, c, img, types.NetworkModeBridge, a2.ARN)
	if base(uri) == base(first) {
		t.Errorf("two agents on one host give the same endpoint %s", base(uri))
	}
	t.Logf("first agent: %s, second agent: %s", base(first), base(uri))
}

// base is a metadata URI without its /v4/<id> path.
func base(uri string) string {
	b, _, _ := strings.Cut(uri, "/v4/")
	return b
}

// readLinkLocalMetadata starts a task in mode on the instance whose
// container reads $ECS_CONTAINER_METADATA_URI_V4/task, checks that the URI
// is at 169.254.170.2 and the answer is the task's metadata, and returns the
// URI.
func readLinkLocalMetadata(t *testing.T, c *ecs.Client, img string, mode types.NetworkMode, instanceARN string) string {
	t.Helper()
	family := "meta-ll-" + string(mode)
	reader := ctrDef("reader", img, true, "testapp", "get", "--retry", "20", "${ECS_CONTAINER_METADATA_URI_V4}/task")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family), NetworkMode: mode, ContainerDefinitions: []types.ContainerDefinition{reader}})
	in := &ecs.StartTaskInput{Cluster: aws.String("default"), TaskDefinition: aws.String(td), ContainerInstances: []string{instanceARN}}
	if mode == types.NetworkModeAwsvpc {
		in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
	}
	out, err := c.StartTask(context.Background(), in)
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("start task: %v %s", err, failuresString(out.Failures))
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	tk := waitStatus(t, c, "default", arn, "STOPPED")
	id := aws.ToString(container(t, tk, "reader").RuntimeId)
	var env []string
	if err := json.Unmarshal([]byte(dockerInspect(t, id, "{{json .Config.Env}}")), &env); err != nil {
		t.Fatalf("container environment: %v", err)
	}
	uri := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "ECS_CONTAINER_METADATA_URI_V4="); ok {
			uri = v
		}
	}
	if !strings.HasPrefix(uri, "http://169.254.170.2") {
		t.Errorf("ECS_CONTAINER_METADATA_URI_V4 = %q, want one at http://169.254.170.2", uri)
	}
	logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
	if e := container(t, tk, "reader").ExitCode; e == nil || *e != 0 {
		t.Fatalf("reader could not read %s/task (exit %s): %s", uri, fmtExit(e), logs)
	}
	var meta struct{ TaskARN, Family string }
	if err := json.Unmarshal(logs, &meta); err != nil {
		t.Fatalf("metadata is not JSON: %v: %s", err, logs)
	}
	if meta.TaskARN != arn || meta.Family != family {
		t.Errorf("task metadata %+v for task %s", meta, arn)
	}
	t.Logf("%s task read its metadata at %s", mode, uri)
	return uri
}
