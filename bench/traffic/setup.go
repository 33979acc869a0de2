package main

// The resources the benchmark creates through berth's API: a Cloud Map
// private namespace and service, an ELBv2 target group, load balancer and
// listener, an awsvpc task definition serving HTTP and the ECS service
// that uses both.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	sdtypes "github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/berth-dev/berth/internal/sdkclient"
)

const (
	clusterName = "default"
	serviceName = "traffic-web"
	namespace   = "traffic.local"
	dnsName     = "web." + namespace + "."
	appPort     = 8080
)

// clients are the SDK clients of one endpoint.
type clients struct {
	ecs *ecs.Client
	sd  *servicediscovery.Client
	elb *elbv2.Client
}

func newClients(endpoint string) clients {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: sdkclient.Transport(nil)}
	creds := credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")
	return clients{
		ecs: sdkclient.ECS(hc, endpoint, region, accessKey, secretKey),
		sd: servicediscovery.New(servicediscovery.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds,
			HTTPClient: hc, RetryMaxAttempts: 1}),
		elb: elbv2.New(elbv2.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds,
			HTTPClient: hc, RetryMaxAttempts: 1}),
	}
}

// waitAgent waits until the cluster has a connected agent.
func waitAgent(ctx context.Context, c clients, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		list, err := c.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String(clusterName)})
		if err == nil && len(list.ContainerInstanceArns) > 0 {
			d, err := c.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(clusterName), ContainerInstances: list.ContainerInstanceArns})
			if err == nil {
				for _, ci := range d.ContainerInstances {
					if ci.AgentConnected && aws.ToString(ci.Status) == "ACTIVE" {
						return nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no agent connected to cluster %s within %s", clusterName, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// world is what setup created.
type world struct {
	targetGroup string
	listenPort  int
	taskDef     string
	registry    string // the Cloud Map service's ARN
}

// setup creates the namespace, the load balancer and the task definition.
func setup(ctx context.Context, c clients, image string, memMiB int32) (world, error) {
	var w world
	created, err := c.sd.CreatePrivateDnsNamespace(ctx, &servicediscovery.CreatePrivateDnsNamespaceInput{Name: aws.String(namespace), Vpc: aws.String("vpc-1")})
	if err != nil {
		return w, fmt.Errorf("create the namespace: %w", err)
	}
	op, err := c.sd.GetOperation(ctx, &servicediscovery.GetOperationInput{OperationId: created.OperationId})
	if err != nil {
		return w, fmt.Errorf("get the namespace's operation: %w", err)
	}
	nsID := op.Operation.Targets[string(sdtypes.OperationTargetTypeNamespace)]
	if nsID == "" {
		return w, errors.New("the namespace's operation names no namespace")
	}
	reg, err := c.sd.CreateService(ctx, &servicediscovery.CreateServiceInput{Name: aws.String("web"), NamespaceId: aws.String(nsID),
		DnsConfig: &sdtypes.DnsConfig{RoutingPolicy: sdtypes.RoutingPolicyMultivalue, DnsRecords: []sdtypes.DnsRecord{{Type: sdtypes.RecordTypeA, TTL: aws.Int64(10)}}}})
	if err != nil {
		return w, fmt.Errorf("create the Cloud Map service: %w", err)
	}

	tg, err := c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("traffic-web"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(appPort), TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String("vpc-1"), HealthCheckPath: aws.String("/health"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		return w, fmt.Errorf("create the target group: %w", err)
	}
	w.targetGroup = aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	lb, err := c.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("traffic-web"), Subnets: []string{"subnet-1", "subnet-2"}})
	if err != nil {
		return w, fmt.Errorf("create the load balancer: %w", err)
	}
	listen, err := freePort("tcp")
	if err != nil {
		return w, err
	}
	_, p, _ := net.SplitHostPort(listen)
	w.listenPort, _ = strconv.Atoi(p)
	if _, err := c.elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(int32(w.listenPort)), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(w.targetGroup)}}}); err != nil {
		return w, fmt.Errorf("create the listener: %w", err)
	}

	// No container health check: the controller registers a task in Cloud
	// Map and in the target group once it is RUNNING (and not UNHEALTHY).
	td, err := c.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(serviceName), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(image), Memory: aws.Int32(memMiB), Essential: aws.Bool(true),
			Command: []string{"testapp", "serve", strconv.Itoa(appPort)}, PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(appPort)}}}}})
	if err != nil {
		return w, fmt.Errorf("register the task definition: %w", err)
	}
	w.taskDef, w.registry = aws.ToString(td.TaskDefinition.TaskDefinitionArn), aws.ToString(reg.Service.Arn)
	return w, nil
}

// createService creates the ECS service with desired count 1, registered
// in both the target group and the Cloud Map service.
func createService(ctx context.Context, c clients, w world) error {
	if _, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{ServiceName: aws.String(serviceName), Cluster: aws.String(clusterName),
		TaskDefinition: aws.String(w.taskDef), DesiredCount: aws.Int32(1),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-berth"}}},
		LoadBalancers:        []types.LoadBalancer{{TargetGroupArn: aws.String(w.targetGroup), ContainerName: aws.String("web"), ContainerPort: aws.Int32(appPort)}},
		ServiceRegistries:    []types.ServiceRegistry{{RegistryArn: aws.String(w.registry)}},
	}); err != nil {
		return fmt.Errorf("create the ECS service: %w", err)
	}
	return nil
}

// scaleService sets the service's desired count.
func scaleService(ctx context.Context, c clients, n int) error {
	if _, err := c.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(clusterName), Service: aws.String(serviceName),
		DesiredCount: aws.Int32(int32(n))}); err != nil {
		return fmt.Errorf("update the service to desired count %d: %w", n, err)
	}
	return nil
}
