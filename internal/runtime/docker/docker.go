// Package docker implements runtime.Runtime with a Docker Engine, through
// the moby API client (github.com/moby/moby/client). It negotiates the API
// version down to the engine's (tested with Docker 20.10, API 1.41).
//
// Errors the engine reports as "not found" match runtime.ErrNotFound (and
// keep the engine's message); every other error says which call failed.
package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// Docker is a Docker Engine. It is safe for concurrent use.
type Docker struct {
	cli *client.Client
	// createNetwork (capacity 1) serialises EnsureNetwork's creations.
	createNetwork chan struct{}
}

var _ runtime.Runtime = (*Docker)(nil)

// New connects to the engine named by the environment (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION; by default the
// local socket /var/run/docker.sock), pings it and negotiates the API
// version.
func New(ctx context.Context) (*Docker, error) {
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: configure the client: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		source := "DOCKER_HOST is unset: the default socket"
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			source = "from DOCKER_HOST=" + h
		}
		return nil, fmt.Errorf("docker: cannot reach the engine at %s (%s): %w; is Docker running?",
			cli.DaemonHost(), source, err)
	}
	return &Docker{cli: cli, createNetwork: make(chan struct{}, 1)}, nil
}

// Close releases the client's idle connections.
func (d *Docker) Close() error {
	return d.cli.Close()
}

// APIVersion is the negotiated engine API version, e.g. "1.41".
func (d *Docker) APIVersion() string {
	return d.cli.ClientVersion()
}

// wrap adds what failed to err; an engine not-found error also matches
// runtime.ErrNotFound.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := fmt.Sprintf(format, args...)
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s: %w (%w)", what, err, runtime.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Info describes the engine's host: the engine's /info and the gateway of
// its default "bridge" network (which engines do not always report; the
// default IPAM driver's choice, the subnet's first address, is then
// returned).
func (d *Docker) Info(ctx context.Context) (runtime.HostInfo, error) {
	res, err := d.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return runtime.HostInfo{}, wrap(err, "engine info")
	}
	info := res.Info
	bridge, err := d.cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return runtime.HostInfo{}, wrap(err, "inspect the default bridge network")
	}
	return runtime.HostInfo{
		NCPU:          info.NCPU,
		MemTotal:      info.MemTotal,
		OSType:        info.OSType,
		Architecture:  info.Architecture,
		KernelVersion: info.KernelVersion,
		ServerVersion: info.ServerVersion,
		BridgeGateway: networkOf(bridge.Network.Network).Gateway,
	}, nil
}

// InspectImage returns a local image or an error matching
// runtime.ErrNotFound.
func (d *Docker) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	res, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, wrap(err, "inspect image %s", ref)
	}
	return runtime.Image{ID: res.ID, RepoDigests: res.RepoDigests}, nil
}

// PullImage pulls ref and returns when the engine finished. auth, if not
// nil, is sent as the X-Registry-Auth header. progress (if not nil) is
// called for every status line of the engine's progress stream; a failed
// pull is reported either as the request's error or as an error line in the
// stream, and both are returned with the engine's message.
func (d *Docker) PullImage(ctx context.Context, ref string, auth *runtime.RegistryAuth, progress func(runtime.PullProgress)) error {
	var opts client.ImagePullOptions
	if auth != nil {
		encoded, err := encodeAuth(auth)
		if err != nil {
			return fmt.Errorf("pull image %s: %w", ref, err)
		}
		opts.RegistryAuth = encoded
	}
	resp, err := d.cli.ImagePull(ctx, ref, opts)
	if err != nil {
		return wrap(err, "pull image %s", ref)
	}
	defer resp.Close()
	if err := readPullStream(resp, progress); err != nil {
		return wrap(err, "pull image %s", ref)
	}
	return nil
}

// encodeAuth is the X-Registry-Auth value: base64url of the JSON
// AuthConfig. It names no server: the engine uses it for the registry of
// the reference pulled.
func encodeAuth(auth *runtime.RegistryAuth) (string, error) {
	cfg := registry.AuthConfig{Username: auth.Username, Password: auth.Password}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode registry auth: %w", err)
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// pullMessage is one line of the engine's pull progress stream. Engines
// send a failure as both "error" (older) and "errorDetail".
type pullMessage struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// PullError is a pull failure the engine reported in its progress stream.
type PullError struct {
	Message string
}

func (e *PullError) Error() string { return e.Message }

// readPullStream reads a pull's JSON progress stream to its end, reporting
// each status line, and returns the first error line as a *PullError.
func readPullStream(r io.Reader, progress func(runtime.PullProgress)) error {
	dec := json.NewDecoder(r)
	for {
		var m pullMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the progress stream: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return &PullError{Message: m.ErrorDetail.Message}
		}
		if m.Error != "" {
			return &PullError{Message: m.Error}
		}
		if progress != nil && m.Status != "" {
			progress(runtime.PullProgress{
				Status:  m.Status,
				Layer:   m.ID,
				Current: m.ProgressDetail.Current,
				Total:   m.ProgressDetail.Total,
			})
		}
	}
}

// ImportImage creates image ref from a root file system tar (docker
// import), applying Dockerfile-style changes such as CMD.
func (d *Docker) ImportImage(ctx context.Context, ref string, rootfs io.Reader, changes []string) error {
	rc, err := d.cli.ImageImport(ctx, client.ImageImportSource{Source: rootfs, SourceName: "-"}, ref, client.ImageImportOptions{Changes: changes})
	if err != nil {
		return wrap(err, "import image %s", ref)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("import image %s: %w", ref, err)
	}
	return nil
}
