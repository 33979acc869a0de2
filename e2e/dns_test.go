package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/miekg/dns"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	// The DNS server listens on UDP and TCP at the same port: the port must
	// be free on both.
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no port free on both UDP and TCP")
	return ""
}

// TestDNSServesCloudMap: a private DNS namespace and a service created with
// the AWS CLI resolve through berth's built-in DNS server (A, SRV and the
// SRV targets' A records), registrations show up and deregistrations go,
// and names in the namespace that do not exist are NXDOMAIN.
func TestDNSServesCloudMap(t *testing.T) {
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	dnsAddr := freeUDPPort(t)
	s := startServer(t, "", "--dns-listen", dnsAddr)
	run := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"servicediscovery"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	query := func(name string, qt uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qt)
		var r *dns.Msg
		var err error
		for range 50 { // the DNS server starts with the API
			if r, _, err = (&dns.Client{Timeout: time.Second}).Exchange(m, dnsAddr); err == nil {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: %v", name, err)
		return nil
	}
	aRecords := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		slices.Sort(out)
		return out
	}

	op := run("create-private-dns-namespace", "--name", "berth.local", "--vpc", "vpc-1")["OperationId"].(string)
	nsID := run("get-operation", "--operation-id", op)["Operation"].(map[string]any)["Targets"].(map[string]any)["NAMESPACE"].(string)
	srvID := run("create-service", "--name", "web", "--namespace-id", nsID,
		"--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10},{Type=SRV,TTL=10}]")["Service"].(map[string]any)["Id"].(string)

	if r := query("web.berth.local", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("a service without instances: rcode %s", dns.RcodeToString[r.Rcode])
	}
	run("register-instance", "--service-id", srvID, "--instance-id", "task-1", "--attributes", "AWS_INSTANCE_IPV4=10.1.2.3,AWS_INSTANCE_PORT=8080")
	run("register-instance", "--service-id", srvID, "--instance-id", "task-2", "--attributes", "AWS_INSTANCE_IPV4=10.1.2.4,AWS_INSTANCE_PORT=8081")

	r := query("WEB.berth.local", dns.TypeA)
	if got := aRecords(r); !r.Authoritative || !slices.Equal(got, []string{"10.1.2.3", "10.1.2.4"}) {
		t.Errorf("A web.berth.local = %v (authoritative %v)", got, r.Authoritative)
	}
	r = query("web.berth.local", dns.TypeSRV)
	var srv []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			srv = append(srv, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
	}
	slices.Sort(srv)
	if !slices.Equal(srv, []string{"task-1.web.berth.local.:8080", "task-2.web.berth.local.:8081"}) || len(r.Extra) != 2 {
		t.Errorf("SRV web.berth.local = %v, extra %v", srv, r.Extra)
	}
	if got := aRecords(query("task-2.web.berth.local", dns.TypeA)); !slices.Equal(got, []string{"10.1.2.4"}) {
		t.Errorf("A of the SRV target task-2 = %v", got)
	}
	if r := query("nope.berth.local", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("an unknown name in the namespace: rcode %s", dns.RcodeToString[r.Rcode])
	}

	run("deregister-instance", "--service-id", srvID, "--instance-id", "task-1")
	if got := aRecords(query("web.berth.local", dns.TypeA)); !slices.Equal(got, []string{"10.1.2.4"}) {
		t.Errorf("after deregistering task-1: %v", got)
	}
}

// TestServiceRegistriesResolve: an awsvpc service with serviceRegistries
// on a real agent appears in DNS: web.<namespace> answers the RUNNING
// tasks' addresses, and scaling the service changes the answers.
func TestServiceRegistriesResolve(t *testing.T) {
	img := requireDocker(t)
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	dnsAddr := freeUDPPort(t)
	s := startServer(t, "", "--dns-listen", dnsAddr, "--service-healthy-after", "1s")
	startAgent(t, s, "default")
	c := s.ecs(t)
	ctx := context.Background()
	sd := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"servicediscovery"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	op := sd("create-private-dns-namespace", "--name", "apps.local", "--vpc", "vpc-1")["OperationId"].(string)
	nsID := sd("get-operation", "--operation-id", op)["Operation"].(map[string]any)["Targets"].(map[string]any)["NAMESPACE"].(string)
	registry := sd("create-service", "--name", "web", "--namespace-id", nsID,
		"--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]")["Service"].(map[string]any)["Arn"].(string)

	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true), Command: []string{"testapp", "sleep", "3600"}}}})
	update := func(n int32) {
		t.Helper()
		if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-berth"}}},
		ServiceRegistries:    []types.ServiceRegistry{{RegistryArn: aws.String(registry)}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { update(0) })

	taskIPs := func() []string {
		arns, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusRunning})
		if err != nil || len(arns.TaskArns) == 0 {
			return nil
		}
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns.TaskArns})
		if err != nil {
			return nil
		}
		var ips []string
		for _, tk := range out.Tasks {
			for _, a := range tk.Attachments {
				for _, d := range a.Details {
					if aws.ToString(d.Name) == "privateIPv4Address" && aws.ToString(tk.LastStatus) == "RUNNING" {
						ips = append(ips, aws.ToString(d.Value))
					}
				}
			}
		}
		slices.Sort(ips)
		return ips
	}
	resolve := func() []string {
		m := new(dns.Msg)
		m.SetQuestion("web.apps.local.", dns.TypeA)
		r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, dnsAddr)
		if err != nil {
			return nil
		}
		var ips []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				ips = append(ips, a.A.String())
			}
		}
		slices.Sort(ips)
		return ips
	}
	for _, n := range []int{1, 2} {
		if n == 2 {
			update(2)
		}
		waitFor(t, fmt.Sprintf("DNS to answer the %d running tasks' addresses", n), func() bool {
			want := taskIPs()
			return len(want) == n && slices.Equal(resolve(), want)
		})
	}
	update(1)
	waitFor(t, "DNS to drop the stopped task", func() bool {
		return len(resolve()) == 1 && slices.Equal(resolve(), taskIPs())
	})
}

// docker0IP is the host's address on Docker's default bridge: every
// container can reach it.
func docker0IP(t *testing.T) string {
	t.Helper()
	ifc, err := net.InterfaceByName("docker0")
	if err != nil {
		t.Skipf("no docker0 interface: %v", err)
	}
	addrs, _ := ifc.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	t.Skip("docker0 has no IPv4 address")
	return ""
}

// TestTaskResolvesServiceByName: with the agent's --task-dns pointing at
// berth's DNS server, a task reaches another service by its Cloud Map name
// from inside its container (the guides' "call web.apps.local:8080").
func TestTaskResolvesServiceByName(t *testing.T) {
	img := requireDocker(t)
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	gw := docker0IP(t)
	probe, err := net.ListenPacket("udp", gw+":53")
	if err != nil {
		t.Skipf("port 53 on %s is not free: %v", gw, err)
	}
	probe.Close()
	s := startServer(t, "", "--dns-listen", gw+":53", "--service-healthy-after", "1s")
	a := startAgent(t, s, "default", "--task-dns", gw)
	c := s.ecs(t)
	ctx := context.Background()
	sd := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"servicediscovery"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	op := sd("create-private-dns-namespace", "--name", "apps.local", "--vpc", "vpc-1")["OperationId"].(string)
	nsID := sd("get-operation", "--operation-id", op)["Operation"].(map[string]any)["Targets"].(map[string]any)["NAMESPACE"].(string)
	registry := sd("create-service", "--name", "web", "--namespace-id", nsID,
		"--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10},{Type=SRV,TTL=10}]")["Service"].(map[string]any)["Arn"].(string)
	nc := &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-berth"}}}
	web := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"testapp", "serve", "8080", "hello by name"}}}})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(web), DesiredCount: aws.Int32(1),
		NetworkConfiguration: nc, ServiceRegistries: []types.ServiceRegistry{{RegistryArn: aws.String(registry), Port: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)})
		removeContainers(a.InstanceID)
	})
	// By the A record and a known port, then by the SRV record alone (the
	// port comes from the answer).
	for _, url := range []string{"http://web.apps.local:8080/", "srv://web.apps.local/"} {
		client := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("client"), NetworkMode: types.NetworkModeAwsvpc,
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("get"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
				Command: []string{"testapp", "get", "--retry", "150", url}}}})
		tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(client), NetworkConfiguration: nc})
		done := waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
		ctr := container(t, done, "get")
		if ctr.ExitCode == nil || *ctr.ExitCode != 0 {
			t.Fatalf("the client task could not reach %s: exit %s, reason %q", url, fmtExit(ctr.ExitCode), aws.ToString(done.StoppedReason))
		}
	}
}
