package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth-dev/berth/internal/runtime"
)

func TestHealth(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	run := uniqueName(t)
	evs, errc := d.Events(ctx, map[string]string{runLabel: run})
	check := func(url string) *container.HealthConfig {
		return &container.HealthConfig{
			Test:     []string{"CMD", "testapp", "health", url},
			Interval: 300 * time.Millisecond,
			Timeout:  5 * time.Second,
			Retries:  2,
		}
	}
	healthy := create(t, d, run, container.Config{
		Cmd:         []string{"testapp", "serve", "8080"},
		Healthcheck: check("http://127.0.0.1:8080/health"),
	}, container.HostConfig{})
	unhealthy := create(t, d, run, container.Config{
		Cmd:         []string{"sleep", "60"},
		Healthcheck: check("http://127.0.0.1:8080/health"), // nothing listens
	}, container.HostConfig{})
	start(t, d, healthy)
	start(t, d, unhealthy)

	if st, err := d.InspectContainer(ctx, healthy); err != nil {
		t.Fatal(err)
	} else if st.Health != "starting" && st.Health != "healthy" {
		t.Errorf("health right after start: %q", st.Health)
	}
	got := map[string]string{}
	for len(got) < 2 {
		ev := waitEvent(t, evs, errc, time.Minute, "health_status", func(ev runtime.Event) bool {
			return ev.Action == "health_status"
		})
		if _, seen := got[ev.ContainerID]; !seen {
			got[ev.ContainerID] = ev.Health
		}
	}
	if got[healthy] != "healthy" || got[unhealthy] != "unhealthy" {
		t.Errorf("first health events: %v; want %s healthy, %s unhealthy", got, healthy, unhealthy)
	}
	for id, want := range map[string]string{healthy: "healthy", unhealthy: "unhealthy"} {
		if st, err := d.InspectContainer(ctx, id); err != nil {
			t.Fatal(err)
		} else if st.Health != want {
			t.Errorf("%s: Health %q, want %q", id, st.Health, want)
		}
	}
}

func TestPublishedPort(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	port := network.MustParsePort("8080/tcp")
	id := create(t, d, uniqueName(t), container.Config{
		Cmd:          []string{"testapp", "serve", "8080", "published"},
		ExposedPorts: network.PortSet{port: {}},
	}, container.HostConfig{
		PortBindings: network.PortMap{port: {{HostPort: ""}}},
	})
	start(t, d, id)
	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var hostPort uint16
	for _, p := range st.Ports {
		if p.ContainerPort != 8080 || p.Protocol != "tcp" || p.HostPort == 0 {
			t.Errorf("unexpected binding %+v", p)
		}
		hostPort = p.HostPort
	}
	if hostPort == 0 {
		t.Fatalf("no dynamic host port: %+v", st.Ports)
	}
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hostPort))) + "/"
	// The server may not listen yet: retry until it answers.
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; {
		body, err = httpGet(ctx, url)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || body != "published" {
		t.Fatalf("GET %s: %q, %v", url, body, err)
	}
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

func TestStopTimeoutKills(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	id := create(t, d, uniqueName(t), container.Config{
		Cmd: []string{"sleep", "120"},
		Env: []string{"IGNORE_SIGTERM=1"},
	}, container.HostConfig{})
	start(t, d, id)
	// Let the program get past its start-up, where SIGTERM is not yet
	// ignored (a readiness wait, not a timing assertion).
	time.Sleep(200 * time.Millisecond)
	// 1.2 s rounds up to 2 s of grace before SIGKILL.
	if err := d.StopContainer(ctx, id, 1200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, err := d.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Running || st.ExitCode != 137 {
		t.Errorf("after stop: running %v, exit code %d, want stopped with 137 (SIGKILL)", st.Running, st.ExitCode)
	}
}

func TestStats(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	id := create(t, d, uniqueName(t), container.Config{Cmd: []string{"sleep", "60"}}, container.HostConfig{})
	start(t, d, id)
	b, err := d.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]json.RawMessage
	if err := json.Unmarshal(b, &stats); err != nil {
		t.Fatalf("stats are not JSON: %v\n%s", err, b)
	}
	if _, ok := stats["memory_stats"]; !ok {
		t.Errorf("no memory_stats in %s", b)
	}
}
