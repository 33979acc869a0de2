package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/miekg/dns"
)

// requireDig returns the path of dig (Debian's bind9-dnsutils), the DNS
// client independent of berth's own DNS library.
func requireDig(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("dig")
	if err != nil {
		requireTool(t, "dig")
	}
	return path
}

// dig runs `dig @server -p port +short qtype name` and returns the answer
// lines ("" on a failed query, so callers poll).
func dig(t *testing.T, bin, hostport, qtype, name string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "@"+host, "-p", port, "+short", "+time=1", "+tries=2", qtype, name).Output()
	if err != nil {
		return []string{"dig failed: " + err.Error()}
	}
	return lines(string(out))
}

// digSRV resolves name's SRV records and their targets' A records with dig
// as "<target's first label>@<ip>:<port>", sorted.
func digSRV(t *testing.T, bin, hostport, name string) []string {
	t.Helper()
	var out []string
	for _, l := range dig(t, bin, hostport, "SRV", name) {
		f := strings.Fields(l) // priority weight port target
		if len(f) != 4 {
			return []string{"unexpected dig answer: " + l}
		}
		ips := dig(t, bin, hostport, "A", f[3])
		if len(ips) != 1 {
			return []string{fmt.Sprintf("A %s: %v", f[3], ips)}
		}
		label, _, _ := strings.Cut(f[3], ".")
		out = append(out, label+"@"+net.JoinHostPort(ips[0], f[2]))
	}
	slices.Sort(out)
	return out
}

// querySRV resolves name's SRV records with miekg/dns, taking the targets'
// addresses from the answer's additional section, in digSRV's form.
func querySRV(addr, name string) []string {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeSRV)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr)
	if err != nil {
		return []string{"query failed: " + err.Error()}
	}
	ips := map[string]string{}
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok {
			ips[strings.ToLower(a.Hdr.Name)] = a.A.String()
		}
	}
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			label, _, _ := strings.Cut(s.Target, ".")
			out = append(out, label+"@"+net.JoinHostPort(ips[strings.ToLower(s.Target)], strconv.Itoa(int(s.Port))))
		}
	}
	slices.Sort(out)
	return out
}

// cloudMap is an aws-sdk-go-v2 Cloud Map client for the server at url.
func cloudMap(url, keyID, secret string) *servicediscovery.Client {
	return servicediscovery.New(servicediscovery.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:       sdkclientHTTP(),
		RetryMaxAttempts: 1,
		APIOptions:       []func(*middleware.Stack) error{noHostPrefix},
	})
}

// privateNamespace creates a private DNS namespace and returns its id.
func privateNamespace(t *testing.T, sd *servicediscovery.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	created, err := sd.CreatePrivateDnsNamespace(ctx, &servicediscovery.CreatePrivateDnsNamespaceInput{Name: aws.String(name), Vpc: aws.String("vpc-1")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := sd.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: created.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	return op.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)]
}

// discoveryService creates a Cloud Map service with DNS records of the
// given types in a namespace and returns its ARN.
func discoveryService(t *testing.T, sd *servicediscovery.Client, nsID, name string, recordTypes ...sdtypes.RecordType) string {
	t.Helper()
	var recs []sdtypes.DnsRecord
	for _, rt := range recordTypes {
		recs = append(recs, sdtypes.DnsRecord{Type: rt, TTL: aws.Int64(10)})
	}
	out, err := sd.CreateService(context.Background(), &servicediscovery.CreateServiceInput{Name: aws.String(name), NamespaceId: aws.String(nsID),
		DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: recs}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Service.Arn)
}

// dockerBridgeGateway is the gateway of Docker's default bridge network
// (when Docker does not report one, the default IPAM driver's choice: the
// subnet's first address), or "" when Docker does not say.
func dockerBridgeGateway(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("docker", "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}|{{.Subnet}} {{end}}").Output()
	if err != nil {
		return ""
	}
	for _, f := range strings.Fields(string(out)) {
		gw, subnet, _ := strings.Cut(f, "|")
		if a, err := netip.ParseAddr(gw); err == nil && a.Is4() {
			return gw
		}
		if p, err := netip.ParsePrefix(subnet); err == nil && p.Addr().Is4() {
			return p.Masked().Addr().Next().String()
		}
	}
	return ""
}

// instanceAttribute is the value of a container instance's attribute.
func instanceAttribute(ci *types.ContainerInstance, name string) string {
	for _, a := range ci.Attributes {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// TestDNSBridgeServiceSRV: a bridge-mode service with a dynamic host port
// and serviceRegistries (SRV, containerName/containerPort) on a real agent:
// its RUNNING tasks answer SRV queries (dig and miekg/dns alike) with their
// host ports and targets whose A records are the agent's host address (the
// Docker bridge gateway by default), an HTTP request to an answer reaches
// the task, two tasks on the one host answer with one address and two
// ports, and scaling to 0 leaves no answer. An awsvpc service's A record is
// checked with dig too.
func TestDNSBridgeServiceSRV(t *testing.T) {
	img := requireDocker(t)
	digBin := requireDig(t)
	dnsAddr := freeUDPPort(t)
	s := startServer(t, "", "--dns-listen", dnsAddr, "--service-healthy-after", "1s")
	a := startAgent(t, s, "default")
	c := s.ecs(t)
	ctx := context.Background()
	ci := findInstance(t, c, "default", a.InstanceID)
	host := instanceAttribute(ci, "berth.host-address")
	if gw := dockerBridgeGateway(t); host == "" || (gw != "" && host != gw) {
		t.Fatalf("berth.host-address = %q, want the Docker bridge gateway %q", host, gw)
	}
	sd := cloudMap(s.URL, testKeyID, testSecret)
	nsID := privateNamespace(t, sd, "bridge.local")
	registry := discoveryService(t, sd, nsID, "web", sdtypes.RecordTypeSrv)

	td := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"testapp", "serve", "8080", "bridge web"}, StopTimeout: aws.Int32(2),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	// ECS's rule for bridge mode: containerName and containerPort.
	_, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		ServiceRegistries: []types.ServiceRegistry{{RegistryArn: aws.String(registry)}}})
	wantCode(t, err, "InvalidParameterException")
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(td), DesiredCount: aws.Int32(1),
		ServiceRegistries: []types.ServiceRegistry{{RegistryArn: aws.String(registry), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	scale := func(n int32) {
		t.Helper()
		if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(n)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)})
		removeContainers(a.InstanceID)
	})

	// want is what DNS should answer: every RUNNING task at the host
	// address and its container's host port.
	want := func() []string {
		arns, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("web"), DesiredStatus: types.DesiredStatusRunning})
		if err != nil || len(arns.TaskArns) == 0 {
			return nil
		}
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns.TaskArns})
		if err != nil {
			return nil
		}
		var eps []string
		for _, tk := range out.Tasks {
			if aws.ToString(tk.LastStatus) != "RUNNING" {
				continue
			}
			for _, ctr := range tk.Containers {
				for _, b := range ctr.NetworkBindings {
					if aws.ToString(ctr.Name) == "app" && aws.ToInt32(b.ContainerPort) == 8080 {
						id := aws.ToString(tk.TaskArn)
						eps = append(eps, id[strings.LastIndex(id, "/")+1:]+"@"+net.JoinHostPort(host, strconv.Itoa(int(aws.ToInt32(b.HostPort)))))
					}
				}
			}
		}
		slices.Sort(eps)
		return eps
	}
	var got []string
	for _, n := range []int32{1, 2} {
		if n == 2 {
			scale(2)
		}
		waitFor(t, fmt.Sprintf("SRV answers for %d RUNNING tasks", n), func() bool {
			w := want()
			got = querySRV(dnsAddr, "web.bridge.local")
			return len(w) == int(n) && slices.Equal(got, w) && slices.Equal(digSRV(t, digBin, dnsAddr, "web.bridge.local"), w)
		})
		t.Logf("SRV web.bridge.local with %d tasks: %v", n, got)
		for _, ep := range got {
			_, hostport, _ := strings.Cut(ep, "@")
			if body := httpGet(t, "http://"+hostport+"/"); body != "bridge web" {
				t.Errorf("GET %s = %q", hostport, body)
			}
		}
	}
	if ports := map[string]bool{}; len(got) == 2 {
		for _, ep := range got {
			h, p, _ := net.SplitHostPort(ep[strings.Index(ep, "@")+1:])
			if h != host {
				t.Errorf("answer %s is not at the host address %s", ep, host)
			}
			ports[p] = true
		}
		if len(ports) != 2 {
			t.Errorf("two tasks on one host answer with one port: %v", got)
		}
	}
	scale(0)
	waitFor(t, "no SRV answer after scaling to 0", func() bool {
		return len(querySRV(dnsAddr, "web.bridge.local")) == 0 && len(dig(t, digBin, dnsAddr, "SRV", "web.bridge.local")) == 0
	})

	t.Run("awsvpc A record with dig", func(t *testing.T) {
		apiRegistry := discoveryService(t, sd, nsID, "api", sdtypes.RecordTypeA)
		apiTD := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("api"), NetworkMode: types.NetworkModeAwsvpc,
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
				Command: []string{"testapp", "sleep", "3600"}, StopTimeout: aws.Int32(2)}}})
		if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("api"), TaskDefinition: aws.String(apiTD), DesiredCount: aws.Int32(1),
			NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-berth"}}},
			ServiceRegistries:    []types.ServiceRegistry{{RegistryArn: aws.String(apiRegistry)}}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("api"), DesiredCount: aws.Int32(0)})
		})
		taskIP := func() string {
			arns, err := c.ListTasks(ctx, &ecs.ListTasksInput{ServiceName: aws.String("api"), DesiredStatus: types.DesiredStatusRunning})
			if err != nil || len(arns.TaskArns) != 1 {
				return ""
			}
			out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Tasks: arns.TaskArns})
			if err != nil || len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].LastStatus) != "RUNNING" {
				return ""
			}
			for _, at := range out.Tasks[0].Attachments {
				for _, d := range at.Details {
					if aws.ToString(d.Name) == "privateIPv4Address" {
						return aws.ToString(d.Value)
					}
				}
			}
			return ""
		}
		waitFor(t, "dig A api.bridge.local to answer the task's address", func() bool {
			ip := taskIP()
			return ip != "" && slices.Equal(dig(t, digBin, dnsAddr, "A", "api.bridge.local"), []string{ip})
		})
	})
}

// bridgeDNSFree returns the Docker bridge gateway when port 53 on it is
// free for UDP and TCP (so berth up can serve DNS there), else skips.
func bridgeDNSFree(t *testing.T) string {
	t.Helper()
	gw := dockerBridgeGateway(t)
	if gw == "" {
		t.Skip("Docker reports no default bridge gateway")
	}
	addr := net.JoinHostPort(gw, "53")
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("port 53 on %s is not free: %v", gw, err)
	}
	pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port 53 on %s is not free: %v", gw, err)
	}
	ln.Close()
	return gw
}

// TestUpServesDNSByDefault: `berth up` with no DNS flags serves DNS on the
// Docker bridge gateway's port 53 and gives its tasks that server, so a
// task reaches a service's task by its Cloud Map name.
func TestUpServesDNSByDefault(t *testing.T) {
	img := requireDocker(t)
	digBin := requireDig(t)
	gw := bridgeDNSFree(t)
	addr := freeAddr(t)
	out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir(), "--service-healthy-after", "1s")
	s := &server{t: t, URL: "http://" + addr, Addr: addr}
	c := s.ecsWith(t, "AKIDUP", "up-secret")
	ctx := context.Background()
	var inst string
	waitFor(t, "berth up's agent to join", func() bool {
		l, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{})
		if err != nil || len(l.ContainerInstanceArns) != 1 {
			return false
		}
		inst = l.ContainerInstanceArns[0]
		return true
	})
	waitFor(t, "berth up to start its DNS server or say why not", func() bool {
		return strings.Contains(out.String(), "berth DNS listening") || strings.Contains(out.String(), "berth DNS is off")
	})
	if o := out.String(); strings.Contains(o, "berth DNS is off") && strings.Contains(o, "address already in use") {
		t.Skipf("port 53 on %s was taken meanwhile:\n%s", gw, o)
	}
	if !strings.Contains(out.String(), "berth DNS listening") || !strings.Contains(out.String(), net.JoinHostPort(gw, "53")) {
		t.Fatalf("berth up does not serve DNS on %s:53:\n%s", gw, out)
	}
	t.Cleanup(func() {
		d, err := c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{ContainerInstances: []string{inst}})
		if err == nil && len(d.ContainerInstances) == 1 {
			removeContainers(aws.ToString(d.ContainerInstances[0].Ec2InstanceId))
		}
	})
	sd := cloudMap(s.URL, "AKIDUP", "up-secret")
	nsID := privateNamespace(t, sd, "up.local")
	registry := discoveryService(t, sd, nsID, "web", sdtypes.RecordTypeA, sdtypes.RecordTypeSrv)
	port := freePort(t)
	web := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"testapp", "serve", "8080", "hello from up"}, StopTimeout: aws.Int32(2),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(port)}}}}})
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String(web), DesiredCount: aws.Int32(1),
		ServiceRegistries: []types.ServiceRegistry{{RegistryArn: aws.String(registry), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.UpdateService(context.Background(), &ecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(0)})
	})
	dnsAddr := net.JoinHostPort(gw, "53")
	waitFor(t, "web.up.local to resolve to the host address", func() bool {
		return slices.Equal(dig(t, digBin, dnsAddr, "A", "web.up.local"), []string{gw})
	})
	client := registerTD(t, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("client"), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("get"), Image: aws.String(img), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"testapp", "get", "--retry", "150", fmt.Sprintf("http://web.up.local:%d/", port)}}}})
	tk := runTask(t, c, &ecs.RunTaskInput{TaskDefinition: aws.String(client)})
	done := waitStatus(t, c, "default", aws.ToString(tk.TaskArn), "STOPPED")
	if ids := taskContainers(t, aws.ToString(tk.TaskArn)); len(ids) != 1 {
		t.Errorf("the client task has containers %v, want one", ids)
	} else {
		dnsServers := dockerInspect(t, ids[0], "{{.HostConfig.Dns}}")
		t.Logf("the client task's DNS servers: %s", dnsServers)
		if dnsServers != "["+gw+"]" {
			t.Errorf("the task's DNS servers are %s, want [%s]", dnsServers, gw)
		}
	}
	if ctr := container(t, done, "get"); ctr.ExitCode == nil || *ctr.ExitCode != 0 {
		t.Fatalf("a task of berth up could not reach web.up.local: exit %s, reason %q", fmtExit(ctr.ExitCode), aws.ToString(done.StoppedReason))
	}
}

// TestUpDNSFlags: an explicit --dns-listen overrides berth up's default
// (containers cannot use a loopback one, which berth up says), and when
// the default address is taken berth up warns, naming --dns-listen, and
// runs without DNS.
func TestUpDNSFlags(t *testing.T) {
	requireDocker(t)
	t.Run("explicit", func(t *testing.T) {
		addr, dnsAddr := freeAddr(t), freeUDPPort(t)
		out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir(), "--dns-listen", dnsAddr)
		waitFor(t, "the DNS server on "+dnsAddr, func() bool {
			m := new(dns.Msg)
			m.SetQuestion("nothing.example.", dns.TypeA)
			_, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, dnsAddr)
			return err == nil
		})
		if !strings.Contains(out.String(), "tasks keep Docker's DNS") || strings.Contains(out.String(), "berth DNS is off") {
			t.Errorf("berth up --dns-listen %s:\n%s", dnsAddr, out)
		}
	})
	t.Run("default address busy", func(t *testing.T) {
		gw := bridgeDNSFree(t)
		// Hold the port as another DNS server would.
		pc, err := net.ListenPacket("udp", net.JoinHostPort(gw, "53"))
		if err != nil {
			t.Skipf("cannot hold %s:53: %v", gw, err)
		}
		defer pc.Close()
		addr := freeAddr(t)
		out := runBerth(t, addr, "up", "--listen", addr, "--data-dir", t.TempDir())
		waitFor(t, "the warning", func() bool { return strings.Contains(out.String(), "berth DNS is off") })
		if !strings.Contains(out.String(), "--dns-listen") {
			t.Errorf("the warning does not say what to do:\n%s", out)
		}
		s := &server{t: t, URL: "http://" + addr, Addr: addr}
		if _, err := s.ecsWith(t, "AKIDUP", "x").ListClusters(context.Background(), &ecs.ListClustersInput{}); err != nil {
			t.Errorf("berth up without DNS does not serve: %v", err)
		}
	})
}
