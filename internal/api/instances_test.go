package api

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

func res(name, typ string, n int32, set ...string) ecsapi.Resource {
	r := ecsapi.Resource{Name: ecsapi.Ptr(name), Type: ecsapi.Ptr(typ), IntegerValue: n}
	if typ == "STRINGSET" {
		r.StringSetValue = append([]string{}, set...)
	}
	return r
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae *awsjson.Error
	if !errors.As(err, &ae) || ae.Code != code || ae.Message != msg {
		t.Fatalf("error = %v, want %s %q", err, code, msg)
	}
}

// TestCarryUsage re-registers with more memory, another reserved port and
// fewer GPUs while a task holds CPU, memory, a port and a GPU.
func TestCarryUsage(t *testing.T) {
	oldReg := []ecsapi.Resource{res("CPU", "INTEGER", 2048), res("MEMORY", "INTEGER", 3950), res("PORTS", "STRINGSET", 0, "22"), res("GPU", "STRINGSET", 0, "g0", "g1")}
	oldRem := []ecsapi.Resource{res("CPU", "INTEGER", 1536), res("MEMORY", "INTEGER", 3450), res("PORTS", "STRINGSET", 0, "22", "8080"), res("GPU", "STRINGSET", 0, "g1")}
	newReg := []ecsapi.Resource{res("CPU", "INTEGER", 2048), res("MEMORY", "INTEGER", 7900), res("PORTS", "STRINGSET", 0, "22", "2375"), res("GPU", "STRINGSET", 0, "g0", "g2"), res("PORTS_UDP", "STRINGSET", 0)}
	got := carryUsage(oldReg, oldRem, newReg)
	want := []ecsapi.Resource{res("CPU", "INTEGER", 1536), res("MEMORY", "INTEGER", 7400), res("PORTS", "STRINGSET", 0, "22", "2375", "8080"), res("GPU", "STRINGSET", 0, "g2"), res("PORTS_UDP", "STRINGSET", 0)}
	if jsonOf(t, got) != jsonOf(t, want) {
		t.Errorf("carryUsage =\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
	}
	if jsonOf(t, newReg) != jsonOf(t, []ecsapi.Resource{res("CPU", "INTEGER", 2048), res("MEMORY", "INTEGER", 7900), res("PORTS", "STRINGSET", 0, "22", "2375"), res("GPU", "STRINGSET", 0, "g0", "g2"), res("PORTS_UDP", "STRINGSET", 0)}) {
		t.Errorf("carryUsage changed its input: %s", jsonOf(t, newReg))
	}
}

func TestParseInstanceRef(t *testing.T) {
	tests := []struct {
		in, cluster, id string
		ok              bool
	}{
		{in: "0123abcd", id: "0123abcd", ok: true},
		{in: "arn:aws:ecs:us-east-1:1:container-instance/prod/0123abcd", cluster: "prod", id: "0123abcd", ok: true},
		{in: "arn:aws:ecs:us-east-1:1:container-instance/0123abcd", id: "0123abcd", ok: true},
		{in: "arn:aws:ecs:us-east-1:1:task/prod/0123abcd"},
		{in: "arn:aws:ecs:us-east-1:1:container-instance/prod/a/b", cluster: "prod", id: "a/b"},
		{in: "../x", id: "../x"},
		{in: "", id: ""},
	}
	for _, tt := range tests {
		c, id, ok := parseInstanceRef(tt.in)
		if ok != tt.ok || (ok && (c != tt.cluster || id != tt.id)) {
			t.Errorf("parseInstanceRef(%q) = %q, %q, %v", tt.in, c, id, ok)
		}
	}
}

func TestValidateRegistration(t *testing.T) {
	bad := []struct {
		name  string
		res   []ecsapi.Resource
		attrs []ecsapi.Attribute
		msg   string
	}{
		{name: "unnamed", res: []ecsapi.Resource{{Type: ecsapi.Ptr("INTEGER")}}, msg: "totalResources[0].name is required."},
		{name: "twice", res: []ecsapi.Resource{res("CPU", "INTEGER", 1), res("CPU", "INTEGER", 2)}, msg: "The resource CPU is listed more than once in totalResources."},
		{name: "type", res: []ecsapi.Resource{res("disk", "FLOAT", 1)}, msg: `The resource disk has type "FLOAT"; the type must be INTEGER, LONG, DOUBLE or STRINGSET.`},
		{name: "port", res: []ecsapi.Resource{res("PORTS", "STRINGSET", 0, "22", "http")}, msg: `The resource PORTS lists "http", which is not a port number from 1 to 65535.`},
		{name: "value space", attrs: []ecsapi.Attribute{{Name: "rack", Value: ecsapi.Ptr(" r1")}}, msg: `The value " r1" of attribute rack is invalid: a value must contain between 1 and 128 characters: letters (uppercase and lowercase), numbers, hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), back slashes (\), colons (:), or spaces, and cannot start or end with a space.`},
	}
	for _, tt := range bad {
		err := validateResources(tt.res)
		if tt.attrs != nil {
			err = validateAttributes(tt.attrs)
		}
		wantAPIError(t, err, ecsapi.CodeInvalidParameterException, tt.msg)
	}
	ok := []ecsapi.Attribute{{Name: `ecs.capability.a/b\c_d-e`}, {Name: "ecs.outpost-arn", Value: ecsapi.Ptr("arn:aws:outposts:us-east-1:1:outpost/op-1 x@y")}}
	if err := validateAttributes(ok); err != nil {
		t.Errorf("valid attributes rejected: %v", err)
	}
	if err := validateResources([]ecsapi.Resource{res("CPU", "INTEGER", 0), res("custom", "DOUBLE", 0), res("PORTS_UDP", "STRINGSET", 0)}); err != nil {
		t.Errorf("valid resources rejected: %v", err)
	}
}

// TestDeregisterWithTasks: tasks on the instance block deregistration
// without force, and nothing changes.
func TestDeregisterWithTasks(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	reg, err := e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{TotalResources: []ecsapi.Resource{res("CPU", "INTEGER", 1024)}})
	if err != nil {
		t.Fatal(err)
	}
	ref := ecsapi.Value(reg.ContainerInstance.ContainerInstanceArn)
	ci, rev, err := e.loadInstance(ctx, "default", ref)
	if err != nil {
		t.Fatal(err)
	}
	ci.RunningTasksCount, ci.PendingTasksCount = 1, 1
	key := instanceKey("default", instanceIDOfRecord(ci))
	if _, err := e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(ci))}); err != nil {
		t.Fatal(err)
	}
	_, err = e.DeregisterContainerInstance(ctx, &ecsapi.DeregisterContainerInstanceRequest{ContainerInstance: ref})
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "Found running tasks on the instance.")
	if got, _, _ := e.loadInstance(ctx, "default", ref); ecsapi.Value(got.Status) != statusActive || got.Version != 1 {
		t.Fatalf("refused deregistration changed the record: %s", jsonOf(t, got))
	}
	out, err := e.DeregisterContainerInstance(ctx, &ecsapi.DeregisterContainerInstanceRequest{ContainerInstance: ref, Force: ecsapi.Ptr(true)})
	if err != nil || ecsapi.Value(out.ContainerInstance.Status) != statusInactive || out.ContainerInstance.Version != 2 {
		t.Fatalf("forced deregistration = %v, %v", out, err)
	}
	_, err = e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{ContainerInstanceArn: &ref})
	wantAPIError(t, err, ecsapi.CodeClientException, "The container instance "+ref+" is INACTIVE (deregistered) and cannot register again; register without containerInstanceArn to create a new container instance.")
	_, _, err = e.loadInstance(ctx, "other", ref)
	wantAPIError(t, err, ecsapi.CodeInvalidParameterException, "The referenced container instance "+ref+" was not found in cluster other.")
}

// TestPlatformDevicesStored checks the devices are kept beside the record.
func TestPlatformDevicesStored(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	devs := []ecsapi.PlatformDevice{{Id: "GPU-1", Type: ecsapi.PlatformDeviceTypeGPU}}
	reg, err := e.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{PlatformDevices: devs, TotalResources: []ecsapi.Resource{res("GPU", "STRINGSET", 0, "GPU-1")}})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := e.st.Get(ctx, instanceDevicesKey("default", instanceIDOfRecord(*reg.ContainerInstance)))
	if err != nil || string(kv.Value) != jsonOf(t, devs) {
		t.Fatalf("stored devices = %s, %v", kv.Value, err)
	}
}
