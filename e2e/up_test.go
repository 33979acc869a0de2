package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
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
)

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runBerth starts the binary with args and waits until addr accepts
// connections; it fails the test if the process exits first.
func runBerth(t *testing.T, addr string, args ...string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(berthBin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("berth %v exited before listening:\n%s", args, out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("berth %v did not listen on %s:\n%s", args, addr, out)
	return nil
}

// berthFails runs the binary expecting it to exit with an error mentioning
// every one of want.
func berthFails(t *testing.T, want []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, berthBin, args...).CombinedOutput()
	if err == nil {
		t.Fatalf("berth %v succeeded, want an error:\n%s", args, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("berth %v output does not mention %q:\n%s", args, w, out)
		}
	}
}

func TestUpOnLoopbackRelaxesSignatures(t *testing.T) {
	addr := freeAddr(t)
	out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir())
	if !strings.Contains(out.String(), "SIGNATURE CHECKS RELAXED") {
		t.Errorf("berth up did not warn about relaxed signatures:\n%s", out)
	}
	s := &server{t: t, URL: "http://" + addr, Addr: addr}
	// Any key and secret work...
	c := s.ecsWith(t, "AKIDANYONE", "any-secret")
	if _, err := c.CreateCluster(context.Background(), &ecs.CreateClusterInput{}); err != nil {
		t.Fatalf("relaxed up refused a signed call: %v", err)
	}
	// ...but a request must still be signed, and signed now.
	status, _, body := s.rawCall(t, target+"ListClusters", []byte(`{}`), func(*http.Request) {})
	if status != 403 || body["__type"] != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request to relaxed up: %d %v", status, body)
	}
	status, _, body = s.rawCall(t, target+"ListClusters", []byte(`{}`), s.signer(t, "AKIDANYONE", "x", time.Now().Add(-10*time.Minute)))
	if status != 403 || body["__type"] != "InvalidSignatureException" {
		t.Errorf("stale signature to relaxed up: %d %v", status, body)
	}
}

func TestUpWithCredentialsVerifies(t *testing.T) {
	addr := freeAddr(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	writeFile(t, creds, "[default]\naws_access_key_id = "+testKeyID+"\naws_secret_access_key = "+testSecret+"\n")
	out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir(), "--credentials", creds)
	if strings.Contains(out.String(), "RELAXED") {
		t.Errorf("berth up with credentials claims relaxed checks:\n%s", out)
	}
	s := &server{t: t, URL: "http://" + addr, Addr: addr}
	_, err := s.ecsWith(t, "AKIDANYONE", "any-secret").ListClusters(context.Background(), &ecs.ListClustersInput{})
	wantCode(t, err, "UnrecognizedClientException")
	if _, err := s.ecs(t).ListClusters(context.Background(), &ecs.ListClustersInput{}); err != nil {
		t.Errorf("known key refused: %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	t.Run("up off loopback without credentials", func(t *testing.T) {
		berthFails(t, []string{"--credentials"}, "up", "--listen", "0.0.0.0:0", "--data-dir", dir)
	})
	t.Run("server without credentials", func(t *testing.T) {
		berthFails(t, []string{"--credentials"}, "server", "--listen", "127.0.0.1:0", "--data-dir", dir)
	})
	t.Run("unreadable credentials file", func(t *testing.T) {
		berthFails(t, []string{"no-such-file"}, "server", "--listen", "127.0.0.1:0", "--data-dir", dir, "--credentials", filepath.Join(dir, "no-such-file"))
	})
	t.Run("corrupted store", func(t *testing.T) {
		data := t.TempDir()
		db := filepath.Join(data, "berth.db")
		if err := os.WriteFile(db, bytes.Repeat([]byte("not a database "), 4096), 0o600); err != nil {
			t.Fatal(err)
		}
		creds := filepath.Join(t.TempDir(), "credentials")
		writeFile(t, creds, "[default]\naws_access_key_id = a\naws_secret_access_key = b\n")
		berthFails(t, []string{db}, "server", "--listen", "127.0.0.1:0", "--data-dir", data, "--credentials", creds)
		// Nothing was reset: the file is as it was.
		if b, _ := os.ReadFile(db); !bytes.HasPrefix(b, []byte("not a database")) {
			t.Error("the corrupted store file was modified")
		}
	})
	t.Run("unknown flag", func(t *testing.T) {
		berthFails(t, []string{"flag provided but not defined"}, "server", "--no-such-flag")
	})
}

// berth up is the whole product on one machine: the README quick start runs
// a task on the local Docker through it.
func TestUpRunsTasksOnLocalDocker(t *testing.T) {
	img := requireDocker(t)
	addr := freeAddr(t)
	out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir(), "--introspection-addr", "127.0.0.1:0", "--instance-id", "i-up"+randHex(15))
	s := &server{t: t, URL: "http://" + addr, Addr: addr}
	c := s.ecs(t)
	waitFor(t, "the up agent registered and connected", func() bool {
		list, err := c.ListContainerInstances(context.Background(), &ecs.ListContainerInstancesInput{})
		if err != nil || len(list.ContainerInstanceArns) != 1 {
			return false
		}
		d, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: list.ContainerInstanceArns})
		return err == nil && len(d.ContainerInstances) == 1 && d.ContainerInstances[0].AgentConnected
	})
	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("up"), ContainerDefinitions: []types.ContainerDefinition{
		ctrDef("app", img, true, "testapp", "sleep", "3600"),
	}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(td)})
	tk = waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "RUNNING")
	t.Cleanup(func() {
		removeContainers(dockerInspect(t, aws.ToString(container(t, tk, "app").RuntimeId), `{{index .Config.Labels "berth.instance"}}`))
	})
	if _, err := c.StopTask(context.Background(), &ecs.StopTaskInput{Task: tk.TaskArn}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if !strings.Contains(out.String(), "registered container instance") {
		t.Errorf("berth up did not report the agent's registration:\n%s", out)
	}
}
