package api

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
)

// fakeCloudMap is a fakeRegistry that also tells its services' DNS
// records, as Cloud Map's GetService does.
type fakeCloudMap struct {
	fakeRegistry
	records map[string][]cloudmapapi.RecordType // registry ARN → record types
}

func newFakeCloudMap() *fakeCloudMap {
	return &fakeCloudMap{fakeRegistry: fakeRegistry{instances: map[string]map[string]string{}}, records: map[string][]cloudmapapi.RecordType{}}
}

func (f *fakeCloudMap) GetService(_ context.Context, in *cloudmapapi.GetServiceRequest) (*cloudmapapi.GetServiceResponse, error) {
	recs, ok := f.records[in.Id]
	if !ok {
		return nil, errors.New("ServiceNotFoundException: " + in.Id)
	}
	dc := &cloudmapapi.DnsConfig{}
	for _, t := range recs {
		dc.DnsRecords = append(dc.DnsRecords, cloudmapapi.DnsRecord{Type: t, TTL: 10})
	}
	return &cloudmapapi.GetServiceResponse{Service: &cloudmapapi.Service{Id: ecsapi.Ptr(lastSegment(in.Id)), DnsConfig: dc}}, nil
}

const (
	srvRegistry = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-00000000000000s1"
	aRegistry   = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-00000000000000a1"
	hostAddr    = "192.0.2.10"
)

// registryTD registers a one-container definition in mode whose container
// "app" maps container port 8080 (hostPort 0: dynamic in bridge mode).
func (w *ctlWorld) registryTD(family string, mode ecsapi.NetworkMode) string {
	w.t.Helper()
	pm := ecsapi.PortMapping{ContainerPort: ecsapi.Ptr(int32(8080))}
	if mode == ecsapi.NetworkModeBridge {
		pm.HostPort = ecsapi.Ptr(int32(0))
	}
	out, err := w.e.RegisterTaskDefinition(context.Background(), &ecsapi.RegisterTaskDefinitionRequest{
		Family: family, NetworkMode: ecsapi.Ptr(mode),
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64)), PortMappings: []ecsapi.PortMapping{pm}}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
}

// runBound reports a task RUNNING with container app's port 8080 bound to
// hostPort (no bindings when hostPort is 0).
func (w *ctlWorld) runBound(rec taskRecord, hostPort int32) {
	w.t.Helper()
	ctr := agentproto.ContainerState{Name: "app", Status: lifecycle.Running}
	if hostPort != 0 {
		ctr.NetworkBindings = []ecsapi.NetworkBinding{{ContainerPort: ecsapi.Ptr(int32(8080)), HostPort: ecsapi.Ptr(hostPort), BindIP: ecsapi.Ptr("0.0.0.0")}}
	}
	st := agentproto.TaskState{TaskARN: ecsapi.Value(rec.Task.TaskArn), Status: lifecycle.Running, Containers: []agentproto.ContainerState{ctr}}
	if err := w.e.ApplyTaskState(context.Background(), "default", rec.InstanceID, st); err != nil {
		w.t.Fatal(err)
	}
}

func registryKey(rec taskRecord) string {
	return lastSegment(srvRegistry) + "/" + lastSegment(ecsapi.Value(rec.Task.TaskArn))
}

// TestControllerRegistriesBridge: bridge tasks are registered at their
// instance's host address (the agent's berth.host-address attribute) with
// the host port bound to the registry's container port; two tasks on one
// host share the address with different ports; a stopped task goes.
func TestControllerRegistriesBridge(t *testing.T) {
	w := newCtlWorld(t, 0)
	connectedInstance(t, w.e, plainAttr(HostAddressAttribute, hostAddr))
	reg := newFakeCloudMap()
	reg.records[srvRegistry] = []cloudmapapi.RecordType{cloudmapapi.RecordTypeSRV}
	w.e.SetServiceRegistry(reg)
	ctx := context.Background()
	td := w.registryTD("web", ecsapi.NetworkModeBridge)
	if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(td), DesiredCount: ecsapi.Ptr(int32(2)),
		ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	tk := w.tasks()[lifecycle.Pending]
	if len(tk) != 2 {
		t.Fatalf("%d pending tasks, want 2", len(tk))
	}
	w.runBound(tk[0], 49200)
	w.runBound(tk[1], 0) // RUNNING, its binding not reported yet
	w.reconcile()
	if a := reg.instances[registryKey(tk[0])]; a["AWS_INSTANCE_IPV4"] != hostAddr || a["AWS_INSTANCE_PORT"] != "49200" || len(reg.instances) != 1 {
		t.Fatalf("registered %v, want only %s at %s:49200", reg.instances, registryKey(tk[0]), hostAddr)
	}
	w.runBound(tk[1], 49201)
	w.reconcile()
	if a := reg.instances[registryKey(tk[1])]; a["AWS_INSTANCE_IPV4"] != hostAddr || a["AWS_INSTANCE_PORT"] != "49201" || len(reg.instances) != 2 {
		t.Fatalf("registered %v, want %s at %s:49201 too", reg.instances, registryKey(tk[1]), hostAddr)
	}
	if _, err := w.e.StopTask(ctx, &ecsapi.StopTaskRequest{Task: ecsapi.Value(tk[0].Task.TaskArn)}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	if _, ok := reg.instances[registryKey(tk[0])]; ok || len(reg.instances) != 1 {
		t.Errorf("after stopping a task: %v", reg.instances)
	}
}

// TestControllerRegistriesHost: host mode tasks are registered at the host
// address with the container port, which they bind themselves.
func TestControllerRegistriesHost(t *testing.T) {
	w := newCtlWorld(t, 0)
	connectedInstance(t, w.e, plainAttr(HostAddressAttribute, hostAddr))
	reg := newFakeCloudMap()
	w.e.SetServiceRegistry(reg)
	td := w.registryTD("web", ecsapi.NetworkModeHost)
	if _, err := w.e.CreateService(context.Background(), &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(td), DesiredCount: ecsapi.Ptr(int32(1)),
		ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	rec := w.tasks()[lifecycle.Pending][0]
	w.runBound(rec, 0)
	w.reconcile()
	if a := reg.instances[registryKey(rec)]; a["AWS_INSTANCE_IPV4"] != hostAddr || a["AWS_INSTANCE_PORT"] != "8080" {
		t.Fatalf("registered %v, want %s at %s:8080", reg.instances, registryKey(rec), hostAddr)
	}
}

// TestControllerRegistriesNoHostAddress: an instance whose agent does not
// say its host address gets none of its bridge tasks registered.
func TestControllerRegistriesNoHostAddress(t *testing.T) {
	w := newCtlWorld(t, 1)
	reg := newFakeCloudMap()
	w.e.SetServiceRegistry(reg)
	td := w.registryTD("web", ecsapi.NetworkModeBridge)
	if _, err := w.e.CreateService(context.Background(), &ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: ecsapi.Ptr(td), DesiredCount: ecsapi.Ptr(int32(1)),
		ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(8080))}},
	}); err != nil {
		t.Fatal(err)
	}
	w.reconcile()
	w.runBound(w.tasks()[lifecycle.Pending][0], 49200)
	w.reconcile()
	if len(reg.instances) != 0 || reg.calls != 0 {
		t.Errorf("registered %v without a host address", reg.instances)
	}
}

// TestServiceRegistryRules: the ServiceRegistry rules of the ECS API
// reference on CreateService and UpdateService, with ECS's messages.
func TestServiceRegistryRules(t *testing.T) {
	w := newCtlWorld(t, 1)
	reg := newFakeCloudMap()
	reg.records[srvRegistry] = []cloudmapapi.RecordType{cloudmapapi.RecordTypeA, cloudmapapi.RecordTypeSRV}
	reg.records[aRegistry] = []cloudmapapi.RecordType{cloudmapapi.RecordTypeA}
	w.e.SetServiceRegistry(reg)
	ctx := context.Background()
	bridge := w.registryTD("bridge", ecsapi.NetworkModeBridge)
	host := w.registryTD("host", ecsapi.NetworkModeHost)
	awsvpc := w.registryTD("awsvpc", ecsapi.NetworkModeAwsvpc)
	nc := &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
	name, cport, port := ecsapi.Ptr("app"), ecsapi.Ptr(int32(8080)), ecsapi.Ptr(int32(8080))
	const (
		bridgeMsg = "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: " + srvRegistry
		eitherMsg = "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry."
	)
	cases := []struct {
		name string
		td   string
		reg  ecsapi.ServiceRegistry
		msg  string // "" when accepted
	}{
		{"bridge without container", bridge, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry)}, bridgeMsg},
		{"bridge without containerPort", bridge, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name}, bridgeMsg},
		{"bridge with port only", bridge, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), Port: port}, bridgeMsg},
		{"host without containerName", host, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerPort: cport}, bridgeMsg},
		{"bridge with container", bridge, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name, ContainerPort: cport}, ""},
		{"host with container", host, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name, ContainerPort: cport}, ""},
		{"bridge unknown container port", bridge, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name, ContainerPort: ecsapi.Ptr(int32(81))}, "The container app did not have a container port 81 defined."},
		{"awsvpc SRV with both", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), Port: port, ContainerName: name, ContainerPort: cport}, eitherMsg},
		{"awsvpc SRV with neither", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry)}, eitherMsg},
		{"awsvpc SRV with containerName only", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name}, eitherMsg},
		{"awsvpc SRV with port", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), Port: port}, ""},
		{"awsvpc SRV with container", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(srvRegistry), ContainerName: name, ContainerPort: cport}, ""},
		{"awsvpc A only", awsvpc, ecsapi.ServiceRegistry{RegistryArn: ecsapi.Ptr(aRegistry)}, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := &ecsapi.CreateServiceRequest{ServiceName: "s" + string(rune('a'+i)), TaskDefinition: ecsapi.Ptr(c.td), DesiredCount: ecsapi.Ptr(int32(0)),
				ServiceRegistries: []ecsapi.ServiceRegistry{c.reg}}
			if c.td == awsvpc {
				in.NetworkConfiguration = nc
			}
			_, err := w.e.CreateService(ctx, in)
			if c.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantErr(t, err, "InvalidParameterException", c.msg)
		})
	}
	t.Run("update", func(t *testing.T) {
		if _, err := w.e.CreateService(ctx, &ecsapi.CreateServiceRequest{ServiceName: "u", TaskDefinition: ecsapi.Ptr(bridge), DesiredCount: ecsapi.Ptr(int32(0))}); err != nil {
			t.Fatal(err)
		}
		_, err := w.e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "u", ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr(srvRegistry)}}})
		wantErr(t, err, "InvalidParameterException", bridgeMsg)
	})
}
