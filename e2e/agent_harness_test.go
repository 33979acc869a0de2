package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth-dev/berth/internal/testimage"
)

// testImage builds (once per content) the image every task test runs.
var testImage = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return testimage.Build(ctx)
})

func requireDocker(t *testing.T) string {
	t.Helper()
	img, err := testImage()
	if err != nil {
		t.Fatalf("build the test image (needs Docker): %v", err)
	}
	return img
}

// agentProc is one running `berth agent`.
type agentProc struct {
	t          *testing.T
	s          *server
	Cluster    string
	InstanceID string // ec2InstanceId and the owner label of its containers
	DataDir    string
	ARN        string
	cmd        *exec.Cmd
	logPath    string
	extra      []string
}

// startAgent starts an agent joining cluster on s and waits until its
// container instance is registered and connected.
func startAgent(t *testing.T, s *server, cluster string, extra ...string) *agentProc {
	t.Helper()
	requireDocker(t)
	a := &agentProc{t: t, s: s, Cluster: cluster, InstanceID: "i-" + randHex(17), DataDir: t.TempDir(), extra: extra}
	a.start()
	t.Cleanup(func() {
		a.stop()
		removeContainers(a.InstanceID)
		if t.Failed() {
			if b, err := os.ReadFile(a.logPath); err == nil {
				t.Logf("agent %s log:\n%s", a.InstanceID, tail(string(b), 80))
			}
		}
	})
	return a
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (a *agentProc) start() {
	t := a.t
	t.Helper()
	a.logPath = filepath.Join(t.TempDir(), "agent.log")
	logf, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"agent", "--server", a.s.URL, "--cluster", a.Cluster, "--data-dir", a.DataDir,
		"--credentials", a.s.Creds, "--region", testRegion, "--instance-id", a.InstanceID,
		"--introspection-addr", "127.0.0.1:0", "--heartbeat", "1s"}, a.extra...)
	a.cmd = exec.Command(berthBin, args...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := a.s.ecs(t)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ci := findInstance(t, c, a.Cluster, a.InstanceID); ci != nil && ci.AgentConnected {
			a.ARN = aws.ToString(ci.ContainerInstanceArn)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(a.logPath)
	t.Fatalf("agent %s did not connect within 60s; log:\n%s", a.InstanceID, b)
}

// kill stops the agent with SIGKILL, as a crash would.
func (a *agentProc) kill() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	}
	a.cmd = nil
}

func (a *agentProc) stop() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// findInstance returns the cluster's container instance with that ec2 id.
func findInstance(t *testing.T, c *ecs.Client, cluster, ec2ID string) *types.ContainerInstance {
	ctx := context.Background()
	list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(cluster)})
	if err != nil || len(list.ContainerInstanceArns) == 0 {
		return nil
	}
	out, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: list.ContainerInstanceArns})
	if err != nil {
		return nil
	}
	for i := range out.ContainerInstances {
		if aws.ToString(out.ContainerInstances[i].Ec2InstanceId) == ec2ID {
			return &out.ContainerInstances[i]
		}
	}
	return nil
}

// removeContainers force-removes every container an agent made.
func removeContainers(instanceID string) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=berth.instance="+instanceID).Output()
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	if len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f", "-v"}, ids...)...).Run()
	}
}

// taskContainers lists the Docker containers of a task (any state).
func taskContainers(t *testing.T, taskARN string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.amazonaws.ecs.task-arn="+taskARN).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// dockerInspect returns `docker inspect -f format id`.
func dockerInspect(t *testing.T, id, format string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", format, id).CombinedOutput()
	if err != nil {
		t.Fatalf("docker inspect %s: %v: %s", id, err, out)
	}
	return strings.TrimSpace(string(out))
}

// registerTD registers a task definition with the given containers.
func registerTD(t *testing.T, c *ecs.Client, in *ecs.RegisterTaskDefinitionInput) string {
	t.Helper()
	out, err := c.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatalf("register task definition: %v", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// runTask runs one task and fails the test on failures.
func runTask(t *testing.T, c *ecs.Client, in *ecs.RunTaskInput) types.Task {
	t.Helper()
	out, err := c.RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("run task: %v", err)
	}
	if len(out.Failures) > 0 || len(out.Tasks) != 1 {
		t.Fatalf("run task: %d tasks, failures %+v", len(out.Tasks), failuresString(out.Failures))
	}
	return out.Tasks[0]
}

func failuresString(fs []types.Failure) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "[%s %s %s] ", aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	return b.String()
}

// waitTask polls DescribeTasks until cond holds for the task.
func waitTask(t *testing.T, c *ecs.Client, cluster, arn string, what string, cond func(types.Task) bool) types.Task {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last types.Task
	for time.Now().Before(deadline) {
		out, err := c.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{arn}})
		if err == nil && len(out.Tasks) == 1 {
			last = out.Tasks[0]
			if cond(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("task %s: %s not reached within 90s; last state: %s", arn, what, taskString(last))
	return last
}

func waitStatus(t *testing.T, c *ecs.Client, cluster, arn, status string) types.Task {
	t.Helper()
	return waitTask(t, c, cluster, arn, "lastStatus "+status, func(tk types.Task) bool { return aws.ToString(tk.LastStatus) == status })
}

func taskString(tk types.Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lastStatus=%s desired=%s stopCode=%s reason=%q health=%s", aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus), tk.StopCode, aws.ToString(tk.StoppedReason), tk.HealthStatus)
	for _, c := range tk.Containers {
		fmt.Fprintf(&b, "\n  %s: %s exit=%v reason=%q health=%s id=%s", aws.ToString(c.Name), aws.ToString(c.LastStatus), fmtExit(c.ExitCode), aws.ToString(c.Reason), c.HealthStatus, aws.ToString(c.RuntimeId))
	}
	return b.String()
}

func fmtExit(p *int32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// container returns the named container of a task.
func container(t *testing.T, tk types.Task, name string) types.Container {
	t.Helper()
	for _, c := range tk.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	t.Fatalf("task has no container %s: %s", name, taskString(tk))
	return types.Container{}
}

// waitFor polls cond for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not reached within 60s", what)
}
