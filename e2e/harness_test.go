// Package e2e tests the built berth binary end to end, through real AWS
// clients: aws-sdk-go-v2 (the strict one), the AWS CLI v1 and v2, boto3 and
// curl. Each test starts its own server on a free loopback port with its own
// data directory.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/berth-dev/berth/internal/sdkclient"
)

// Test credentials written to every server's credentials file.
const (
	testKeyID  = "AKIDBERTHTEST"
	testSecret = "berth-test-secret-key"
	testRegion = "us-east-1"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-race", "-o", berthBin, "../cmd/berth")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build berth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running berth process.
type server struct {
	t       *testing.T
	URL     string
	Addr    string
	DataDir string
	Creds   string
	// Args are extra flags for `berth server`.
	Args    []string
	cmd     *exec.Cmd
	logPath string
}

// startServer runs `berth server` with a fresh data dir (or dataDir when
// given) and waits until it accepts connections.
func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	writeFile(t, creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", testKeyID, testSecret))
	s := &server{t: t, DataDir: dataDir, Creds: creds, Args: args}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	t.Helper()
	// A restart keeps the address so existing clients reach the new process.
	if s.Addr == "" {
		s.Addr = freeAddr(t)
		s.URL = "http://" + s.Addr
	}
	addr := s.Addr
	s.logPath = filepath.Join(t.TempDir(), "server.log")
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"server", "--listen", addr, "--data-dir", s.DataDir, "--credentials", s.Creds, "--account-id", "123456789012", "--region", testRegion}, s.Args...)
	s.cmd = exec.Command(berthBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("berth server did not start on %s; log:\n%s", addr, s.log())
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// restart starts the server again on the same data dir (after kill).
func (s *server) restart() { s.kill(); s.start() }

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	if s.t.Failed() {
		s.t.Logf("server log:\n%s", s.log())
	}
	s.cmd = nil
}

func (s *server) log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// ecs returns an aws-sdk-go-v2 ECS client for the server with the test key.
func (s *server) ecs(t *testing.T) *ecs.Client {
	return s.ecsWith(t, testKeyID, testSecret)
}

func (s *server) ecsWith(t *testing.T, keyID, secret string) *ecs.Client {
	return sdkclient.ECS(nil, s.URL, testRegion, keyID, secret)
}

// cliEnv is the environment for AWS CLI runs against s: the test key, no
// user config.
func (s *server) cliEnv(t *testing.T) []string {
	dir := t.TempDir()
	env := []string{
		"AWS_ACCESS_KEY_ID=" + testKeyID,
		"AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_DEFAULT_REGION=" + testRegion,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_PAGER=",
		"HOME=" + dir,
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "PYENV") || strings.HasPrefix(kv, "LANG=") {
			env = append(env, kv)
		}
	}
	return env
}

// awsCLIs returns the AWS CLI binaries to drive: v1 (pip) and v2 (Debian's
// awscli at /usr/bin/aws). A missing one skips locally and fails in CI.
func awsCLIs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	if p, err := exec.LookPath("aws"); err == nil {
		if v := cliVersion(p); strings.HasPrefix(v, "aws-cli/1.") {
			out["v1"] = p
		}
	}
	if v := cliVersion("/usr/bin/aws"); strings.HasPrefix(v, "aws-cli/2.") {
		out["v2"] = "/usr/bin/aws"
	}
	for _, want := range []string{"v1", "v2"} {
		if _, ok := out[want]; !ok {
			requireTool(t, "AWS CLI "+want)
		}
	}
	return out
}

func cliVersion(bin string) string {
	b, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// requireTool skips when a client is missing locally; CI installs every
// client, so there a missing one fails the test.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (CI must install it: see .ci/run)", name)
	}
	t.Skipf("%s is not installed", name)
}

// runCLI runs one AWS CLI command against s and returns stdout; stderr is
// returned as the error text on failure.
func (s *server) runCLI(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--endpoint-url", s.URL, "--region", testRegion, "--output", "json")...)
	cmd.Env = s.cliEnv(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lines splits s into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
