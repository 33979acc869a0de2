package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// fakeEngine is a Docker talking to handler, an engine speaking API 1.41.
func fakeEngine(t *testing.T, handler http.HandlerFunc) *Docker {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			return
		}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	cli, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Docker{cli: cli, createNetwork: make(chan struct{}, 1)}
}

func TestNewUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := New(ctx)
	if err == nil || !strings.Contains(err.Error(), "DOCKER_HOST=unix:///nonexistent/docker.sock") ||
		!strings.Contains(err.Error(), "is Docker running?") {
		t.Errorf("New with an unreachable engine: %v", err)
	}
	t.Log(err)
}

// TestEventsStreamFailure: the engine ends the stream; the event before is
// delivered, then the error, then both channels close.
func TestEventsStreamFailure(t *testing.T) {
	queries := make(chan string, 1)
	d := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.41/events" {
			http.NotFound(w, r)
			return
		}
		queries <- r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"app":"web","name":"x"}},"time":1,"timeNano":1000000001}`)
	})
	before := time.Now()
	evs, errc := d.Events(t.Context(), map[string]string{"app": "web"})
	ev, ok := <-evs
	if !ok || ev.ContainerID != "c1" || ev.Action != "start" || ev.Labels["app"] != "web" {
		t.Fatalf("first event: %+v %v", ev, ok)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "container events") {
		t.Errorf("error after the stream ended: %v", err)
	}
	if _, ok := <-evs; ok {
		t.Error("event channel not closed")
	}
	// The subscription starts at the call, filtered by type and labels.
	if query := <-queries; !strings.Contains(query, fmt.Sprintf("since=%d.", before.Unix())) ||
		!strings.Contains(query, "app%3Dweb") || !strings.Contains(query, "container") {
		t.Errorf("events query %q", query)
	}
}

// TestPullStreamError: a pull the engine accepted and then failed reports
// the engine's message, after the progress lines before it.
func TestPullStreamError(t *testing.T) {
	authHeaders := make(chan string, 1)
	d := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		authHeaders <- r.Header.Get("X-Registry-Auth")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"Pulling from team/app","id":"1"}`)
		fmt.Fprintln(w, `{"errorDetail":{"message":"manifest for team/app:1 not found"},"error":"manifest for team/app:1 not found"}`)
	})
	var progress []runtime.PullProgress
	err := d.PullImage(t.Context(), "registry.example.com/team/app:1", &runtime.RegistryAuth{Username: "u", Password: "p"},
		func(p runtime.PullProgress) { progress = append(progress, p) })
	var pe *PullError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "pull image registry.example.com/team/app:1: manifest for team/app:1 not found") {
		t.Errorf("PullImage: %v", err)
	}
	if len(progress) != 1 || progress[0].Status != "Pulling from team/app" {
		t.Errorf("progress: %+v", progress)
	}
	authHeader := <-authHeaders
	b, err := base64.URLEncoding.DecodeString(authHeader)
	var cfg registry.AuthConfig
	if err != nil || json.Unmarshal(b, &cfg) != nil || cfg.Username != "u" || cfg.Password != "p" {
		t.Errorf("X-Registry-Auth %q", authHeader)
	}
}
