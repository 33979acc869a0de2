package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agentproto"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/lifecycle"
	"github.com/berth-dev/berth/internal/runtime"
)

// epRuntime answers the two runtime calls the endpoints make.
type epRuntime struct {
	runtime.Runtime
	stats  map[string]string
	states map[string]runtime.State
}

func (f *epRuntime) Stats(_ context.Context, id string) ([]byte, error) {
	s, ok := f.stats[id]
	if !ok {
		return nil, fmt.Errorf("stats of %s: %w", id, runtime.ErrNotFound)
	}
	return []byte(s), nil
}

func (f *epRuntime) InspectContainer(_ context.Context, id string) (runtime.State, error) {
	st, ok := f.states[id]
	if !ok {
		return runtime.State{}, runtime.ErrNotFound
	}
	return st, nil
}

const (
	epArnWeb   = "arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	epArnAPI   = "arn:aws:ecs:us-east-1:123456789012:task/prod/9a8b7c6d5e4f30211203f4e5d6c7b8a9"
	epInstance = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/5b6c7d8e"
	// app and sidecar share the prefix "abc"; api shares "ab" with them.
	epAppID  = "abc123def456" + "0000000000000000000000000000000000000000000000000001"
	epSideID = "abc999999999" + "0000000000000000000000000000000000000000000000000002"
	epAPIID  = "abd000000000" + "0000000000000000000000000000000000000000000000000003"
	// Times, as the JSON must show them (UTC, RFC 3339 with nanoseconds).
	epPullStart = "2025-01-02T03:00:00.5Z"
	epPullStop  = "2025-01-02T03:00:09.25Z"
	epStarted   = "2025-01-02T03:04:05.123456789Z"
	epFinished  = "2025-01-02T04:00:00Z"
	epCreated   = "2025-01-02T03:04:01.000000042Z"
)

var epZone = time.FixedZone("UTC+2", 2*3600)

// epTime parses one of the constants and returns it in another zone, so a
// response that forgot to convert to UTC shows.
func epTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.In(epZone)
}

// newEndpointAgent builds an agent running two hand-made tasks: "web"
// (bridge, a running app and an exited sidecar) and "api" (awsvpc, one
// container created, one only pulled).
func newEndpointAgent(t *testing.T) (*Agent, map[string]*task) {
	t.Helper()
	created := epTime(t, epCreated)
	rt := &epRuntime{
		stats: map[string]string{
			epAppID: `{"read":"2025-01-02T03:05:00Z","cpu_stats":{"online_cpus":2},"networks":{"eth0":{"rx_bytes":42}}}`,
			epAPIID: `{"read":"2025-01-02T03:05:01Z","memory_stats":{"usage":1048576}}`,
		},
		states: map[string]runtime.State{
			epAppID:  {ID: epAppID, CreatedAt: created, Networks: map[string]runtime.Endpoint{"bridge": {IPAddress: "172.17.0.5", Gateway: "172.17.0.1"}}},
			epSideID: {ID: epSideID, CreatedAt: created, Networks: map[string]runtime.Endpoint{"bridge": {}}},
			epAPIID:  {ID: epAPIID, CreatedAt: created},
		},
	}
	cfg := Config{Cluster: "prod", Version: "1.2.3", AvailabilityZone: "us-east-1b"}
	e := &engine{rt: rt, cfg: &cfg, log: slog.New(slog.DiscardHandler), instanceID: "inst-1", cluster: "prod", tasks: map[string]*task{}}
	a := &Agent{cfg: cfg, rt: rt, engine: e, ec2ID: "i-0123456789abcdef0", instanceARN: epInstance}

	pullStart, pullStop := epTime(t, epPullStart), epTime(t, epPullStop)
	web := newTask(e, &taskCheckpoint{
		Manifest: agentproto.TaskManifest{
			TaskARN: epArnWeb, Cluster: "prod", DesiredStatus: lifecycle.Running,
			Group: "service:web-svc", LaunchType: "EC2", AvailabilityZone: "us-east-1a",
			Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("team"), Value: ecsapi.Ptr("core")}},
			Definition: &ecsapi.TaskDefinition{
				Family: ecsapi.Ptr("web"), Revision: 3, Cpu: ecsapi.Ptr("512"), Memory: ecsapi.Ptr("1 GB"),
				ContainerDefinitions: []ecsapi.ContainerDefinition{
					{
						Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("nginx:1.27"), Cpu: 256, Memory: ecsapi.Ptr(int32(512)),
						PortMappings:     []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(80)), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)}},
						DockerLabels:     map[string]string{"team": "core"},
						LogConfiguration: &ecsapi.LogConfiguration{LogDriver: ecsapi.LogDriverJsonFile, Options: map[string]string{"max-size": "10m"}},
						HealthCheck:      &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}},
					},
					{
						Name: ecsapi.Ptr("sidecar"), Image: ecsapi.Ptr("busybox:1.36"), MemoryReservation: ecsapi.Ptr(int32(64)),
						Essential: ecsapi.Ptr(false), RestartPolicy: &ecsapi.ContainerRestartPolicy{Enabled: true},
					},
				},
			},
		},
		Containers: map[string]*containerCheckpoint{
			"app":     {DockerName: "ecs-web-3-app-a1b2", ID: epAppID, MetadataID: "md-app"},
			"sidecar": {DockerName: "ecs-web-3-sidecar-c3d4", ID: epSideID, MetadataID: "md-side", Restarts: 2},
		},
		State: agentproto.TaskState{TaskARN: epArnWeb, Status: lifecycle.Running, PullStartedAt: &pullStart, PullStoppedAt: &pullStop},
	}, false)
	app, side := web.ctrs["app"], web.ctrs["sidecar"]
	app.status, app.health, app.imageID, app.startedAt = lifecycle.Running, "HEALTHY", "sha256:aaa", epTime(t, epStarted)
	app.bindings = []ecsapi.NetworkBinding{{BindIP: ecsapi.Ptr("0.0.0.0"), ContainerPort: ecsapi.Ptr(int32(80)), HostPort: ecsapi.Ptr(int32(32768)), Protocol: ecsapi.Ptr(ecsapi.TransportProtocolTcp)}}
	side.status, side.imageID, side.startedAt, side.finishedAt = lifecycle.Stopped, "sha256:bbb", epTime(t, epStarted), epTime(t, epFinished)
	side.exitCode = ecsapi.Ptr(int32(2))

	api := newTask(e, &taskCheckpoint{
		Manifest: agentproto.TaskManifest{
			TaskARN: epArnAPI, Cluster: "prod", DesiredStatus: lifecycle.Running, Group: "family:api",
			Definition: &ecsapi.TaskDefinition{
				Family: ecsapi.Ptr("api"), Revision: 7, NetworkMode: ecsapi.Ptr(ecsapi.NetworkModeAwsvpc),
				ContainerDefinitions: []ecsapi.ContainerDefinition{
					{Name: ecsapi.Ptr("api"), Image: ecsapi.Ptr("example/api:2"), Memory: ecsapi.Ptr(int32(256)), PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(8080))}}},
					{Name: ecsapi.Ptr("worker"), Image: ecsapi.Ptr("example/worker:2")},
				},
			},
		},
		Containers: map[string]*containerCheckpoint{
			"api":    {DockerName: "ecs-api-7-api-e5f6", ID: epAPIID, MetadataID: "md-api"},
			"worker": {DockerName: "ecs-api-7-worker-0a0b", MetadataID: "md-worker"},
		},
		Pause: &containerCheckpoint{DockerName: "ecs-api-7-internalecspause-9f9f", ID: "feedface"},
		State: agentproto.TaskState{TaskARN: epArnAPI, Status: lifecycle.Activating, PrivateIP: "10.200.0.5", MacAddress: "02:42:0a:c8:00:05", SubnetCIDR: "10.200.0.0/24", Gateway: "10.200.0.1"},
	}, false)
	api.ctrs["api"].imageID = "sha256:ccc"
	api.ctrs["worker"].imageID = "sha256:ddd"

	e.tasks[epArnWeb], e.tasks[epArnAPI] = web, api
	return a, map[string]*task{"web": web, "api": api}
}

// epGet requests path from h and returns the status and body; every answer
// must be JSON.
func epGet(t *testing.T, h http.Handler, method, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Errorf("%s %s: body is not JSON: %s", method, path, rec.Body)
	}
	return rec.Code, rec.Body.Bytes()
}

// epExpand fills the fixture's placeholders into an expected JSON text.
var epExpand = strings.NewReplacer(
	"$ARNWEB", epArnWeb, "$ARNAPI", epArnAPI, "$INSTANCE", epInstance,
	"$APPID", epAppID, "$SIDEID", epSideID, "$APIID", epAPIID,
	"$PULLSTART", epPullStart, "$PULLSTOP", epPullStop, "$STARTED", epStarted, "$FINISHED", epFinished, "$CREATED", epCreated,
).Replace

// assertJSON compares got with want as JSON values: every field name and
// value, nothing more, nothing less.
func assertJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: decode response: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal([]byte(epExpand(want)), &w); err != nil {
		t.Fatalf("%s: decode expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, gi, wi)
	}
}

func epLabels(container, family, revision, arn string, extra string) string {
	return fmt.Sprintf(`{%s"com.amazonaws.ecs.cluster":"prod","com.amazonaws.ecs.container-name":%q,"com.amazonaws.ecs.task-arn":%q,
		"com.amazonaws.ecs.task-definition-family":%q,"com.amazonaws.ecs.task-definition-version":%q,"berth.instance":"inst-1","berth.role":"container"}`,
		extra, container, arn, family, revision)
}

var (
	epWantAppV4 = `{"DockerId":"$APPID","Name":"app","DockerName":"ecs-web-3-app-a1b2","Image":"nginx:1.27","ImageID":"sha256:aaa",
		"Ports":[{"ContainerPort":80,"Protocol":"tcp","HostPort":32768,"HostIp":"0.0.0.0"}],
		"Labels":` + epLabels("app", "web", "3", epArnWeb, `"team":"core",`) + `,
		"DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Limits":{"CPU":256,"Memory":512},
		"CreatedAt":"$CREATED","StartedAt":"$STARTED","Type":"NORMAL",
		"Networks":[{"NetworkMode":"bridge","IPv4Addresses":["172.17.0.5"]}],
		"Health":{"status":"HEALTHY"},"LogDriver":"json-file","LogOptions":{"max-size":"10m"}}`
	epWantSideV4 = `{"DockerId":"$SIDEID","Name":"sidecar","DockerName":"ecs-web-3-sidecar-c3d4","Image":"busybox:1.36","ImageID":"sha256:bbb",
		"Labels":` + epLabels("sidecar", "web", "3", epArnWeb, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"STOPPED","ExitCode":2,"Limits":{"CPU":2,"Memory":0},
		"CreatedAt":"$CREATED","StartedAt":"$STARTED","FinishedAt":"$FINISHED","Type":"NORMAL","RestartCount":2}`
	epAwsvpcV4 = `[{"NetworkMode":"awsvpc","IPv4Addresses":["10.200.0.5"],"AttachmentIndex":0,"MACAddress":"02:42:0a:c8:00:05",
		"IPv4SubnetCIDRBlock":"10.200.0.0/24","PrivateDNSName":"ecs-api-7-internalecspause-9f9f","SubnetGatewayIpv4Address":"10.200.0.1/24"}]`
	epWantAPIV4 = `{"DockerId":"$APIID","Name":"api","DockerName":"ecs-api-7-api-e5f6","Image":"example/api:2","ImageID":"sha256:ccc",
		"Ports":[{"ContainerPort":8080,"Protocol":"tcp","HostPort":8080}],
		"Labels":` + epLabels("api", "api", "7", epArnAPI, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"CREATED","Limits":{"CPU":2,"Memory":256},"CreatedAt":"$CREATED","Type":"NORMAL",
		"Networks":` + epAwsvpcV4 + `}`
	epWantWorkerV4 = `{"DockerId":"","Name":"worker","DockerName":"ecs-api-7-worker-0a0b","Image":"example/worker:2","ImageID":"sha256:ddd",
		"Labels":` + epLabels("worker", "api", "7", epArnAPI, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"PULLED","Limits":{"CPU":2,"Memory":0},"Type":"NORMAL",
		"Networks":` + epAwsvpcV4 + `}`
)

func TestIntrospectionMetadata(t *testing.T) {
	a, _ := newEndpointAgent(t)
	code, body := epGet(t, a.introspectionHandler(), "GET", "/v1/metadata")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	assertJSON(t, "/v1/metadata", body, `{"Cluster":"prod","ContainerInstanceArn":"$INSTANCE","Version":"Amazon ECS Agent - v1.2.3 (berth)"}`)

	// Before registration the ARN is null, as the ECS agent's pointer is.
	a.instanceARN = ""
	_, body = epGet(t, a.introspectionHandler(), "GET", "/v1/metadata")
	assertJSON(t, "/v1/metadata unregistered", body, `{"Cluster":"prod","ContainerInstanceArn":null,"Version":"Amazon ECS Agent - v1.2.3 (berth)"}`)
	if got := agentVersion("dev"); got != "Amazon ECS Agent - dev (berth)" {
		t.Errorf("agentVersion(dev) = %q", got)
	}
}

const (
	epWantIntroWeb = `{"Arn":"$ARNWEB","DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Family":"web","Version":"3","Containers":[
		{"DockerId":"$APPID","DockerName":"ecs-web-3-app-a1b2","Name":"app","Image":"nginx:1.27","ImageID":"sha256:aaa","StartedAt":"$STARTED",
		 "Ports":[{"ContainerPort":80,"Protocol":"tcp","HostPort":32768}]},
		{"DockerId":"$SIDEID","DockerName":"ecs-web-3-sidecar-c3d4","Name":"sidecar","Image":"busybox:1.36","ImageID":"sha256:bbb","StartedAt":"$STARTED","RestartCount":2}]}`
	epWantIntroAPI = `{"Arn":"$ARNAPI","DesiredStatus":"RUNNING","KnownStatus":"PENDING","Family":"api","Version":"7","Containers":[
		{"DockerId":"$APIID","DockerName":"ecs-api-7-api-e5f6","Name":"api","Image":"example/api:2","ImageID":"sha256:ccc",
		 "Ports":[{"ContainerPort":8080,"Protocol":"tcp","HostPort":8080}],"Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.200.0.5"]}]},
		{"DockerId":"","DockerName":"ecs-api-7-worker-0a0b","Name":"worker","Image":"example/worker:2","ImageID":"sha256:ddd",
		 "Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.200.0.5"]}]}]}`
	// epNoTask is the ECS agent's answer to a failed lookup: the zero task.
	epNoTask = `{"Arn":"","KnownStatus":"","Family":"","Version":"","Containers":null}`
)

func TestIntrospectionTasks(t *testing.T) {
	a, tasks := newEndpointAgent(t)
	h := a.introspectionHandler()
	code, body := epGet(t, h, "GET", "/v1/tasks")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	assertJSON(t, "/v1/tasks", body, `{"Tasks":[`+epWantIntroWeb+`,`+epWantIntroAPI+`]}`)

	// A stopped task whose desired status lags loses its DesiredStatus.
	web := tasks["web"]
	web.mu.Lock()
	web.cp.State.Status = lifecycle.Stopped
	web.mu.Unlock()
	_, body = epGet(t, h, "GET", "/v1/tasks?taskarn="+epArnWeb)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if _, has := got["DesiredStatus"]; has || got["KnownStatus"] != "STOPPED" {
		t.Errorf("stopped task: %s", body)
	}

	a.engine = &engine{tasks: map[string]*task{}}
	_, body = epGet(t, h, "GET", "/v1/tasks")
	assertJSON(t, "/v1/tasks with no tasks", body, `{"Tasks":[]}`)
}

func TestIntrospectionTaskQueries(t *testing.T) {
	a, _ := newEndpointAgent(t)
	h := a.introspectionHandler()
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"dockerid=" + epAppID, 200, epWantIntroWeb},
		{"dockerid=" + epSideID, 200, epWantIntroWeb},
		{"dockerid=" + epAPIID[:12], 200, epWantIntroAPI}, // short id
		{"dockerid=abc", 200, epWantIntroWeb},             // a prefix of two containers of one task
		{"dockerid=ab", 400, epNoTask},                    // of two tasks
		{"dockerid=" + epAppID[:13], 404, epNoTask},       // longer than a short id: must be exact
		{"dockerid=ffff", 404, epNoTask},                  // nobody's
		{"dockerid=", 404, epNoTask},                      // empty matches nothing
		{"taskarn=" + epArnAPI, 200, epWantIntroAPI},      // the task itself, not wrapped
		{"taskarn=arn:aws:ecs:us-east-1:1:task/x", 404, epNoTask},
		{"taskarn=" + epArnAPI + "&dockerid=" + epAPIID, 400, epNoTask},
	} {
		code, body := epGet(t, h, "GET", "/v1/tasks?"+tc.query)
		if code != tc.code {
			t.Errorf("?%s: status %d, want %d", tc.query, code, tc.code)
		}
		assertJSON(t, "?"+tc.query, body, tc.want)
	}
}

func TestMetadataV4Container(t *testing.T) {
	a, tasks := newEndpointAgent(t)
	h := a.metadataHandler()
	for path, want := range map[string]string{
		"/v4/md-app":    epWantAppV4,
		"/v4/md-app/":   epWantAppV4,
		"/v4/md-side":   epWantSideV4,
		"/v4/md-api":    epWantAPIV4,
		"/v4/md-worker": epWantWorkerV4,
	} {
		code, body := epGet(t, h, "GET", path)
		if code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, code, body)
		}
		assertJSON(t, path, body, want)
	}
	// The definition's labels are copied, not written to.
	if l := tasks["web"].ctrs["app"].def.DockerLabels; len(l) != 1 {
		t.Errorf("dockerLabels changed: %v", l)
	}
}

func TestMetadataV4Task(t *testing.T) {
	a, _ := newEndpointAgent(t)
	h := a.metadataHandler()
	webTask := func(tags string) string {
		return `{"Cluster":"prod","TaskARN":"$ARNWEB","Family":"web","Revision":"3","DesiredStatus":"RUNNING","KnownStatus":"RUNNING",
			"Containers":[` + epWantAppV4 + `,` + epWantSideV4 + `],"Limits":{"CPU":0.5,"Memory":1024},
			"PullStartedAt":"$PULLSTART","PullStoppedAt":"$PULLSTOP","AvailabilityZone":"us-east-1a",` + tags + `
			"LaunchType":"EC2","ServiceName":"web-svc","FaultInjectionEnabled":false}`
	}
	apiTask := `{"Cluster":"prod","TaskARN":"$ARNAPI","Family":"api","Revision":"7","DesiredStatus":"RUNNING","KnownStatus":"NONE",
		"Containers":[` + epWantAPIV4 + `,` + epWantWorkerV4 + `],"AvailabilityZone":"us-east-1b","LaunchType":"EC2","FaultInjectionEnabled":false}`
	for path, want := range map[string]string{
		"/v4/md-app/task":          webTask(""),
		"/v4/md-side/task":         webTask(""),
		"/v4/md-app/taskWithTags":  webTask(`"TaskTags":{"team":"core"},`),
		"/v4/md-worker/task":       apiTask,
		"/v4/md-api/taskWithTags/": apiTask, // no tags: none shown
	} {
		code, body := epGet(t, h, "GET", path)
		if code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, code, body)
		}
		assertJSON(t, path, body, want)
	}
}

func TestMetadataV3(t *testing.T) {
	a, _ := newEndpointAgent(t)
	h := a.metadataHandler()
	// v3 has no HostIp, LogDriver, LogOptions, RestartCount, LaunchType,
	// ServiceName, FaultInjectionEnabled or v4 interface properties.
	appV3 := `{"DockerId":"$APPID","Name":"app","DockerName":"ecs-web-3-app-a1b2","Image":"nginx:1.27","ImageID":"sha256:aaa",
		"Ports":[{"ContainerPort":80,"Protocol":"tcp","HostPort":32768}],
		"Labels":` + epLabels("app", "web", "3", epArnWeb, `"team":"core",`) + `,
		"DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Limits":{"CPU":256,"Memory":512},
		"CreatedAt":"$CREATED","StartedAt":"$STARTED","Type":"NORMAL",
		"Networks":[{"NetworkMode":"bridge","IPv4Addresses":["172.17.0.5"]}],"Health":{"status":"HEALTHY"}}`
	sideV3 := `{"DockerId":"$SIDEID","Name":"sidecar","DockerName":"ecs-web-3-sidecar-c3d4","Image":"busybox:1.36","ImageID":"sha256:bbb",
		"Labels":` + epLabels("sidecar", "web", "3", epArnWeb, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"STOPPED","ExitCode":2,"Limits":{"CPU":2,"Memory":0},
		"CreatedAt":"$CREATED","StartedAt":"$STARTED","FinishedAt":"$FINISHED","Type":"NORMAL"}`
	awsvpcV3 := `[{"NetworkMode":"awsvpc","IPv4Addresses":["10.200.0.5"]}]`
	apiV3 := `{"DockerId":"$APIID","Name":"api","DockerName":"ecs-api-7-api-e5f6","Image":"example/api:2","ImageID":"sha256:ccc",
		"Ports":[{"ContainerPort":8080,"Protocol":"tcp","HostPort":8080}],
		"Labels":` + epLabels("api", "api", "7", epArnAPI, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"CREATED","Limits":{"CPU":2,"Memory":256},"CreatedAt":"$CREATED","Type":"NORMAL",
		"Networks":` + awsvpcV3 + `}`
	workerV3 := `{"DockerId":"","Name":"worker","DockerName":"ecs-api-7-worker-0a0b","Image":"example/worker:2","ImageID":"sha256:ddd",
		"Labels":` + epLabels("worker", "api", "7", epArnAPI, "") + `,
		"DesiredStatus":"RUNNING","KnownStatus":"PULLED","Limits":{"CPU":2,"Memory":0},"Type":"NORMAL","Networks":` + awsvpcV3 + `}`
	for path, want := range map[string]string{
		"/v3/md-app": appV3,
		"/v3/md-api": apiV3,
		"/v3/md-side/task": `{"Cluster":"prod","TaskARN":"$ARNWEB","Family":"web","Revision":"3","DesiredStatus":"RUNNING","KnownStatus":"RUNNING",
			"Containers":[` + appV3 + `,` + sideV3 + `],"Limits":{"CPU":0.5,"Memory":1024},
			"PullStartedAt":"$PULLSTART","PullStoppedAt":"$PULLSTOP","AvailabilityZone":"us-east-1a"}`,
		"/v3/md-api/task": `{"Cluster":"prod","TaskARN":"$ARNAPI","Family":"api","Revision":"7","DesiredStatus":"RUNNING","KnownStatus":"NONE",
			"Containers":[` + apiV3 + `,` + workerV3 + `],"AvailabilityZone":"us-east-1b"}`,
	} {
		code, body := epGet(t, h, "GET", path)
		if code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, code, body)
		}
		assertJSON(t, path, body, want)
	}
}

func TestMetadataStats(t *testing.T) {
	a, _ := newEndpointAgent(t)
	h := a.metadataHandler()
	rt := a.rt.(*epRuntime)
	for _, path := range []string{"/v4/md-app/stats", "/v3/md-app/stats"} {
		code, body := epGet(t, h, "GET", path)
		if code != http.StatusOK || string(body) != rt.stats[epAppID] {
			t.Errorf("%s: %d %s, want the runtime's bytes", path, code, body)
		}
	}
	for _, path := range []string{"/v4/md-app/task/stats", "/v4/md-side/task/stats", "/v3/md-app/task/stats"} {
		code, body := epGet(t, h, "GET", path)
		if code != http.StatusOK {
			t.Errorf("%s: status %d", path, code)
		}
		// The sidecar has no stats: null, as ECS shows a container without.
		assertJSON(t, path, body, `{"$APPID":`+rt.stats[epAppID]+`,"$SIDEID":null}`)
	}
	// The worker was never created: it has no Docker id to list.
	code, body := epGet(t, h, "GET", "/v4/md-worker/task/stats")
	if code != http.StatusOK {
		t.Errorf("api task stats: status %d", code)
	}
	assertJSON(t, "api task stats", body, `{"$APIID":`+rt.stats[epAPIID]+`}`)

	for path, want := range map[string]int{
		"/v4/md-worker/stats": http.StatusNotFound,            // not created
		"/v4/md-side/stats":   http.StatusInternalServerError, // the runtime failed
	} {
		code, body := epGet(t, h, "GET", path)
		var msg string
		if code != want || json.Unmarshal(body, &msg) != nil || !strings.HasPrefix(msg, "V4 container stats handler: ") {
			t.Errorf("%s: %d %s, want %d and a V4 container stats handler message", path, code, body, want)
		}
	}
}

func TestMetadataErrors(t *testing.T) {
	a, _ := newEndpointAgent(t)
	meta, intro := a.metadataHandler(), a.introspectionHandler()
	for _, tc := range []struct {
		h            http.Handler
		method, path string
		code         int
		prefix       string
	}{
		{meta, "GET", "/v4/0123456789abcdef", 404, "V4 container metadata handler: "},
		{meta, "GET", "/v4/nope/task", 404, "V4 task metadata handler: "},
		{meta, "GET", "/v3/nope/task/stats", 404, "V3 task stats handler: "},
		{meta, "GET", "/v3/md-app/taskWithTags", 404, "no such path"}, // v4 only
		{meta, "GET", "/v4/md-app/bogus", 404, "no such path"},
		{meta, "GET", "/v4/", 404, "no such path"},
		{meta, "GET", "/v2/metadata", 404, "no such path"},
		{meta, "POST", "/v4/md-app", 405, "method not allowed"},
		{meta, "DELETE", "/v4/md-app/task", 405, "method not allowed"},
		{intro, "POST", "/v1/tasks", 405, "method not allowed"},
		{intro, "GET", "/v1/license", 404, "no such path"},
	} {
		code, body := epGet(t, tc.h, tc.method, tc.path)
		var msg string
		if code != tc.code || json.Unmarshal(body, &msg) != nil || !strings.HasPrefix(msg, tc.prefix) {
			t.Errorf("%s %s: %d %s, want %d and a message starting %q", tc.method, tc.path, code, body, tc.code, tc.prefix)
		}
	}
	rec := httptest.NewRecorder()
	meta.ServeHTTP(rec, httptest.NewRequest("PUT", "/v4/md-app", nil))
	if rec.Header().Get("Allow") != "GET" {
		t.Errorf("405 without Allow: GET: %v", rec.Header())
	}
}

// TestEndpointsReadUnderTaskLock serves requests while the task changes:
// the race detector catches any read outside t.mu.
func TestEndpointsReadUnderTaskLock(t *testing.T) {
	a, tasks := newEndpointAgent(t)
	meta, intro := a.metadataHandler(), a.introspectionHandler()
	web := tasks["web"]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			web.mu.Lock()
			c := web.ctrs["app"]
			c.startedAt = c.startedAt.Add(time.Second)
			c.bindings = append(c.bindings[:0:0], c.bindings...)
			c.health = []string{"HEALTHY", "UNHEALTHY"}[i%2]
			web.cp.State.Status = []string{lifecycle.Running, lifecycle.Stopping}[i%2]
			web.cp.Containers["sidecar"].Restarts = i
			web.cp.Manifest.DesiredStatus = []string{lifecycle.Running, lifecycle.Stopped}[i%2]
			web.mu.Unlock()
		}
	})
	for range 50 {
		for _, p := range []string{"/v4/md-app", "/v4/md-side/task", "/v3/md-app/task", "/v4/md-app/task/stats"} {
			if code, body := epGet(t, meta, "GET", p); code != http.StatusOK {
				t.Fatalf("%s: %d %s", p, code, body)
			}
		}
		if code, _ := epGet(t, intro, "GET", "/v1/tasks?dockerid=abc"); code != http.StatusOK {
			t.Fatalf("/v1/tasks?dockerid=abc: %d", code)
		}
	}
	close(stop)
	wg.Wait()
}
