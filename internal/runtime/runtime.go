// Package runtime is the agent's narrow view of a container engine: images,
// containers, networks and volumes, in Docker's own configuration shapes.
// The agent's task engine talks only to this interface; the Docker Engine
// implementation (package runtime/docker) is the only IO behind it.
package runtime

import (
	"context"
	"errors"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ErrNotFound: the container, image, network or volume does not exist.
var ErrNotFound = errors.New("runtime: not found")

// Spec is one container to create, in Docker's shapes.
type Spec struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
}

// PortBinding is one published port as the engine reports it.
type PortBinding struct {
	ContainerPort uint16
	Protocol      string // "tcp" or "udp"
	HostIP        string
	HostPort      uint16
}

// Endpoint is a container's address on one network.
type Endpoint struct {
	NetworkID  string
	IPAddress  string
	Gateway    string
	MacAddress string
	PrefixLen  int
}

// State is what the engine knows about one container.
type State struct {
	ID    string
	Name  string // without the leading "/"
	Image string // as configured
	// ImageID is the local image id (sha256:...).
	ImageID string
	Labels  map[string]string
	// Status is Docker's: created, running, paused, restarting, removing,
	// exited or dead.
	Status       string
	Running      bool
	ExitCode     int
	OOMKilled    bool
	Error        string
	CreatedAt    time.Time
	StartedAt    time.Time // zero until started
	FinishedAt   time.Time // zero until it exited
	RestartCount int
	// Health is "" (no health check), "starting", "healthy" or "unhealthy".
	Health   string
	Ports    []PortBinding
	Networks map[string]Endpoint // by network name
	Pid      int
}

// Event is a container event. Action is Docker's: create, start, die,
// health_status (Health set), oom, destroy, ...
type Event struct {
	ContainerID string
	Action      string
	Labels      map[string]string
	ExitCode    int    // for die
	Health      string // for health_status: healthy or unhealthy
	Time        time.Time
}

// Image is a local image.
type Image struct {
	ID string
	// RepoDigests are "repo@sha256:..." names; empty for locally built images.
	RepoDigests []string
}

// RegistryAuth is credentials for pulling a private image.
type RegistryAuth struct {
	Username string
	Password string
}

// PullProgress is one progress report of a pull.
type PullProgress struct {
	Status  string // e.g. "Downloading", "Pull complete"
	Layer   string
	Current int64
	Total   int64
}

// Network is a user-defined network.
type Network struct {
	ID      string
	Name    string
	Subnet  string // CIDR
	Gateway string
}

// Volume is a named volume to create.
type Volume struct {
	Name       string
	Driver     string // "" means local
	DriverOpts map[string]string
	Labels     map[string]string
}

// HostInfo describes the engine's host.
type HostInfo struct {
	NCPU          int
	MemTotal      int64 // bytes
	OSType        string
	Architecture  string // Docker's: x86_64, aarch64
	KernelVersion string
	ServerVersion string
	// BridgeGateway is the default bridge's gateway address: an address of
	// the host that containers on the default bridge reach.
	BridgeGateway string
}

// Runtime is a container engine.
type Runtime interface {
	Info(ctx context.Context) (HostInfo, error)
	// InspectImage returns a local image or ErrNotFound.
	InspectImage(ctx context.Context, ref string) (Image, error)
	// PullImage pulls ref, reporting progress, and returns when the pull
	// finished. The error carries the engine's message.
	PullImage(ctx context.Context, ref string, auth *RegistryAuth, progress func(PullProgress)) error
	CreateContainer(ctx context.Context, spec Spec) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal and, after timeout, SIGKILL.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer force-removes a container and its anonymous volumes;
	// a missing container is not an error.
	RemoveContainer(ctx context.Context, id string) error
	InspectContainer(ctx context.Context, id string) (State, error)
	// ListContainers lists all containers (running or not) carrying every
	// given label (value "" matches any value).
	ListContainers(ctx context.Context, labels map[string]string) ([]State, error)
	// Events streams container events of containers carrying every given
	// label until ctx ends or the stream fails (then the error channel
	// receives the error).
	Events(ctx context.Context, labels map[string]string) (<-chan Event, <-chan error)
	// Stats returns one sample of the engine's stats JSON for a container
	// (Docker's /containers/{id}/stats?stream=false body).
	Stats(ctx context.Context, id string) ([]byte, error)
	// EnsureNetwork creates a bridge network of that name (with the given
	// subnet, if not empty) unless it exists, and returns it.
	EnsureNetwork(ctx context.Context, name, subnet string, labels map[string]string) (Network, error)
	CreateVolume(ctx context.Context, v Volume) error
	// RemoveVolume removes a named volume; a missing one is not an error.
	RemoveVolume(ctx context.Context, name string) error
}
