package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// Where the task metadata endpoint listens. ECS serves it (and the task
// credentials) at http://169.254.170.2, port 80, to containers in every
// network mode. As root on Linux the agent does the same:
//
//   - 169.254.170.2/32 is added to the loopback interface, so the address
//     is local: packets for it from a bridge or awsvpc container reach the
//     host through the container's gateway, and host mode containers reach
//     it directly. The address is never removed: other agents on the host
//     may use it.
//   - The agent listens on 169.254.170.2:51679 (ECS's port for this, which
//     every agent reserves from placement) and iptables redirects
//     169.254.170.2:80 there, as the ECS agent does. The agent does not
//     listen on port 80 itself: a listener on 169.254.170.2:80 would make
//     Docker fail to publish host port 80 (0.0.0.0:80) for a task.
//   - Binding 51679 decides which agent owns the port 80 URIs when several
//     agents share a host; the others listen on 169.254.170.2 at any port
//     and give their containers that port.
//
// Elsewhere (not root, not Linux, netlink refused) the endpoint listens on
// the default bridge's gateway at any port, as --metadata-addr can also set.

const (
	// linkLocalIP is the address ECS serves task metadata and credentials at.
	linkLocalIP = "169.254.170.2"
	// linkLocalPort is where the owning agent listens on linkLocalIP;
	// port 80 of linkLocalIP is redirected to it.
	linkLocalPort = 51679
	// rtScopeLink is RT_SCOPE_LINK: the address is never chosen as the
	// source of traffic leaving the host.
	rtScopeLink = 253
	// iptablesTimeout bounds one iptables call (it waits for the xtables
	// lock Docker also takes).
	iptablesTimeout = 10 * time.Second
)

// metadataFacts is what the agent found out about serving the task
// metadata endpoint at linkLocalIP. Only the steps tryLinkLocal allows are
// taken, each only when the one before succeeded.
type metadataFacts struct {
	Configured string // --metadata-addr; "" when not given
	OS         string // runtime.GOOS
	Root       bool   // the agent runs with effective uid 0
	Gateway    string // the default bridge's gateway ("" when unknown)
	// AddrErr is why linkLocalIP could not be made a local address.
	AddrErr error
	// PortErr is why linkLocalIP:linkLocalPort could not be bound
	// (usually: another agent on the host holds it).
	PortErr error
	// RedirectErr is why port 80 of linkLocalIP could not be redirected
	// to linkLocalPort.
	RedirectErr error
}

// tryLinkLocal reports whether the agent should try to serve at linkLocalIP.
func (f metadataFacts) tryLinkLocal() bool {
	return f.Configured == "" && f.OS == "linux" && f.Root
}

// metadataPlan is where the task metadata endpoint listens and the base URL
// containers are given.
type metadataPlan struct {
	// Listen is the host:port to listen on; port 0 is any free port.
	Listen string
	// Base is the base URL containers get; "" means http:// and the
	// listener's address.
	Base string
	// Level and Note are what to log about the choice ("" logs nothing).
	Level slog.Level
	Note  string
}

// planMetadata decides where the task metadata endpoint listens from what
// the agent found out. It does no IO.
func planMetadata(f metadataFacts) metadataPlan {
	own := net.JoinHostPort(linkLocalIP, strconv.Itoa(linkLocalPort))
	switch {
	case f.Configured != "":
		return metadataPlan{Listen: f.Configured}
	case !f.tryLinkLocal() || f.AddrErr != nil:
		gw := f.Gateway
		if gw == "" {
			gw = "127.0.0.1"
		}
		p := metadataPlan{Listen: net.JoinHostPort(gw, "0"), Level: slog.LevelWarn}
		switch {
		case f.OS != "linux":
			p.Note = "task metadata endpoint not at " + linkLocalIP + " as in ECS: only the agent on Linux serves there; containers get the bridge gateway address instead (pass --metadata-addr HOST:PORT to choose)"
		case !f.Root:
			p.Note = "task metadata endpoint not at " + linkLocalIP + " as in ECS: run the agent as root to serve there; containers get the bridge gateway address instead (or pass --metadata-addr HOST:PORT)"
		default:
			p.Note = fmt.Sprintf("task metadata endpoint not at %s as in ECS: cannot add the address to the loopback interface (%v); containers get the bridge gateway address instead (check that the agent has CAP_NET_ADMIN in the host's network namespace, or pass --metadata-addr HOST:PORT)", linkLocalIP, f.AddrErr)
		}
		return p
	case f.PortErr != nil:
		return metadataPlan{
			Listen: net.JoinHostPort(linkLocalIP, "0"), Level: slog.LevelInfo,
			Note: fmt.Sprintf("task metadata endpoint at another port of %s: port 80 there belongs to another agent on this host (%s: %v)", linkLocalIP, own, f.PortErr),
		}
	case f.RedirectErr != nil:
		return metadataPlan{
			Listen: own, Base: "http://" + own, Level: slog.LevelWarn,
			Note: fmt.Sprintf("cannot redirect %s port 80 to the task metadata endpoint (%v); containers get port %d instead (the agent redirects port 80 with the iptables command, as Docker does, and needs CAP_NET_ADMIN)", linkLocalIP, f.RedirectErr, linkLocalPort),
		}
	default:
		return metadataPlan{Listen: own, Base: "http://" + linkLocalIP, Level: slog.LevelInfo, Note: "task metadata endpoint at http://" + linkLocalIP}
	}
}

// addLinkLocalAddress makes linkLocalIP an address of the loopback
// interface. An address already there (another agent's, an earlier run's)
// is fine.
func addLinkLocalAddress() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find the loopback interface: %w", err)
	}
	ip := net.ParseIP(linkLocalIP).To4()
	// Listing needs no privilege; adding needs CAP_NET_ADMIN even when the
	// address is there already.
	have, err := netlink.AddrList(lo, syscall.AF_INET)
	if err != nil {
		return fmt.Errorf("list the addresses of lo: %w", err)
	}
	for _, a := range have {
		if a.IP.Equal(ip) {
			return nil
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}, Scope: rtScopeLink}
	if err := netlink.AddrAdd(lo, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add %s/32 to lo: %w", linkLocalIP, err)
	}
	return nil
}

// redirectRules are the nat rules sending linkLocalIP:80 to
// linkLocalIP:linkLocalPort: PREROUTING for containers on bridge networks,
// OUTPUT for host mode containers and the host itself. They go first in
// their chains, ahead of Docker's jump to its DOCKER chain, so a task
// publishing host port 80 does not take these connections.
func redirectRules() [][]string {
	rule := []string{"-d", linkLocalIP + "/32", "-p", "tcp", "-m", "tcp", "--dport", "80",
		"-m", "comment", "--comment", "berth task metadata",
		"-j", "DNAT", "--to-destination", net.JoinHostPort(linkLocalIP, strconv.Itoa(linkLocalPort))}
	return [][]string{
		append([]string{"PREROUTING"}, rule...),
		append([]string{"OUTPUT"}, rule...),
	}
}

// ensureMetadataRedirect adds the redirectRules that are missing. They are
// never removed: they point at a fixed port, whichever agent holds it.
func ensureMetadataRedirect(ctx context.Context) error {
	for _, r := range redirectRules() {
		if iptables(ctx, append([]string{"-C"}, r...)) == nil {
			continue
		}
		if err := iptables(ctx, append([]string{"-I", r[0], "1"}, r[1:]...)); err != nil {
			return err
		}
	}
	return nil
}

// iptables runs iptables on the nat table, waiting for the xtables lock.
func iptables(ctx context.Context, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, iptablesTimeout)
	defer cancel()
	full := append([]string{"-w", "-t", "nat"}, args...)
	out, err := exec.CommandContext(ctx, "iptables", full...).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("iptables %s %s: %w: %s", args[0], args[1], err, msg)
		}
		return fmt.Errorf("iptables %s %s: %w", args[0], args[1], err)
	}
	return nil
}
