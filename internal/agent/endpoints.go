package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/taskdef"
)

// The agent's two HTTP APIs, as the ECS container agent serves them:
//
//   - introspection (port 51678, on the host): GET /v1/metadata
//     and GET /v1/tasks[?dockerid=|?taskarn=];
//   - task metadata (ECS_CONTAINER_METADATA_URI_V4 and _URI, reached from
//     containers): GET /v4/{id}, /v4/{id}/task, /v4/{id}/taskWithTags,
//     /v4/{id}/stats, /v4/{id}/task/stats and the v3 equivalents, where
//     {id} is a container's MetadataID.
//
// Shapes are in endpoints_shapes.go.

const (
	// shortDockerIDLen: a ?dockerid= of at most this many characters is a
	// prefix (docker ps's short id); a longer one must match exactly.
	shortDockerIDLen = 12
	// runtimeTimeout bounds the runtime calls one request makes.
	runtimeTimeout = 5 * time.Second
)

// introspectionHandler serves the ECS agent introspection API.
func (a *Agent) introspectionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			methodNotAllowed(w)
			return
		}
		switch r.URL.Path {
		case "/v1/metadata":
			writeJSON(w, http.StatusOK, a.agentMetadata())
		case "/v1/tasks":
			a.serveIntrospectionTasks(w, r)
		default:
			writeJSON(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		}
	})
}

func (a *Agent) agentMetadata() introAgentMetadata {
	m := introAgentMetadata{Cluster: a.cfg.Cluster, Version: agentVersion(a.cfg.Version)}
	if a.instanceARN != "" {
		arn := a.instanceARN
		m.ContainerInstanceArn = &arn
	}
	return m
}

// agentVersion is the ECS agent's "Amazon ECS Agent - v1.30.0 (02ff320c)",
// with berth's version and "berth" where the ECS agent has its git hash:
// tools parse the "v<semver>".
func agentVersion(v string) string {
	if v == "" {
		v = "dev"
	}
	if v[0] >= '0' && v[0] <= '9' {
		v = "v" + v
	}
	return "Amazon ECS Agent - " + v + " (berth)"
}

// serveIntrospectionTasks answers /v1/tasks. As the ECS agent does, a
// lookup that fails answers the zero task object with 404 (400 for an
// ambiguous short id or both parameters).
func (a *Agent) serveIntrospectionTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hasID, hasARN := q.Has("dockerid"), q.Has("taskarn")
	switch {
	case hasID && hasARN:
		writeJSON(w, http.StatusBadRequest, introTask{})
	case hasID:
		id := q.Get("dockerid")
		var found []*taskView
		for _, v := range a.taskViews() {
			if slices.ContainsFunc(v.ctrs, func(c ctrView) bool { return dockerIDMatches(c.dockerID, id) }) {
				found = append(found, v)
			}
		}
		switch len(found) {
		case 0:
			writeJSON(w, http.StatusNotFound, introTask{})
		case 1:
			writeJSON(w, http.StatusOK, found[0].introspection())
		default:
			writeJSON(w, http.StatusBadRequest, introTask{})
		}
	case hasARN:
		var t *task
		if a.engine != nil {
			t = a.engine.byARN(q.Get("taskarn"))
		}
		if t == nil {
			writeJSON(w, http.StatusNotFound, introTask{})
			return
		}
		writeJSON(w, http.StatusOK, a.viewOf(t).introspection())
	default:
		out := introTasks{Tasks: []*introTask{}}
		for _, v := range a.taskViews() {
			out.Tasks = append(out.Tasks, v.introspection())
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func dockerIDMatches(dockerID, query string) bool {
	if dockerID == "" || query == "" {
		return false
	}
	if len(query) > shortDockerIDLen {
		return dockerID == query
	}
	return strings.HasPrefix(dockerID, query)
}

// metadataHandler serves the task metadata endpoint, v4 and v3.
func (a *Agent) metadataHandler() http.Handler {
	return http.HandlerFunc(a.serveMetadata)
}

func (a *Agent) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	version, id, rest, ok := parseMetadataPath(r.URL.Path)
	if !ok {
		writeJSON(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		return
	}
	v4 := version == "v4"
	prefix := strings.ToUpper(version)
	kind := map[string]string{"": "container metadata", "task": "task metadata", "stats": "container stats", "task/stats": "task stats"}[rest]
	if rest == "taskWithTags" && v4 {
		kind = "task metadata"
	}
	if kind == "" {
		writeJSON(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		return
	}
	handler := fmt.Sprintf("%s %s handler", prefix, kind)
	v, name := a.byMetadataID(id)
	if v == nil {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: no container has endpoint id %s", handler, id))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), runtimeTimeout)
	defer cancel()
	switch rest {
	case "":
		c := v.ctr(name)
		writeJSON(w, http.StatusOK, v.container(c, stateOf(a.inspect(ctx, *c), c.dockerID), v4))
	case "task", "taskWithTags":
		writeJSON(w, http.StatusOK, v.task(a.inspect(ctx, v.ctrs...), v4, rest == "taskWithTags"))
	case "stats":
		c := v.ctr(name)
		if c.dockerID == "" {
			writeJSON(w, http.StatusNotFound, fmt.Sprintf("%s: container %s has not been created", handler, name))
			return
		}
		b, err := a.stats(ctx, c.dockerID)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, fmt.Sprintf("%s: unable to get stats for container %s: %v", handler, c.dockerID, err))
			return
		}
		writeRaw(w, http.StatusOK, b)
	case "task/stats":
		writeJSON(w, http.StatusOK, a.taskStats(ctx, v))
	}
}

// parseMetadataPath splits /v4/{id}[/rest] (or /v3/...); a trailing slash
// is ignored.
func parseMetadataPath(p string) (version, id, rest string, ok bool) {
	p = strings.TrimSuffix(p, "/")
	for _, ver := range []string{"v4", "v3"} {
		if after, found := strings.CutPrefix(p, "/"+ver+"/"); found {
			id, rest, _ = strings.Cut(after, "/")
			return ver, id, rest, id != ""
		}
	}
	return "", "", "", false
}

// byMetadataID finds the container whose metadata endpoint id is id and
// returns its task's view and the container's name.
func (a *Agent) byMetadataID(id string) (*taskView, string) {
	if a.engine == nil {
		return nil, ""
	}
	for _, t := range a.engine.snapshot() {
		t.mu.Lock()
		name := ""
		for n, cc := range t.cp.Containers {
			if cc != nil && cc.MetadataID == id {
				name = n
			}
		}
		t.mu.Unlock()
		if name != "" {
			v := a.viewOf(t)
			if v.ctr(name) != nil {
				return v, name
			}
		}
	}
	return nil, ""
}

func (v *taskView) ctr(name string) *ctrView {
	for i := range v.ctrs {
		if v.ctrs[i].name == name {
			return &v.ctrs[i]
		}
	}
	return nil
}

// taskViews are the views of every task, ordered by ARN.
func (a *Agent) taskViews() []*taskView {
	if a.engine == nil {
		return nil
	}
	var out []*taskView
	for _, t := range a.engine.snapshot() {
		out = append(out, a.viewOf(t))
	}
	slices.SortFunc(out, func(x, y *taskView) int { return strings.Compare(x.arn, y.arn) })
	return out
}

// taskView is a copy of what the endpoints show of a task, taken under
// t.mu so rendering needs no lock.
type taskView struct {
	arn, cluster, desired, status string
	def                           *ecsapi.TaskDefinition // never mutated in place
	mode                          ecsapi.NetworkMode
	group, launchType, az         string
	tags                          []ecsapi.Tag
	pullStarted, pullStopped      *time.Time
	execStopped                   *time.Time
	ip, mac, subnet, gateway      string
	pauseName                     string
	instanceID                    string
	ctrs                          []ctrView
}

type ctrView struct {
	name, dockerID, dockerName, metadataID string
	def                                    ecsapi.ContainerDefinition
	status, health, imageID, digest        string
	exitCode                               *int32
	bindings                               []ecsapi.NetworkBinding
	startedAt, finishedAt                  time.Time
	stopping                               bool
	restarts                               int
}

// viewOf copies what the endpoints show of t, under t.mu.
func (a *Agent) viewOf(t *task) *taskView {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.cp.Manifest
	st := t.cp.State
	v := &taskView{
		arn: m.TaskARN, cluster: m.Cluster, desired: m.DesiredStatus, status: st.Status,
		def: m.Definition, mode: taskdef.EffectiveNetworkMode(m.Definition),
		group: m.Group, launchType: m.LaunchType, az: m.AvailabilityZone, tags: slices.Clone(m.Tags),
		pullStarted: copyTime(st.PullStartedAt), pullStopped: copyTime(st.PullStoppedAt), execStopped: copyTime(st.ExecutionStoppedAt),
		ip: st.PrivateIP, mac: st.MacAddress, subnet: st.SubnetCIDR, gateway: st.Gateway,
	}
	if v.az == "" {
		v.az = a.cfg.AvailabilityZone
	}
	if a.engine != nil {
		v.instanceID = a.engine.instanceID
	}
	if t.cp.Pause != nil {
		v.pauseName = t.cp.Pause.DockerName
	}
	for _, name := range t.order {
		c := t.ctrs[name]
		if c == nil {
			continue
		}
		cv := ctrView{
			name: name, def: c.def, status: c.status, health: c.health, imageID: c.imageID, digest: c.digest,
			bindings: slices.Clone(c.bindings), startedAt: c.startedAt, finishedAt: c.finishedAt, stopping: c.stopping,
		}
		if c.exitCode != nil {
			code := *c.exitCode
			cv.exitCode = &code
		}
		if cc := t.cp.Containers[name]; cc != nil {
			cv.dockerID, cv.dockerName, cv.metadataID, cv.restarts = cc.ID, cc.DockerName, cc.MetadataID, cc.Restarts
		}
		v.ctrs = append(v.ctrs, cv)
	}
	return v
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// inspect asks the runtime about the created containers among cs (their
// creation time and bridge address are not kept by the task). Failures
// leave a container out: the answer then just lacks those fields.
func (a *Agent) inspect(ctx context.Context, cs ...ctrView) map[string]runtime.State {
	out := map[string]runtime.State{}
	if a.rt == nil {
		return out
	}
	for _, c := range cs {
		if c.dockerID == "" {
			continue
		}
		if st, err := a.rt.InspectContainer(ctx, c.dockerID); err == nil {
			out[c.dockerID] = st
		}
	}
	return out
}

func (a *Agent) stats(ctx context.Context, dockerID string) ([]byte, error) {
	if a.rt == nil {
		return nil, fmt.Errorf("no container runtime")
	}
	b, err := a.rt.Stats(ctx, dockerID)
	if err == nil && !json.Valid(b) {
		err = fmt.Errorf("the runtime's stats are not JSON")
	}
	return b, err
}

// taskStats maps every created container's Docker id to its stats (null
// when the runtime has none), sampled concurrently.
func (a *Agent) taskStats(ctx context.Context, v *taskView) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range v.ctrs {
		if c.dockerID == "" {
			continue
		}
		wg.Go(func() {
			b, err := a.stats(ctx, c.dockerID)
			if err != nil {
				b = []byte("null")
			}
			mu.Lock()
			out[c.dockerID] = b
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`"failed to encode the response"`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", http.MethodGet)
	writeJSON(w, http.StatusMethodNotAllowed, "method not allowed: only GET is supported")
}
