package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/runtime/docker"
)

// upDNS decides where `berth up` serves DNS for Cloud Map names and which
// DNS server its tasks get. By default it serves on port 53 of the Docker
// default bridge's gateway (the host address every container reaches) and
// gives tasks that address, so tasks reach each other by Cloud Map names
// with no flags. An explicit --dns-listen (empty: off) or --task-dns wins.
// When the default address cannot be bound (not root, port 53 busy) it
// warns, saying what to do, and goes on without DNS. It returns the
// address for the server's DNS listener ("" for none).
func upDNS(ctx context.Context, log *slog.Logger, listen string, listenSet, taskDNSSet bool, agentCfg *agent.Config) string {
	if listenSet {
		if listen != "" && !taskDNSSet {
			if ip := taskDNSFor(ctx, listen); ip != "" {
				agentCfg.TaskDNS = []string{ip}
			} else {
				log.Info("tasks keep Docker's DNS: containers cannot use --dns-listen " + listen + " (they need port 53 on an address they reach); pass --task-dns IP to choose")
			}
		}
		return listen
	}
	gw, err := bridgeGateway(ctx)
	if err != nil {
		log.Warn("berth DNS is off: the Docker default bridge's gateway address is unknown, so tasks will not resolve Cloud Map names. Pass --dns-listen HOST:53 and --task-dns HOST to serve DNS to tasks", "err", err)
		return ""
	}
	addr := net.JoinHostPort(gw, "53")
	if err := probeListen(addr); err != nil {
		log.Warn("berth DNS is off: cannot listen on "+addr+" (binding port 53 needs root or CAP_NET_BIND_SERVICE, and the port free), so tasks will not resolve Cloud Map names. Free the port and run berth up with that privilege, or pass --dns-listen HOST:PORT to serve DNS elsewhere (--dns-listen= turns it off without this warning)", "err", err)
		return ""
	}
	if !taskDNSSet {
		agentCfg.TaskDNS = []string{gw}
	}
	return addr
}

// taskDNSFor is the DNS server address tasks use for a --dns-listen
// address, or "" when containers cannot use it: resolv.conf has no port, so
// only port 53 of an address containers reach works (an unspecified
// address listens on the bridge gateway too).
func taskDNSFor(ctx context.Context, listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port != "53" {
		return ""
	}
	if host == "" {
		host = "0.0.0.0"
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil || ip.IsLoopback():
		return ""
	case ip.IsUnspecified():
		gw, err := bridgeGateway(ctx)
		if err != nil {
			return ""
		}
		return gw
	}
	return ip.String()
}

// bridgeGateway asks the local Docker Engine for its default bridge's
// gateway address.
func bridgeGateway(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := docker.New(ctx)
	if err != nil {
		return "", err
	}
	defer d.Close()
	info, err := d.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.BridgeGateway == "" {
		return "", errors.New("docker reports no gateway for its default bridge network")
	}
	return info.BridgeGateway, nil
}

// probeListen reports whether addr can be bound for UDP and TCP now (the
// DNS server binds both).
func probeListen(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("udp: %w", err)
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	return ln.Close()
}
