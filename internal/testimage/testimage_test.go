package testimage

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildOrSkip builds the image or skips the test when no engine is reachable.
func buildOrSkip(t *testing.T) string {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		t.Skipf("docker engine unreachable: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	image, err := Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return image
}

func dockerRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "docker", append([]string{"run", "--rm", "--label", "berth.test=testimage"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestImageRuns(t *testing.T) {
	image := buildOrSkip(t)
	if image != Image {
		t.Fatalf("Build returned %q, want %q", image, Image)
	}
	if out := dockerRun(t, image, "testapp", "echo", "hi"); out != "hi\n" {
		t.Errorf("testapp echo hi: got %q", out)
	}
	if out := dockerRun(t, image, "sleep", "0.1"); out != "" {
		t.Errorf("sleep 0.1: got output %q", out)
	}
	// The usual writable scratch space exists.
	if out := dockerRun(t, image, "testapp", "write", "/tmp/x", "data"); out != "" {
		t.Errorf("write /tmp/x: got output %q", out)
	}
}

// TestBuildRepeated checks that concurrent, repeated builds are cheap and
// agree.
func TestBuildRepeated(t *testing.T) {
	buildOrSkip(t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := Build(t.Context())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("4 up-to-date builds took %s", d)
	}
	out, err := exec.Command("docker", "image", "inspect", "-f", `{{index .Config.Labels "`+HashLabel+`"}}`, Image).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("image has no %s label: %v %q", HashLabel, err, out)
	}
}
