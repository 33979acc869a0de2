package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIRunTaskFlow runs a task the way the ECS guides do, with the AWS
// CLI v1 and v2: run-task with a command override, the tasks-running and
// tasks-stopped waiters, describe-tasks and stop-task.
func TestCLIRunTaskFlow(t *testing.T) {
	img := requireDocker(t)
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			s := startServer(t, "")
			startAgent(t, s, "default")
			run := func(args ...string) map[string]any {
				t.Helper()
				out, err := s.runCLI(t, bin, args...)
				if err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				var m map[string]any
				if strings.TrimSpace(out) != "" {
					if err := json.Unmarshal([]byte(out), &m); err != nil {
						t.Fatalf("%v: output is not JSON: %q", args, out)
					}
				}
				return m
			}
			run("ecs", "register-task-definition", "--family", "cli-sleep", "--container-definitions",
				`[{"name":"app","image":"`+img+`","memory":32,"essential":true,"command":["testapp","sleep","3600"]}]`)
			out := run("ecs", "run-task", "--task-definition", "cli-sleep", "--started-by", "cli",
				"--overrides", `{"containerOverrides":[{"name":"app","command":["sleep","300"],"environment":[{"name":"MODE","value":"cli"}]}]}`)
			tasks := out["tasks"].([]any)
			if len(tasks) != 1 || len(out["failures"].([]any)) != 0 {
				t.Fatalf("run-task = %v", out)
			}
			arn := tasks[0].(map[string]any)["taskArn"].(string)
			run("ecs", "wait", "tasks-running", "--tasks", arn)
			desc := run("ecs", "describe-tasks", "--tasks", arn)
			tk := desc["tasks"].([]any)[0].(map[string]any)
			ctr := tk["containers"].([]any)[0].(map[string]any)
			if tk["lastStatus"] != "RUNNING" || tk["startedBy"] != "cli" || ctr["lastStatus"] != "RUNNING" {
				t.Errorf("describe-tasks = %v", tk)
			}
			if got := dockerInspect(t, ctr["runtimeId"].(string), "{{json .Config.Cmd}}"); got != `["sleep","300"]` {
				t.Errorf("container command %s", got)
			}
			run("ecs", "stop-task", "--task", arn, "--reason", "done with it")
			run("ecs", "wait", "tasks-stopped", "--tasks", arn)
			desc = run("ecs", "describe-tasks", "--tasks", arn, "does-not-exist")
			tk = desc["tasks"].([]any)[0].(map[string]any)
			if tk["stoppedReason"] != "done with it" || tk["stopCode"] != "UserInitiated" {
				t.Errorf("stopped task = %v", tk)
			}
			if f := desc["failures"].([]any); len(f) != 1 || f[0].(map[string]any)["reason"] != "MISSING" {
				t.Errorf("failures = %v", desc["failures"])
			}
		})
	}
}
