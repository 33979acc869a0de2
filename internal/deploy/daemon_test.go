package deploy

import (
	"slices"
	"testing"
	"time"
)

func daemonIn(eligible []string, tasks map[string]Task) DaemonInput {
	in := DaemonInput{Input: base(0, 100, 0), Eligible: eligible, InstanceOf: map[string]string{}}
	for inst, t := range tasks {
		in.Tasks = append(in.Tasks, t)
		in.InstanceOf[t.ID] = inst
	}
	return in
}

func TestDaemon(t *testing.T) {
	hour := time.Hour
	cases := []struct {
		name    string
		in      DaemonInput
		startOn []string
		stop    []string
		steady  bool
	}{
		{"one task per instance", daemonIn([]string{"a", "b", "c"}, nil), []string{"a", "b", "c"}, nil, false},
		{"only where missing", daemonIn([]string{"a", "b"}, map[string]Task{"a": running("t1", "new", hour)}), []string{"b"}, nil, false},
		{"steady", daemonIn([]string{"a", "b"}, map[string]Task{"a": running("t1", "new", hour), "b": running("t2", "new", hour)}), nil, nil, true},
		{"a draining instance loses its task", daemonIn([]string{"a"}, map[string]Task{"a": running("t1", "new", hour), "b": running("t2", "new", hour)}), nil, []string{"t2"}, false},
		{"old task stopped before the new starts", func() DaemonInput {
			in := daemonIn([]string{"a", "b"}, map[string]Task{"a": running("o1", "old", hour), "b": running("o2", "old", hour)})
			in.Others = []string{"old"}
			return in
		}(), nil, []string{"o1", "o2"}, false},
		{"minimum healthy 50 % rolls one instance at a time", func() DaemonInput {
			in := daemonIn([]string{"a", "b"}, map[string]Task{"a": running("o1", "old", hour), "b": running("o2", "old", hour)})
			in.Others, in.MinimumHealthyPct = []string{"old"}, 50
			return in
		}(), nil, []string{"o1"}, false},
		{"starts once the old task is gone", func() DaemonInput {
			in := daemonIn([]string{"a", "b"}, map[string]Task{"a": {ID: "o1", Deployment: "old", State: Stopping}, "b": running("o2", "old", hour)})
			in.Others, in.MinimumHealthyPct = []string{"old"}, 50
			return in
		}(), nil, nil, false},
		{"deleting stops all", func() DaemonInput {
			in := daemonIn([]string{"a"}, map[string]Task{"a": running("t1", "new", hour)})
			in.Deleting = true
			return in
		}(), nil, []string{"t1"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Daemon(c.in)
			if !slices.Equal(d.StartOn, c.startOn) || !slices.Equal(stopIDs(d.Decision), c.stop) || d.Steady != c.steady {
				t.Errorf("Daemon = start on %v stop %v steady %v; want %v %v %v", d.StartOn, stopIDs(d.Decision), d.Steady, c.startOn, c.stop, c.steady)
			}
		})
	}
	// Two tasks of the primary on one instance: the extra goes.
	in := daemonIn([]string{"a"}, map[string]Task{"a": running("t1", "new", hour)})
	in.Tasks = append(in.Tasks, running("t2", "new", hour))
	in.InstanceOf["t2"] = "a"
	if d := Daemon(in); len(d.Stop) != 1 || len(d.StartOn) != 0 {
		t.Errorf("duplicate: %+v", d)
	}
}
