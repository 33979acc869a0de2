package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"
)

// The generated pause program runs on this host and blocks until killed.
func TestPauseProgramRunsAndBlocks(t *testing.T) {
	prog, err := pauseProgram(goruntime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("the pause program does not start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the pause program exited on its own: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	_ = cmd.Process.Kill()
	<-done
}

func TestPauseProgramArchitectures(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		prog, err := pauseProgram(arch)
		if err != nil || len(prog) < 120 || string(prog[1:4]) != "ELF" {
			t.Errorf("%s: %d bytes, %v", arch, len(prog), err)
		}
	}
	if _, err := pauseProgram("mips"); err == nil {
		t.Error("an unsupported architecture gave a program")
	}
}
