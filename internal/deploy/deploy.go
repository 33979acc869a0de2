// Package deploy is the arithmetic of an ECS service: given its settings,
// its deployments and its tasks at one moment, which tasks to start and
// which to stop so that desiredCount runs, rolling deployments respect
// minimumHealthyPercent and maximumPercent, unhealthy tasks are replaced
// and old deployments drain away. It is pure: time is an input and nothing
// is read or written; the service controller applies its decisions.
package deploy

import (
	"cmp"
	"slices"
	"time"
)

// State is where a task is in its life, as the controller counts it.
type State int

const (
	// Pending: placed, not RUNNING yet (PROVISIONING through ACTIVATING).
	Pending State = iota
	// Running: lastStatus RUNNING, desired RUNNING.
	Running
	// Stopping: told to stop (desired STOPPED) and not STOPPED yet; it
	// still holds its resources and counts toward maximumPercent.
	Stopping
)

// Health is a task's container health status.
type Health int

const (
	HealthUnknown Health = iota
	Healthy
	Unhealthy
)

// Task is a live (not STOPPED) task of the service.
type Task struct {
	ID         string
	Deployment string
	State      State
	// Health is the task's healthStatus; HasHealthCheck says whether an
	// essential container defines a health check.
	Health         Health
	HasHealthCheck bool
	// RunningSince is when the task reached RUNNING (zero if it has not).
	RunningSince time.Time
	// Draining: its instance is DRAINING, so it is replaced.
	Draining bool
	// Lost: its instance's agent has been disconnected past the grace
	// period; it is replaced elsewhere and stopped when the agent returns.
	Lost bool
	// StartedAt orders tasks for scale-in (newest stopped first).
	CreatedAt time.Time
}

// Input is the service at one moment.
type Input struct {
	Now               time.Time
	Desired           int
	MaximumPercent    int
	MinimumHealthyPct int
	// Grace is healthCheckGracePeriodSeconds: a RUNNING task's UNHEALTHY
	// status is ignored for this long.
	Grace time.Duration
	// HealthyAfter is how long a RUNNING task without a health check must
	// run before it counts as healthy.
	HealthyAfter time.Duration
	Primary      string
	// Others are the service's other deployments (ACTIVE), newest first.
	Others []string
	Tasks  []Task
	// Deleting: the service is DRAINING; every task is stopped.
	Deleting bool
	// HoldStarts: task launches are throttled; start nothing now.
	HoldStarts bool
}

// Reasons a task is stopped, as ECS words them.
const (
	ReasonScaling   = "Scaling activity initiated by (deployment %s)"
	ReasonUnhealthy = "Task failed container health checks"
)

// Stop is a task to stop.
type Stop struct {
	TaskID string
	// Unhealthy: stopped for failing its health checks (else scaling).
	Unhealthy bool
}

// Count is one deployment's tasks.
type Count struct {
	Running, Pending, Healthy int
}

// Decision is what to do now.
type Decision struct {
	// Start is how many tasks to start for the primary deployment.
	Start int
	Stop  []Stop
	// Counts by deployment id (tasks already told to stop are left out).
	Counts map[string]Count
	// Retired are other deployments with no task left: they become
	// INACTIVE.
	Retired []string
	// Steady: the primary deployment runs desiredCount healthy tasks and
	// nothing else runs or is pending.
	Steady bool
	// Recheck is when the decision may change with time alone (a task
	// becoming healthy or leaving its grace period); zero if never.
	Recheck time.Duration
}

// Limits returns the most tasks that may run or be pending, and the fewest
// that must stay healthy, during a deployment: floor(desired × max% / 100)
// and ceil(desired × min% / 100).
func Limits(desired, maxPct, minPct int) (maxTasks, minHealthy int) {
	maxTasks = desired * maxPct / 100
	minHealthy = (desired*minPct + 99) / 100
	return max(maxTasks, 0), max(minHealthy, 0)
}

// healthy classifies a RUNNING task: healthy, unhealthy (to replace), or
// neither yet; wait is when that may change.
func (in *Input) health(t *Task) (healthy, unhealthy bool, wait time.Duration) {
	if t.State != Running {
		return false, false, 0
	}
	up := in.Now.Sub(t.RunningSince)
	if t.HasHealthCheck {
		switch t.Health {
		case Healthy:
			return true, false, 0
		case Unhealthy:
			if up >= in.Grace {
				return false, true, 0
			}
			return false, false, in.Grace - up
		}
		return false, false, 0
	}
	if up >= in.HealthyAfter {
		return true, false, 0
	}
	return false, false, in.HealthyAfter - up
}

// Plan decides what to do with the service now.
func Plan(in Input) Decision {
	d := Decision{Counts: map[string]Count{}}
	maxTasks, minHealthy := Limits(in.Desired, in.MaximumPercent, in.MinimumHealthyPct)
	recheck := func(w time.Duration) {
		if w > 0 && (d.Recheck == 0 || w < d.Recheck) {
			d.Recheck = w
		}
	}

	type live struct {
		t                  *Task
		healthy, unhealthy bool
	}
	var total, healthy int
	var keep, retiring []live // primary tasks to keep; tasks to replace
	var unhealthy []live      // failing health checks: replaced, then stopped
	for i := range in.Tasks {
		t := &in.Tasks[i]
		if t.State == Stopping {
			if !t.Lost {
				total++ // holds its resources until STOPPED
			}
			continue
		}
		h, u, w := in.health(t)
		recheck(w)
		c := d.Counts[t.Deployment]
		if t.State == Running {
			c.Running++
		} else {
			c.Pending++
		}
		if h {
			c.Healthy++
		}
		d.Counts[t.Deployment] = c
		if t.Lost {
			// Its agent is gone: replace it, and stop it (when the agent
			// returns) without counting it anywhere.
			d.Stop = append(d.Stop, Stop{TaskID: t.ID})
			continue
		}
		total++
		if h {
			healthy++
		}
		l := live{t, h, u}
		switch {
		case in.Deleting:
			retiring = append(retiring, l)
		case u:
			unhealthy = append(unhealthy, l)
		case t.Deployment == in.Primary && !t.Draining:
			keep = append(keep, l)
		default:
			retiring = append(retiring, l)
		}
	}
	if in.Deleting {
		for _, l := range retiring {
			d.Stop = append(d.Stop, Stop{TaskID: l.t.ID})
		}
		return d
	}

	// Scale in: more primary tasks than desired. Pending ones go first,
	// then the newest.
	if extra := len(keep) - in.Desired; extra > 0 {
		slices.SortStableFunc(keep, func(a, b live) int {
			if a.healthy != b.healthy {
				if a.healthy {
					return 1
				}
				return -1
			}
			return b.t.CreatedAt.Compare(a.t.CreatedAt)
		})
		for _, l := range keep[:extra] {
			d.Stop = append(d.Stop, Stop{TaskID: l.t.ID})
			if l.healthy {
				healthy--
			}
		}
		keep = keep[extra:]
	}

	// Start what the primary lacks, within maximumPercent.
	if want := in.Desired - len(keep); want > 0 && !in.HoldStarts {
		d.Start = max(0, min(want, maxTasks-total))
	}

	// Unhealthy tasks: their replacements start first when maximumPercent
	// allows, and they stop once the service has its healthy tasks again;
	// without room they stop one at a time (they are not healthy, so
	// minimumHealthyPercent is not at stake).
	healthyKeep := 0
	for _, l := range keep {
		if l.healthy {
			healthyKeep++
		}
	}
	for i, l := range unhealthy {
		if healthyKeep >= in.Desired || (i == 0 && d.Start == 0) {
			d.Stop = append(d.Stop, Stop{TaskID: l.t.ID, Unhealthy: true})
		}
	}

	// Retire old tasks: those not healthy freely, healthy ones only while
	// minimumHealthyPercent holds. Replacements of tasks on draining
	// instances and of old deployments' tasks are started first (above)
	// when maximumPercent leaves room.
	slices.SortStableFunc(retiring, func(a, b live) int {
		return cmp.Compare(boolInt(a.healthy), boolInt(b.healthy))
	})
	budget := healthy - minHealthy
	for _, l := range retiring {
		if l.healthy {
			if budget <= 0 {
				break
			}
			budget--
		}
		d.Stop = append(d.Stop, Stop{TaskID: l.t.ID})
	}

	// Other deployments without tasks are done.
	for _, id := range in.Others {
		if hasTasks(in.Tasks, id) {
			continue
		}
		d.Retired = append(d.Retired, id)
	}
	p := d.Counts[in.Primary]
	d.Steady = p.Healthy == in.Desired && p.Running == in.Desired && p.Pending == 0 &&
		len(d.Stop) == 0 && d.Start == 0 && total == in.Desired && len(d.Retired) == len(in.Others)
	return d
}

func hasTasks(tasks []Task, deployment string) bool {
	return slices.ContainsFunc(tasks, func(t Task) bool { return t.Deployment == deployment })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CircuitThreshold is the number of failed tasks at which ECS's deployment
// circuit breaker fails a deployment: half the desired count (rounded up),
// at least 3 and at most 200.
func CircuitThreshold(desired int) int {
	return min(200, max(3, (desired+1)/2))
}

// ThrottleFree is how many consecutive launch failures (tasks that stopped
// before reaching RUNNING) a deployment may have before its launches are
// throttled.
const ThrottleFree = 3

// ThrottleDelay is how long to hold launches after n consecutive launch
// failures: nothing below ThrottleFree, then base doubling with each
// further failure, capped at limit.
func ThrottleDelay(n int, base, limit time.Duration) time.Duration {
	if n < ThrottleFree {
		return 0
	}
	shift := n - ThrottleFree
	if shift > 30 {
		return limit
	}
	return min(base<<shift, limit)
}
