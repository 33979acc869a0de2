package dnsserver_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/berth-dev/berth/internal/sdkclient"
	"github.com/berth-dev/berth/internal/server"
	"github.com/miekg/dns"
)

// TestBerthAnswerFollowsCloudMap runs a berth server in process and changes
// a Cloud Map instance again and again: the DNS query sent right after each
// change (once, no polling) answers with the new address, through the
// server's name cache and the DNS server's cache of packed answers.
func TestBerthAnswerFollowsCloudMap(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{
			Listen: "127.0.0.1:0", DataDir: t.TempDir(), AccountID: "123456789012", Region: "us-east-1",
			Credentials: map[string]string{"AKIDTEST": "secret"}, DNSListen: dnsAddr,
			Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(a string) { ready <- a },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the server did not stop")
		}
	})
	var endpoint string
	select {
	case endpoint = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start")
	}
	sd := servicediscovery.New(servicediscovery.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:       &http.Client{Transport: sdkclient.Transport(nil)},
		RetryMaxAttempts: 1,
	})
	created, err := sd.CreatePrivateDnsNamespace(ctx, &servicediscovery.CreatePrivateDnsNamespaceInput{Name: aws.String("cache.local"), Vpc: aws.String("vpc-1")})
	if err != nil {
		t.Fatal(err)
	}
	op, err := sd.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: created.OperationId})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sd.CreateService(ctx, &servicediscovery.CreateServiceInput{
		Name: aws.String("web"), NamespaceId: aws.String(op.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)]),
		DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: []sdtypes.DnsRecord{{Type: sdtypes.RecordTypeA, TTL: aws.Int64(10)}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	client := &dns.Client{Timeout: time.Second}
	query := func(qt uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion("web.cache.local.", qt)
		r, _, err := client.Exchange(m, dnsAddr)
		return r, err
	}
	addrs := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		slices.Sort(out)
		return out
	}
	// The DNS server starts with the API.
	for i := 0; ; i++ {
		if r, err := query(dns.TypeA); err == nil && r.Rcode == dns.RcodeNameError {
			break
		} else if i == 50 {
			t.Fatalf("DNS server not answering NXDOMAIN for a service without instances: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 30 {
		ip := fmt.Sprintf("10.9.0.%d", i+1)
		if _, err := sd.RegisterInstance(ctx, &servicediscovery.RegisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String("task-1"),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80"}}); err != nil {
			t.Fatal(err)
		}
		for _, qt := range []uint16{dns.TypeA, dns.TypeA, dns.TypeSRV} {
			r, err := query(qt)
			if err != nil {
				t.Fatal(err)
			}
			switch got := addrs(r); {
			case qt == dns.TypeA && !slices.Equal(got, []string{ip}):
				t.Fatalf("change %d: A = %v right after the instance moved to %s", i, got, ip)
			case qt == dns.TypeSRV && (len(r.Extra) != 1 || r.Extra[0].(*dns.A).A.String() != ip):
				t.Fatalf("change %d: SRV additional %v right after the instance moved to %s", i, r.Extra, ip)
			}
		}
	}
	if _, err := sd.DeregisterInstance(ctx, &servicediscovery.DeregisterInstanceInput{ServiceId: svc.Service.Id, InstanceId: aws.String("task-1")}); err != nil {
		t.Fatal(err)
	}
	if r, err := query(dns.TypeA); err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("right after the last instance left: %v %v", r, err)
	}
}
