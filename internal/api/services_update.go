package api

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// changeService applies change to an ACTIVE service with compare-and-swap,
// carrying the controller's state over, and returns the service written.
// A change that returns errUnchanged ends the call without a write.
func (e *ECS) changeService(ctx context.Context, clusterRef *string, ref string, change func(c *ecsapi.Cluster, s *ecsapi.Service) error) (*ecsapi.Service, error) {
	return e.changeServiceRecord(ctx, clusterRef, ref, func(c *ecsapi.Cluster, rec *serviceRecord) ([]store.Cond, []store.Op, error) {
		return nil, nil, change(c, &rec.Service)
	})
}

// changeServiceRecord is changeService for changes to the whole record
// that write other records in the same transaction: change returns their
// conditions and writes.
func (e *ECS) changeServiceRecord(ctx context.Context, clusterRef *string, ref string, change func(c *ecsapi.Cluster, rec *serviceRecord) ([]store.Cond, []store.Op, error)) (*ecsapi.Service, error) {
	var out ecsapi.Service
	err := retry(ctx, func() error {
		c, _, err := e.activeCluster(ctx, clusterRef, false)
		if err != nil {
			return err
		}
		cluster := ecsapi.Value(c.ClusterName)
		rec, rev, err := e.loadService(ctx, cluster, ref)
		if err != nil {
			return err
		}
		conds, ops, err := change(&c, &rec)
		if err != nil {
			return err
		}
		key := serviceKey(cluster, ecsapi.Value(rec.Service.ServiceName))
		conds = append(conds, store.Cond{Key: key, ModRev: rev})
		ops = append(ops, store.Put(key, mustJSON(rec)))
		_, err = e.st.Txn(ctx, conds, ops)
		out = rec.Service
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// errUnchanged stops changeService without a write.
type errUnchanged struct{ s ecsapi.Service }

func (errUnchanged) Error() string { return "service unchanged" }

// UpdateService changes a service. A new task definition, network
// configuration, platform version, capacity provider strategy, load
// balancers, service registries or Service Connect configuration, or
// forceNewDeployment, start a new PRIMARY deployment (the previous one
// becomes ACTIVE, for the controller to scale down); the other settings
// apply in place.
func (e *ECS) UpdateService(ctx context.Context, in *ecsapi.UpdateServiceRequest) (*ecsapi.UpdateServiceResponse, error) {
	if err := checkController(in.DeploymentController); err != nil {
		return nil, err
	}
	if err := checkUnsupported(in.VolumeConfigurations, in.VpcLatticeConfigurations); err != nil {
		return nil, err
	}
	if ecsapi.Value(in.DesiredCount) < 0 {
		return nil, invalidParam("desiredCount must be at least 0.")
	}
	if ecsapi.Value(in.HealthCheckGracePeriodSeconds) < 0 {
		return nil, invalidParam("healthCheckGracePeriodSeconds must be at least 0.")
	}
	s, err := e.changeServiceRecord(ctx, in.Cluster, in.Service, func(c *ecsapi.Cluster, rec *serviceRecord) ([]store.Cond, []store.Op, error) {
		if err := e.adoptRollback(ctx, rec); err != nil {
			return nil, nil, err
		}
		prev := primaryDeployment(&rec.Service)
		if err := e.updateService(ctx, c, &rec.Service, in); err != nil {
			return nil, nil, err
		}
		if primaryDeployment(&rec.Service) != prev {
			// A new deployment: a new service revision and service deployment.
			return e.startServiceDeployment(ctx, rec)
		}
		setCurrentRevisions(rec)
		return nil, nil, nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateServiceResponse{Service: s}, nil
}

func (e *ECS) updateService(ctx context.Context, c *ecsapi.Cluster, s *ecsapi.Service, in *ecsapi.UpdateServiceRequest) error {
	if ecsapi.Value(s.Status) != statusActive {
		return errServiceNotActive
	}
	daemon := ecsapi.Value(s.SchedulingStrategy) == ecsapi.SchedulingStrategyDAEMON
	if daemon && in.DesiredCount != nil {
		return errDaemonDesiredCount
	}
	dc, err := deploymentConfig(in.DeploymentConfiguration, s.DeploymentConfiguration, daemon)
	if err != nil {
		return err
	}
	s.DeploymentConfiguration = dc
	deploy := in.ForceNewDeployment
	var def *ecsapi.TaskDefinition
	if in.TaskDefinition != nil {
		if def, err = e.serviceTaskDef(ctx, *in.TaskDefinition); err != nil {
			return err
		}
		deploy = deploy || ecsapi.Value(def.TaskDefinitionArn) != ecsapi.Value(s.TaskDefinition)
		s.TaskDefinition = def.TaskDefinitionArn
	} else {
		// The current revision may have been deregistered since: it still
		// runs, and still validates the other settings.
		rec, _, err := e.loadTaskDef(ctx, ecsapi.Value(s.TaskDefinition))
		if err != nil {
			return err
		}
		def = &rec.TaskDefinition
	}
	if in.CapacityProviderStrategy != nil {
		items := in.CapacityProviderStrategy
		launchType := s.LaunchType
		if len(items) > 0 {
			launchType = nil
		} else if len(s.CapacityProviderStrategy) > 0 {
			// An empty strategy moves the service back to the launch type
			// of its providers.
			launchType = ecsapi.Ptr(ecsapi.LaunchTypeEC2)
			if isFargateProvider(s.CapacityProviderStrategy[0].CapacityProvider) {
				launchType = ecsapi.Ptr(ecsapi.LaunchTypeFARGATE)
			}
			items = nil
		}
		if !sameJSON(items, s.CapacityProviderStrategy) || !sameJSON(launchType, s.LaunchType) {
			if !in.ForceNewDeployment {
				return invalidParam("When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.")
			}
			s.CapacityProviderStrategy, s.LaunchType = items, launchType
			if in.PlatformVersion == nil {
				s.PlatformVersion = nil // checkService sets Fargate's default
			}
		}
	}
	set := func(changed bool, apply func()) {
		if changed {
			apply()
			deploy = true
		}
	}
	if in.NetworkConfiguration != nil {
		nc := serviceNetwork(in.NetworkConfiguration)
		set(!sameJSON(nc, s.NetworkConfiguration), func() { s.NetworkConfiguration = nc })
	}
	if in.PlatformVersion != nil {
		set(*in.PlatformVersion != ecsapi.Value(s.PlatformVersion), func() { s.PlatformVersion = in.PlatformVersion })
	}
	if in.LoadBalancers != nil {
		set(!sameJSON(in.LoadBalancers, s.LoadBalancers), func() { s.LoadBalancers = in.LoadBalancers })
	}
	if in.ServiceRegistries != nil {
		set(!sameJSON(in.ServiceRegistries, s.ServiceRegistries), func() { s.ServiceRegistries = in.ServiceRegistries })
	}
	// Changed placement settings start a deployment too, so the running
	// tasks are re-placed under them (berth's rule, as the issue asks;
	// ECS applies them to new tasks only).
	if in.PlacementConstraints != nil {
		set(!sameJSON(nonNil(in.PlacementConstraints), nonNil(s.PlacementConstraints)), func() { s.PlacementConstraints = in.PlacementConstraints })
	}
	if in.PlacementStrategy != nil {
		set(!sameJSON(nonNil(in.PlacementStrategy), nonNil(s.PlacementStrategy)), func() { s.PlacementStrategy = in.PlacementStrategy })
	}
	if err := e.checkService(ctx, c, s, def); err != nil {
		return err
	}
	primary := slices.IndexFunc(s.Deployments, func(d ecsapi.Deployment) bool { return ecsapi.Value(d.Status) == deploymentPrimary })
	var connect *ecsapi.ServiceConnectConfiguration
	if primary >= 0 {
		connect = s.Deployments[primary].ServiceConnectConfiguration
	}
	if in.ServiceConnectConfiguration != nil {
		sc, err := e.serviceConnect(c, in.ServiceConnectConfiguration, def)
		if err != nil {
			return err
		}
		set(!sameJSON(sc, connect), func() { connect = sc })
	}
	if in.DesiredCount != nil {
		s.DesiredCount = *in.DesiredCount
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		s.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
	}
	if in.EnableExecuteCommand != nil {
		s.EnableExecuteCommand = *in.EnableExecuteCommand
	}
	if in.EnableECSManagedTags != nil {
		s.EnableECSManagedTags = *in.EnableECSManagedTags
	}
	if in.PropagateTags != nil {
		s.PropagateTags = in.PropagateTags
	}
	if in.AvailabilityZoneRebalancing != nil {
		s.AvailabilityZoneRebalancing = in.AvailabilityZoneRebalancing
	}
	s.LoadBalancers, s.ServiceRegistries = nonNil(s.LoadBalancers), nonNil(s.ServiceRegistries)
	s.PlacementConstraints, s.PlacementStrategy = nonNil(s.PlacementConstraints), nonNil(s.PlacementStrategy)
	if deploy || primary < 0 {
		if primary >= 0 {
			s.Deployments[primary].Status = ecsapi.Ptr(statusActive)
			s.Deployments[primary].UpdatedAt = ecsapi.Time(e.now())
		}
		d := e.newDeployment(s)
		d.ServiceConnectConfiguration = connect
		s.Deployments = append([]ecsapi.Deployment{d}, s.Deployments...)
	} else if in.DesiredCount != nil && s.Deployments[primary].DesiredCount != s.DesiredCount {
		s.Deployments[primary].DesiredCount = s.DesiredCount
		s.Deployments[primary].UpdatedAt = ecsapi.Time(e.now())
	}
	return nil
}

// startServiceDeployment records rec's new PRIMARY deployment (the first):
// a service revision of its settings and a service deployment from the
// revisions running now to it. The service's current service deployment
// ends. It returns the writes for the caller's transaction of rec.
func (e *ECS) startServiceDeployment(ctx context.Context, rec *serviceRecord) ([]store.Cond, []store.Op, error) {
	s := &rec.Service
	d := s.Deployments[0]
	cluster, name := lastSegment(ecsapi.Value(s.ClusterArn)), ecsapi.Value(s.ServiceName)
	td, _, err := e.loadTaskDef(ctx, ecsapi.Value(d.TaskDefinition))
	if err != nil {
		return nil, nil, err
	}
	conds, ops, err := e.endServiceDeployment(ctx, rec)
	if err != nil {
		return nil, nil, err
	}
	revARN := e.names.Resource(kindServiceRevision + "/" + cluster + "/" + name + "/" + randomDigits(19))
	rv := newServiceRevision(s, &d, &td.TaskDefinition, revARN)
	rec.Seq++
	sdARN := e.names.Resource(kindServiceDeployment + "/" + cluster + "/" + name + "/" + serviceDeploymentID(e.now(), rec.Seq))
	dc := ecsapi.Value(s.DeploymentConfiguration)
	sd := serviceDeploymentRecord{Target: ecsapi.Value(d.Id), Deployment: ecsapi.ServiceDeployment{
		ServiceDeploymentArn:    ecsapi.Ptr(sdARN),
		ServiceArn:              s.ServiceArn,
		ClusterArn:              s.ClusterArn,
		CreatedAt:               d.CreatedAt,
		StartedAt:               d.CreatedAt,
		TargetServiceRevision:   &ecsapi.ServiceRevisionSummary{Arn: ecsapi.Ptr(revARN)},
		DeploymentConfiguration: &dc,
	}}
	for _, o := range s.Deployments[1:] {
		sd.Sources = append(sd.Sources, sourceLink{Revision: rec.Links[ecsapi.Value(o.Id)].Revision, Deployment: ecsapi.Value(o.Id), TaskDefinition: ecsapi.Value(o.TaskDefinition)})
	}
	rec.link(ecsapi.Value(d.Id), deploymentLink{Revision: revARN, ServiceDeployment: sdARN})
	conds = append(conds, store.Cond{Key: historyKey(revARN)}, store.Cond{Key: historyKey(sdARN)})
	ops = append(ops, store.Put(historyKey(revARN), mustJSON(rv)), store.Put(historyKey(sdARN), mustJSON(sd)))
	return conds, ops, nil
}

// endServiceDeployment freezes the service's current service deployment
// as it stands, an unfinished one STOPPED: the new first deployment
// replaces it.
func (e *ECS) endServiceDeployment(ctx context.Context, rec *serviceRecord) ([]store.Cond, []store.Op, error) {
	if rec.Service.CurrentServiceDeployment == nil {
		return nil, nil, nil
	}
	key := historyKey(*rec.Service.CurrentServiceDeployment)
	var sd serviceDeploymentRecord
	mod, err := e.getJSON(ctx, key, &sd)
	if errors.Is(err, store.ErrNotFound) || err == nil && sd.Final != nil {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	before := rec.Service // as it was, without the new deployment
	before.Deployments = before.Deployments[1:]
	v := e.viewServiceDeployment(&sd, &before)
	if !finished(v.Status) {
		now := ecsapi.Time(e.now())
		v.Status, v.StatusReason, v.StoppedAt, v.UpdatedAt = ecsapi.Ptr(ecsapi.ServiceDeploymentStatusSTOPPED), ecsapi.Ptr(reasonSuperseded), now, now
		for _, st := range []**ecsapi.ServiceDeploymentRollbackMonitorsStatus{&v.DeploymentCircuitBreaker.Status, &v.Alarms.Status} {
			if **st == ecsapi.ServiceDeploymentRollbackMonitorsStatusMONITORING {
				*st = monitor(true, v.Status)
			}
		}
	}
	sd.Final = &v
	return []store.Cond{{Key: key, ModRev: mod}}, []store.Op{store.Put(key, mustJSON(sd))}, nil
}

// adoptRollback links the deployment the controller's circuit breaker
// started, if any, to the current service deployment and the revision it
// returns to, before a write of rec.
func (e *ECS) adoptRollback(ctx context.Context, rec *serviceRecord) error {
	cur := ecsapi.Value(rec.Service.CurrentServiceDeployment)
	var sd serviceDeploymentRecord
	if cur == "" {
		return nil
	}
	if _, err := e.getJSON(ctx, historyKey(cur), &sd); err != nil {
		return ignoreNotFound(err)
	}
	if rb := breakerRollback(&rec.Service, &sd); rb != nil && sd.Final == nil {
		l := deploymentLink{ServiceDeployment: cur}
		if v := e.viewServiceDeployment(&sd, &rec.Service); sd.Rollback == "" && v.Rollback != nil {
			l.Revision = ecsapi.Value(v.Rollback.ServiceRevisionArn)
		}
		rec.Links[ecsapi.Value(rb.Id)] = l
	}
	return nil
}

// newServiceRevision is the service revision of deployment d of service s
// (servicedeployments.go): the settings it deploys.
func newServiceRevision(s *ecsapi.Service, d *ecsapi.Deployment, def *ecsapi.TaskDefinition, revARN string) serviceRevisionRecord {
	r := ecsapi.ServiceRevision{
		ServiceRevisionArn:          ecsapi.Ptr(revARN),
		ServiceArn:                  s.ServiceArn,
		ClusterArn:                  s.ClusterArn,
		TaskDefinition:              d.TaskDefinition,
		CapacityProviderStrategy:    d.CapacityProviderStrategy,
		LaunchType:                  d.LaunchType,
		PlatformVersion:             d.PlatformVersion,
		PlatformFamily:              d.PlatformFamily,
		LoadBalancers:               nonNil(s.LoadBalancers),
		ServiceRegistries:           nonNil(s.ServiceRegistries),
		NetworkConfiguration:        d.NetworkConfiguration,
		ContainerImages:             []ecsapi.ContainerImage{},
		ServiceConnectConfiguration: d.ServiceConnectConfiguration,
		CreatedAt:                   d.CreatedAt,
	}
	for _, cd := range def.ContainerDefinitions {
		r.ContainerImages = append(r.ContainerImages, ecsapi.ContainerImage{ContainerName: cd.Name, Image: cd.Image})
	}
	for _, lb := range s.LoadBalancers {
		if lb.TargetGroupArn != nil {
			if r.ResolvedConfiguration == nil {
				r.ResolvedConfiguration = &ecsapi.ResolvedConfiguration{}
			}
			r.ResolvedConfiguration.LoadBalancers = append(r.ResolvedConfiguration.LoadBalancers, ecsapi.ServiceRevisionLoadBalancer{TargetGroupArn: lb.TargetGroupArn})
		}
	}
	return serviceRevisionRecord{Revision: r, PlatformVersion: s.PlatformVersion}
}

// redeployRevision starts a new PRIMARY deployment of a stored service
// revision's settings as UpdateService starts one (the previous PRIMARY
// becomes ACTIVE): StopServiceDeployment's rollback.
func (e *ECS) redeployRevision(ctx context.Context, c *ecsapi.Cluster, s *ecsapi.Service, rv *serviceRevisionRecord) (ecsapi.Deployment, error) {
	r := &rv.Revision
	s.TaskDefinition, s.PlatformVersion, s.NetworkConfiguration = r.TaskDefinition, rv.PlatformVersion, r.NetworkConfiguration
	s.CapacityProviderStrategy, s.LaunchType = r.CapacityProviderStrategy, r.LaunchType
	s.LoadBalancers, s.ServiceRegistries = nonNil(r.LoadBalancers), nonNil(r.ServiceRegistries)
	// The revision may have been deregistered since: it still runs.
	rec, _, err := e.loadTaskDef(ctx, ecsapi.Value(r.TaskDefinition))
	if err != nil {
		return ecsapi.Deployment{}, err
	}
	if err := e.checkService(ctx, c, s, &rec.TaskDefinition); err != nil {
		return ecsapi.Deployment{}, err
	}
	for i := range s.Deployments {
		if ecsapi.Value(s.Deployments[i].Status) == deploymentPrimary {
			s.Deployments[i].Status, s.Deployments[i].UpdatedAt = ecsapi.Ptr(statusActive), ecsapi.Time(e.now())
		}
	}
	d := e.newDeployment(s)
	d.ServiceConnectConfiguration = r.ServiceConnectConfiguration
	s.Deployments = append([]ecsapi.Deployment{d}, s.Deployments...)
	return d, nil
}

// serviceNetwork is a network configuration as ECS echoes it: assignPublicIp
// defaults to DISABLED.
func serviceNetwork(nc *ecsapi.NetworkConfiguration) *ecsapi.NetworkConfiguration {
	if nc == nil || nc.AwsvpcConfiguration == nil || nc.AwsvpcConfiguration.AssignPublicIp != nil {
		return nc
	}
	vpc := *nc.AwsvpcConfiguration
	vpc.AssignPublicIp = ecsapi.Ptr(ecsapi.AssignPublicIpDISABLED)
	return &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &vpc}
}

// sameJSON reports whether a and b encode alike, an empty list like none.
func sameJSON(a, b any) bool {
	enc := func(v any) []byte {
		b := mustJSON(v)
		if string(b) == "[]" {
			return []byte("null")
		}
		return b
	}
	return bytes.Equal(enc(a), enc(b))
}

// DeleteService marks a service DRAINING; the service controller stops its
// tasks and marks it INACTIVE. A REPLICA service must be scaled to 0 first
// unless force is set, which scales it to 0.
func (e *ECS) DeleteService(ctx context.Context, in *ecsapi.DeleteServiceRequest) (*ecsapi.DeleteServiceResponse, error) {
	force := ecsapi.Value(in.Force)
	s, err := e.changeService(ctx, in.Cluster, in.Service, func(_ *ecsapi.Cluster, s *ecsapi.Service) error {
		switch ecsapi.Value(s.Status) {
		case statusInactive:
			return errServiceNotActive
		case statusDraining:
			return errUnchanged{*s}
		}
		replica := ecsapi.Value(s.SchedulingStrategy) != ecsapi.SchedulingStrategyDAEMON
		if replica && s.DesiredCount > 0 && !force {
			return invalidParam("The service cannot be stopped while it is scaled above 0.")
		}
		s.Status = ecsapi.Ptr(statusDraining)
		if force {
			s.DesiredCount = 0
			for i := range s.Deployments {
				if ecsapi.Value(s.Deployments[i].Status) == deploymentPrimary {
					s.Deployments[i].DesiredCount = 0
					s.Deployments[i].UpdatedAt = ecsapi.Time(e.now())
				}
			}
		}
		return nil
	})
	var u errUnchanged
	if errors.As(err, &u) {
		return &ecsapi.DeleteServiceResponse{Service: &u.s}, nil
	}
	if err != nil {
		return nil, err
	}
	return &ecsapi.DeleteServiceResponse{Service: s}, nil
}
