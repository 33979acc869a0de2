package api

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

const svcAccount = "arn:aws:ecs:us-east-1:123456789012:"

// svcTD registers a bridge-mode task definition whose container "app" maps
// container port 80, and returns its ARN.
func svcTD(t *testing.T, e *ECS, family string) string {
	t.Helper()
	out, err := e.RegisterTaskDefinition(context.Background(), &ecsapi.RegisterTaskDefinitionRequest{
		Family: family,
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("nginx"), Memory: ecsapi.Ptr(int32(128)),
			PortMappings: []ecsapi.PortMapping{{ContainerPort: ecsapi.Ptr(int32(80)), Name: ecsapi.Ptr("http")}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ecsapi.Value(out.TaskDefinition.TaskDefinitionArn)
}

func newSvcECS(t *testing.T) (*ECS, context.Context) {
	now := time.Unix(1_700_000_000, 0)
	return newTestECS(t, func() time.Time { return now }), context.Background()
}

// wantErr checks an error's ECS code and, when msg is set, its exact message.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae *awsjson.Error
	if !errors.As(err, &ae) || ae.Code != code || (msg != "" && ae.Message != msg) {
		t.Fatalf("error = %v, want %s: %s", err, code, msg)
	}
}

func createSvc(t *testing.T, e *ECS, in ecsapi.CreateServiceRequest) ecsapi.Service {
	t.Helper()
	out, err := e.CreateService(context.Background(), &in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.Service
}

var awsvpcNet = &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}

// TestCreateServiceDefaults: a REPLICA service on EC2 echoes every field as
// ECS returns it, with ECS's defaults and one PRIMARY deployment.
func TestCreateServiceDefaults(t *testing.T) {
	e, _ := newSvcECS(t)
	td := svcTD(t, e, "web")
	s := createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: ecsapi.Ptr("web"), DesiredCount: ecsapi.Ptr(int32(2))})
	want := map[string]string{
		"serviceArn":           svcAccount + "service/default/web",
		"clusterArn":           svcAccount + "cluster/default",
		"taskDefinition":       td,
		"status":               "ACTIVE",
		"launchType":           "EC2",
		"schedulingStrategy":   "REPLICA",
		"propagateTags":        "NONE",
		"createdBy":            "arn:aws:iam::123456789012:root",
		"availabilityZoneReb.": "ENABLED",
		"deploymentController": "ECS",
	}
	got := map[string]string{
		"serviceArn": ecsapi.Value(s.ServiceArn), "clusterArn": ecsapi.Value(s.ClusterArn), "taskDefinition": ecsapi.Value(s.TaskDefinition),
		"status": ecsapi.Value(s.Status), "launchType": string(ecsapi.Value(s.LaunchType)), "schedulingStrategy": string(ecsapi.Value(s.SchedulingStrategy)),
		"propagateTags": string(ecsapi.Value(s.PropagateTags)), "createdBy": ecsapi.Value(s.CreatedBy),
		"availabilityZoneReb.": string(ecsapi.Value(s.AvailabilityZoneRebalancing)), "deploymentController": string(s.DeploymentController.Type),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if s.DesiredCount != 2 || s.RunningCount != 0 || s.PendingCount != 0 || s.Events == nil || len(s.Events) != 0 || s.PlatformVersion != nil || s.CreatedAt.Unix() != 1_700_000_000 {
		t.Errorf("counts/events/platform/createdAt = %+v", s)
	}
	if got := string(mustJSON(s.DeploymentConfiguration)); got != `{"deploymentCircuitBreaker":{"enable":false,"rollback":false},"maximumPercent":200,"minimumHealthyPercent":100,"strategy":"ROLLING"}` {
		t.Errorf("deploymentConfiguration = %s", got)
	}
	if len(s.Deployments) != 1 {
		t.Fatalf("deployments = %s", mustJSON(s.Deployments))
	}
	d := s.Deployments[0]
	id := ecsapi.Value(d.Id)
	if !regexp.MustCompile(`^ecs-svc/[1-9][0-9]{18}$`).MatchString(id) {
		t.Errorf("deployment id %q", id)
	}
	if ecsapi.Value(d.Status) != "PRIMARY" || ecsapi.Value(d.TaskDefinition) != td || d.DesiredCount != 2 || d.RunningCount != 0 || d.FailedTasks != 0 ||
		ecsapi.Value(d.LaunchType) != ecsapi.LaunchTypeEC2 || ecsapi.Value(d.RolloutState) != ecsapi.DeploymentRolloutStateINPROGRESS ||
		ecsapi.Value(d.RolloutStateReason) != "ECS deployment "+id+" in progress." || d.CreatedAt == nil || d.UpdatedAt == nil {
		t.Errorf("deployment = %s", mustJSON(d))
	}
	// A family:revision reference resolves the same way; events are [] on the wire.
	s = createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web2", TaskDefinition: ecsapi.Ptr("web:1"), DesiredCount: ecsapi.Ptr(int32(0))})
	if ecsapi.Value(s.TaskDefinition) != td || !strings.Contains(string(mustJSON(s)), `"events":[]`) {
		t.Errorf("web:1 resolved to %s", mustJSON(s))
	}
}

// TestCreateServiceFargateAndDaemon: Fargate services get platform version
// LATEST (1.4.0 in the deployment), the cluster's default strategy applies
// when the call names no capacity, and DAEMON services get their own
// deployment defaults and rules.
func TestCreateServiceFargateAndDaemon(t *testing.T) {
	e, ctx := newSvcECS(t)
	ftd := registerFargateTD(t, e, "256", "512")
	s := createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "f", TaskDefinition: &ftd, DesiredCount: ecsapi.Ptr(int32(1)), LaunchType: ecsapi.Ptr(ecsapi.LaunchTypeFARGATE), NetworkConfiguration: awsvpcNet})
	d := s.Deployments[0]
	if ecsapi.Value(s.PlatformVersion) != "LATEST" || ecsapi.Value(s.PlatformFamily) != "Linux" || ecsapi.Value(d.PlatformVersion) != "1.4.0" ||
		ecsapi.Value(d.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp) != ecsapi.AssignPublicIpDISABLED {
		t.Errorf("fargate service = %s", mustJSON(s))
	}
	if _, err := e.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: ecsapi.Ptr("spot"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE_SPOT", Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	s = createSvc(t, e, ecsapi.CreateServiceRequest{Cluster: ecsapi.Ptr("spot"), ServiceName: "f", TaskDefinition: &ftd, DesiredCount: ecsapi.Ptr(int32(1)), NetworkConfiguration: awsvpcNet})
	if s.LaunchType != nil || len(s.CapacityProviderStrategy) != 1 || s.CapacityProviderStrategy[0].CapacityProvider != "FARGATE_SPOT" ||
		len(s.Deployments[0].CapacityProviderStrategy) != 1 || ecsapi.Value(s.PlatformVersion) != "LATEST" {
		t.Errorf("default strategy service = %s", mustJSON(s))
	}
	daemonErr := "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy."
	td := svcTD(t, e, "agent")
	_, err := e.CreateService(ctx, &ecsapi.CreateServiceRequest{Cluster: ecsapi.Ptr("spot"), ServiceName: "d", TaskDefinition: &td, SchedulingStrategy: ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON)})
	wantErr(t, err, "InvalidParameterException", daemonErr)

	s = createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "d", TaskDefinition: &td, SchedulingStrategy: ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON),
		PlacementConstraints: []ecsapi.PlacementConstraint{{Type: ecsapi.Ptr(ecsapi.PlacementConstraintTypeMemberOf), Expression: ecsapi.Ptr("attribute:ecs.os-type == linux")}}})
	if s.DesiredCount != 0 || ecsapi.Value(s.DeploymentConfiguration.MaximumPercent) != 100 || ecsapi.Value(s.DeploymentConfiguration.MinimumHealthyPercent) != 0 ||
		ecsapi.Value(s.AvailabilityZoneRebalancing) != ecsapi.AvailabilityZoneRebalancingDISABLED || len(s.PlacementConstraints) != 1 {
		t.Errorf("daemon service = %s", mustJSON(s))
	}
}

// TestCreateServiceErrors: every validation answers with ECS's error type
// and message.
func TestCreateServiceErrors(t *testing.T) {
	e, ctx := newSvcECS(t)
	td := svcTD(t, e, "web")
	ftd := registerFargateTD(t, e, "256", "512")
	if _, err := e.DeregisterTaskDefinition(ctx, &ecsapi.DeregisterTaskDefinitionRequest{TaskDefinition: svcTD(t, e, "old")}); err != nil {
		t.Fatal(err)
	}
	one := ecsapi.Ptr(int32(1))
	daemon := ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON)
	fargate := ecsapi.Ptr(ecsapi.LaunchTypeFARGATE)
	memberOf := func(expr string) ecsapi.PlacementConstraint {
		return ecsapi.PlacementConstraint{Type: ecsapi.Ptr(ecsapi.PlacementConstraintTypeMemberOf), Expression: ecsapi.Ptr(expr)}
	}
	spread := ecsapi.PlacementStrategy{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeSpread), Field: ecsapi.Ptr("instanceId")}
	lb := func(name string, port int32) []ecsapi.LoadBalancer {
		l := ecsapi.LoadBalancer{TargetGroupArn: ecsapi.Ptr("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"), ContainerName: ecsapi.Ptr(name)}
		if port != 0 {
			l.ContainerPort = &port
		}
		return []ecsapi.LoadBalancer{l}
	}
	const ipe = "InvalidParameterException"
	cases := []struct {
		name      string
		in        ecsapi.CreateServiceRequest
		code, msg string
	}{
		{"bad name", ecsapi.CreateServiceRequest{ServiceName: "web/1", TaskDefinition: &td, DesiredCount: one}, ipe, `Service name "web/1" is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.`},
		{"launch type and strategy", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, LaunchType: fargate, CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE"}}}, ipe, "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."},
		{"no desired count", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td}, ipe, "desiredCount is required for services using the REPLICA scheduling strategy."},
		{"negative desired count", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(-1))}, ipe, "desiredCount must be at least 0."},
		{"daemon desired count", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, SchedulingStrategy: daemon}, ipe, "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"},
		{"daemon placement strategy", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, SchedulingStrategy: daemon, PlacementStrategy: []ecsapi.PlacementStrategy{spread}}, ipe, "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again"},
		{"daemon fargate", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, SchedulingStrategy: daemon, LaunchType: fargate, NetworkConfiguration: awsvpcNet}, ipe, "The DAEMON scheduling strategy is not supported for the FARGATE launch type."},
		{"code deploy", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, DeploymentController: &ecsapi.DeploymentController{Type: ecsapi.DeploymentControllerTypeCODEDEPLOY}}, ipe, "The CODE_DEPLOY deployment controller is not supported: berth supports only the ECS deployment controller for now."},
		{"external", ecsapi.CreateServiceRequest{ServiceName: "s", DesiredCount: one, DeploymentController: &ecsapi.DeploymentController{Type: ecsapi.DeploymentControllerTypeEXTERNAL}}, ipe, "The EXTERNAL deployment controller is not supported: berth supports only the ECS deployment controller for now."},
		{"blue green", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, DeploymentConfiguration: &ecsapi.DeploymentConfiguration{Strategy: ecsapi.Ptr(ecsapi.DeploymentStrategyBLUEGREEN)}}, ipe, "The BLUE_GREEN deployment strategy is not supported: berth supports only ROLLING deployments for now."},
		{"min healthy", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, DeploymentConfiguration: &ecsapi.DeploymentConfiguration{MinimumHealthyPercent: ecsapi.Ptr(int32(150))}}, ipe, "deploymentConfiguration.minimumHealthyPercent must be between 0 and 100."},
		{"no task definition", ecsapi.CreateServiceRequest{ServiceName: "s", DesiredCount: one}, ipe, "A task definition must be specified for a service that uses the ECS deployment controller."},
		{"unknown task definition", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: ecsapi.Ptr("nope:3"), DesiredCount: one}, "ClientException", "TaskDefinition not found."},
		{"inactive task definition", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: ecsapi.Ptr("old:1"), DesiredCount: one}, "ClientException", "TaskDefinition is inactive"},
		{"awsvpc without network", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, DesiredCount: one}, ipe, "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"bridge with network", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, NetworkConfiguration: awsvpcNet}, ipe, "Network Configuration is not valid for the given networkMode of this task definition."},
		{"fargate incompatible", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, LaunchType: fargate}, "InvalidParameterException", "Task definition does not support launch_type FARGATE."},
		{"fargate constraints", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, DesiredCount: one, LaunchType: fargate, NetworkConfiguration: awsvpcNet, PlacementConstraints: []ecsapi.PlacementConstraint{memberOf("attribute:a == b")}}, ipe, "Placement constraints are not supported with FARGATE launch type."},
		{"platform on EC2", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, PlatformVersion: ecsapi.Ptr("LATEST")}, ipe, "The platform version must be null when specifying an EC2 launch type."},
		{"unknown platform", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, DesiredCount: one, LaunchType: fargate, NetworkConfiguration: awsvpcNet, PlatformVersion: ecsapi.Ptr("9.9.9")}, "PlatformUnknownException", `The specified platform version "9.9.9" does not exist.`},
		{"bad memberOf", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, PlacementConstraints: []ecsapi.PlacementConstraint{memberOf("attribute:a ==")}}, ipe, ""},
		{"11 constraints", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, PlacementConstraints: make([]ecsapi.PlacementConstraint, 11)}, ipe, "placementConstraints can have at most 10 items."},
		{"6 strategies", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, PlacementStrategy: []ecsapi.PlacementStrategy{spread, spread, spread, spread, spread, spread}}, ipe, "placementStrategy can have at most 5 items."},
		{"lb unknown container", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, LoadBalancers: lb("web", 80)}, ipe, "The container web does not exist in the task definition."},
		{"lb unknown port", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, LoadBalancers: lb("app", 8080)}, ipe, "The container app did not have a container port 8080 defined."},
		{"lb blank container", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, LoadBalancers: lb("", 80)}, ipe, "Container Name can not be blank."},
		{"role without lb", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, Role: ecsapi.Ptr("ecsServiceRole")}, ipe, "IAM roles are only valid for services configured to use load balancers."},
		{"role with awsvpc", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, DesiredCount: one, NetworkConfiguration: awsvpcNet, Role: ecsapi.Ptr("ecsServiceRole"), LoadBalancers: lb("app", 0)}, ipe, "You cannot specify an IAM role for services that require a service linked role."},
		{"two registries", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr("r1")}, {RegistryArn: ecsapi.Ptr("r2")}}}, ipe, "A service can have at most one service registry."},
		{"registry port", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, ServiceRegistries: []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr("r1"), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(81))}}}, ipe, "The container app did not have a container port 81 defined."},
		{"volumes", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, VolumeConfigurations: []ecsapi.ServiceVolumeConfiguration{{Name: "v"}}}, ipe, "volumeConfigurations are not supported: berth does not manage Amazon EBS volumes for services yet."},
		{"service connect port", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, ServiceConnectConfiguration: &ecsapi.ServiceConnectConfiguration{Enabled: true, Namespace: ecsapi.Ptr("ns"), Services: []ecsapi.ServiceConnectService{{PortName: "grpc"}}}}, ipe, "The portName grpc does not match the name of any port mapping in the task definition."},
		{"service connect namespace", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, ServiceConnectConfiguration: &ecsapi.ServiceConnectConfiguration{Enabled: true}}, ipe, "Service Connect requires a namespace: set serviceConnectConfiguration.namespace or the cluster's serviceConnectDefaults."},
		{"client token", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, ClientToken: ecsapi.Ptr(strings.Repeat("x", 37))}, ipe, "clientToken can be up to 36 ASCII characters in the range of 33-126 (inclusive)."},
		{"aws tag", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &td, DesiredCount: one, Tags: []ecsapi.Tag{{Key: ecsapi.Ptr("aws:x"), Value: ecsapi.Ptr("y")}}}, ipe, ""},
		{"no cluster", ecsapi.CreateServiceRequest{Cluster: ecsapi.Ptr("ghost"), ServiceName: "s", TaskDefinition: &td, DesiredCount: one}, "ClusterNotFoundException", "Cluster not found."},
		{"unassociated provider", ecsapi.CreateServiceRequest{ServiceName: "s", TaskDefinition: &ftd, DesiredCount: one, NetworkConfiguration: awsvpcNet, CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE", Weight: 1}}}, ipe, "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.CreateService(ctx, &c.in)
			wantErr(t, err, c.code, c.msg)
		})
	}
	if out, err := e.ListServices(ctx, &ecsapi.ListServicesRequest{}); err != nil || len(out.ServiceArns) != 0 {
		t.Errorf("failed creates stored services: %v %v", out, err)
	}
}

// TestCreateServiceEchoes: load balancers, registries, role, tags and the
// other settings are stored and echoed.
func TestCreateServiceEchoes(t *testing.T) {
	e, ctx := newSvcECS(t)
	td := svcTD(t, e, "web")
	tg := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"
	s := createSvc(t, e, ecsapi.CreateServiceRequest{
		ServiceName: "web", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(1)),
		LoadBalancers:                 []ecsapi.LoadBalancer{{TargetGroupArn: &tg, ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(80))}},
		ServiceRegistries:             []ecsapi.ServiceRegistry{{RegistryArn: ecsapi.Ptr("arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1"), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(80))}},
		Role:                          ecsapi.Ptr("/ecs/lb-role"),
		HealthCheckGracePeriodSeconds: ecsapi.Ptr(int32(30)),
		EnableExecuteCommand:          true, EnableECSManagedTags: true, PropagateTags: ecsapi.Ptr(ecsapi.PropagateTagsSERVICE),
		Tags:                    []ecsapi.Tag{{Key: ecsapi.Ptr("team"), Value: ecsapi.Ptr("web")}},
		PlacementStrategy:       []ecsapi.PlacementStrategy{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeBinpack), Field: ecsapi.Ptr("memory")}},
		DeploymentConfiguration: &ecsapi.DeploymentConfiguration{MinimumHealthyPercent: ecsapi.Ptr(int32(50)), BakeTimeInMinutes: ecsapi.Ptr(int32(5)), Alarms: &ecsapi.DeploymentAlarms{AlarmNames: []string{"a"}, Enable: true}},
	})
	if ecsapi.Value(s.RoleArn) != "arn:aws:iam::123456789012:role/ecs/lb-role" || len(s.LoadBalancers) != 1 || len(s.ServiceRegistries) != 1 ||
		ecsapi.Value(s.HealthCheckGracePeriodSeconds) != 30 || !s.EnableExecuteCommand || !s.EnableECSManagedTags ||
		ecsapi.Value(s.PropagateTags) != ecsapi.PropagateTagsSERVICE || len(s.Tags) != 1 || len(s.PlacementStrategy) != 1 {
		t.Errorf("service = %s", mustJSON(s))
	}
	if got := string(mustJSON(s.DeploymentConfiguration)); got != `{"deploymentCircuitBreaker":{"enable":false,"rollback":false},"maximumPercent":200,"minimumHealthyPercent":50,"alarms":{"alarmNames":["a"],"rollback":false,"enable":true},"strategy":"ROLLING","bakeTimeInMinutes":5}` {
		t.Errorf("deploymentConfiguration = %s", got)
	}
	// A service with load balancers and no role gets the service-linked role.
	s = createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web2", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(1)), LoadBalancers: []ecsapi.LoadBalancer{{LoadBalancerName: ecsapi.Ptr("elb"), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(80))}}})
	if ecsapi.Value(s.RoleArn) != "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS" {
		t.Errorf("roleArn = %s", ecsapi.Value(s.RoleArn))
	}
	// DescribeServices leaves tags out unless asked.
	out, err := e.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Services: []string{"web"}})
	if err != nil || len(out.Services) != 1 || out.Services[0].Tags != nil {
		t.Fatalf("describe = %+v, %v", out, err)
	}
	out, err = e.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Services: []string{svcAccount + "service/default/web"}, Include: []ecsapi.ServiceField{ecsapi.ServiceFieldTAGS}})
	if err != nil || len(out.Services) != 1 || len(out.Services[0].Tags) != 1 {
		t.Fatalf("describe with tags = %+v, %v", out, err)
	}
}

// setStatus stands in for the controller marking a service's status.
func setStatus(t *testing.T, e *ECS, cluster, name, status string) {
	t.Helper()
	ctx := context.Background()
	rec, rev, err := e.loadService(ctx, cluster, name)
	if err != nil {
		t.Fatal(err)
	}
	rec.Service.Status = ecsapi.Ptr(status)
	if _, err := e.st.Txn(ctx, []store.Cond{{Key: serviceKey(cluster, name), ModRev: rev}}, []store.Op{store.Put(serviceKey(cluster, name), mustJSON(rec))}); err != nil {
		t.Fatal(err)
	}
}

// TestCreateServiceNameReuseAndClientToken: a name in use by an ACTIVE or
// DRAINING service cannot be created again, an INACTIVE one's can; a client
// token makes a retry return the first call's service.
func TestCreateServiceNameReuseAndClientToken(t *testing.T) {
	e, ctx := newSvcECS(t)
	td := svcTD(t, e, "web")
	in := ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(0)), ClientToken: ecsapi.Ptr("tok-1")}
	first := createSvc(t, e, in)
	again := createSvc(t, e, in)
	if ecsapi.Value(again.Deployments[0].Id) != ecsapi.Value(first.Deployments[0].Id) {
		t.Errorf("retry with the token made another deployment: %s vs %s", ecsapi.Value(again.Deployments[0].Id), ecsapi.Value(first.Deployments[0].Id))
	}
	changed := in
	changed.DesiredCount = ecsapi.Ptr(int32(3))
	_, err := e.CreateService(ctx, &changed)
	wantErr(t, err, "ConflictException", "")
	in.ClientToken = nil
	_, err = e.CreateService(ctx, &in)
	wantErr(t, err, "InvalidParameterException", "Creation of service was not idempotent.")
	if _, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.CreateService(ctx, &in)
	wantErr(t, err, "InvalidParameterException", "Creation of service was not idempotent.")
	setStatus(t, e, "default", "web", statusInactive)
	s := createSvc(t, e, in)
	if ecsapi.Value(s.Status) != statusActive || ecsapi.Value(s.Deployments[0].Id) == ecsapi.Value(first.Deployments[0].Id) {
		t.Errorf("recreated service = %s", mustJSON(s))
	}
}

func updateSvc(t *testing.T, e *ECS, in ecsapi.UpdateServiceRequest) ecsapi.Service {
	t.Helper()
	out, err := e.UpdateService(context.Background(), &in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.Service
}

// TestUpdateServiceDeployments: settings that change what tasks run start a
// new PRIMARY deployment; desiredCount and the in-place settings do not.
func TestUpdateServiceDeployments(t *testing.T) {
	e, ctx := newSvcECS(t)
	td1 := svcTD(t, e, "web")
	td2 := svcTD(t, e, "web")
	s := createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: &td1, DesiredCount: ecsapi.Ptr(int32(1))})
	firstID := ecsapi.Value(s.Deployments[0].Id)

	// The controller's state survives every API write.
	rec, rev, _ := e.loadService(ctx, "default", "web")
	rec.Controller = json.RawMessage(`{"seen":7}`)
	if _, err := e.st.Txn(ctx, []store.Cond{{Key: serviceKey("default", "web"), ModRev: rev}}, []store.Op{store.Put(serviceKey("default", "web"), mustJSON(rec))}); err != nil {
		t.Fatal(err)
	}

	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(4))})
	if len(s.Deployments) != 1 || s.DesiredCount != 4 || s.Deployments[0].DesiredCount != 4 {
		t.Errorf("desiredCount update: %s", mustJSON(s.Deployments))
	}
	// Same task definition, grace period, tags, deployment configuration:
	// still one deployment.
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: &td1, HealthCheckGracePeriodSeconds: ecsapi.Ptr(int32(10)),
		PropagateTags:           ecsapi.Ptr(ecsapi.PropagateTagsTASKDEFINITION),
		DeploymentConfiguration: &ecsapi.DeploymentConfiguration{MaximumPercent: ecsapi.Ptr(int32(150))}})
	if len(s.Deployments) != 1 || ecsapi.Value(s.HealthCheckGracePeriodSeconds) != 10 ||
		ecsapi.Value(s.DeploymentConfiguration.MaximumPercent) != 150 || ecsapi.Value(s.DeploymentConfiguration.MinimumHealthyPercent) != 100 {
		t.Errorf("in-place update: %s", mustJSON(s))
	}
	// A new revision: a new PRIMARY, the old one ACTIVE with its rollout state.
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr("web")})
	if len(s.Deployments) != 2 || ecsapi.Value(s.TaskDefinition) != td2 {
		t.Fatalf("new revision: %s", mustJSON(s))
	}
	p, old := s.Deployments[0], s.Deployments[1]
	if ecsapi.Value(p.Status) != "PRIMARY" || ecsapi.Value(p.TaskDefinition) != td2 || p.DesiredCount != 4 || ecsapi.Value(p.RolloutState) != ecsapi.DeploymentRolloutStateINPROGRESS ||
		ecsapi.Value(old.Status) != "ACTIVE" || ecsapi.Value(old.Id) != firstID || ecsapi.Value(old.RolloutState) != ecsapi.DeploymentRolloutStateINPROGRESS {
		t.Errorf("deployments after new revision: %s", mustJSON(s.Deployments))
	}
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: svcAccount + "service/default/web", ForceNewDeployment: true})
	if len(s.Deployments) != 3 || ecsapi.Value(s.Deployments[1].Status) != "ACTIVE" {
		t.Errorf("forceNewDeployment: %s", mustJSON(s.Deployments))
	}
	rec, _, _ = e.loadService(ctx, "default", "web")
	if string(rec.Controller) != `{"seen":7}` {
		t.Errorf("controller state = %s", rec.Controller)
	}

	// Fargate: capacity changes need forceNewDeployment; a platform version
	// change starts a deployment.
	ftd := registerFargateTD(t, e, "256", "512")
	if _, err := e.PutClusterCapacityProviders(ctx, &ecsapi.PutClusterCapacityProvidersRequest{Cluster: "default", CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}, DefaultCapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}}); err != nil {
		t.Fatal(err)
	}
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "f", TaskDefinition: &ftd, DesiredCount: ecsapi.Ptr(int32(1)), LaunchType: ecsapi.Ptr(ecsapi.LaunchTypeFARGATE), NetworkConfiguration: awsvpcNet})
	spot := []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE_SPOT", Weight: 1}}
	_, err := e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "f", CapacityProviderStrategy: spot})
	wantErr(t, err, "InvalidParameterException", "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.")
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "f", CapacityProviderStrategy: spot, ForceNewDeployment: true})
	if s.LaunchType != nil || len(s.CapacityProviderStrategy) != 1 || len(s.Deployments) != 2 || len(s.Deployments[0].CapacityProviderStrategy) != 1 || s.Deployments[0].LaunchType != nil || ecsapi.Value(s.PlatformVersion) != "LATEST" {
		t.Errorf("switch to FARGATE_SPOT: %s", mustJSON(s))
	}
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "f", CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{}, ForceNewDeployment: true})
	if ecsapi.Value(s.LaunchType) != ecsapi.LaunchTypeFARGATE || s.CapacityProviderStrategy != nil || len(s.Deployments) != 3 {
		t.Errorf("back to the launch type: %s", mustJSON(s))
	}
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "f", PlatformVersion: ecsapi.Ptr("1.4.0")})
	net2 := &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{Subnets: []string{"subnet-2"}}}
	s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "f", NetworkConfiguration: net2})
	if len(s.Deployments) != 5 || ecsapi.Value(s.Deployments[1].PlatformVersion) != "1.4.0" || s.Deployments[0].NetworkConfiguration.AwsvpcConfiguration.Subnets[0] != "subnet-2" {
		t.Errorf("platform and network updates: %s", mustJSON(s.Deployments))
	}
	// The same settings again (assignPublicIp defaulted) change nothing.
	if s = updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "f", NetworkConfiguration: net2, PlatformVersion: ecsapi.Ptr("1.4.0")}); len(s.Deployments) != 5 {
		t.Errorf("unchanged settings started a deployment: %s", mustJSON(s.Deployments))
	}
}

// TestUpdateServiceErrors: ECS's errors for missing, inactive and invalid
// updates.
func TestUpdateServiceErrors(t *testing.T) {
	e, ctx := newSvcECS(t)
	td := svcTD(t, e, "web")
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(0))})
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "d", TaskDefinition: &td, SchedulingStrategy: ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON)})
	const ipe = "InvalidParameterException"
	cases := []struct {
		name      string
		in        ecsapi.UpdateServiceRequest
		code, msg string
	}{
		{"missing", ecsapi.UpdateServiceRequest{Service: "ghost"}, "ServiceNotFoundException", "Service not found."},
		{"other cluster's arn", ecsapi.UpdateServiceRequest{Service: svcAccount + "service/prod/web"}, "ServiceNotFoundException", "Service not found."},
		{"no cluster", ecsapi.UpdateServiceRequest{Cluster: ecsapi.Ptr("ghost"), Service: "web"}, "ClusterNotFoundException", "Cluster not found."},
		{"daemon desired count", ecsapi.UpdateServiceRequest{Service: "d", DesiredCount: ecsapi.Ptr(int32(2))}, ipe, "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"},
		{"daemon strategy", ecsapi.UpdateServiceRequest{Service: "d", PlacementStrategy: []ecsapi.PlacementStrategy{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeRandom)}}}, ipe, "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again"},
		{"unknown revision", ecsapi.UpdateServiceRequest{Service: "web", TaskDefinition: ecsapi.Ptr("web:9")}, "ClientException", "TaskDefinition not found."},
		{"network on bridge", ecsapi.UpdateServiceRequest{Service: "web", NetworkConfiguration: awsvpcNet}, ipe, "Network Configuration is not valid for the given networkMode of this task definition."},
		{"external controller", ecsapi.UpdateServiceRequest{Service: "web", DeploymentController: &ecsapi.DeploymentController{Type: ecsapi.DeploymentControllerTypeEXTERNAL}}, ipe, "The EXTERNAL deployment controller is not supported: berth supports only the ECS deployment controller for now."},
		{"lb port", ecsapi.UpdateServiceRequest{Service: "web", LoadBalancers: []ecsapi.LoadBalancer{{LoadBalancerName: ecsapi.Ptr("elb"), ContainerName: ecsapi.Ptr("app"), ContainerPort: ecsapi.Ptr(int32(9))}}}, ipe, "The container app did not have a container port 9 defined."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.UpdateService(ctx, &c.in)
			wantErr(t, err, c.code, c.msg)
		})
	}
	for _, status := range []string{statusDraining, statusInactive} {
		setStatus(t, e, "default", "web", status)
		_, err := e.UpdateService(ctx, &ecsapi.UpdateServiceRequest{Service: "web", DesiredCount: ecsapi.Ptr(int32(1))})
		wantErr(t, err, "ServiceNotActiveException", "Service was not ACTIVE.")
	}
}

// TestDeleteService: a REPLICA service must be scaled to 0 unless forced;
// deleting sets DRAINING (force also scales to 0); INACTIVE ones cannot be
// deleted again.
func TestDeleteService(t *testing.T) {
	e, ctx := newSvcECS(t)
	td := svcTD(t, e, "web")
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: &td, DesiredCount: ecsapi.Ptr(int32(2))})
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "d", TaskDefinition: &td, SchedulingStrategy: ecsapi.Ptr(ecsapi.SchedulingStrategyDAEMON)})
	_, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web"})
	wantErr(t, err, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	out, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web", Force: ecsapi.Ptr(true)})
	if err != nil || ecsapi.Value(out.Service.Status) != statusDraining || out.Service.DesiredCount != 0 || out.Service.Deployments[0].DesiredCount != 0 {
		t.Fatalf("forced delete = %+v, %v", out, err)
	}
	// Deleting a DRAINING service again returns it as it is.
	if again, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web"}); err != nil || ecsapi.Value(again.Service.Status) != statusDraining {
		t.Errorf("delete while draining = %+v, %v", again, err)
	}
	if out, err := e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "d"}); err != nil || ecsapi.Value(out.Service.Status) != statusDraining {
		t.Errorf("daemon delete = %+v, %v", out, err)
	}
	setStatus(t, e, "default", "web", statusInactive)
	_, err = e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "web"})
	wantErr(t, err, "ServiceNotActiveException", "Service was not ACTIVE.")
	_, err = e.DeleteService(ctx, &ecsapi.DeleteServiceRequest{Service: "ghost"})
	wantErr(t, err, "ServiceNotFoundException", "Service not found.")
	// INACTIVE and DRAINING services are still described.
	desc, err := e.DescribeServices(ctx, &ecsapi.DescribeServicesRequest{Services: []string{"web", "d", "ghost", svcAccount + "service/default/gone"}})
	if err != nil || len(desc.Services) != 2 || ecsapi.Value(desc.Services[0].Status) != statusInactive || len(desc.Failures) != 2 ||
		ecsapi.Value(desc.Failures[0].Arn) != svcAccount+"service/default/ghost" || ecsapi.Value(desc.Failures[1].Arn) != svcAccount+"service/default/gone" || ecsapi.Value(desc.Failures[0].Reason) != "MISSING" {
		t.Errorf("describe = %s, %v", mustJSON(desc), err)
	}
	if !serviceLive(store.KV{Value: mustJSON(serviceRecord{Service: ecsapi.Service{Status: ecsapi.Ptr(statusDraining)}})}) ||
		serviceLive(store.KV{Value: mustJSON(serviceRecord{Service: ecsapi.Service{Status: ecsapi.Ptr(statusInactive)}})}) {
		t.Error("serviceLive: DRAINING must count, INACTIVE must not")
	}
}

// TestUpdateServicePlacementDeploys: changed placement settings start a
// deployment (the rule), the same ones do not.
func TestUpdateServicePlacementDeploys(t *testing.T) {
	e := newTestECS(t, nil)
	ctx := context.Background()
	td, err := e.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "web", ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: ecsapi.Ptr("app"), Image: ecsapi.Ptr("x"), Memory: ecsapi.Ptr(int32(64))}}})
	if err != nil {
		t.Fatal(err)
	}
	createSvc(t, e, ecsapi.CreateServiceRequest{ServiceName: "web", TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: ecsapi.Ptr(int32(1))})
	random := []ecsapi.PlacementStrategy{{Type: ecsapi.Ptr(ecsapi.PlacementStrategyTypeRandom)}}
	if s := updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", PlacementStrategy: random}); len(s.Deployments) != 2 {
		t.Errorf("a new strategy: %d deployments, want 2", len(s.Deployments))
	}
	if s := updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", PlacementStrategy: random}); len(s.Deployments) != 2 {
		t.Errorf("the same strategy again: %d deployments, want 2", len(s.Deployments))
	}
	memberOf := []ecsapi.PlacementConstraint{{Type: ecsapi.Ptr(ecsapi.PlacementConstraintTypeMemberOf), Expression: ecsapi.Ptr("attribute:rack == r1")}}
	if s := updateSvc(t, e, ecsapi.UpdateServiceRequest{Service: "web", PlacementConstraints: memberOf}); len(s.Deployments) != 3 {
		t.Errorf("a new constraint: %d deployments, want 3", len(s.Deployments))
	}
}
