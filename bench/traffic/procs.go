package main

// The berth processes the benchmark runs, and their cleanup.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// env is everything the benchmark started; close undoes it in reverse.
type env struct {
	dir        string // temporary: binary, credentials, data dirs, logs
	bin        string // the berth binary
	creds      string // credentials file
	endpoint   string // http://127.0.0.1:PORT
	dnsAddr    string // 127.0.0.1:PORT of the built-in DNS server
	instanceID string // the agent's --instance-id (label of its containers)
	keepLogs   string // copy the logs there on close

	procs []*proc // in start order
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

const (
	accessKey = "AKIDBENCHTRAFFIC"
	secretKey = "bench-traffic-secret"
	region    = "us-east-1"
)

// newEnv builds berth into a temporary directory.
func newEnv(ctx context.Context, keepLogs string) (*env, error) {
	dir, err := os.MkdirTemp("", "berth-bench-traffic-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	e := &env{dir: dir, bin: filepath.Join(dir, "berth"), creds: filepath.Join(dir, "credentials"), keepLogs: keepLogs,
		instanceID: "i-" + randHex(17)}
	root, err := moduleRoot(ctx)
	if err != nil {
		e.close()
		return nil, err
	}
	progress("building berth (go build ./cmd/berth)")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-o", e.bin, "./cmd/berth")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		e.close()
		return nil, fmt.Errorf("go build ./cmd/berth: %w\n%s", err, out)
	}
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", accessKey, secretKey)
	if err := os.WriteFile(e.creds, []byte(creds), 0o600); err != nil {
		e.close()
		return nil, fmt.Errorf("write credentials: %w", err)
	}
	return e, nil
}

// moduleRoot is the directory of berth's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark inside berth's module (go run ./bench/traffic)")
	}
	return filepath.Dir(gomod), nil
}

// startServer starts `berth server` with its DNS server and waits until the
// API accepts connections.
func (e *env) startServer(ctx context.Context) error {
	apiAddr, err := freePort("tcp")
	if err != nil {
		return err
	}
	if e.dnsAddr, err = freePort("udp"); err != nil {
		return err
	}
	e.endpoint = "http://" + apiAddr
	if err := e.start("server", "server", "--listen", apiAddr, "--data-dir", filepath.Join(e.dir, "server-data"),
		"--credentials", e.creds, "--account-id", "123456789012", "--region", region, "--dns-listen", e.dnsAddr); err != nil {
		return err
	}
	p := e.procs[len(e.procs)-1]
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", apiAddr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("berth server exited before listening on %s; log:\n%s", apiAddr, tail(p.log, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("berth server did not listen on %s within 30 s; log:\n%s", apiAddr, tail(p.log, 30))
}

// startAgent starts one `berth agent` joining cluster default.
func (e *env) startAgent() error {
	return e.start("agent", "agent", "--server", e.endpoint, "--cluster", "default", "--data-dir", filepath.Join(e.dir, "agent-data"),
		"--credentials", e.creds, "--region", region, "--instance-id", e.instanceID, "--introspection-addr", "127.0.0.1:0")
}

func (e *env) start(name string, args ...string) error {
	logPath := filepath.Join(e.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start berth %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	e.procs = append(e.procs, p)
	return nil
}

// close stops the processes (the agent before the server: SIGTERM, up to
// 15 s, then SIGKILL), removes every container the agent made and the
// temporary directory. It is safe on a partly set up env.
func (e *env) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			progress("berth %s did not stop within 15 s; killing it", p.name)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	removeContainers(e.instanceID)
	if e.keepLogs != "" {
		if err := os.MkdirAll(e.keepLogs, 0o755); err == nil {
			for _, p := range e.procs {
				if b, err := os.ReadFile(p.log); err == nil {
					_ = os.WriteFile(filepath.Join(e.keepLogs, filepath.Base(p.log)), b, 0o644)
				}
			}
		}
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// logs returns the last lines of every process's log.
func (e *env) logs(lines int) string {
	var b strings.Builder
	for _, p := range e.procs {
		fmt.Fprintf(&b, "--- last lines of berth %s's log ---\n%s\n", p.name, tail(p.log, lines))
	}
	return b.String()
}

// removeContainers force-removes every container of an agent (label
// berth.instance), running or not.
func removeContainers(instanceID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=berth.instance="+instanceID).Output()
	if err != nil {
		progress("listing the agent's containers failed: %v", err)
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		progress("removing %d containers", len(ids))
		if out, err := exec.CommandContext(ctx, "docker", append([]string{"rm", "-f", "-v"}, ids...)...).CombinedOutput(); err != nil {
			progress("docker rm failed: %v: %s", err, out)
		}
	}
}

// freePort returns a loopback host:port that was free a moment ago.
func freePort(network string) (string, error) {
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("pick a UDP port: %w", err)
		}
		defer pc.Close()
		return pc.LocalAddr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a TCP port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	parts := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
