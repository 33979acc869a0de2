package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// EnsureNetwork creates a bridge network of that name (with the given
// subnet, if not empty, and labels) unless it exists, and returns it. An
// existing network with another subnet than the one asked for is an error.
//
// Engines before API 1.44 create a second network of an existing name
// unless asked not to (CheckDuplicate, which this client cannot send, and
// which is best effort anyway). So creations through one Docker are
// serialised, and a network is found by listing, the oldest of a name
// winning. Against callers in other processes it is best effort: a caller
// whose creation failed (name conflict, overlapping subnet) looks again for
// the network created meanwhile, and one that sees its own network lose to
// an older one removes its own; two processes creating the same name at the
// same instant can still each keep their own.
func (d *Docker) EnsureNetwork(ctx context.Context, name, subnet string, labels map[string]string) (runtime.Network, error) {
	var prefix netip.Prefix
	if subnet != "" {
		p, err := netip.ParsePrefix(subnet)
		if err != nil {
			return runtime.Network{}, fmt.Errorf("ensure network %s: bad subnet %q: %w", name, subnet, err)
		}
		prefix = p.Masked()
	}
	select {
	case d.createNetwork <- struct{}{}:
		defer func() { <-d.createNetwork }()
	case <-ctx.Done():
		return runtime.Network{}, fmt.Errorf("ensure network %s: %w", name, ctx.Err())
	}
	n, ok, err := d.findNetwork(ctx, name)
	if err != nil {
		return runtime.Network{}, err
	}
	if ok {
		return checkSubnet(n, prefix)
	}

	opts := client.NetworkCreateOptions{Driver: "bridge", Labels: labels}
	if prefix.IsValid() {
		opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: prefix}}}
	}
	created, createErr := d.cli.NetworkCreate(ctx, name, opts)
	n, ok, err = d.findNetwork(ctx, name)
	// A creation that failed because of a concurrent one (same name, or the
	// same subnet) can fail before the other network is listed: look again
	// for a moment.
	for wait := 50 * time.Millisecond; err == nil && !ok && createErr != nil && wait <= 800*time.Millisecond; wait *= 2 {
		select {
		case <-ctx.Done():
			return runtime.Network{}, fmt.Errorf("create network %s: %w (then %w)", name, createErr, ctx.Err())
		case <-time.After(wait):
		}
		n, ok, err = d.findNetwork(ctx, name)
	}
	switch {
	case err != nil:
		return runtime.Network{}, err
	case !ok && createErr != nil:
		return runtime.Network{}, wrap(createErr, "create network %s", name)
	case !ok:
		return runtime.Network{}, fmt.Errorf("create network %s: created %s, but no network of that name is listed", name, created.ID)
	}
	if createErr == nil && created.ID != n.ID {
		if _, err := d.cli.NetworkRemove(ctx, created.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return runtime.Network{}, wrap(err, "create network %s: remove duplicate %s", name, created.ID)
		}
	}
	return checkSubnet(n, prefix)
}

// findNetwork returns the oldest network named name.
func (d *Docker) findNetwork(ctx context.Context, name string) (runtime.Network, bool, error) {
	// The name filter matches substrings: keep exact matches only.
	res, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return runtime.Network{}, false, wrap(err, "list networks named %s", name)
	}
	matches := slices.DeleteFunc(res.Items, func(n network.Summary) bool { return n.Name != name })
	if len(matches) == 0 {
		return runtime.Network{}, false, nil
	}
	oldest := slices.MinFunc(matches, func(a, b network.Summary) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return networkOf(oldest.Network), true, nil
}

// networkOf converts the engine's network, taking its first IPv4 subnet. The
// engine reports no gateway for a subnet given at creation; the default IPAM
// driver then gives the bridge the subnet's first address, which is
// reported instead.
func networkOf(n network.Network) runtime.Network {
	out := runtime.Network{ID: n.ID, Name: n.Name}
	for _, c := range n.IPAM.Config {
		if !c.Subnet.Addr().Is4() {
			continue
		}
		out.Subnet = c.Subnet.String()
		switch {
		case c.Gateway.IsValid():
			out.Gateway = c.Gateway.String()
		case n.IPAM.Driver == "" || n.IPAM.Driver == "default":
			out.Gateway = c.Subnet.Masked().Addr().Next().String()
		}
		break
	}
	return out
}

func checkSubnet(n runtime.Network, want netip.Prefix) (runtime.Network, error) {
	if want.IsValid() && n.Subnet != want.String() {
		return runtime.Network{}, fmt.Errorf("ensure network %s: it exists with subnet %q, not %s", n.Name, n.Subnet, want)
	}
	return n, nil
}

// CreateVolume creates a named volume; creating an existing one with the
// same driver is not an error (the engine keeps the existing one).
func (d *Docker) CreateVolume(ctx context.Context, v runtime.Volume) error {
	if v.Name == "" {
		return errors.New("create volume: no name")
	}
	_, err := d.cli.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name:       v.Name,
		Driver:     v.Driver,
		DriverOpts: v.DriverOpts,
		Labels:     v.Labels,
	})
	return wrap(err, "create volume %s", v.Name)
}

// RemoveVolume removes a named volume; a missing one is not an error. A
// volume in use by a container is an error.
func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	_, err := d.cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return wrap(err, "remove volume %s", name)
}
