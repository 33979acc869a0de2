package main

// Part 2: update-service → steady state on real Docker, against Docker's
// own floor.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/internal/sdkclient"
	"github.com/berth-dev/berth/internal/testimage"
)

type rolloutConfig struct {
	endpoint, cluster            string
	agents                       int
	runID                        string
	reps                         int
	healthy                      time.Duration
	desired                      int
	poll                         time.Duration
	memMiB                       int
	connectTO, rolloutTO         time.Duration
	region, accessKey, secretKey string
	floorConc                    int
}

const serviceName = "bench-services-web"

func newECSClient(cfg rolloutConfig) *ecs.Client {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        16,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	return sdkclient.ECS(hc, cfg.endpoint, cfg.region, cfg.accessKey, cfg.secretKey)
}

// waitAgentsConnected waits until cfg.agents ACTIVE instances of the
// cluster have their agents connected.
func waitAgentsConnected(ctx context.Context, cfg rolloutConfig) error {
	c := newECSClient(cfg)
	deadline := time.Now().Add(cfg.connectTO)
	n := 0
	for {
		n = 0
		list, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: &cfg.cluster})
		if err == nil && len(list.ContainerInstanceArns) > 0 {
			d, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: &cfg.cluster, ContainerInstances: list.ContainerInstanceArns})
			if err == nil {
				for _, ci := range d.ContainerInstances {
					if ci.AgentConnected && aws.ToString(ci.Status) == "ACTIVE" {
						n++
					}
				}
			}
		}
		if n >= cfg.agents {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d agents connected to cluster %s after %s", n, cfg.agents, cfg.cluster, cfg.connectTO)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rollout is one deployment, from the client's call to the steady state.
type rollout struct {
	Label string
	// Client side.
	Called, Returned time.Time // around CreateService/UpdateService
	AllRunningSeen   time.Time // the primary deployment's runningCount = desired, first seen
	StableSeen       time.Time // services-stable condition and rolloutState COMPLETED, first seen
	Polls            int
	// Server side (the records' timestamps, ms).
	DeployedAt             time.Time // the deployment's createdAt
	FirstCreated           time.Time // new tasks' createdAt, first
	FirstRunning, Running  time.Time // new tasks' startedAt, first and last
	FirstStopping, Stopped time.Time // old tasks' stoppingAt (first), stoppedAt (last)
	LastStopping           time.Time
	SteadyEvent            time.Time // "has reached a steady state." event
	OldTasks, NewTasks     int
	// StopTimes are the old tasks' stoppedAt − stoppingAt; LastBatch is
	// how many were told to stop at the last stoppingAt.
	StopTimes []time.Duration
	LastBatch int
}

func (r rollout) observed() time.Duration { return r.StableSeen.Sub(r.Called) }

func (r rollout) server() time.Duration { return r.SteadyEvent.Sub(r.DeployedAt) }

func rolloutPart(ctx context.Context, cfg rolloutConfig, commit string) int {
	c := newECSClient(cfg)
	progress("waiting for %d connected agents", cfg.agents)
	if err := waitAgentsConnected(ctx, cfg); err != nil {
		return fatal("%v", err)
	}
	progress("building the test image (internal/testimage)")
	image, err := testimage.Build(ctx)
	if err != nil {
		return fatal("%v", err)
	}
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fatal("docker client: %v", err)
	}
	defer cli.Close()
	cmd := []string{"testapp", "sleep", "3600"}
	fl := &floor{cli: cli, image: image, cmd: cmd, mem: int64(cfg.memMiB) << 20, runID: cfg.runID, n: cfg.desired, conc: cfg.floorConc}

	var tds [2]string
	for i, rev := range []string{"a", "b"} {
		out, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family:      aws.String("bench-services"),
			NetworkMode: types.NetworkModeBridge,
			ContainerDefinitions: []types.ContainerDefinition{{
				Name: aws.String("app"), Image: aws.String(image), Command: cmd,
				Memory: aws.Int32(int32(cfg.memMiB)), Essential: aws.Bool(true), StopTimeout: aws.Int32(stopTimeout),
				Environment: []types.KeyValuePair{{Name: aws.String("BENCH_REVISION"), Value: aws.String(rev)}},
			}},
		})
		if err != nil {
			return fatal("RegisterTaskDefinition: %v", err)
		}
		tds[i] = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := deleteService(cctx, c, cfg.cluster); err != nil {
			progress("cleanup: %v", err)
		}
	}()

	dc := &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(100), MaximumPercent: aws.Int32(200)}
	var failures []string
	progress("CreateService %s: %d tasks (steady after the %s healthy delay)", serviceName, cfg.desired, cfg.healthy)
	create := rollout{Label: "CreateService"}
	create.Called = time.Now()
	out, err := c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: &cfg.cluster, ServiceName: aws.String(serviceName), TaskDefinition: &tds[0],
		DesiredCount: aws.Int32(int32(cfg.desired)), DeploymentConfiguration: dc,
	})
	create.Returned = time.Now()
	if err != nil {
		return fatal("CreateService: %v", err)
	}
	if err := follow(ctx, c, cfg, &create, aws.ToString(out.Service.Deployments[0].Id), ""); err != nil {
		return fatal("CreateService → steady: %v", err)
	}

	var floors []floorRound
	var rolls []rollout
	for rep := range cfg.reps {
		progress("rep %d: Docker floor (%d containers)", rep+1, cfg.desired)
		fr, err := fl.round(ctx)
		if err != nil {
			failures = append(failures, fmt.Sprintf("floor round %d: %v", rep+1, err))
			break
		}
		floors = append(floors, fr)
		before, err := describe(ctx, c, cfg.cluster)
		if err != nil {
			return fatal("%v", err)
		}
		old := aws.ToString(before.Deployments[0].Id)
		td := tds[(rep+1)%2]
		progress("rep %d: UpdateService to %s", rep+1, td[strings.LastIndexByte(td, '/')+1:])
		r := rollout{Label: fmt.Sprintf("update %d", rep+1)}
		r.Called = time.Now()
		uo, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: &cfg.cluster, Service: aws.String(serviceName), TaskDefinition: &td})
		r.Returned = time.Now()
		if err != nil {
			return fatal("UpdateService: %v", err)
		}
		dep := aws.ToString(uo.Service.Deployments[0].Id)
		if dep == old {
			return fatal("UpdateService did not start a deployment (primary still %s)", dep)
		}
		if err := follow(ctx, c, cfg, &r, dep, old); err != nil {
			failures = append(failures, fmt.Sprintf("rollout %d: %v", rep+1, err))
			break
		}
		rolls = append(rolls, r)
		progress("rep %d: steady after %.2f s (server side %.2f s)", rep+1, r.observed().Seconds(), r.server().Seconds())
	}
	printRollout(os.Stdout, cfg, commit, create, rolls, floors, failures)
	if len(failures) > 0 || len(rolls) == 0 {
		return 1
	}
	return 0
}

func describe(ctx context.Context, c *ecs.Client, cluster string) (types.Service, error) {
	out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &cluster, Services: []string{serviceName}})
	if err != nil {
		return types.Service{}, fmt.Errorf("DescribeServices: %w", err)
	}
	if len(out.Services) != 1 {
		return types.Service{}, fmt.Errorf("DescribeServices: %d services", len(out.Services))
	}
	return out.Services[0], nil
}

// follow polls the service until deployment dep is the only one, runs the
// desired count and is COMPLETED (the AWS CLI's services-stable condition,
// plus the rollout state), then reads the server's timestamps of the
// deployment, its tasks, the old deployment's tasks and the steady-state
// event.
func follow(ctx context.Context, c *ecs.Client, cfg rolloutConfig, r *rollout, dep, old string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.rolloutTO)
	defer cancel()
	want := int32(cfg.desired)
	tick := time.NewTicker(cfg.poll)
	defer tick.Stop()
	var s types.Service
	for {
		var err error
		s, err = describe(ctx, c, cfg.cluster)
		now := time.Now()
		r.Polls++
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("not steady within %s: %w", cfg.rolloutTO, err)
			}
			progress("poll: %v", err)
		} else if len(s.Deployments) > 0 && aws.ToString(s.Deployments[0].Id) == dep {
			p := s.Deployments[0]
			if r.AllRunningSeen.IsZero() && p.RunningCount == want {
				r.AllRunningSeen = now
			}
			if len(s.Deployments) == 1 && s.RunningCount == s.DesiredCount && s.DesiredCount == want &&
				p.RolloutState == types.DeploymentRolloutStateCompleted {
				r.StableSeen = now
				break
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not steady within %s (running %d, pending %d, %d deployments)", cfg.rolloutTO, s.RunningCount, s.PendingCount, len(s.Deployments))
		case <-tick.C:
		}
	}
	r.DeployedAt = aws.ToTime(s.Deployments[0].CreatedAt)
	for _, ev := range s.Events { // newest first: the last match is the first after the deployment
		if strings.Contains(aws.ToString(ev.Message), "has reached a steady state.") && !aws.ToTime(ev.CreatedAt).Before(r.DeployedAt) {
			r.SteadyEvent = aws.ToTime(ev.CreatedAt)
		}
	}
	var stopping []time.Time
	for _, desired := range []types.DesiredStatus{types.DesiredStatusRunning, types.DesiredStatusStopped} {
		tasks, err := serviceTasks(ctx, c, cfg.cluster, desired)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			switch aws.ToString(t.StartedBy) {
			case dep:
				if desired != types.DesiredStatusRunning {
					continue
				}
				r.NewTasks++
				r.FirstCreated = earliest(r.FirstCreated, aws.ToTime(t.CreatedAt))
				r.FirstRunning = earliest(r.FirstRunning, aws.ToTime(t.StartedAt))
				r.Running = latest(r.Running, aws.ToTime(t.StartedAt))
			case old:
				if old == "" {
					continue
				}
				r.OldTasks++
				r.FirstStopping = earliest(r.FirstStopping, aws.ToTime(t.StoppingAt))
				r.LastStopping = latest(r.LastStopping, aws.ToTime(t.StoppingAt))
				r.Stopped = latest(r.Stopped, aws.ToTime(t.StoppedAt))
				r.StopTimes = append(r.StopTimes, aws.ToTime(t.StoppedAt).Sub(aws.ToTime(t.StoppingAt)))
				stopping = append(stopping, aws.ToTime(t.StoppingAt))
			}
		}
	}
	for _, at := range stopping {
		if at.Equal(r.LastStopping) {
			r.LastBatch++
		}
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// serviceTasks lists and describes the service's tasks of one desired
// status.
func serviceTasks(ctx context.Context, c *ecs.Client, cluster string, desired types.DesiredStatus) ([]types.Task, error) {
	var arns []string
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: &cluster, ServiceName: aws.String(serviceName), DesiredStatus: desired})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListTasks: %w", err)
		}
		arns = append(arns, out.TaskArns...)
	}
	var tasks []types.Task
	for i := 0; i < len(arns); i += 100 {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &cluster, Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return nil, fmt.Errorf("DescribeTasks: %w", err)
		}
		tasks = append(tasks, out.Tasks...)
	}
	return tasks, nil
}

// deleteService scales the service to zero, deletes it and waits (bounded)
// until its tasks are STOPPED.
func deleteService(ctx context.Context, c *ecs.Client, cluster string) error {
	_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: &cluster, Service: aws.String(serviceName), Force: aws.Bool(true)})
	var nf *types.ServiceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("DeleteService: %w", err)
	}
	for ctx.Err() == nil {
		tasks, err := serviceTasks(ctx, c, cluster, types.DesiredStatusRunning)
		if err == nil && len(tasks) == 0 {
			stopped, err := serviceTasks(ctx, c, cluster, types.DesiredStatusStopped)
			if err == nil && !slices.ContainsFunc(stopped, func(t types.Task) bool { return aws.ToString(t.LastStatus) != "STOPPED" }) {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("service tasks not stopped: %w", ctx.Err())
}

func printRollout(out *os.File, cfg rolloutConfig, commit string, create rollout, rs []rollout, fs []floorRound, failures []string) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format, args...) }
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	msd := func(d time.Duration) string { return fmt.Sprintf("%.0f", ms(d)) }
	p("## Part 2: UpdateService → steady state, %d tasks, real Docker\n\n", cfg.desired)
	p("`berth server` (--service-healthy-after %s) and %d agent(s) on one Docker engine; service %s, minimumHealthyPercent 100, maximumPercent 200, task definition: one container `%s`, `testapp sleep 3600`, %d MiB, stopTimeout %d s, bridge. Each rep: UpdateService to the other of two revisions, then DescribeServices every %s until the deployment is the only one, runs %d and is COMPLETED (the AWS CLI's services-stable condition). %d CPUs, %s, commit %s.\n\n",
		cfg.healthy, cfg.agents, serviceName, testimage.Image, cfg.memMiB, stopTimeout, cfg.poll, cfg.desired, runtime.NumCPU(), runtime.Version(), commit)
	p("Floor = Docker's create+start of %d containers at once (%d concurrent calls, until the last is started) + the healthy delay + Docker's stop of %d containers at once (ContainerStop, %d s timeout; testapp exits on SIGTERM), measured in one floor round before each rollout while the service's %d tasks run. A rolling update with minimumHealthyPercent 100 stops each old task as soon as one new task is healthy, so the old tasks' stops overlap the new ones' healthy delays and only the last stop follows the last healthy task: the tight floor is start %d + healthy delay + Docker's stop of one container.\n\n",
		cfg.desired, cfg.floorConc, cfg.desired, stopTimeout, cfg.desired, cfg.desired)
	if len(failures) > 0 {
		p("**Failures:** %s\n\n", strings.Join(failures, "; "))
	}
	if len(rs) == 0 || len(fs) == 0 {
		return
	}
	p("| rep | Docker start %d ms | Docker stop %d / stop 1 ms | floor s | tight floor s | berth observed s | berth server-side s | observed / floor | observed / tight floor |\n", cfg.desired, cfg.desired)
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	floorOf := func(f floorRound) time.Duration { return f.start + cfg.healthy + f.stop }
	tightOf := func(f floorRound) time.Duration { return f.start + cfg.healthy + f.stop1 }
	for i, r := range rs {
		f := fs[i]
		p("| %d | %s | %s / %s | %s | %s | %s | %s | %.3f× | %.3f× |\n", i+1, msd(f.start), msd(f.stop), msd(f.stop1), sec(floorOf(f)), sec(tightOf(f)),
			sec(r.observed()), sec(r.server()), ratio(r.observed(), floorOf(f)), ratio(r.observed(), tightOf(f)))
	}
	fs = fs[:len(rs)]
	mf, mt := median(mapD(fs, floorOf)), median(mapD(fs, tightOf))
	mo, msrv := median(mapD(rs, rollout.observed)), median(mapD(rs, rollout.server))
	p("| median | %s | %s / %s | %s | %s | %s | %s | %.3f× | %.3f× |\n\n",
		msd(median(mapD(fs, func(f floorRound) time.Duration { return f.start }))), msd(median(mapD(fs, func(f floorRound) time.Duration { return f.stop }))),
		msd(median(mapD(fs, func(f floorRound) time.Duration { return f.stop1 }))), sec(mf), sec(mt), sec(mo), sec(msrv), ratio(mo, mf), ratio(mo, mt))
	p("Beyond the healthy delay: berth %.2f s observed (%.2f s server-side), Docker's floor %.2f s, tight floor %.2f s.\n\n",
		(mo - cfg.healthy).Seconds(), (msrv - cfg.healthy).Seconds(), (mf - cfg.healthy).Seconds(), (mt - cfg.healthy).Seconds())

	// Where the time goes, per rep: the server's stamps.
	p("Where the time goes (ms; berth from the records' timestamps, Docker from the floor round):\n\n")
	p("| step |")
	for i := range rs {
		p(" rep %d berth | Docker |", i+1)
	}
	p("\n|---|")
	for range rs {
		p("---:|---:|")
	}
	p("\n")
	step := func(name string, b func(r rollout) time.Duration, d func(f floorRound) string) {
		p("| %s |", name)
		for i, r := range rs {
			p(" %s | %s |", msd(b(r)), d(fs[i]))
		}
		p("\n")
	}
	dash := func(floorRound) string { return "–" }
	step("UpdateService call → returned", func(r rollout) time.Duration { return r.Returned.Sub(r.Called) }, dash)
	step("deployment createdAt → first new task createdAt (controller)", func(r rollout) time.Duration { return r.FirstCreated.Sub(r.DeployedAt) }, dash)
	step(fmt.Sprintf("first new task created → all %d RUNNING (last startedAt)", cfg.desired), func(r rollout) time.Duration { return r.Running.Sub(r.FirstCreated) },
		func(f floorRound) string { return msd(f.start) })
	step("last RUNNING → healthy (the healthy delay)", func(r rollout) time.Duration { return cfg.healthy }, func(floorRound) string { return msd(cfg.healthy) })
	step("last healthy → last old task told to stop (stoppingAt)", func(r rollout) time.Duration { return r.LastStopping.Sub(r.Running.Add(cfg.healthy)) }, dash)
	step("last stop ordered → all old tasks STOPPED (last stoppedAt); Docker: stop 1 (stop 10)", func(r rollout) time.Duration { return r.Stopped.Sub(r.LastStopping) },
		func(f floorRound) string { return msd(f.stop1) + " (" + msd(f.stop) + ")" })
	step("all STOPPED → steady-state event", func(r rollout) time.Duration { return r.SteadyEvent.Sub(r.Stopped) }, dash)
	step("steady-state event → seen by the client (polling)", func(r rollout) time.Duration { return r.StableSeen.Sub(r.SteadyEvent) }, dash)
	step("client: UpdateService called → steady seen; Docker: tight floor (floor)", func(r rollout) time.Duration { return r.observed() },
		func(f floorRound) string { return msd(tightOf(f)) + " (" + msd(floorOf(f)) + ")" })
	p("\n")
	for i, r := range rs {
		p("Rep %d: first old task told to stop %.0f ms after the first new one was RUNNING (%s healthy delay), the last %d together; an old task's stoppingAt → stoppedAt median %.0f ms, max %.0f ms (Docker's stop of one container: %.0f ms); %d new tasks, %d old; all %d new RUNNING first seen by the client %.2f s after the call; %d polls.\n",
			i+1, ms(r.FirstStopping.Sub(r.FirstRunning)), cfg.healthy, r.LastBatch, ms(median(r.StopTimes)), ms(slices.Max(append(r.StopTimes, 0))), ms(fs[i].stop1),
			r.NewTasks, r.OldTasks, cfg.desired, r.AllRunningSeen.Sub(r.Called).Seconds(), r.Polls)
	}
	p("\nCreateService → steady (setup, not a rollout): %.2f s observed, %.2f s server-side; first task created %.0f ms after the service, all %d RUNNING %.0f ms after the first was created.\n\n",
		create.observed().Seconds(), create.server().Seconds(), ms(create.FirstCreated.Sub(create.DeployedAt)), cfg.desired, ms(create.Running.Sub(create.FirstCreated)))
}

func mapD[T any](xs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
