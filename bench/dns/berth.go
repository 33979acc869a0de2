package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"
	"github.com/berth-dev/berth/internal/sdkclient"
	"github.com/berth-dev/berth/internal/server"
	"github.com/miekg/dns"
)

// startBerth runs a berth server in this process with its DNS server on
// loopback, and a Cloud Map private namespace bench.local whose service web
// has the four bench instances. With churn > 0 a goroutine re-registers an
// instance of another service churn times a second until ctx ends: each
// write moves the store revision, so the DNS cache reads web's instances
// again. It returns the DNS address, the name to query and the count of
// writes done.
func startBerth(ctx context.Context, churn int) (dnsAddr, name string, writes *atomic.Int64, err error) {
	writes = new(atomic.Int64)
	// The DNS port is picked free and bound by the server a moment later:
	// if someone took it in between, start again.
	var endpoint string
	for attempt := 1; ; attempt++ {
		if endpoint, dnsAddr, err = runBerth(ctx); err == nil || attempt == 3 {
			break
		}
		fmt.Fprintf(os.Stderr, "bench/dns: %v; starting again\n", err)
	}
	if err != nil {
		return "", "", nil, err
	}
	sd := servicediscovery.New(servicediscovery.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
		HTTPClient:       &http.Client{Transport: sdkclient.Transport(nil)},
		RetryMaxAttempts: 1,
	})
	created, err := sd.CreatePrivateDnsNamespace(ctx, &servicediscovery.CreatePrivateDnsNamespaceInput{Name: aws.String("bench.local"), Vpc: aws.String("vpc-1")})
	if err != nil {
		return "", "", nil, fmt.Errorf("create the namespace: %w", err)
	}
	op, err := sd.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: created.OperationId})
	if err != nil {
		return "", "", nil, fmt.Errorf("get the namespace: %w", err)
	}
	nsID := op.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)]
	service := func(name string) (*string, error) {
		out, err := sd.CreateService(ctx, &servicediscovery.CreateServiceInput{Name: aws.String(name), NamespaceId: aws.String(nsID),
			DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: []sdtypes.DnsRecord{
				{Type: sdtypes.RecordTypeA, TTL: aws.Int64(10)}, {Type: sdtypes.RecordTypeSrv, TTL: aws.Int64(10)}}}})
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", name, err)
		}
		return out.Service.Id, nil
	}
	web, err := service("web")
	if err != nil {
		return "", "", nil, err
	}
	for _, in := range benchInstances {
		if _, err := sd.RegisterInstance(ctx, &servicediscovery.RegisterInstanceInput{ServiceId: web, InstanceId: aws.String(in.ID),
			Attributes: map[string]string{"AWS_INSTANCE_IPV4": in.IP, "AWS_INSTANCE_PORT": strconv.Itoa(int(in.Port))}}); err != nil {
			return "", "", nil, fmt.Errorf("register %s: %w", in.ID, err)
		}
	}
	if churn > 0 {
		other, err := service("other")
		if err != nil {
			return "", "", nil, err
		}
		go func() {
			t := time.NewTicker(time.Second / time.Duration(churn))
			defer t.Stop()
			failed := 0
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := sd.RegisterInstance(ctx, &servicediscovery.RegisterInstanceInput{ServiceId: other, InstanceId: aws.String("churn"),
					Attributes: map[string]string{"AWS_INSTANCE_IPV4": fmt.Sprintf("10.2.%d.%d", i/250%250, i%250+1), "AWS_INSTANCE_PORT": "80"}}); err == nil {
					writes.Add(1)
				} else if failed++; failed == 1 {
					fmt.Fprintf(os.Stderr, "bench/dns: a Cloud Map write failed: %v\n", err)
				}
			}
		}()
	}
	return dnsAddr, "web.bench.local.", writes, nil
}

// runBerth starts a berth server that runs until ctx ends, or stops it
// again when its DNS server does not answer within 5 s.
func runBerth(ctx context.Context) (endpoint, dnsAddr string, err error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", "", fmt.Errorf("pick a DNS port: %w", err)
	}
	dnsAddr = pc.LocalAddr().String()
	pc.Close()
	dir, err := os.MkdirTemp("", "berth-bench-dns-")
	if err != nil {
		return "", "", fmt.Errorf("data dir: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		defer os.RemoveAll(dir)
		done <- server.Run(sctx, server.Config{
			Listen: "127.0.0.1:0", DataDir: dir, AccountID: "123456789012", Region: "us-east-1",
			Credentials: map[string]string{"AKIDBENCH": "bench-secret"}, DNSListen: dnsAddr,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string) { ready <- a },
		})
	}()
	fail := func(err error) (string, string, error) {
		stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		return "", "", err
	}
	select {
	case endpoint = <-ready:
	case err := <-done:
		stop()
		return "", "", fmt.Errorf("berth server: %w", err)
	case <-time.After(30 * time.Second):
		return fail(errors.New("berth server did not start within 30 s"))
	}
	m := new(dns.Msg)
	m.SetQuestion("preflight.bench.local.", dns.TypeA)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, dnsAddr); err == nil {
			return endpoint, dnsAddr, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("berth's DNS server does not answer on %s", dnsAddr))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
