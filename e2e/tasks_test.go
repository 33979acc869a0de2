package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// freePort returns a TCP port free on the host right now.
func freePort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			lastErr = fmt.Errorf("status %s", resp.Status)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

func webTD(family, image string, hostPort *int32) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("web"),
			Image:        aws.String(image),
			Memory:       aws.Int32(64),
			Cpu:          128,
			Essential:    aws.Bool(true),
			Command:      []string{"testapp", "serve", "80"},
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: hostPort, Protocol: types.TransportProtocolTcp}},
			StopTimeout:  aws.Int32(2),
		}},
	}
}

// The nginx-style task from the ECS guides: a web server on a static host
// port, reachable from the host, then stopped by the user.
func TestTaskStaticPortRunAndStop(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	a := startAgent(t, s, "default")
	port := freePort(t)
	td := registerTD(t, c, webTD("web", requireDocker(t), aws.Int32(port)))

	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td), StartedBy: aws.String("e2e")})
	if aws.ToString(tk.LastStatus) != "PENDING" || aws.ToString(tk.DesiredStatus) != "RUNNING" || aws.ToString(tk.ContainerInstanceArn) != a.ARN {
		t.Errorf("RunTask answered %s on %s, want PENDING on %s", taskString(tk), aws.ToString(tk.ContainerInstanceArn), a.ARN)
	}
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	web := container(t, tk, "web")
	if len(web.NetworkBindings) != 1 || aws.ToInt32(web.NetworkBindings[0].HostPort) != port || aws.ToInt32(web.NetworkBindings[0].ContainerPort) != 80 {
		t.Errorf("networkBindings %+v, want host %d → 80", web.NetworkBindings, port)
	}
	if tk.StartedAt == nil || tk.PullStartedAt == nil || tk.PullStoppedAt == nil || tk.ConnectivityAt == nil {
		t.Errorf("timestamps missing: startedAt %v pullStartedAt %v pullStoppedAt %v connectivityAt %v", tk.StartedAt, tk.PullStartedAt, tk.PullStoppedAt, tk.ConnectivityAt)
	}
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "hello from") {
		t.Errorf("GET / = %q", body)
	}
	ids := taskContainers(t, arn)
	if len(ids) != 1 || !strings.HasPrefix(ids[0], aws.ToString(web.RuntimeId)[:12]) {
		t.Errorf("docker has containers %v for the task, runtimeId %s", ids, aws.ToString(web.RuntimeId))
	}
	if got := dockerInspect(t, ids[0], `{{index .Config.Labels "berth.instance"}}`); got != a.InstanceID {
		t.Errorf("owner label %q, want %q", got, a.InstanceID)
	}

	// ListTasks filters.
	for name, in := range map[string]*ecs.ListTasksInput{
		"startedBy": {StartedBy: aws.String("e2e")},
		"family":    {Family: aws.String("web")},
		"instance":  {ContainerInstance: aws.String(a.ARN)},
	} {
		out, err := c.ListTasks(ctx, in)
		if err != nil || len(out.TaskArns) != 1 || out.TaskArns[0] != arn {
			t.Errorf("ListTasks by %s = %v, %v", name, out, err)
		}
	}

	stop, err := c.StopTask(ctx, &ecs.StopTaskInput{Task: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(stop.Task.DesiredStatus) != "STOPPED" {
		t.Errorf("StopTask answered desiredStatus %s", aws.ToString(stop.Task.DesiredStatus))
	}
	tk = waitStatus(t, c, "default", arn, "STOPPED")
	if tk.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(tk.StoppedReason) != "Task stopped by user" {
		t.Errorf("stopped task: %s", taskString(tk))
	}
	if tk.StoppedAt == nil || tk.StoppingAt == nil || tk.ExecutionStoppedAt == nil {
		t.Errorf("stop timestamps missing: %v %v %v", tk.StoppedAt, tk.StoppingAt, tk.ExecutionStoppedAt)
	}
	if e := container(t, tk, "web").ExitCode; e == nil || *e != 0 {
		t.Errorf("web exit code %v, want 0 (SIGTERM handled)", fmtExit(e))
	}
	// Resources are given back once the task is STOPPED.
	ci := findInstance(t, c, "default", a.InstanceID)
	if ci.RunningTasksCount != 0 || ci.PendingTasksCount != 0 {
		t.Errorf("instance counts running %d pending %d after stop", ci.RunningTasksCount, ci.PendingTasksCount)
	}
	for _, r := range ci.RemainingResources {
		if aws.ToString(r.Name) == "PORTS" && strings.Contains(strings.Join(r.StringSetValue, ","), fmt.Sprint(port)) {
			t.Errorf("port %d still reserved after stop: %v", port, r.StringSetValue)
		}
	}
}
