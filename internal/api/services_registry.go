package api

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/taskdef"
)

// ServiceRegistry is where services' serviceRegistries register their
// tasks (Cloud Map).
type ServiceRegistry interface {
	Register(ctx context.Context, service, id string, attrs map[string]string) error
	Deregister(ctx context.Context, service, id string) error
}

// SetServiceRegistry connects the controller to Cloud Map.
func (e *ECS) SetServiceRegistry(r ServiceRegistry) { e.registry = r }

// syncRegistries registers the service's RUNNING, healthy tasks in its
// Cloud Map registries (instance id = task id; AWS_INSTANCE_IPV4 and
// AWS_INSTANCE_PORT as registryEndpoint says) and deregisters the ones that
// stopped or are stopping. Calls are idempotent, so a pass whose write fails
// repeats them harmlessly.
func (e *ECS) syncRegistries(ctx context.Context, p *pass, svc *ecsapi.Service, tasks []svcTask, state *controllerState) error {
	if e.registry == nil || (len(svc.ServiceRegistries) == 0 && len(state.Registered) == 0) {
		return nil
	}
	want := map[string]map[string]string{}
	for _, reg := range svc.ServiceRegistries {
		regID := lastSegment(ecsapi.Value(reg.RegistryArn))
		for i := range tasks {
			tk := &tasks[i].view.Task
			if ecsapi.Value(tk.LastStatus) != lifecycle.Running || ecsapi.Value(tk.DesiredStatus) != lifecycle.Running ||
				ecsapi.Value(tk.HealthStatus) == ecsapi.HealthStatusUNHEALTHY || ecsapi.Value(svc.Status) != statusActive {
				continue
			}
			ip, port, ok := e.registryEndpoint(ctx, p, &tasks[i], reg)
			if !ok {
				continue // the address or host port is not known yet
			}
			attrs := map[string]string{"AWS_INSTANCE_IPV4": ip, "ECS_SERVICE_NAME": ecsapi.Value(svc.ServiceName), "ECS_TASK_DEFINITION_FAMILY": familyOfARN(ecsapi.Value(tk.TaskDefinitionArn))}
			if port > 0 {
				attrs["AWS_INSTANCE_PORT"] = fmt.Sprint(port)
			}
			want[regID+"/"+lastSegment(ecsapi.Value(tk.TaskArn))] = attrs
		}
	}
	for key, attrs := range want {
		if slices.Contains(state.Registered, key) {
			continue
		}
		regID, taskID, _ := strings.Cut(key, "/")
		if err := e.registry.Register(ctx, regID, taskID, attrs); err != nil {
			return fmt.Errorf("register task %s in %s: %w", taskID, regID, err)
		}
	}
	var kept []string
	for _, key := range state.Registered {
		if _, ok := want[key]; ok {
			kept = append(kept, key)
			continue
		}
		regID, taskID, _ := strings.Cut(key, "/")
		if err := e.registry.Deregister(ctx, regID, taskID); err != nil {
			return fmt.Errorf("deregister task %s from %s: %w", taskID, regID, err)
		}
	}
	for key := range want {
		if !slices.Contains(kept, key) {
			kept = append(kept, key)
		}
	}
	slices.Sort(kept)
	state.Registered = kept
	return nil
}

// taskIPv4 is an awsvpc task's address (its ENI attachment's
// privateIPv4Address), or "".
func taskIPv4(tk *ecsapi.Task) string {
	for _, a := range tk.Attachments {
		for _, d := range a.Details {
			if ecsapi.Value(d.Name) == "privateIPv4Address" {
				return ecsapi.Value(d.Value)
			}
		}
	}
	return ""
}

// HostAddressAttribute is the container instance attribute in which the
// agent registers the address of its host that tasks and other hosts reach
// (berth agent --host-address; the agent package names it too). Bridge and
// host mode tasks are registered in Cloud Map at that address.
const HostAddressAttribute = "berth.host-address"

// registryEndpoint is where a task of a service is registered in a
// registry, as ECS registers it: an awsvpc task at its own address with the
// registry's port, else its container port; a bridge or host mode task at
// its host's address (the instance's HostAddressAttribute) with the host
// port bound to the registry's containerName and containerPort (host mode
// binds the container port itself). ok is false while the address or the
// binding is not known, and for other network modes or a registry without
// containerName and containerPort.
func (e *ECS) registryEndpoint(ctx context.Context, p *pass, st *svcTask, reg ecsapi.ServiceRegistry) (ip string, port int32, ok bool) {
	tk := &st.view.Task
	if isAwsvpcTask(tk) {
		port = ecsapi.Value(reg.Port)
		if port == 0 {
			port = ecsapi.Value(reg.ContainerPort)
		}
		ip = taskIPv4(tk)
		return ip, port, ip != ""
	}
	mode := e.networkMode(ctx, ecsapi.Value(tk.TaskDefinitionArn))
	if mode != ecsapi.NetworkModeBridge && mode != ecsapi.NetworkModeHost {
		return "", 0, false
	}
	i, found := p.byID[st.view.InstanceID]
	if !found || i >= len(p.insts) {
		return "", 0, false
	}
	ip = instanceAttribute(&p.insts[i], HostAddressAttribute)
	if ip == "" {
		return "", 0, false // an agent that does not say its host address
	}
	name, cport := ecsapi.Value(reg.ContainerName), ecsapi.Value(reg.ContainerPort)
	if name == "" || cport == 0 {
		return "", 0, false // CreateService requires both for these modes
	}
	port, bound := hostPort(tk, name, cport)
	if !bound && mode == ecsapi.NetworkModeHost {
		port, bound = cport, true
	}
	return ip, port, bound
}

// instanceAttribute is the value of a container instance's attribute, or "".
func instanceAttribute(ci *ecsapi.ContainerInstance, name string) string {
	for _, a := range ci.Attributes {
		if a.Name == name {
			return ecsapi.Value(a.Value)
		}
	}
	return ""
}

// registryRecords is what the controller's registry may also do (Cloud
// Map's GetService): say a registry's DNS records, so CreateService and
// UpdateService can apply ECS's rules for SRV records.
type registryRecords interface {
	GetService(ctx context.Context, in *cloudmapapi.GetServiceRequest) (*cloudmapapi.GetServiceResponse, error)
}

// registryHasSRV reports whether a registry has an SRV record; known is
// false when that cannot be told (no such registry here, or no registry
// connected).
func (e *ECS) registryHasSRV(ctx context.Context, registryARN string) (srv, known bool) {
	rr, ok := e.registry.(registryRecords)
	if !ok {
		return false, false
	}
	out, err := rr.GetService(ctx, &cloudmapapi.GetServiceRequest{Id: registryARN})
	if err != nil || out.Service == nil {
		return false, false
	}
	if out.Service.DnsConfig == nil {
		return false, true
	}
	return slices.ContainsFunc(out.Service.DnsConfig.DnsRecords, func(r cloudmapapi.DnsRecord) bool {
		return r.Type == cloudmapapi.RecordTypeSRV
	}), true
}

// checkRegistryPorts applies the ServiceRegistry rules of the ECS API
// reference: with the bridge or host network mode, containerName and
// containerPort are both required; with awsvpc and a registry with an SRV
// record, either port or the containerName and containerPort combination,
// not both. The messages are ECS's.
func (e *ECS) checkRegistryPorts(ctx context.Context, r ecsapi.ServiceRegistry, def *ecsapi.TaskDefinition) error {
	named := ecsapi.Value(r.ContainerName) != "" && r.ContainerPort != nil
	switch taskdef.EffectiveNetworkMode(def) {
	case ecsapi.NetworkModeBridge, ecsapi.NetworkModeHost:
		if !named {
			return invalidParam("When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: %s", ecsapi.Value(r.RegistryArn))
		}
	case ecsapi.NetworkModeAwsvpc:
		if srv, known := e.registryHasSRV(ctx, ecsapi.Value(r.RegistryArn)); !known || !srv {
			return nil
		}
		portOnly := r.Port != nil && r.ContainerName == nil && r.ContainerPort == nil
		if !portOnly && (r.Port != nil || !named) {
			return invalidParam("Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry.")
		}
	}
	return nil
}
