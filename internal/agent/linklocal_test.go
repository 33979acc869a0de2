package agent

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestPlanMetadata(t *testing.T) {
	busy := errors.New("bind: address already in use")
	refused := errors.New("operation not permitted")
	noIptables := errors.New(`exec: "iptables": executable file not found in $PATH`)
	root := metadataFacts{OS: "linux", Root: true, Gateway: "172.17.0.1"}
	with := func(f metadataFacts, edit func(*metadataFacts)) metadataFacts { edit(&f); return f }
	tests := []struct {
		name  string
		facts metadataFacts
		want  metadataPlan
		note  string // a substring of the note; "" when nothing is logged
	}{
		{
			name:  "root_linux_owner",
			facts: root,
			want:  metadataPlan{Listen: "169.254.170.2:51679", Base: "http://169.254.170.2", Level: slog.LevelInfo},
			note:  "at http://169.254.170.2",
		},
		{
			name:  "second_agent_any_port",
			facts: with(root, func(f *metadataFacts) { f.PortErr = busy }),
			want:  metadataPlan{Listen: "169.254.170.2:0", Level: slog.LevelInfo},
			note:  "another agent",
		},
		{
			name:  "no_redirect_port_51679",
			facts: with(root, func(f *metadataFacts) { f.RedirectErr = noIptables }),
			want:  metadataPlan{Listen: "169.254.170.2:51679", Base: "http://169.254.170.2:51679", Level: slog.LevelWarn},
			note:  "iptables command",
		},
		{
			name:  "netlink_refused",
			facts: with(root, func(f *metadataFacts) { f.AddrErr = refused }),
			want:  metadataPlan{Listen: "172.17.0.1:0", Level: slog.LevelWarn},
			note:  "CAP_NET_ADMIN",
		},
		{
			name:  "not_root",
			facts: with(root, func(f *metadataFacts) { f.Root = false }),
			want:  metadataPlan{Listen: "172.17.0.1:0", Level: slog.LevelWarn},
			note:  "run the agent as root",
		},
		{
			name:  "not_linux",
			facts: with(root, func(f *metadataFacts) { f.OS = "darwin" }),
			want:  metadataPlan{Listen: "172.17.0.1:0", Level: slog.LevelWarn},
			note:  "only the agent on Linux",
		},
		{
			name:  "no_gateway_loopback",
			facts: metadataFacts{OS: "linux"},
			want:  metadataPlan{Listen: "127.0.0.1:0", Level: slog.LevelWarn},
			note:  "--metadata-addr",
		},
		{
			name:  "configured_wins",
			facts: with(root, func(f *metadataFacts) { f.Configured = "10.0.0.5:8080" }),
			want:  metadataPlan{Listen: "10.0.0.5:8080"},
		},
		{
			name:  "configured_wins_over_fallback",
			facts: metadataFacts{Configured: "127.0.0.1:0", OS: "darwin"},
			want:  metadataPlan{Listen: "127.0.0.1:0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planMetadata(tt.facts)
			note := got.Note
			got.Note = ""
			if got != tt.want {
				t.Errorf("plan = %+v, want %+v", got, tt.want)
			}
			if tt.note == "" && note != "" || !strings.Contains(note, tt.note) {
				t.Errorf("note = %q, want one containing %q", note, tt.note)
			}
		})
	}
}

func TestTryLinkLocal(t *testing.T) {
	for _, tt := range []struct {
		f    metadataFacts
		want bool
	}{
		{metadataFacts{OS: "linux", Root: true}, true},
		{metadataFacts{OS: "linux", Root: true, Configured: ":9000"}, false},
		{metadataFacts{OS: "linux"}, false},
		{metadataFacts{OS: "darwin", Root: true}, false},
	} {
		if got := tt.f.tryLinkLocal(); got != tt.want {
			t.Errorf("%+v.tryLinkLocal() = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// The redirect goes to the port the owning agent listens on, for traffic
// from containers (PREROUTING) and from the host and host mode containers
// (OUTPUT), and only for TCP port 80 of the link-local address.
func TestRedirectRules(t *testing.T) {
	rules := redirectRules()
	var chains []string
	for _, r := range rules {
		chains = append(chains, r[0])
		s := strings.Join(r, " ")
		for _, want := range []string{"-d 169.254.170.2/32", "-p tcp", "--dport 80", "-j DNAT --to-destination 169.254.170.2:51679"} {
			if !strings.Contains(s, want) {
				t.Errorf("rule %q lacks %q", s, want)
			}
		}
	}
	if !slices.Equal(chains, []string{"PREROUTING", "OUTPUT"}) {
		t.Errorf("chains = %v", chains)
	}
}
