package deploy

import "slices"

// DaemonInput is a DAEMON service at one moment: one task on every eligible
// instance.
type DaemonInput struct {
	Input
	// Eligible are the instances that should run the daemon: ACTIVE, of
	// the service's launch type, meeting its constraints. Tasks on other
	// instances (DRAINING ones, say) are stopped.
	Eligible []string
	// InstanceOf maps a task id to its instance id.
	InstanceOf map[string]string
}

// DaemonDecision is what to do for a DAEMON service now.
type DaemonDecision struct {
	Decision
	// StartOn lists the instances that get a task of the primary
	// deployment.
	StartOn []string
}

// Daemon decides for a DAEMON service. Its desired count is the number of
// eligible instances. On each one an old deployment's task is stopped
// before the new one starts (the instance has room for one), within
// minimumHealthyPercent of that count; instances that left or drain lose
// their task; a second task on one instance is stopped.
func Daemon(in DaemonInput) DaemonDecision {
	in.Desired = len(in.Eligible)
	d := DaemonDecision{Decision: Decision{Counts: map[string]Count{}}}
	_, minHealthy := Limits(in.Desired, in.MaximumPercent, in.MinimumHealthyPct)
	eligible := map[string]bool{}
	for _, id := range in.Eligible {
		eligible[id] = true
	}
	type slot struct {
		primary, old, stopping []*Task
	}
	slots := map[string]*slot{}
	healthy := 0
	for i := range in.Tasks {
		t := &in.Tasks[i]
		inst := in.InstanceOf[t.ID]
		s := slots[inst]
		if s == nil {
			s = &slot{}
			slots[inst] = s
		}
		if t.State == Stopping {
			s.stopping = append(s.stopping, t)
			continue
		}
		h, _, w := in.health(t)
		if w > 0 && (d.Recheck == 0 || w < d.Recheck) {
			d.Recheck = w
		}
		c := d.Counts[t.Deployment]
		if t.State == Running {
			c.Running++
		} else {
			c.Pending++
		}
		if h {
			c.Healthy++
			healthy++
		}
		d.Counts[t.Deployment] = c
		if t.Deployment == in.Primary {
			s.primary = append(s.primary, t)
		} else {
			s.old = append(s.old, t)
		}
	}
	stop := func(t *Task) {
		d.Stop = append(d.Stop, Stop{TaskID: t.ID})
		if h, _, _ := in.health(t); h {
			healthy--
		}
	}
	// Instances to leave, and duplicates, go regardless of the minimum.
	insts := make([]string, 0, len(slots))
	for inst := range slots {
		insts = append(insts, inst)
	}
	slices.Sort(insts)
	for _, inst := range insts {
		s := slots[inst]
		if in.Deleting || !eligible[inst] {
			for _, t := range append(s.primary, s.old...) {
				stop(t)
			}
			continue
		}
		for _, t := range s.primary[min(1, len(s.primary)):] {
			stop(t)
		}
	}
	if in.Deleting {
		return d
	}
	// Replace old tasks instance by instance, within the minimum.
	for _, inst := range in.Eligible {
		s := slots[inst]
		if s == nil {
			s = &slot{}
		}
		switch {
		case len(s.primary) > 0:
			for _, t := range s.old { // the new one is there: the old goes
				stop(t)
			}
		case len(s.old) > 0:
			h, _, _ := in.health(s.old[0])
			if !h || healthy > minHealthy {
				for _, t := range s.old {
					stop(t)
				}
			}
		case len(s.stopping) == 0 && !in.HoldStarts:
			d.StartOn = append(d.StartOn, inst)
		}
	}
	for _, id := range in.Others {
		if !hasTasks(in.Tasks, id) {
			d.Retired = append(d.Retired, id)
		}
	}
	p := d.Counts[in.Primary]
	d.Steady = p.Healthy == in.Desired && p.Running == in.Desired && p.Pending == 0 &&
		len(d.Stop) == 0 && len(d.StartOn) == 0 && len(in.Tasks) == in.Desired && len(d.Retired) == len(in.Others)
	return d
}
