package docker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-dev/berth/internal/runtime"
)

func TestReadPullStream(t *testing.T) {
	ok := `{"status":"Pulling from library/x","id":"latest"}
{"status":"Downloading","progressDetail":{"current":10,"total":100},"id":"abc"}
{"status":"Pull complete","progressDetail":{},"id":"abc"}
{"status":"Status: Downloaded newer image for x:latest"}
`
	var got []runtime.PullProgress
	if err := readPullStream(strings.NewReader(ok), func(p runtime.PullProgress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []runtime.PullProgress{
		{Status: "Pulling from library/x", Layer: "latest"},
		{Status: "Downloading", Layer: "abc", Current: 10, Total: 100},
		{Status: "Pull complete", Layer: "abc"},
		{Status: "Status: Downloaded newer image for x:latest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("progress:\n got %+v\nwant %+v", got, want)
	}

	for name, stream := range map[string]string{
		"errorDetail": `{"status":"Pulling fs layer","id":"abc"}
{"errorDetail":{"message":"manifest unknown: boom"},"error":"manifest unknown: boom"}`,
		"error only": `{"error":"manifest unknown: boom"}`,
	} {
		err := readPullStream(strings.NewReader(stream), nil)
		var pe *PullError
		if !errors.As(err, &pe) || pe.Message != "manifest unknown: boom" {
			t.Errorf("%s: got %v, want PullError with the engine's message", name, err)
		}
	}
	if err := readPullStream(strings.NewReader(`{"status":`), nil); err == nil {
		t.Error("truncated stream: no error")
	}
}

func TestEncodeAuth(t *testing.T) {
	s, err := encodeAuth(&runtime.RegistryAuth{Username: "u", Password: "p?>"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Username != "u" || cfg.Password != "p?>" || cfg.ServerAddress != "" {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestEventOf(t *testing.T) {
	const ns = int64(1700000000123456789)
	for _, tc := range []struct {
		in   events.Message
		want runtime.Event
	}{{
		in: events.Message{Type: "container", Action: "health_status: healthy", TimeNano: ns,
			Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "n", "image": "i", "app": "web"}}},
		want: runtime.Event{ContainerID: "c1", Action: "health_status", Health: "healthy",
			Labels: map[string]string{"app": "web"}, Time: time.Unix(0, ns)},
	}, {
		in: events.Message{Type: "container", Action: "die", Time: 1700000000,
			Actor: events.Actor{ID: "c2", Attributes: map[string]string{"exitCode": "137", "name": "n"}}},
		want: runtime.Event{ContainerID: "c2", Action: "die", ExitCode: 137, Time: time.Unix(1700000000, 0)},
	}, {
		in: events.Message{Type: "container", Action: "exec_start: testapp health http://x", TimeNano: ns,
			Actor: events.Actor{ID: "c3", Attributes: map[string]string{"execID": "e"}}},
		want: runtime.Event{ContainerID: "c3", Action: "exec_start", Time: time.Unix(0, ns)},
	}} {
		got, ok := eventOf(tc.in)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("eventOf(%+v) =\n %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
	if _, ok := eventOf(events.Message{Type: "network", Action: "create"}); ok {
		t.Error("a network event was converted")
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                               {},
		"0001-01-01T00:00:00Z":           {},
		"2024-05-06T07:08:09.123456789Z": time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
	} {
		got, err := parseTime(in)
		if err != nil || !got.Equal(want) || got.IsZero() != want.IsZero() {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("no error for a bad time")
	}
}

func TestLabelFilters(t *testing.T) {
	got := labelFilters(map[string]string{"a": "", "b": "x=y"})
	want := map[string]bool{"a": true, "b=x=y": true}
	if !reflect.DeepEqual(map[string]bool(got["label"]), want) || len(got) != 1 {
		t.Errorf("labelFilters = %v", got)
	}
}

func TestNetworkOf(t *testing.T) {
	prefix := netip.MustParsePrefix("10.1.2.0/24")
	n := network.Network{ID: "id", Name: "n", IPAM: network.IPAM{Driver: "default", Config: []network.IPAMConfig{
		{Subnet: netip.MustParsePrefix("fd00::/64")},
		{Subnet: prefix},
	}}}
	if got := networkOf(n); got != (runtime.Network{ID: "id", Name: "n", Subnet: "10.1.2.0/24", Gateway: "10.1.2.1"}) {
		t.Errorf("without a gateway: %+v", got)
	}
	n.IPAM.Config[1].Gateway = netip.MustParseAddr("10.1.2.254")
	if got := networkOf(n); got.Gateway != "10.1.2.254" {
		t.Errorf("with a gateway: %+v", got)
	}
}
