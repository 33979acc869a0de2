package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestServiceCLIFlow is the ECS guide's service flow with the AWS CLI v1
// against a real server and agent: create-service desired 1 shows
// ACTIVE,1,1,0,[PRIMARY] and `aws ecs wait services-stable` returns; a
// stopped task is replaced and the events say so; update-service to a new
// revision rolls the task; scale to 0 and delete.
//
// The server counts a task without a health check as healthy 2 s after
// RUNNING (--service-healthy-after) instead of ECS's 40 s, to keep the test
// short; the controller's arithmetic is the same.
func TestServiceCLIFlow(t *testing.T) {
	img := requireDocker(t)
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	s := startServer(t, "", "--service-healthy-after", "2s")
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
	query := func(q string) string {
		t.Helper()
		out, err := s.runCLI(t, bin, "ecs", "describe-services", "--services", "web", "--query", q)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s: %q", q, out)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	td := `[{"name":"app","image":"` + img + `","memory":32,"essential":true,"command":["testapp","sleep","3600"]}]`
	run("ecs", "register-task-definition", "--family", "web", "--container-definitions", td)
	run("ecs", "create-service", "--service-name", "web", "--task-definition", "web", "--desired-count", "1")
	run("ecs", "wait", "services-stable", "--services", "web")
	if got := query("services[0].[status,desiredCount,runningCount,pendingCount,deployments[*].status]"); got != `["ACTIVE",1,1,0,["PRIMARY"]]` {
		t.Errorf("describe-services after services-stable = %s, want [ACTIVE,1,1,0,[PRIMARY]]", got)
	}
	waitFor(t, "the steady-state event", func() bool {
		return strings.Contains(query("services[0].events[*].message"), "has reached a steady state.")
	})

	// A stopped task is replaced.
	tasks := run("ecs", "list-tasks", "--service-name", "web")["taskArns"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("list-tasks --service-name = %v", tasks)
	}
	first := tasks[0].(string)
	run("ecs", "stop-task", "--task", first)
	waitFor(t, "a replacement task", func() bool {
		arns := run("ecs", "list-tasks", "--service-name", "web")["taskArns"].([]any)
		return len(arns) == 1 && arns[0].(string) != first
	})
	run("ecs", "wait", "services-stable", "--services", "web")
	if ev := query("services[0].events[*].message"); !strings.Contains(ev, "has started 1 tasks:") {
		t.Errorf("events = %s", ev)
	}

	// A new revision rolls the task. The replacement must be healthy first
	// (2 s after RUNNING here), or the rollout may stop it at once, since
	// stopping an unhealthy task costs no healthy capacity.
	arns := run("ecs", "list-tasks", "--service-name", "web")["taskArns"].([]any)
	started := run("ecs", "describe-tasks", "--tasks", arns[0].(string))["tasks"].([]any)[0].(map[string]any)["startedAt"].(float64)
	time.Sleep(time.Until(time.UnixMilli(int64(started * 1000)).Add(2500 * time.Millisecond)))
	run("ecs", "register-task-definition", "--family", "web", "--container-definitions", td)
	run("ecs", "update-service", "--service", "web", "--task-definition", "web:2")
	if got := query("length(services[0].deployments)"); got != "2" {
		t.Errorf("deployments right after update-service = %s, want 2", got)
	}
	run("ecs", "wait", "services-stable", "--services", "web")
	if got := query("services[0].[runningCount,deployments[0].taskDefinition,deployments[0].rolloutState]"); !strings.HasSuffix(got, `:task-definition/web:2","COMPLETED"]`) || !strings.HasPrefix(got, "[1,") {
		t.Errorf("after the rollout: %s", got)
	}

	// Scale to 0, delete.
	run("ecs", "update-service", "--service", "web", "--desired-count", "0")
	run("ecs", "wait", "services-stable", "--services", "web")
	run("ecs", "delete-service", "--service", "web")
	run("ecs", "wait", "services-inactive", "--services", "web")
	if got := query("services[0].status"); got != `"INACTIVE"` {
		t.Errorf("status after delete = %s", got)
	}
}
