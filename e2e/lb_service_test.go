package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestServiceBehindLoadBalancer: a bridge-mode service with a dynamic host
// port behind an application load balancer, on a real agent: both tasks
// are registered as instance targets on their host ports, turn healthy by
// the target group's /health check, and requests through the listener
// spread over them; a rolling update to a new revision keeps serving a
// steady request loop and ends with every request answered by the new
// revision.
func TestServiceBehindLoadBalancer(t *testing.T) {
	img := requireDocker(t)
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	s := startServer(t, "", "--service-healthy-after", "1s")
	a := startAgent(t, s, "default")
	c := s.ecs(t)
	ctx := context.Background()
	elb := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"elbv2"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%v: %q", args, out)
			}
		}
		return m
	}
	tg := elb("create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "8080", "--target-type", "instance", "--vpc-id", "vpc-1",
		"--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
		"--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)
	elb("modify-target-group-attributes", "--target-group-arn", tg, "--attributes", "Key=deregistration_delay.timeout_seconds,Value=3")
	lbARN := elb("create-load-balancer", "--name", "web", "--subnets", "subnet-1", "subnet-2")["LoadBalancers"].([]any)[0].(map[string]any)["LoadBalancerArn"].(string)
	port := freeTCPPort(t)
	elb("create-listener", "--load-balancer-arn", lbARN, "--protocol", "HTTP", "--port", strconv.Itoa(port), "--default-actions", "Type=forward,TargetGroupArn="+tg)

	td := func(body string) string {
		cmd := []string{"testapp", "serve", "8080"}
		if body != "" {
			cmd = append(cmd, body)
		}
		return registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeBridge,
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
				Command: cmd, PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	}
	v1 := td("")
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(v1), DesiredCount: aws.Int32(2),
		HealthCheckGracePeriodSeconds: aws.Int32(30),
		LoadBalancers:                 []types.LoadBalancer{{TargetGroupArn: aws.String(tg), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)})
		waitFor(t, "the service's tasks to stop", func() bool {
			out, err := c.ListTasks(context.Background(), &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusRunning})
			return err == nil && len(out.TaskArns) == 0
		})
		removeContainers(a.InstanceID)
	})
	stable := func(taskDef string) bool {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Services: []string{"web"}})
		if err != nil || len(out.Services) != 1 {
			return false
		}
		svc := out.Services[0]
		return len(svc.Deployments) == 1 && svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted &&
			aws.ToString(svc.Deployments[0].TaskDefinition) == taskDef && svc.RunningCount == 2
	}
	waitFor(t, "the service steady behind the load balancer", func() bool { return stable(v1) })

	client := &http.Client{Timeout: 5 * time.Second}
	get := func() (string, error) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return string(body), nil
	}
	bodies := map[string]bool{}
	for range 20 {
		body, err := get()
		if err != nil {
			t.Fatal(err)
		}
		bodies[body] = true
	}
	if len(bodies) != 2 {
		t.Errorf("requests through the listener reached %d tasks, want 2: %v", len(bodies), bodies)
	}

	// Rolling update under a steady, bounded request loop.
	v2 := td("v2")
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var sent, failed int
	var firstErr error
	for !stable(v2) && time.Now().Before(deadline) && sent < 20000 {
		for range 20 {
			sent++
			if _, err := get(); err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !stable(v2) {
		t.Fatalf("the rolling update did not complete")
	}
	t.Logf("rolling update: %d requests, %d failed (first: %v)", sent, failed, firstErr)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling update; first: %v", failed, sent, firstErr)
	}
	time.Sleep(4 * time.Second) // the old targets' deregistration delay
	for range 10 {
		if body, err := get(); err != nil || body != "v2" {
			t.Fatalf("after the rollout: %q, %v", body, err)
		}
	}
}
