package clusterquery

import (
	"iter"
	"maps"
	"slices"
	"testing"
	"time"
)

// inst is a test Subject.
type inst struct {
	attrs     map[string]string
	ec2       string
	reg       time.Time
	running   int
	connected bool
	version   string
	groups    []string
	seq       iter.Seq[string] // prebuilt, so that TaskGroups does not allocate
}

func (i *inst) Attribute(name string) (string, bool) {
	v, ok := i.attrs[name]
	return v, ok
}
func (i *inst) EC2InstanceID() string              { return i.ec2 }
func (i *inst) RegisteredAt() time.Time            { return i.reg }
func (i *inst) RunningTasksCount() int             { return i.running }
func (i *inst) AgentConnected() bool               { return i.connected }
func (i *inst) AgentVersion() string               { return i.version }
func (i *inst) TaskGroups() iter.Seq[string]       { return i.seq }
func (i *inst) withGroups(g ...string) *inst       { i.groups, i.seq = g, slices.Values(g); return i }
func (i *inst) with(f func(*inst)) *inst           { f(i); return i }
func (i *inst) withAttr(k, v string) *inst         { i.attrs[k] = v; return i }
func (i *inst) withoutAttr(k string) *inst         { delete(i.attrs, k); return i }
func mustTime(s string) time.Time                  { t, _ := time.Parse(time.RFC3339Nano, s); return t }
func withVersion(v string) func(*inst)             { return func(i *inst) { i.version = v } }
func withRegistered(t time.Time) func(*inst)       { return func(i *inst) { i.reg = t } }
func withRunning(n int) func(*inst)                { return func(i *inst) { i.running = n } }
func withEC2(id string) func(*inst)                { return func(i *inst) { i.ec2 = id } }
func withConnected(b bool) func(*inst)             { return func(i *inst) { i.connected = b } }
func attrs(kv map[string]string) map[string]string { return maps.Clone(kv) }

// base is a typical connected t2.small with two task groups.
func base() *inst {
	return (&inst{
		attrs: attrs(map[string]string{
			"ecs.instance-type":     "t2.small",
			"ecs.availability-zone": "us-east-1a",
			"ecs.os-type":           "linux",
			"stack":                 "prod",
			"gpu":                   "", // attribute without a value
			"weight":                "10",
		}),
		ec2:       "i-0abc1234",
		reg:       mustTime("2018-06-18T22:28:28Z"),
		running:   3,
		connected: true,
		version:   "1.14.5",
	}).withGroups("service:production", "family:web")
}

// bare is an instance with nothing: no attributes, no EC2 ID, no
// registration time, no version, no tasks, disconnected.
func bare() *inst { return (&inst{attrs: map[string]string{}}).withGroups() }

type matchCase struct {
	expr string
	on   *inst
	want bool
}

func runMatches(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		on := tc.on
		if on == nil {
			on = base()
		}
		e, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		if got := e.Match(on); got != tc.want {
			t.Errorf("Parse(%q).Match = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestAgentConnected(t *testing.T) {
	off := base().with(withConnected(false))
	runMatches(t, []matchCase{
		{"agentConnected == true", nil, true},
		{"agentConnected == false", nil, false},
		{"agentConnected == false", off, true},
		{"agentConnected equals TRUE", nil, true},
		{"agentConnected != true", nil, false},
		{"agentConnected != false", nil, true},
		{"agentConnected not_equals true", off, true},
		{"agentConnected in [true]", nil, true},
		{"agentConnected in [false]", nil, false},
		{"agentConnected in [false, true]", off, true},
		{"agentConnected !in [true]", nil, false},
		{"agentConnected not_in [false]", nil, true},
		{"agentConnected not_in [false, true]", off, false},
		{"agentConnected =~ 't.*'", nil, true},
		{"agentConnected =~ 't.*'", off, false},
		{"agentConnected matches tru", nil, false}, // whole value
		{"agentConnected !~ f.*", nil, true},
		{"agentConnected not_matches f.*", off, false},
	})
}

func TestAgentVersion(t *testing.T) {
	rc := base().with(withVersion("1.15.0-rc1"))
	vpre := base().with(withVersion("v1.14.5+build.7"))
	runMatches(t, []matchCase{
		{"agentVersion == 1.14.5", nil, true},
		{"agentVersion == 1.14.4", nil, false},
		{"agentVersion == 1.14.5.0", nil, true}, // missing parts are 0
		{"agentVersion == v1.14.5", nil, true},
		{"agentVersion equals 1.14.5", vpre, true},
		{"agentVersion != 1.14.5", nil, false},
		{"agentVersion != 1.9", nil, true},
		{"agentVersion > 1.9.0", nil, true}, // numeric, not byte-wise
		{"agentVersion > 1.14.5", nil, false},
		{"agentVersion greater_than 1.14.4", nil, true},
		{"agentVersion >= 1.14.5", nil, true},
		{"agentVersion greater_than_equal 1.15", nil, false},
		{"agentVersion < 1.14.5", nil, false},
		{"agentVersion < 1.20", nil, true},
		{"agentVersion less_than 2", nil, true},
		{"agentVersion <= 1.14.5", nil, true},
		{"agentVersion less_than_equal 1.14.4", nil, false},
		{"agentVersion > 1.14.5", rc, true},
		{"agentVersion < 1.15.0", rc, true}, // pre-release sorts first
		{"agentVersion == 1.15.0", rc, false},
		{"agentVersion == 1.15.0-rc1", rc, true},
		{"agentVersion < 1.15.0-rc2", rc, true},
		{"agentVersion == 1.14.5", bare(), false},
		{"agentVersion != 1.14.5", bare(), false}, // unknown version matches nothing
		{"agentVersion < 9", base().with(withVersion("dev")), false},
		{"agentVersion != 9", base().with(withVersion("dev")), false},
	})
}

func TestAttribute(t *testing.T) {
	noStack := base().withoutAttr("stack")
	runMatches(t, []matchCase{
		{"attribute:ecs.instance-type == t2.small", nil, true},
		{"attribute:ecs.instance-type == t2.micro", nil, false},
		{"attribute:ecs.instance-type equals T2.SMALL", nil, false}, // case-sensitive
		{"attribute:ecs.instance-type == t2.*", nil, true},
		{"attribute:ecs.instance-type == m5.*", nil, false},
		{"attribute:ecs.instance-type == *small", nil, true},
		{"attribute:ecs.instance-type == *smal", nil, false},
		{"attribute:ecs.instance-type == t2*", nil, true},
		{"attribute:ecs.instance-type == 2*", nil, false},
		{"attribute:ecs.instance-type == 't*.s*l'", nil, true},
		{"attribute:ecs.instance-type == *", nil, true},
		{"attribute:stack == *", noStack, false},
		{"attribute:stack != prod", nil, false},
		{"attribute:stack != dev", nil, true},
		{"attribute:stack not_equals 'p*'", nil, false},
		{"attribute:stack != prod", noStack, false}, // missing: false, not true
		{"attribute:weight > 9", nil, true},         // numeric: 10 > 9
		{"attribute:weight > 10", nil, false},
		{"attribute:weight >= 10", nil, true},
		{"attribute:weight >= 10.5", nil, false},
		{"attribute:weight < 9.5", nil, false},
		{"attribute:weight < 100", nil, true},
		{"attribute:weight <= 10.0", nil, true},
		{"attribute:weight <= -9", nil, false},
		{"attribute:stack > 1", nil, false}, // not a number
		{"attribute:stack > pre", nil, true},
		{"attribute:stack < pre", nil, false},
		{"attribute:stack >= prod", nil, true},
		{"attribute:stack <= prod", nil, true},
		{"attribute:stack < prodx", nil, true},
		{"attribute:weight < 9", nil, false}, // byte-wise would say "10" < "9"
		{"attribute:stack > a", noStack, false},
		{"attribute:stack exists", nil, true},
		{"attribute:nosuch exists", nil, false},
		{"attribute:gpu exists", nil, true},
		{"attribute:nosuch !exists", nil, true},
		{"attribute:stack not_exists", nil, false},
		{"attribute:gpu not_exists", nil, false},
		{"attribute:gpu == ''", nil, true},
		{"attribute:gpu == x", nil, false},
		{"attribute:stack == ''", nil, false},
		{"attribute:ecs.instance-type in [t2.small, t2.medium]", nil, true},
		{"attribute:ecs.instance-type in [t2.medium]", nil, false},
		{"attribute:ecs.instance-type in [m5.*, t2.*]", nil, true},
		{"attribute:stack in [prod]", noStack, false},
		{"attribute:ecs.instance-type not_in [t2.medium]", nil, true},
		{"attribute:ecs.instance-type !in [t2.small]", nil, false},
		{"attribute:ecs.instance-type !in [t2.*]", nil, false},
		{"attribute:stack not_in [dev]", noStack, false},
		{"attribute:ecs.instance-type =~ t2.*", nil, true},
		{"attribute:ecs.instance-type =~ t2", nil, false}, // whole value
		{"attribute:ecs.instance-type matches '.*small'", nil, true},
		{"attribute:ecs.instance-type =~ '(t2|m5)\\.small'", nil, true},
		{"attribute:ecs.instance-type =~ 'T2.*'", nil, false},
		{"attribute:ecs.instance-type =~ '(?i)T2.*'", nil, true},
		{`attribute:ecs.instance-type =~ '\Qt2.small'`, nil, true},
		{`attribute:ecs.instance-type =~ '\Qt2.'`, nil, false},
		{"attribute:stack =~ .*", noStack, false},
		{"attribute:ecs.instance-type !~ m5.*", nil, true},
		{"attribute:ecs.instance-type not_matches t2.*", nil, false},
		{"attribute:stack !~ x", noStack, false},
	})
}

func TestEC2InstanceID(t *testing.T) {
	noID := bare()
	runMatches(t, []matchCase{
		{"ec2InstanceId == i-0abc1234", nil, true},
		{"ec2InstanceId == i-other", nil, false},
		{"ec2InstanceId == 'i-0abc*'", nil, true},
		{"ec2InstanceId equals 'i-1*'", nil, false},
		{"ec2InstanceId != i-0abc1234", nil, false},
		{"ec2InstanceId not_equals i-other", nil, true},
		{"ec2InstanceId in ['i-abcd1234', 'i-0abc1234']", nil, true},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", nil, false},
		{"ec2InstanceId not_in ['i-abcd1234', 'i-wxyx7890']", nil, true},
		{"ec2InstanceId !in [i-0abc1234]", nil, false},
		{"ec2InstanceId =~ 'i-[0-9a-f]+'", nil, true},
		{"ec2InstanceId matches 'i-[0-9]+'", nil, false},
		{"ec2InstanceId !~ 'i-[0-9]+'", nil, true},
		{"ec2InstanceId not_matches 'i-.*'", nil, false},
		{"ec2InstanceId == ''", noID, false}, // no ID matches nothing
		{"ec2InstanceId != x", noID, false},
		{"ec2InstanceId !~ x", noID, false},
		{"ec2InstanceId not_in [x]", noID, false},
	})
}

func TestRegisteredAt(t *testing.T) {
	frac := base().with(withRegistered(mustTime("2018-06-18T22:28:28.9Z")))
	old := base().with(withRegistered(mustTime("1969-12-31T23:00:00Z")))
	runMatches(t, []matchCase{
		{"registeredAt == 2018-06-18", nil, true}, // same UTC day
		{"registeredAt == 2018-06-19", nil, false},
		{"registeredAt == 2018-06-18T22:28:28Z", nil, true},
		{"registeredAt == 2018-06-18T22:28:28", nil, true},
		{"registeredAt == 2018-06-18T22:28:28+00:00", nil, true},
		{"registeredAt == 2018-06-19T00:28:28+02:00", nil, true},
		{"registeredAt equals 2018-06-18T22:28:29Z", nil, false},
		{"registeredAt == 2018-06-18T22:28:28Z", frac, true}, // to the second
		{"registeredAt != 2018-06-18", nil, false},
		{"registeredAt not_equals 2018-06-17", nil, true},
		{"registeredAt > 2018-06-17", nil, true},
		{"registeredAt > 2018-06-18", nil, false},
		{"registeredAt greater_than 2018-06-18T22:28:27Z", nil, true},
		{"registeredAt >= 2018-06-18", nil, true},
		{"registeredAt greater_than_equal 2018-06-19", nil, false},
		{"registeredAt < 2018-02-13", nil, false},
		{"registeredAt < 2018-06-19", nil, true},
		{"registeredAt < 2018-06-18", nil, false},
		{"registeredAt less_than 2018-06-18T22:28:29Z", nil, true},
		{"registeredAt <= 2018-06-18", nil, true},
		{"registeredAt less_than_equal 2018-06-17", nil, false},
		{"registeredAt <= 2018-06-18T22:28:27-00:00", nil, false},
		{"registeredAt < 2030-01-01", bare(), false}, // never registered
		{"registeredAt != 2018-06-18", bare(), false},
		{"registeredAt == 1969-12-31", old, true},
		{"registeredAt < 1970-01-01", old, true},
	})
}

func TestRunningTasksCount(t *testing.T) {
	runMatches(t, []matchCase{
		{"runningTasksCount == 3", nil, true},
		{"runningTasksCount == 1", nil, false},
		{"runningTasksCount == 0", bare(), true},
		{"runningTasksCount equals 03", nil, true},
		{"runningTasksCount != 3", nil, false},
		{"runningTasksCount not_equals 0", nil, true},
		{"runningTasksCount > 2", nil, true},
		{"runningTasksCount greater_than 3", nil, false},
		{"runningTasksCount >= 3", nil, true},
		{"runningTasksCount greater_than_equal 4", nil, false},
		{"runningTasksCount < 4", nil, true},
		{"runningTasksCount less_than 3", nil, false},
		{"runningTasksCount <= 3", nil, true},
		{"runningTasksCount less_than_equal 2", nil, false},
	})
}

func TestTaskGroup(t *testing.T) {
	none := base().withGroups()
	nilSeq := base().with(func(i *inst) { i.seq = nil })
	runMatches(t, []matchCase{
		{"task:group == service:production", nil, true},
		{"task:group == database", nil, false},
		{"task:group == service:*", nil, true},
		{"task:group equals family:w*", nil, true},
		{"task:group == service:production", none, false},
		{"task:group == service:production", nilSeq, false},
		{"task:group != service:production", nil, false}, // one group is
		{"task:group != database", nil, true},
		{"task:group not_equals database", none, true},
		{"task:group != family:*", nil, false},
		{"task:group in [database, family:web]", nil, true},
		{"task:group in [database]", nil, false},
		{"task:group not_in [database]", nil, true},
		{"task:group !in [family:web, database]", nil, false},
		{"task:group not_in [database]", none, true},
		{"task:group =~ 'service:.*'", nil, true},
		{"task:group matches service:prod", nil, false}, // whole value
		{"task:group !~ 'service:.*'", nil, false},
		{"task:group not_matches 'db.*'", nil, true},
		{"task:group exists", nil, true},
		{"task:group exists", none, false},
		{"task:group not_exists", nil, false},
		{"task:group !exists", none, true},
		{"task:group == service:production and task:group == family:web", nil, true},
	})
}

// TestDocExamples covers every example in the ECS developer guide's
// "Cluster query language" and "Task placement constraints" pages, each
// with an instance it selects and one it does not.
func TestDocExamples(t *testing.T) {
	g2d := base().withAttr("ecs.instance-type", "g2.2xlarge").withAttr("ecs.availability-zone", "us-east-1d")
	g2b := base().withAttr("ecs.instance-type", "g2.2xlarge").withAttr("ecs.availability-zone", "us-east-1b")
	runMatches(t, []matchCase{
		{"attribute:ecs.instance-type == t2.small", nil, true},
		{"attribute:ecs.instance-type == t2.small", g2b, false},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", nil, true},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", g2d, false},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", g2b, true},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", g2d, false},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", nil, false},
		{"task:group == service:production", nil, true},
		{"task:group == service:production", base().withGroups("service:staging"), false},
		{"not(task:group == database)", nil, true},
		{"not(task:group == database)", base().withGroups("database", "family:web"), false},
		{"runningTasksCount == 1", base().with(withRunning(1)), true},
		{"runningTasksCount == 1", nil, false},
		{"agentVersion < 1.14.5", base().with(withVersion("1.9.0")), true},
		{"agentVersion < 1.14.5", nil, false},
		{"registeredAt < 2018-02-13", base().with(withRegistered(mustTime("2018-02-12T23:59:59Z"))), true},
		{"registeredAt < 2018-02-13", base().with(withRegistered(mustTime("2018-02-13T00:00:00Z"))), false},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", base().with(withEC2("i-wxyx7890")), true},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", nil, false},
		{"attribute:ecs.instance-type == g2.2xlarge", g2b, true},
		{"attribute:ecs.instance-type == g2.2xlarge", nil, false},
		{"attribute:stack == prod", nil, true},
		{"attribute:stack == prod", base().withAttr("stack", "dev"), false},
		{"attribute:stack != prod", base().withAttr("stack", "dev"), true},
		{"attribute:stack != prod", nil, false},
		{"attribute:ecs.instance-type in [t2.small, t2.medium]", nil, true},
		{"attribute:ecs.instance-type in [t2.small, t2.medium]", g2b, false},
		{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", nil, true},
		{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a",
			base().withAttr("ecs.availability-zone", "us-east-1b"), false},
		{"task:group == databases", base().withGroups("databases"), true},
		{"task:group == databases", nil, false},
		{"task:group == service:daemon-service", base().withGroups("service:daemon-service"), true},
		{"task:group == service:daemon-service", nil, false},
	})
}

// TestLongLists exercises the map used for lists of many exact values,
// mixed with wildcard values, for both in and not_in.
func TestLongLists(t *testing.T) {
	list := "[a1, a2, a3, a4, a5, a6, a7, a8, a9, t2.*]"
	runMatches(t, []matchCase{
		{"attribute:stack in " + list, base().withAttr("stack", "a7"), true},
		{"attribute:stack in " + list, base().withAttr("stack", "t2.nano"), true},
		{"attribute:stack in " + list, base().withAttr("stack", "a10"), false},
		{"attribute:stack not_in " + list, base().withAttr("stack", "a7"), false},
		{"attribute:stack not_in " + list, base().withAttr("stack", "t2.x"), false},
		{"attribute:stack not_in " + list, base().withAttr("stack", "b"), true},
		{"task:group in " + list, base().withGroups("x", "a9"), true},
		{"task:group not_in " + list, base().withGroups("x", "a9"), false},
	})
}

func TestUsesTaskGroups(t *testing.T) {
	for expr, want := range map[string]bool{
		"attribute:a exists":                              false,
		"runningTasksCount > 0 or agentConnected == true": false,
		"task:group exists":                               true,
		"attribute:a exists and not (task:group == x)":    true,
		"attribute:task:group exists":                     false,
	} {
		e, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		if got := e.UsesTaskGroups(); got != want {
			t.Errorf("Parse(%q).UsesTaskGroups() = %v, want %v", expr, got, want)
		}
	}
}
