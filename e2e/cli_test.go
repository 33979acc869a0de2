package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIGuideFlows runs the ECS guides' cluster and task definition
// commands with the AWS CLI v1 and v2 against berth.
func TestCLIGuideFlows(t *testing.T) {
	fixture, err := filepath.Abs("../internal/taskdef/testdata/webapp-fargate.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fixture); err != nil {
		t.Fatal(err)
	}
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			s := startServer(t, "")
			run := func(args ...string) map[string]any {
				t.Helper()
				out, err := s.runCLI(t, bin, args...)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				if strings.TrimSpace(out) == "" {
					return m
				}
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("%v: output is not JSON: %q", args, out)
				}
				return m
			}
			created := run("ecs", "create-cluster", "--cluster-name", "tutorial",
				"--capacity-providers", "FARGATE", "FARGATE_SPOT",
				"--settings", "name=containerInsights,value=disabled",
				"--configuration", "executeCommandConfiguration={logging=DEFAULT}",
				"--service-connect-defaults", "namespace=tutorial-ns")
			cluster := created["cluster"].(map[string]any)
			if cluster["status"] != "ACTIVE" || cluster["clusterName"] != "tutorial" {
				t.Fatalf("create-cluster = %v", cluster)
			}
			if scd, _ := cluster["serviceConnectDefaults"].(map[string]any); scd == nil || !strings.Contains(scd["namespace"].(string), ":namespace/") {
				t.Errorf("serviceConnectDefaults = %v", cluster["serviceConnectDefaults"])
			}

			reg := run("ecs", "register-task-definition", "--cli-input-json", "file://"+fixture)
			td := reg["taskDefinition"].(map[string]any)
			if td["revision"].(float64) != 1 || td["status"] != "ACTIVE" || td["networkMode"] != "awsvpc" {
				t.Fatalf("register-task-definition = %v", td)
			}
			family := td["family"].(string)

			desc := run("ecs", "describe-task-definition", "--task-definition", family)
			if desc["taskDefinition"].(map[string]any)["taskDefinitionArn"] != td["taskDefinitionArn"] {
				t.Errorf("describe-task-definition = %v", desc)
			}
			list := run("ecs", "list-task-definitions", "--family-prefix", family)
			if arns := list["taskDefinitionArns"].([]any); len(arns) != 1 || arns[0] != td["taskDefinitionArn"] {
				t.Errorf("list-task-definitions = %v", list)
			}
			fams := run("ecs", "list-task-definition-families")
			if fmt := fams["families"].([]any); len(fmt) != 1 || fmt[0] != family {
				t.Errorf("list-task-definition-families = %v", fams)
			}
			dereg := run("ecs", "deregister-task-definition", "--task-definition", family+":1")
			if dereg["taskDefinition"].(map[string]any)["status"] != "INACTIVE" {
				t.Errorf("deregister-task-definition = %v", dereg)
			}
			clusters := run("ecs", "describe-clusters", "--clusters", "tutorial", "--include", "SETTINGS", "CONFIGURATIONS")
			if c := clusters["clusters"].([]any); len(c) != 1 {
				t.Errorf("describe-clusters = %v", clusters)
			}
			if l := run("ecs", "list-clusters")["clusterArns"].([]any); len(l) != 1 {
				t.Errorf("list-clusters = %v", l)
			}
			run("ecs", "delete-cluster", "--cluster", "tutorial")

			// An error surfaces with its AWS code.
			if _, err := s.runCLI(t, bin, "ecs", "describe-task-definition", "--task-definition", "missing"); err == nil || !strings.Contains(err.Error(), "ClientException") {
				t.Errorf("describe missing: %v", err)
			}
		})
	}
}

// TestBoto3AndCurl drives berth with boto3 and curl --aws-sigv4.
func TestBoto3AndCurl(t *testing.T) {
	s := startServer(t, "")
	script := `
import boto3, json, sys
c = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1")
c.create_cluster(clusterName="py")
r = c.register_task_definition(family="py", containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}])
d = c.describe_clusters(clusters=["py", "ghost"])
print(json.dumps({"rev": r["taskDefinition"]["revision"], "registeredAt": str(r["taskDefinition"]["registeredAt"]), "clusters": len(d["clusters"]), "failures": [f["reason"] for f in d["failures"]]}))
`
	cmd := exec.Command("python3", "-c", script, s.URL)
	cmd.Env = s.cliEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named") {
			requireTool(t, "boto3")
		}
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	var got struct {
		Rev          int      `json:"rev"`
		RegisteredAt string   `json:"registeredAt"`
		Clusters     int      `json:"clusters"`
		Failures     []string `json:"failures"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("boto3 output %q: %v", out, err)
	}
	if got.Rev != 1 || got.Clusters != 1 || len(got.Failures) != 1 || got.Failures[0] != "MISSING" || !strings.HasPrefix(got.RegisteredAt, "20") {
		t.Errorf("boto3 saw %+v", got)
	}

	if _, err := exec.LookPath("curl"); err != nil {
		requireTool(t, "curl")
	}
	curl := exec.Command("curl", "-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:us-east-1:ecs", "--user", testKeyID+":"+testSecret,
		"-H", "X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters", "-H", "Content-Type: application/x-amz-json-1.1", "-d", "{}", s.URL+"/")
	out, err = curl.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cluster/py") {
		t.Fatalf("curl: %v %s", err, out)
	}
}
