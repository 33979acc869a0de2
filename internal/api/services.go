package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/placement"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/taskdef"
)

// Service records:
//
//	/services/<cluster>/<service name>   serviceRecord
//
// The API layer stores and echoes services; the service controller starts
// and stops their tasks, keeps runningCount, pendingCount, events and the
// deployments' counters up to date, sets a DAEMON service's desiredCount and
// marks a DRAINING service INACTIVE once its tasks are gone. Every write is
// a compare-and-swap on the record. Deleted services stay stored INACTIVE,
// describable, and their name can be reused.
type serviceRecord struct {
	Service ecsapi.Service `json:"service"`
	// Controller holds the service controller's private state; the API
	// layer never reads it and carries it over unchanged on every write.
	Controller json.RawMessage `json:"controller,omitempty"`
	// Links ties each deployment in service.deployments (by id) to its
	// service revision and service deployment; Seq numbers the service's
	// service deployments (servicedeployments.go).
	Links map[string]deploymentLink `json:"links,omitempty"`
	Seq   int64                     `json:"seq,omitempty"`
}

func serviceKey(cluster, name string) string { return servicesPrefix(cluster) + name }

// Service statuses and deployment statuses.
const (
	statusDraining    = "DRAINING"
	deploymentPrimary = "PRIMARY"
)

// fargateLatest is the platform version a LATEST Fargate deployment runs.
const fargateLatest = "1.4.0"

var (
	errServiceNotFound  = ecsapi.Errorf(ecsapi.CodeServiceNotFoundException, "Service not found.")
	errServiceNotActive = ecsapi.Errorf(ecsapi.CodeServiceNotActiveException, "Service was not ACTIVE.")
)

func (e *ECS) serviceARN(cluster, name string) string {
	return e.names.Resource("service/" + cluster + "/" + name)
}

// serviceName resolves a service "name or ARN" in cluster. Both ARN formats
// are accepted: service/CLUSTER/NAME and the old service/NAME. ok is false
// for an ARN of another cluster or an impossible name: such a service does
// not exist.
func serviceName(cluster, ref string) (name string, ok bool, err error) {
	name = ref
	if arn.IsARN(ref) {
		kind, rest, perr := arn.ECSResource(ref)
		if perr != nil || kind != "service" {
			return "", false, invalidParam("Invalid service identifier %q: not a service name or service ARN.", ref)
		}
		name = rest
		if c, n, long := strings.Cut(rest, "/"); long {
			if c != cluster {
				return "", false, nil
			}
			name = n
		}
	}
	return name, nameRE.MatchString(name), nil
}

// loadService reads the service named by a name or ARN in cluster, whatever
// its status; a missing one is a ServiceNotFoundException.
func (e *ECS) loadService(ctx context.Context, cluster, ref string) (serviceRecord, int64, error) {
	var rec serviceRecord
	name, ok, err := serviceName(cluster, ref)
	if err != nil {
		return rec, 0, err
	}
	if !ok {
		return rec, 0, errServiceNotFound
	}
	rev, err := e.getJSON(ctx, serviceKey(cluster, name), &rec)
	if errors.Is(err, store.ErrNotFound) {
		return rec, 0, errServiceNotFound
	}
	return rec, rev, err
}

// serviceLive reports whether a stored service still counts for its cluster
// (ACTIVE or DRAINING): DeleteCluster refuses while one does.
func serviceLive(kv store.KV) bool {
	var rec struct {
		Service struct {
			Status string `json:"status"`
		} `json:"service"`
	}
	_ = json.Unmarshal(kv.Value, &rec)
	return rec.Service.Status != statusInactive
}

// CreateService stores a new service with its first (PRIMARY) deployment;
// the service controller starts its tasks.
func (e *ECS) CreateService(ctx context.Context, in *ecsapi.CreateServiceRequest) (*ecsapi.CreateServiceResponse, error) {
	if !nameRE.MatchString(in.ServiceName) {
		return nil, invalidParam("Service name %q is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", in.ServiceName)
	}
	token := ecsapi.Value(in.ClientToken)
	if len(token) > 36 || strings.ContainsFunc(token, func(r rune) bool { return r < 33 || r > 126 }) {
		return nil, invalidParam("clientToken can be up to 36 ASCII characters in the range of 33-126 (inclusive).")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := checkController(in.DeploymentController); err != nil {
		return nil, err
	}
	if in.LaunchType != nil && len(in.CapacityProviderStrategy) > 0 {
		return nil, invalidParam("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	sched := ecsapi.Value(in.SchedulingStrategy)
	if sched == "" {
		sched = ecsapi.SchedulingStrategyREPLICA
	}
	daemon := sched == ecsapi.SchedulingStrategyDAEMON
	switch {
	case daemon && in.DesiredCount != nil:
		return nil, errDaemonDesiredCount
	case !daemon && in.DesiredCount == nil:
		return nil, invalidParam("desiredCount is required for services using the REPLICA scheduling strategy.")
	case ecsapi.Value(in.DesiredCount) < 0:
		return nil, invalidParam("desiredCount must be at least 0.")
	}
	if err := checkUnsupported(in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return nil, err
	}
	if ecsapi.Value(in.TaskDefinition) == "" {
		return nil, invalidParam("A task definition must be specified for a service that uses the ECS deployment controller.")
	}
	if ecsapi.Value(in.HealthCheckGracePeriodSeconds) < 0 {
		return nil, invalidParam("healthCheckGracePeriodSeconds must be at least 0.")
	}
	dc, err := deploymentConfig(in.DeploymentConfiguration, nil, daemon)
	if err != nil {
		return nil, err
	}
	params := *in
	params.ClientToken = nil
	var out ecsapi.Service
	err = retry(ctx, func() error {
		c, crev, err := e.activeCluster(ctx, in.Cluster, true)
		if err != nil {
			return err
		}
		cluster := ecsapi.Value(c.ClusterName)
		var call tokenCall
		if token != "" {
			var prior json.RawMessage
			if call, prior, err = e.lookupToken(ctx, cluster, "CreateService", token, &params); err != nil {
				return err
			}
			if prior != nil {
				return json.Unmarshal(prior, &out)
			}
		}
		def, err := e.serviceTaskDef(ctx, ecsapi.Value(in.TaskDefinition))
		if err != nil {
			return err
		}
		s := e.newService(ctx, &c, in, def, sched, dc)
		if err := e.checkService(ctx, &c, &s, def); err != nil {
			return err
		}
		if err := checkRole(in.Role, &s, def); err != nil {
			return err
		}
		dep := e.newDeployment(&s)
		if dep.ServiceConnectConfiguration, err = e.serviceConnect(&c, in.ServiceConnectConfiguration, def); err != nil {
			return err
		}
		s.Deployments = []ecsapi.Deployment{dep}

		key := serviceKey(cluster, in.ServiceName)
		var have serviceRecord
		rev, err := e.getJSON(ctx, key, &have)
		var ops []store.Op
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case ecsapi.Value(have.Service.Status) != statusInactive:
			return invalidParam("Creation of service was not idempotent.")
		default:
			// The name is reused: the deleted service's history goes.
			if ops, err = e.forgetServiceHistory(ctx, cluster, in.ServiceName); err != nil {
				return err
			}
		}
		rec := serviceRecord{Service: s}
		hconds, hops, err := e.startServiceDeployment(ctx, &rec)
		if err != nil {
			return err
		}
		// The cluster record is rewritten unchanged so that a DeleteCluster
		// racing this call conflicts with it instead of missing the service.
		conds := append([]store.Cond{{Key: key, ModRev: rev}, {Key: clusterKey(cluster), ModRev: crev}}, hconds...)
		ops = append(append(ops, hops...), store.Put(key, mustJSON(rec)), store.Put(clusterKey(cluster), mustJSON(c)))
		s = rec.Service
		out = s
		if token != "" {
			return e.commitWithToken(ctx, call, s, conds, ops)
		}
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.CreateServiceResponse{Service: &out}, nil
}

var errDaemonDesiredCount = invalidParam("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again")

// checkController accepts only the ECS (rolling update) deployment
// controller.
func checkController(dc *ecsapi.DeploymentController) error {
	if dc != nil && dc.Type != ecsapi.DeploymentControllerTypeECS {
		return invalidParam("The %s deployment controller is not supported: berth supports only the ECS deployment controller for now.", dc.Type)
	}
	return nil
}

// checkUnsupported refuses the service settings berth has nothing to back.
func checkUnsupported(volumes []ecsapi.ServiceVolumeConfiguration, lattice []ecsapi.VpcLatticeConfiguration) error {
	if len(volumes) > 0 {
		return invalidParam("volumeConfigurations are not supported: berth does not manage Amazon EBS volumes for services yet.")
	}
	if len(lattice) > 0 {
		return invalidParam("vpcLatticeConfigurations are not supported: berth has no VPC Lattice.")
	}
	return nil
}

// serviceTaskDef resolves a service's task definition, which must be ACTIVE.
func (e *ECS) serviceTaskDef(ctx context.Context, ref string) (*ecsapi.TaskDefinition, error) {
	rec, _, err := e.loadTaskDef(ctx, ref)
	if err == errNoTaskDef {
		return nil, clientErr("TaskDefinition not found.")
	}
	if err != nil {
		return nil, err
	}
	if rec.Status != statusActive {
		return nil, clientErr("TaskDefinition is inactive")
	}
	return &rec.TaskDefinition, nil
}

// newService builds a service from a CreateService call, with ECS's defaults.
func (e *ECS) newService(ctx context.Context, c *ecsapi.Cluster, in *ecsapi.CreateServiceRequest, def *ecsapi.TaskDefinition, sched ecsapi.SchedulingStrategy, dc *ecsapi.DeploymentConfiguration) ecsapi.Service {
	cluster := ecsapi.Value(c.ClusterName)
	s := ecsapi.Service{
		ServiceArn:                    ecsapi.Ptr(e.serviceARN(cluster, in.ServiceName)),
		ServiceName:                   ecsapi.Ptr(in.ServiceName),
		ClusterArn:                    c.ClusterArn,
		LoadBalancers:                 nonNil(in.LoadBalancers),
		ServiceRegistries:             nonNil(in.ServiceRegistries),
		Status:                        ecsapi.Ptr(statusActive),
		DesiredCount:                  ecsapi.Value(in.DesiredCount),
		LaunchType:                    in.LaunchType,
		CapacityProviderStrategy:      in.CapacityProviderStrategy,
		PlatformVersion:               in.PlatformVersion,
		TaskDefinition:                def.TaskDefinitionArn,
		DeploymentConfiguration:       dc,
		Events:                        []ecsapi.ServiceEvent{},
		CreatedAt:                     ecsapi.Time(e.now()),
		PlacementConstraints:          nonNil(in.PlacementConstraints),
		PlacementStrategy:             nonNil(in.PlacementStrategy),
		NetworkConfiguration:          serviceNetwork(in.NetworkConfiguration),
		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		SchedulingStrategy:            ecsapi.Ptr(sched),
		DeploymentController:          &ecsapi.DeploymentController{Type: ecsapi.DeploymentControllerTypeECS},
		Tags:                          in.Tags,
		CreatedBy:                     ecsapi.Ptr(e.callerARN(ctx)),
		EnableECSManagedTags:          in.EnableECSManagedTags,
		PropagateTags:                 in.PropagateTags,
		EnableExecuteCommand:          in.EnableExecuteCommand,
		AvailabilityZoneRebalancing:   in.AvailabilityZoneRebalancing,
	}
	if in.LaunchType == nil && len(in.CapacityProviderStrategy) == 0 {
		if len(c.DefaultCapacityProviderStrategy) > 0 {
			s.CapacityProviderStrategy = c.DefaultCapacityProviderStrategy
		} else {
			s.LaunchType = ecsapi.Ptr(ecsapi.LaunchTypeEC2)
		}
	}
	if s.PropagateTags == nil {
		s.PropagateTags = ecsapi.Ptr(ecsapi.PropagateTagsNONE)
	}
	if s.AvailabilityZoneRebalancing == nil {
		// ECS's default for new services; a DAEMON service has one task per
		// instance and nothing to rebalance.
		s.AvailabilityZoneRebalancing = ecsapi.Ptr(ecsapi.AvailabilityZoneRebalancingENABLED)
		if sched == ecsapi.SchedulingStrategyDAEMON {
			s.AvailabilityZoneRebalancing = ecsapi.Ptr(ecsapi.AvailabilityZoneRebalancingDISABLED)
		}
	}
	if in.Role != nil {
		s.RoleArn = ecsapi.Ptr(e.roleARN(*in.Role))
	} else if len(in.LoadBalancers)+len(in.ServiceRegistries) > 0 {
		s.RoleArn = ecsapi.Ptr(e.roleARN("aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"))
	}
	return s
}

// roleARN turns an IAM role name (with its path, if any) into its ARN.
func (e *ECS) roleARN(role string) string {
	if arn.IsARN(role) {
		return role
	}
	p := e.names.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":iam::" + e.names.Account + ":role/" + strings.TrimPrefix(role, "/")
}

// checkRole applies ECS's rules for the role parameter: only with load
// balancers, and never for awsvpc task definitions (which use the
// service-linked role).
func checkRole(role *string, s *ecsapi.Service, def *ecsapi.TaskDefinition) error {
	if role == nil {
		return nil
	}
	if len(s.LoadBalancers) == 0 {
		return invalidParam("IAM roles are only valid for services configured to use load balancers.")
	}
	if taskdef.EffectiveNetworkMode(def) == ecsapi.NetworkModeAwsvpc {
		return invalidParam("You cannot specify an IAM role for services that require a service linked role.")
	}
	return nil
}

// checkService validates a service's settings together, as CreateService
// and UpdateService leave them: capacity, placement, platform version,
// network configuration, load balancers and service registries against the
// cluster and task definition. It fills the platform version and family of
// a Fargate service.
func (e *ECS) checkService(ctx context.Context, c *ecsapi.Cluster, s *ecsapi.Service, def *ecsapi.TaskDefinition) error {
	daemon := ecsapi.Value(s.SchedulingStrategy) == ecsapi.SchedulingStrategyDAEMON
	launchType := ecsapi.Value(s.LaunchType)
	switch {
	case daemon && len(s.CapacityProviderStrategy) > 0:
		return invalidParam("Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.")
	case daemon && launchType == ecsapi.LaunchTypeFARGATE:
		return invalidParam("The DAEMON scheduling strategy is not supported for the FARGATE launch type.")
	case daemon && len(s.PlacementStrategy) > 0:
		return invalidParam("The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again")
	case launchType == ecsapi.LaunchTypeFARGATE && len(s.PlacementConstraints) > 0:
		return errFargateConstraints
	}
	l := &taskLaunch{cluster: *c, def: def, demand: taskDemand(def, nil)}
	if err := l.setPlacement(launchType, s.PlacementConstraints, s.PlacementStrategy); err != nil {
		return err
	}
	if len(s.CapacityProviderStrategy) > 0 {
		if _, err := e.capacityLegs(ctx, l, nil, s.CapacityProviderStrategy, 1); err != nil {
			return err
		}
		if l.launchType == placement.LaunchFargate && len(s.PlacementConstraints) > 0 {
			return errFargateConstraints
		}
	}
	s.PlatformFamily = nil
	if l.launchType == placement.LaunchFargate {
		if s.PlatformVersion == nil {
			s.PlatformVersion = ecsapi.Ptr("LATEST")
		}
		if !slices.Contains([]string{"LATEST", "1.4.0", "1.3.0"}, *s.PlatformVersion) {
			return ecsapi.Errorf(ecsapi.CodePlatformUnknownException, "The specified platform version %q does not exist.", *s.PlatformVersion)
		}
		s.PlatformFamily = ecsapi.Ptr("Linux")
	} else if s.PlatformVersion != nil {
		return invalidParam("The platform version must be null when specifying an EC2 launch type.")
	}
	awsvpc := s.NetworkConfiguration != nil && s.NetworkConfiguration.AwsvpcConfiguration != nil
	switch mode := taskdef.EffectiveNetworkMode(def); {
	case mode == ecsapi.NetworkModeAwsvpc && !awsvpc:
		return invalidParam("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case mode != ecsapi.NetworkModeAwsvpc && awsvpc:
		return invalidParam("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	for _, lb := range s.LoadBalancers {
		if lb.TargetGroupArn == nil && lb.LoadBalancerName == nil {
			return invalidParam("A load balancer must name either a targetGroupArn or a loadBalancerName.")
		}
		if lb.TargetGroupArn != nil && lb.LoadBalancerName != nil {
			return invalidParam("A load balancer cannot name both a targetGroupArn and a loadBalancerName.")
		}
		if ecsapi.Value(lb.ContainerName) == "" {
			return invalidParam("Container Name can not be blank.")
		}
		if err := checkContainerPort(def, ecsapi.Value(lb.ContainerName), lb.ContainerPort); err != nil {
			return err
		}
		if err := e.checkTargetType(ctx, ecsapi.Value(lb.TargetGroupArn), def); err != nil {
			return err
		}
	}
	if len(s.ServiceRegistries) > 1 {
		return invalidParam("A service can have at most one service registry.")
	}
	for _, r := range s.ServiceRegistries {
		if ecsapi.Value(r.RegistryArn) == "" {
			return invalidParam("serviceRegistries: registryArn is required.")
		}
		if err := e.checkRegistryPorts(ctx, r, def); err != nil {
			return err
		}
		if r.ContainerName != nil {
			if err := checkContainerPort(def, *r.ContainerName, r.ContainerPort); err != nil {
				return err
			}
		}
	}
	return nil
}

var errFargateConstraints = invalidParam("Placement constraints are not supported with FARGATE launch type.")

// checkContainerPort checks that the task definition has the container and,
// when port is set, that the container maps that container port.
func checkContainerPort(def *ecsapi.TaskDefinition, name string, port *int32) error {
	i := slices.IndexFunc(def.ContainerDefinitions, func(cd ecsapi.ContainerDefinition) bool { return ecsapi.Value(cd.Name) == name })
	if i < 0 {
		return invalidParam("The container %s does not exist in the task definition.", name)
	}
	if port == nil {
		return nil
	}
	if !slices.ContainsFunc(def.ContainerDefinitions[i].PortMappings, func(pm ecsapi.PortMapping) bool { return ecsapi.Value(pm.ContainerPort) == *port }) {
		return invalidParam("The container %s did not have a container port %d defined.", name, *port)
	}
	return nil
}

// serviceConnect resolves a Service Connect configuration: the namespace
// (the cluster's default when omitted) becomes an ARN, and each service
// must name a port mapping of the task definition. berth runs no Service
// Connect proxy: the configuration is stored and echoed, and
// ListServicesByNamespace finds the service by it.
func (e *ECS) serviceConnect(c *ecsapi.Cluster, sc *ecsapi.ServiceConnectConfiguration, def *ecsapi.TaskDefinition) (*ecsapi.ServiceConnectConfiguration, error) {
	if sc == nil {
		return nil, nil
	}
	out := *sc
	if !out.Enabled {
		return &out, nil
	}
	switch {
	case ecsapi.Value(out.Namespace) != "":
		out.Namespace = ecsapi.Ptr(e.namespaceARN(*out.Namespace))
	case c.ServiceConnectDefaults != nil:
		out.Namespace = c.ServiceConnectDefaults.Namespace
	default:
		return nil, invalidParam("Service Connect requires a namespace: set serviceConnectConfiguration.namespace or the cluster's serviceConnectDefaults.")
	}
	for _, svc := range out.Services {
		found := false
		for _, cd := range def.ContainerDefinitions {
			found = found || slices.ContainsFunc(cd.PortMappings, func(pm ecsapi.PortMapping) bool { return ecsapi.Value(pm.Name) == svc.PortName })
		}
		if !found {
			return nil, invalidParam("The portName %s does not match the name of any port mapping in the task definition.", svc.PortName)
		}
	}
	return &out, nil
}

// deploymentConfig merges a call's deployment configuration over the
// service's current one (ECS's defaults when creating) and validates it.
func deploymentConfig(in, have *ecsapi.DeploymentConfiguration, daemon bool) (*ecsapi.DeploymentConfiguration, error) {
	var out ecsapi.DeploymentConfiguration
	if have != nil {
		out = *have
	} else {
		out = ecsapi.DeploymentConfiguration{
			DeploymentCircuitBreaker: &ecsapi.DeploymentCircuitBreaker{},
			MaximumPercent:           ecsapi.Ptr(int32(200)),
			MinimumHealthyPercent:    ecsapi.Ptr(int32(100)),
			Strategy:                 ecsapi.Ptr(ecsapi.DeploymentStrategyROLLING),
		}
		if daemon {
			out.MaximumPercent, out.MinimumHealthyPercent = ecsapi.Ptr(int32(100)), ecsapi.Ptr(int32(0))
		}
	}
	if in != nil {
		if in.DeploymentCircuitBreaker != nil {
			out.DeploymentCircuitBreaker = in.DeploymentCircuitBreaker
		}
		if in.MaximumPercent != nil {
			out.MaximumPercent = in.MaximumPercent
		}
		if in.MinimumHealthyPercent != nil {
			out.MinimumHealthyPercent = in.MinimumHealthyPercent
		}
		if in.Alarms != nil {
			out.Alarms = in.Alarms
		}
		if in.Strategy != nil {
			out.Strategy = in.Strategy
		}
		if in.BakeTimeInMinutes != nil {
			out.BakeTimeInMinutes = in.BakeTimeInMinutes
		}
		if in.LifecycleHooks != nil {
			out.LifecycleHooks = in.LifecycleHooks
		}
	}
	if st := ecsapi.Value(out.Strategy); st != ecsapi.DeploymentStrategyROLLING {
		return nil, invalidParam("The %s deployment strategy is not supported: berth supports only ROLLING deployments for now.", st)
	}
	if in != nil && (in.LinearConfiguration != nil || in.CanaryConfiguration != nil) {
		return nil, invalidParam("linearConfiguration and canaryConfiguration apply only to the LINEAR and CANARY deployment strategies.")
	}
	if n := ecsapi.Value(out.MinimumHealthyPercent); n < 0 || n > 100 {
		return nil, invalidParam("deploymentConfiguration.minimumHealthyPercent must be between 0 and 100.")
	}
	if ecsapi.Value(out.MaximumPercent) < ecsapi.Value(out.MinimumHealthyPercent) {
		return nil, invalidParam("deploymentConfiguration.maximumPercent must be at least minimumHealthyPercent.")
	}
	if ecsapi.Value(out.BakeTimeInMinutes) < 0 {
		return nil, invalidParam("deploymentConfiguration.bakeTimeInMinutes must be at least 0.")
	}
	return &out, nil
}

// newDeployment is a PRIMARY deployment of the service's current settings.
func (e *ECS) newDeployment(s *ecsapi.Service) ecsapi.Deployment {
	id := "ecs-svc/" + randomDigits(19)
	now := ecsapi.Time(e.now())
	d := ecsapi.Deployment{
		Id:                       ecsapi.Ptr(id),
		Status:                   ecsapi.Ptr(deploymentPrimary),
		TaskDefinition:           s.TaskDefinition,
		DesiredCount:             s.DesiredCount,
		CreatedAt:                now,
		UpdatedAt:                now,
		CapacityProviderStrategy: s.CapacityProviderStrategy,
		LaunchType:               s.LaunchType,
		PlatformVersion:          s.PlatformVersion,
		PlatformFamily:           s.PlatformFamily,
		NetworkConfiguration:     s.NetworkConfiguration,
		RolloutState:             ecsapi.Ptr(ecsapi.DeploymentRolloutStateINPROGRESS),
		RolloutStateReason:       ecsapi.Ptr("ECS deployment " + id + " in progress."),
	}
	if ecsapi.Value(d.PlatformVersion) == "LATEST" {
		d.PlatformVersion = ecsapi.Ptr(fargateLatest)
	}
	return d
}

// randomDigits returns n random decimal digits, the first not 0.
func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		lo := int64(0)
		if i == 0 {
			lo = 1
		}
		d, _ := rand.Int(rand.Reader, big.NewInt(10-lo))
		b[i] = byte('0' + lo + d.Int64())
	}
	return string(b)
}
