package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/testimage"
)

// Every object a test creates carries testLabel (to find leftovers:
// docker ps -a --filter label=berth.test=runtime-docker) and a label unique
// to the test.
const (
	testLabel      = "berth.test"
	testLabelValue = "runtime-docker"
	runLabel       = "berth.test.run"
)

// The test image is built once per test binary.
var (
	setupOnce sync.Once
	setupErr  error
)

// newDocker connects to the engine and builds the test image, or skips the
// test when no engine is reachable.
func newDocker(t *testing.T) *Docker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := New(ctx)
	if err != nil {
		t.Skipf("docker engine unreachable: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	setupOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_, setupErr = testimage.Build(ctx)
	})
	if setupErr != nil {
		t.Fatalf("build the test image: %v", setupErr)
	}
	return d
}

// testCtx is a context for one test's engine calls.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// uniqueName is a name for an engine object, unique to this run.
func uniqueName(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	return "berth-test-" + name + "-" + hex.EncodeToString(b)
}

// labels returns the labels of a test's objects: testLabel and run=value.
func labels(value string) map[string]string {
	return map[string]string{testLabel: testLabelValue, runLabel: value}
}

// cleanupCtx is for t.Cleanup functions, which run after t.Context ends.
func cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// create creates a container of the test image running cmd, removed when
// the test ends.
func create(t *testing.T, d *Docker, run string, cfg container.Config, hc container.HostConfig) string {
	t.Helper()
	cfg.Image = testimage.Image
	if cfg.Labels == nil {
		cfg.Labels = labels(run)
	}
	name := uniqueName(t)
	id, err := d.CreateContainer(testCtx(t), runtime.Spec{Name: name, Config: &cfg, HostConfig: &hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		if err := d.RemoveContainer(ctx, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return id
}

func start(t *testing.T, d *Docker, id string) {
	t.Helper()
	if err := d.StartContainer(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
}

// waitEvent returns the first event satisfying ok, failing the test after
// timeout or when the stream fails.
func waitEvent(t *testing.T, evs <-chan runtime.Event, errc <-chan error, timeout time.Duration, what string, ok func(runtime.Event) bool) runtime.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, open := <-evs:
			if !open {
				t.Fatalf("waiting for %s: event stream closed: %v", what, <-errc)
			}
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", what, timeout)
		}
	}
}

func TestNewAndInfo(t *testing.T) {
	d := newDocker(t)
	info, err := d.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("API %s, %+v", d.APIVersion(), info)
	if info.NCPU <= 0 || info.MemTotal <= 0 || info.OSType != "linux" || info.ServerVersion == "" || info.Architecture == "" || info.KernelVersion == "" {
		t.Errorf("incomplete info: %+v", info)
	}
	if gw, err := netip.ParseAddr(info.BridgeGateway); err != nil || !gw.Is4() {
		t.Errorf("BridgeGateway %q is not an IPv4 address", info.BridgeGateway)
	}
}

func TestInspectImage(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	img, err := d.InspectImage(ctx, testimage.Image)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || len(img.RepoDigests) != 0 {
		t.Errorf("InspectImage = %+v, want a sha256 id and no digests", img)
	}
	_, err = d.InspectImage(ctx, "berth-test-no-such-image:latest")
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "No such image") {
		t.Errorf("missing image: got %v, want ErrNotFound with the engine's message", err)
	}
}

func TestContainerLifecycle(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	run := uniqueName(t)
	id := create(t, d, run, container.Config{Cmd: []string{"sleep", "60"}}, container.HostConfig{})

	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "created" || st.Running || !st.StartedAt.IsZero() || !st.FinishedAt.IsZero() || st.CreatedAt.IsZero() {
		t.Errorf("created container: %+v", st)
	}

	start(t, d, id)
	st, err = d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != id || !strings.HasPrefix(st.Name, "berth-test-") || st.Image != testimage.Image ||
		!strings.HasPrefix(st.ImageID, "sha256:") || st.Labels[runLabel] != run {
		t.Errorf("identity: %+v", st)
	}
	if st.Status != "running" || !st.Running || st.Pid <= 0 || st.StartedAt.IsZero() ||
		!st.FinishedAt.IsZero() || st.ExitCode != 0 || st.Health != "" || st.StartedAt.Before(st.CreatedAt) {
		t.Errorf("running container: %+v", st)
	}
	if ep, ok := st.Networks["bridge"]; !ok || ep.IPAddress == "" || ep.Gateway == "" || ep.NetworkID == "" ||
		ep.MacAddress == "" || ep.PrefixLen == 0 {
		t.Errorf("bridge endpoint: %+v", st.Networks)
	}

	// sleep exits 0 at once on SIGTERM, once it has installed its handler:
	// give it a moment, as a loaded machine may not have run it yet.
	time.Sleep(500 * time.Millisecond)
	if err := d.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != "exited" || st.Running || st.ExitCode != 0 || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("stopped container: %+v", st)
	}
	if err := d.StopContainer(ctx, id, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}

	if err := d.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveContainer(ctx, id); err != nil {
		t.Errorf("removing a removed container: %v", err)
	}
	for name, err := range map[string]error{
		"inspect": func() error { _, err := d.InspectContainer(ctx, id); return err }(),
		"start":   d.StartContainer(ctx, id),
		"stop":    d.StopContainer(ctx, id, time.Second),
		"stats":   func() error { _, err := d.Stats(ctx, id); return err }(),
	} {
		if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), "No such container") {
			t.Errorf("%s of a removed container: got %v, want ErrNotFound with the engine's message", name, err)
		}
	}
}

func TestCreateMissingImage(t *testing.T) {
	d := newDocker(t)
	_, err := d.CreateContainer(testCtx(t), runtime.Spec{
		Name:   uniqueName(t),
		Config: &container.Config{Image: "berth-test-no-such-image:latest", Labels: labels("missing")},
	})
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestEventsStartDie(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	run := uniqueName(t)
	evCtx, cancel := context.WithCancel(ctx)
	evs, errc := d.Events(evCtx, map[string]string{runLabel: run, testLabel: ""})

	id := create(t, d, run, container.Config{Cmd: []string{"testapp", "exit", "3", "0.2"}}, container.HostConfig{})
	start(t, d, id)
	ev := waitEvent(t, evs, errc, 30*time.Second, "start", func(ev runtime.Event) bool { return ev.Action == "start" })
	if ev.ContainerID != id || ev.Labels[runLabel] != run || ev.Labels["name"] != "" || ev.Time.IsZero() {
		t.Errorf("start event: %+v", ev)
	}
	ev = waitEvent(t, evs, errc, 30*time.Second, "die", func(ev runtime.Event) bool { return ev.Action == "die" })
	if ev.ContainerID != id || ev.ExitCode != 3 {
		t.Errorf("die event: %+v, want exit code 3", ev)
	}

	cancel()
	for range evs {
	}
	if err, ok := <-errc; ok {
		t.Errorf("after cancel, the error channel got %v", err)
	}
}

func TestListContainers(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	run := uniqueName(t)
	a := create(t, d, run, container.Config{Cmd: []string{"sleep", "60"}, Labels: map[string]string{
		testLabel: testLabelValue, runLabel: run, "berth.test.role": "a",
	}}, container.HostConfig{})
	b := create(t, d, run, container.Config{Cmd: []string{"sleep", "60"}, Labels: map[string]string{
		testLabel: testLabelValue, runLabel: run, "berth.test.role": "b",
	}}, container.HostConfig{})
	start(t, d, a)

	ids := func(labels map[string]string) []string {
		t.Helper()
		states, err := d.ListContainers(ctx, labels)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, st := range states {
			ids = append(ids, st.ID)
			switch st.ID {
			case a:
				if !st.Running || st.StartedAt.IsZero() || st.Pid == 0 || st.Networks["bridge"].IPAddress == "" {
					t.Errorf("listed running container: %+v", st)
				}
			case b:
				if st.Status != "created" || st.Running || st.CreatedAt.IsZero() {
					t.Errorf("listed created container: %+v", st)
				}
			}
		}
		return ids
	}
	if got := ids(map[string]string{runLabel: run}); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("by run label: %v, want [%s %s]", got, a, b)
	}
	if got := ids(map[string]string{runLabel: run, "berth.test.role": "b"}); len(got) != 1 || got[0] != b {
		t.Errorf("by run and role=b: %v, want [%s]", got, b)
	}
	if got := ids(map[string]string{runLabel: run, "berth.test.role": ""}); len(got) != 2 {
		t.Errorf("by run and any role: %v, want both", got)
	}
	if got := ids(map[string]string{runLabel: run + "-other"}); len(got) != 0 {
		t.Errorf("by another run: %v, want none", got)
	}
}
