package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWeightedForwardCLI: the blue/green pattern of the ECS guides. A
// listener forwards to two target groups by weight (ForwardConfig, AWS CLI
// v2 shorthand); requests split about 3:1; modify-listener moves every
// request to the green group.
func TestWeightedForwardCLI(t *testing.T) {
	bin, ok := awsCLIs(t)["v2"]
	if !ok {
		t.Skip("AWS CLI v2 not installed")
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
			return m
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	group := func(name string, b *backend) string {
		arn := run("create-target-group", "--name", name, "--protocol", "HTTP", "--port", "80", "--target-type", "ip", "--vpc-id", "vpc-1",
			"--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2", "--healthy-threshold-count", "2")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)
		host, p, _ := net.SplitHostPort(b.addr)
		run("register-targets", "--target-group-arn", arn, "--targets", "Id="+host+",Port="+p)
		return arn
	}
	blue, green := startBackend(t, "blue"), startBackend(t, "green")
	blueTG, greenTG := group("blue", blue), group("green", green)
	lbARN := run("create-load-balancer", "--name", "bg", "--subnets", "subnet-1", "subnet-2")["LoadBalancers"].([]any)[0].(map[string]any)["LoadBalancerArn"].(string)
	port := freeTCPPort(t)
	forward := func(wb, wg int) string {
		return fmt.Sprintf("Type=forward,ForwardConfig={TargetGroups=[{TargetGroupArn=%s,Weight=%d},{TargetGroupArn=%s,Weight=%d}]}", blueTG, wb, greenTG, wg)
	}
	listener := run("create-listener", "--load-balancer-arn", lbARN, "--protocol", "HTTP", "--port", strconv.Itoa(port),
		"--default-actions", forward(3, 1))["Listeners"].([]any)[0].(map[string]any)["ListenerArn"].(string)
	healthy := func(tg string) bool {
		d := run("describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"].([]any)
		return len(d) == 1 && d[0].(map[string]any)["TargetHealth"].(map[string]any)["State"] == "healthy"
	}
	waitFor(t, "both groups healthy", func() bool { return healthy(blueTG) && healthy(greenTG) })

	client := &http.Client{Timeout: 5 * time.Second}
	count := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET / = %d %q", resp.StatusCode, body)
			}
			seen[string(body)]++
		}
		return seen
	}
	// 3:1 over 400 requests: blue 300 ± 50 (about 6 standard deviations).
	if seen := count(400); seen["blue"] < 250 || seen["blue"] > 350 || seen["blue"]+seen["green"] != 400 {
		t.Fatalf("weights 3:1 gave %v", seen)
	}
	run("modify-listener", "--listener-arn", listener, "--default-actions", forward(0, 1))
	waitFor(t, "every request on green", func() bool { return count(20)["green"] == 20 })
	if seen := count(100); seen["green"] != 100 {
		t.Fatalf("weights 0:1 gave %v", seen)
	}
}
