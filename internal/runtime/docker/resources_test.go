package docker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// removeNetworks removes, when the test ends, every network named name.
func removeNetworks(t *testing.T, d *Docker, name string) {
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		res, err := d.cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, n := range res.Items {
			if n.Name != name {
				continue
			}
			if _, err := d.cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("cleanup: remove network %s: %v", n.ID, err)
			}
		}
	})
}

func countNetworks(t *testing.T, d *Docker, name string) int {
	t.Helper()
	res, err := d.cli.NetworkList(testCtx(t), client.NetworkListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, nw := range res.Items {
		if nw.Name == name {
			n++
		}
	}
	return n
}

func TestEnsureNetwork(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	name := uniqueName(t)
	removeNetworks(t, d, name)
	// A subnet unlikely to be used by anything else on a test machine.
	const subnet = "10.231.117.0/24"
	n, err := d.EnsureNetwork(ctx, name, subnet, labels(name))
	if err != nil {
		t.Fatal(err)
	}
	if n.ID == "" || n.Name != name || n.Subnet != subnet || n.Gateway != "10.231.117.1" {
		t.Errorf("EnsureNetwork = %+v", n)
	}
	again, err := d.EnsureNetwork(ctx, name, subnet, labels(name))
	if err != nil {
		t.Fatal(err)
	}
	if again != n {
		t.Errorf("second EnsureNetwork = %+v, want %+v", again, n)
	}
	if _, err := d.EnsureNetwork(ctx, name, "10.231.118.0/24", nil); err == nil || !strings.Contains(err.Error(), subnet) {
		t.Errorf("EnsureNetwork with another subnet: %v, want an error naming %s", err, subnet)
	}
	// Another name on a taken subnet: the engine's refusal, after looking
	// for a concurrently created network of that name.
	other := uniqueName(t)
	removeNetworks(t, d, other)
	if _, err := d.EnsureNetwork(ctx, other, subnet, nil); err == nil || !strings.Contains(err.Error(), "create network "+other+": ") {
		t.Errorf("EnsureNetwork on a taken subnet: %v, want the engine's error", err)
	} else {
		t.Log(err)
	}
	res, err := d.cli.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Network.Driver != "bridge" || res.Network.Labels[runLabel] != name {
		t.Errorf("engine's network: driver %q labels %v", res.Network.Driver, res.Network.Labels)
	}
	if c := countNetworks(t, d, name); c != 1 {
		t.Errorf("%d networks named %s, want 1", c, name)
	}
}

// TestEnsureNetworkConcurrent: concurrent callers agree on one network and
// leave no duplicate, with or without a subnet.
func TestEnsureNetworkConcurrent(t *testing.T) {
	d := newDocker(t)
	for _, subnet := range []string{"", "10.231.119.0/24"} {
		ctx := testCtx(t)
		name := uniqueName(t)
		removeNetworks(t, d, name)
		const callers = 4
		var wg sync.WaitGroup
		nets := make([]runtime.Network, callers)
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() { nets[i], errs[i] = d.EnsureNetwork(ctx, name, subnet, labels(name)) })
		}
		wg.Wait()
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("subnet %q: caller %d: %v", subnet, i, errs[i])
			}
			if nets[i] != nets[0] {
				t.Errorf("subnet %q: caller %d got %+v, caller 0 %+v", subnet, i, nets[i], nets[0])
			}
		}
		if nets[0].Subnet == "" || nets[0].Gateway == "" {
			t.Errorf("subnet %q: network %+v lacks its subnet or gateway", subnet, nets[0])
		}
		if c := countNetworks(t, d, name); c != 1 {
			t.Errorf("subnet %q: %d networks named %s, want 1", subnet, c, name)
		}
	}
}

func TestEnsureNetworkBadSubnet(t *testing.T) {
	d := newDocker(t)
	if _, err := d.EnsureNetwork(testCtx(t), uniqueName(t), "10.0.0.0", nil); err == nil {
		t.Error("no error for a subnet without a prefix length")
	}
}

func TestVolumes(t *testing.T) {
	d := newDocker(t)
	ctx := testCtx(t)
	name := uniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		d.RemoveVolume(ctx, name)
	})
	v := runtime.Volume{Name: name, Labels: labels(name)}
	if err := d.CreateVolume(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateVolume(ctx, v); err != nil {
		t.Errorf("creating an existing volume: %v", err)
	}
	res, err := d.cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Volume.Driver != "local" || res.Volume.Labels[runLabel] != name {
		t.Errorf("volume: driver %q labels %v", res.Volume.Driver, res.Volume.Labels)
	}
	if err := d.RemoveVolume(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("volume still there after RemoveVolume: %v", err)
	}
	if err := d.RemoveVolume(ctx, name); err != nil {
		t.Errorf("removing a missing volume: %v", err)
	}
	if err := d.CreateVolume(ctx, runtime.Volume{}); err == nil {
		t.Error("no error for a volume without a name")
	}
}

func TestPullMissingImage(t *testing.T) {
	d := newDocker(t)
	for ref, engineSays := range map[string]string{
		// No registry listens there: the engine's message names the address.
		"127.0.0.1:1/berth-test/missing:latest": "127.0.0.1:1",
		// Docker Hub: unreachable or missing, depending on the machine.
		"berth-test-does-not-exist/missing:latest": "",
	} {
		ctx, cancel := context.WithTimeout(testCtx(t), time.Minute)
		var progress []runtime.PullProgress
		err := d.PullImage(ctx, ref, &runtime.RegistryAuth{Username: "u", Password: "p"}, func(p runtime.PullProgress) {
			progress = append(progress, p)
		})
		cancel()
		if err == nil {
			t.Errorf("pull %s: no error", ref)
			continue
		}
		t.Logf("pull %s: %v (progress %v)", ref, err, progress)
		prefix := "pull image " + ref + ": "
		if !strings.HasPrefix(err.Error(), prefix) || len(err.Error()) < len(prefix)+10 ||
			!strings.Contains(strings.TrimPrefix(err.Error(), prefix), engineSays) {
			t.Errorf("pull %s: error %q lacks the engine's message", ref, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("pull %s: timed out", ref)
		}
	}
	if err := d.PullImage(testCtx(t), "Not A Reference", nil, nil); err == nil {
		t.Error("pull of an invalid reference: no error")
	}
}
