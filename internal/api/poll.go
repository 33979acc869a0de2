package api

import (
	"context"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
)

// endpointURL is the server's base URL as agents reach it, set once the
// listener is bound.
type endpointURL struct{ v atomic.Pointer[string] }

// SetEndpoint records the base URL (http://host:port) agents use.
func (e *ECS) SetEndpoint(base string) { e.endpoint.v.Store(&base) }

// DiscoverPollEndpoint names the agent session endpoint of this server.
func (e *ECS) DiscoverPollEndpoint(ctx context.Context, in *ecsapi.DiscoverPollEndpointRequest) (*ecsapi.DiscoverPollEndpointResponse, error) {
	cluster, err := clusterRef(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ContainerInstance != nil {
		if _, _, err := e.loadInstance(ctx, cluster, *in.ContainerInstance); err != nil {
			return nil, err
		}
	}
	base := ""
	if p := e.endpoint.v.Load(); p != nil {
		base = *p
	}
	ws := "ws" + base[len("http"):] + agentproto.SessionPath
	return &ecsapi.DiscoverPollEndpointResponse{Endpoint: ecsapi.Ptr(ws), TelemetryEndpoint: ecsapi.Ptr(ws)}, nil
}
