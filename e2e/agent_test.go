package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// awsvpc: the task gets its own address; its containers share localhost.
func TestTaskAwsvpcSharesLocalhost(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	a := ctrDef("a", img, true, "testapp", "serve", "80", "from-a")
	a.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
	b := ctrDef("b", img, false, "testapp", "get", "--retry", "100", "http://localhost:80/")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("vpc"), NetworkMode: types.NetworkModeAwsvpc, ContainerDefinitions: []types.ContainerDefinition{a, b}})

	_, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	wantCode(t, err, "InvalidParameterException")

	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td), NetworkConfiguration: &types.NetworkConfiguration{
		AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-berth"}},
	}})
	if aws.ToString(tk.LastStatus) != "PROVISIONING" || len(tk.Attachments) != 1 || aws.ToString(tk.Attachments[0].Type) != "ElasticNetworkInterface" {
		t.Errorf("RunTask answered %s with attachments %+v", aws.ToString(tk.LastStatus), tk.Attachments)
	}
	arn := aws.ToString(tk.TaskArn)
	tk = waitTask(t, c, "default", arn, "b exited", func(tk types.Task) bool {
		return aws.ToString(container(t, tk, "b").LastStatus) == "STOPPED"
	})
	if e := container(t, tk, "b").ExitCode; e == nil || *e != 0 {
		t.Errorf("b could not reach a on localhost:80 (exit %s)", fmtExit(e))
	}
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	var ip string
	for _, d := range tk.Attachments[0].Details {
		if aws.ToString(d.Name) == "privateIPv4Address" {
			ip = aws.ToString(d.Value)
		}
	}
	if ip == "" || aws.ToString(tk.Attachments[0].Status) != "ATTACHED" {
		t.Fatalf("attachment %+v has no address", tk.Attachments[0])
	}
	if ni := container(t, tk, "a").NetworkInterfaces; len(ni) != 1 || aws.ToString(ni[0].PrivateIpv4Address) != ip {
		t.Errorf("container networkInterfaces %+v, want %s", ni, ip)
	}
	if body := httpGet(t, fmt.Sprintf("http://%s:80/", ip)); body != "from-a" {
		t.Errorf("GET the task address = %q", body)
	}
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "default", arn, "STOPPED")
}

// An agent killed with SIGKILL and started again adopts its running
// containers: no duplicate, no restart.
func TestAgentRestartAdoptsContainers(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	a := startAgent(t, s, "default")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("adopt"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	id := aws.ToString(container(t, tk, "app").RuntimeId)
	startedAt := dockerInspect(t, id, "{{.State.StartedAt}}")

	a.kill()
	waitInstance(t, c, a, false)
	a.start()
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	if got := aws.ToString(container(t, tk, "app").RuntimeId); got != id {
		t.Errorf("runtimeId %s after restart, want %s", got, id)
	}
	if ids := taskContainers(t, arn); len(ids) != 1 {
		t.Errorf("%d containers for the task after restart, want 1", len(ids))
	}
	if got := dockerInspect(t, id, "{{.State.StartedAt}}"); got != startedAt {
		t.Errorf("container restarted: started %s, was %s", got, startedAt)
	}
	// The adopted task is still managed: stopping it works.
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "default", arn, "STOPPED")
}

func waitInstance(t *testing.T, c *ecs.Client, a *agentProc, connected bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("agentConnected=%v", connected), func() bool {
		ci := findInstance(t, c, a.Cluster, a.InstanceID)
		return ci != nil && ci.AgentConnected == connected
	})
}

// Two agents on one Docker Engine are two hosts: each runs only its own
// tasks, and its containers carry its own instance id.
func TestTwoAgentsOneEngine(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("pair")}); err != nil {
		t.Fatal(err)
	}
	a1 := startAgent(t, s, "pair")
	a2 := startAgent(t, s, "pair")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("pair"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600"),
	}})
	out, err := c.StartTask(ctx, &ecs.StartTaskInput{Cluster: aws.String("pair"), TaskDefinition: aws.String(td), ContainerInstances: []string{a1.ARN, a2.ARN}})
	if err != nil || len(out.Tasks) != 2 {
		t.Fatalf("StartTask: %v %+v", err, out)
	}
	owner := map[string]string{a1.ARN: a1.InstanceID, a2.ARN: a2.InstanceID}
	for _, tk := range out.Tasks {
		tk = waitStatus(t, c, "pair", aws.ToString(tk.TaskArn), "RUNNING")
		id := aws.ToString(container(t, tk, "app").RuntimeId)
		want := owner[aws.ToString(tk.ContainerInstanceArn)]
		if got := dockerInspect(t, id, `{{index .Config.Labels "berth.instance"}}`); got != want {
			t.Errorf("task on %s runs in a container of %s", want, got)
		}
	}
	// Stopping one agent's task leaves the other's alone.
	if _, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("pair"), Task: out.Tasks[0].TaskArn}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "pair", aws.ToString(out.Tasks[0].TaskArn), "STOPPED")
	tk := waitStatus(t, c, "pair", aws.ToString(out.Tasks[1].TaskArn), "RUNNING")
	if !strings.HasPrefix(aws.ToString(tk.LastStatus), "RUNNING") {
		t.Errorf("the other task: %s", taskString(tk))
	}
	cl, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"pair"}})
	if err != nil || cl.Clusters[0].RegisteredContainerInstancesCount != 2 || cl.Clusters[0].RunningTasksCount != 1 || cl.Clusters[0].PendingTasksCount != 0 {
		t.Errorf("DescribeClusters counts: %+v, %v", cl.Clusters, err)
	}
	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("pair"), ContainerInstance: aws.String(a2.ARN)})
	if err != nil || len(list.TaskArns) != 1 || list.TaskArns[0] != aws.ToString(out.Tasks[1].TaskArn) {
		t.Errorf("ListTasks on a2 = %v, %v", list, err)
	}
}

// A server killed with SIGKILL loses no task: after it restarts the agent
// reconnects on its own and the task is still RUNNING and still managed.
func TestServerCrashLosesNoTask(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	a := startAgent(t, s, "default")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("survive"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	id := aws.ToString(container(t, tk, "app").RuntimeId)

	s.restart()
	c = s.ecs(t)
	waitInstance(t, c, a, true)
	tk = waitStatus(t, c, "default", arn, "RUNNING")
	if got := aws.ToString(container(t, tk, "app").RuntimeId); got != id {
		t.Errorf("runtimeId %s after the server restart, want %s", got, id)
	}
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "default", arn, "STOPPED")
}

// Volumes: a host path, an empty host volume shared by two containers, a
// task-scoped Docker volume, mountPoints readOnly and volumesFrom.
func TestTaskVolumes(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	hostDir := t.TempDir()
	writeFile(t, hostDir+"/greeting", "hi from the host")

	writer := ctrDef("writer", img, false, "testapp", "write", "/scratch/note", "shared")
	writer.MountPoints = []types.MountPoint{{SourceVolume: aws.String("scratch"), ContainerPath: aws.String("/scratch")}}
	reader := ctrDef("reader", img, false, "testapp", "waitfile", "/scratch/note", "30")
	reader.MountPoints = []types.MountPoint{{SourceVolume: aws.String("scratch"), ContainerPath: aws.String("/scratch"), ReadOnly: aws.Bool(true)}}
	hostReader := ctrDef("hostreader", img, false, "testapp", "cat", "/host/greeting")
	hostReader.MountPoints = []types.MountPoint{{SourceVolume: aws.String("host"), ContainerPath: aws.String("/host"), ReadOnly: aws.Bool(true)}}
	dataWriter := ctrDef("data", img, true, "testapp", "sleep", "3600")
	dataWriter.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}}
	from := ctrDef("from", img, false, "testapp", "touch", "/data/ok")
	from.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("data")}}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("vols"),
		Volumes: []types.Volume{
			{Name: aws.String("scratch")},
			{Name: aws.String("host"), Host: &types.HostVolumeProperties{SourcePath: aws.String(hostDir)}},
			{Name: aws.String("data"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Scope: types.ScopeTask, Driver: aws.String("local")}},
		},
		ContainerDefinitions: []types.ContainerDefinition{dataWriter, writer, reader, hostReader, from}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	tk = waitTask(t, c, "default", arn, "helpers done", func(tk types.Task) bool {
		for _, n := range []string{"writer", "reader", "hostreader", "from"} {
			if aws.ToString(container(t, tk, n).LastStatus) != "STOPPED" {
				return false
			}
		}
		return true
	})
	for _, n := range []string{"writer", "reader", "hostreader", "from"} {
		if e := container(t, tk, n).ExitCode; e == nil || *e != 0 {
			t.Errorf("%s exited %s: %s", n, fmtExit(e), taskString(tk))
		}
	}
	data := aws.ToString(container(t, tk, "data").RuntimeId)
	if got := dockerInspect(t, data, `{{range .Mounts}}{{.Type}} {{end}}`); !strings.Contains(got, "volume") {
		t.Errorf("data container mounts %q, want a Docker volume", got)
	}
}

// Stopped tasks' containers are removed after the cleanup wait.
func TestStoppedTaskContainersCleanedUp(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default", "--task-cleanup-wait", "1s")
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("cleanup"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "exit", "0", "0.2"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	arn := aws.ToString(tk.TaskArn)
	waitStatus(t, c, "default", arn, "STOPPED")
	waitFor(t, "the stopped task's containers removed", func() bool { return len(taskContainers(t, arn)) == 0 })
}

// Host and none network modes.
func TestTaskHostAndNoneNetworkModes(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	startAgent(t, s, "default")
	img := requireDocker(t)
	port := freePort(t)
	web := ctrDef("web", img, true, "testapp", "serve", fmt.Sprint(port), "host-mode")
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(port)}}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("hostmode"), NetworkMode: types.NetworkModeHost, ContainerDefinitions: []types.ContainerDefinition{web}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "host-mode" {
		t.Errorf("GET host-mode server = %q", body)
	}
	// The host port is reserved on the instance while the task runs.
	out, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{aws.ToString(tk.ContainerInstanceArn)}})
	if err != nil {
		t.Fatal(err)
	}
	reserved := false
	for _, r := range out.ContainerInstances[0].RemainingResources {
		if aws.ToString(r.Name) == "PORTS" && strings.Contains(","+strings.Join(r.StringSetValue, ",")+",", fmt.Sprintf(",%d,", port)) {
			reserved = true
		}
	}
	if !reserved {
		t.Errorf("host-mode port %d not in the instance's PORTS", port)
	}

	iso := ctrDef("iso", img, true, "testapp", "get", "http://127.0.0.1:1/")
	td = registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("nonemode"), NetworkMode: types.NetworkModeNone, ContainerDefinitions: []types.ContainerDefinition{iso}})
	tk = runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	id := aws.ToString(container(t, tk, "iso").RuntimeId)
	if got := dockerInspect(t, id, "{{.HostConfig.NetworkMode}}"); got != "none" {
		t.Errorf("network mode %q, want none", got)
	}
}

// An agent that stops answering (SIGSTOP: no heartbeats, the connection
// stays open) is marked agentConnected=false after three missed heartbeats
// and receives no placements; when it resumes it reconnects on its own.
func TestMissedHeartbeatsDisconnectAgent(t *testing.T) {
	s := startServer(t, "", "--agent-heartbeat", "500ms")
	c := s.ecs(t)
	// The agent's own interval is longer than the server's: it answers the
	// server's heartbeats, so it stays connected.
	a := startAgent(t, s, "default", "--heartbeat", "10s")
	time.Sleep(2 * time.Second)
	if strings.Contains(s.log(), "agent disconnected") {
		t.Fatalf("an agent with a longer heartbeat interval was disconnected:\n%s", s.log())
	}
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("hb"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", requireDocker(t), true, "testapp", "sleep", "3600"),
	}})
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, c, a, false)
	out, err := c.RunTask(context.Background(), &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "AGENT" || aws.ToString(out.Failures[0].Arn) != a.ARN {
		t.Errorf("RunTask with the only agent disconnected = %+v %s, %v", out.Tasks, failuresString(out.Failures), err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitInstance(t, c, a, true)
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
}
