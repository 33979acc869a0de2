package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend is an HTTP server on loopback that answers / with its name and
// /health with 200 until told to fail.
type backend struct {
	name    string
	addr    string
	failing atomic.Bool
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if b.failing.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		fmt.Fprint(w, b.name)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLoadBalancerCLI: a target group with an HTTP health check on /health,
// an application load balancer, a listener on a real port and a path rule,
// all made with the AWS CLI; requests through the listener spread over the
// healthy targets, the rule answers its path, and a target whose health
// check fails stops receiving traffic.
func TestLoadBalancerCLI(t *testing.T) {
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	s := startServer(t, "")
	run := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"elbv2"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if strings.TrimSpace(out) == "" {
			return m // operations with an empty result print nothing
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	a, b := startBackend(t, "alpha"), startBackend(t, "beta")
	tg := run("create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80", "--target-type", "ip", "--vpc-id", "vpc-1",
		"--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)
	lbARN := run("create-load-balancer", "--name", "web", "--subnets", "subnet-1", "subnet-2")["LoadBalancers"].([]any)[0].(map[string]any)["LoadBalancerArn"].(string)
	port := freeTCPPort(t)
	listener := run("create-listener", "--load-balancer-arn", lbARN, "--protocol", "HTTP", "--port", strconv.Itoa(port),
		"--default-actions", "Type=forward,TargetGroupArn="+tg)["Listeners"].([]any)[0].(map[string]any)["ListenerArn"].(string)
	run("create-rule", "--listener-arn", listener, "--priority", "10", "--conditions", "Field=path-pattern,Values=/api/*",
		"--actions", "Type=fixed-response,FixedResponseConfig={StatusCode=200,ContentType=text/plain,MessageBody=api}")
	targets := func(bs ...*backend) []string {
		var out []string
		for _, b := range bs {
			host, p, _ := net.SplitHostPort(b.addr)
			out = append(out, "Id="+host+",Port="+p)
		}
		return out
	}
	run(append([]string{"register-targets", "--target-group-arn", tg, "--targets"}, targets(a, b)...)...)

	health := func() map[string]string {
		out := map[string]string{}
		for _, d := range run("describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"].([]any) {
			d := d.(map[string]any)
			tgt := d["Target"].(map[string]any)
			out[fmt.Sprintf("127.0.0.1:%v", tgt["Port"])] = d["TargetHealth"].(map[string]any)["State"].(string)
		}
		return out
	}
	waitFor(t, "both targets healthy", func() bool {
		h := health()
		return h[a.addr] == "healthy" && h[b.addr] == "healthy"
	})

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (string, int) {
		t.Helper()
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body), resp.StatusCode
	}
	seen := map[string]int{}
	for range 20 {
		body, code := get("/")
		if code != 200 {
			t.Fatalf("GET / = %d %q", code, body)
		}
		seen[body]++
	}
	if seen["alpha"] == 0 || seen["beta"] == 0 {
		t.Errorf("requests were not spread over both targets: %v", seen)
	}
	if body, code := get("/api/users"); code != 200 || body != "api" {
		t.Errorf("GET /api/users = %d %q, want the rule's fixed response", code, body)
	}

	// beta fails its health check: it is reported unhealthy and gets no
	// more traffic.
	b.failing.Store(true)
	waitFor(t, "beta unhealthy", func() bool { return health()[b.addr] == "unhealthy" })
	for range 10 {
		if body, _ := get("/"); body != "alpha" {
			t.Fatalf("an unhealthy target got a request: %q", body)
		}
	}
	if h := health(); h[a.addr] != "healthy" {
		t.Errorf("alpha is %q, want healthy", h[a.addr])
	}
}
