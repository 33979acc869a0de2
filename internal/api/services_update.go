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
		if err := change(&c, &rec.Service); err != nil {
			return err
		}
		key := serviceKey(cluster, ecsapi.Value(rec.Service.ServiceName))
		_, err = e.st.Txn(ctx, []store.Cond{{Key: key, ModRev: rev}}, []store.Op{store.Put(key, mustJSON(rec))})
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
	s, err := e.changeService(ctx, in.Cluster, in.Service, func(c *ecsapi.Cluster, s *ecsapi.Service) error {
		return e.updateService(ctx, c, s, in)
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
	if in.PlacementConstraints != nil {
		s.PlacementConstraints = in.PlacementConstraints
	}
	if in.PlacementStrategy != nil {
		s.PlacementStrategy = in.PlacementStrategy
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
