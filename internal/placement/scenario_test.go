package placement

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/clusterquery"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden files")

// TestScenarios runs every testdata/*.scenario file and compares the plans
// with its .golden file. The scenario language, one statement a line:
//
//	instance <id> [cpu=N] [mem=N] [az=Z] [<attr>=V] [tcp=P,P] [udp=P] [gpus=G,G]
//	         [groups=G:N;G:N] [ec2=I] [running=N] [agent=V] [registered=2024-05-01]
//	         [disconnected] [draining] [lt=EC2|EXTERNAL|FARGATE] [pool=NAME]
//	request [cpu=N] [mem=N] [tcp=P,P] [udp=P] [dyntcp=N] [dynudp=N] [gpus=N]
//	        [group=G] [seed=N] [lt=L] [pool=NAME]   (starts a new request)
//	strategy <type> [field]
//	constraint distinctInstance | constraint memberOf <expression>
//	requires <name>[=value]
//	place <count>   (plans, prints the plan, commits it)
//
// Instances default to cpu=2048 mem=4096, ACTIVE and connected.
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.scenario")
	if len(files) == 0 {
		t.Fatal("no scenarios")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".scenario"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := runScenario(string(src))
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(f, ".scenario") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func runScenario(src string) (string, error) {
	var insts []Instance
	var req Request
	var out strings.Builder
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			if line != "" {
				fmt.Fprintln(&out, line)
			}
			continue
		}
		f := strings.Fields(line)
		var err error
		switch f[0] {
		case "instance":
			var in Instance
			in, err = parseInstance(f[1:])
			insts = append(insts, in)
		case "request":
			req, err = parseRequest(f[1:])
		case "strategy":
			field := ""
			if len(f) > 2 {
				field = f[2]
			}
			var s Strategy
			if s, err = ParseStrategy(f[1], field); err == nil {
				req.Strategy = append(req.Strategy, s)
			}
		case "constraint":
			if f[1] == "distinctInstance" {
				req.Constraints = append(req.Constraints, DistinctInstance)
				break
			}
			var e *clusterquery.Expr
			if e, err = clusterquery.Parse(strings.Join(f[2:], " ")); err == nil {
				req.Constraints = append(req.Constraints, MemberOf(e))
			}
		case "requires":
			name, value, _ := strings.Cut(f[1], "=")
			req.Requires = append(req.Requires, Attr{Name: name, Value: value})
		case "place":
			req.Count, err = strconv.Atoi(f[1])
			plan := Place(insts, req)
			fmt.Fprintf(&out, "%s\n%s", line, formatPlan(insts, plan))
			Commit(insts, req, plan)
		default:
			err = fmt.Errorf("unknown statement %q", f[0])
		}
		if err != nil {
			return "", fmt.Errorf("line %d: %w", n+1, err)
		}
	}
	return out.String(), nil
}

func parseInstance(f []string) (Instance, error) {
	in := Instance{ARN: arn(f[0]), ID: f[0], Active: true, Connected: true, CPU: 2048, Memory: 4096, Attributes: map[string]string{}, Groups: map[string]int{}}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "cpu":
			in.CPU, err = strconv.ParseInt(v, 10, 64)
		case "mem":
			in.Memory, err = strconv.ParseInt(v, 10, 64)
		case "az":
			in.Attributes["ecs.availability-zone"] = v
		case "tcp":
			in.UsedTCP, err = portSet(v)
		case "udp":
			in.UsedUDP, err = portSet(v)
		case "gpus":
			in.FreeGPUs = strings.Split(v, ",")
		case "groups":
			for _, g := range strings.Split(v, ";") {
				i := strings.LastIndexByte(g, ':')
				in.Groups[g[:i]], err = strconv.Atoi(g[i+1:])
			}
		case "ec2":
			in.EC2InstanceID = v
		case "running":
			in.RunningTasks, err = strconv.Atoi(v)
		case "agent":
			in.AgentVersion = v
		case "registered":
			in.RegisteredAt, err = time.Parse(time.DateOnly, v)
		case "disconnected":
			in.Connected = false
		case "draining":
			in.Active = false
		case "lt":
			in.LaunchType = v
		case "pool":
			in.Pool = v
		default:
			in.Attributes[k] = v
		}
		if err != nil {
			return in, fmt.Errorf("%s: %w", kv, err)
		}
	}
	return in, nil
}

func parseRequest(f []string) (Request, error) {
	var r Request
	for _, kv := range f {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		var n int
		switch k {
		case "cpu":
			r.Demand.CPU, err = strconv.ParseInt(v, 10, 64)
		case "mem":
			r.Demand.Memory, err = strconv.ParseInt(v, 10, 64)
		case "tcp":
			r.Demand.TCP, err = portList(v)
		case "udp":
			r.Demand.UDP, err = portList(v)
		case "dyntcp":
			r.Demand.DynamicTCP, err = strconv.Atoi(v)
		case "dynudp":
			r.Demand.DynamicUDP, err = strconv.Atoi(v)
		case "gpus":
			r.Demand.GPUs, err = strconv.Atoi(v)
		case "group":
			r.Group = v
		case "seed":
			n, err = strconv.Atoi(v)
			r.Seed = uint64(n)
		case "lt":
			r.LaunchType = v
		case "pool":
			r.Pool = v
		default:
			err = fmt.Errorf("unknown request key")
		}
		if err != nil {
			return r, fmt.Errorf("%s: %w", kv, err)
		}
	}
	return r, nil
}

func portList(v string) ([]uint16, error) {
	var out []uint16
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return nil, err
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

func portSet(v string) (map[uint16]bool, error) {
	l, err := portList(v)
	return addPorts(nil, l), err
}

// formatPlan prints each placement as "  -> <id> [tcp ...] [udp ...]
// [gpus ...]" and each failure as "  !! <id> <reason> <detail>".
func formatPlan(insts []Instance, p Plan) string {
	var b strings.Builder
	for _, pl := range p.Placements {
		fmt.Fprintf(&b, "  -> %s", insts[pl.Instance].ID)
		if len(pl.DynamicTCP) > 0 {
			fmt.Fprintf(&b, " tcp%v", pl.DynamicTCP)
		}
		if len(pl.DynamicUDP) > 0 {
			fmt.Fprintf(&b, " udp%v", pl.DynamicUDP)
		}
		if len(pl.GPUs) > 0 {
			fmt.Fprintf(&b, " gpus%v", pl.GPUs)
		}
		b.WriteByte('\n')
	}
	fs := slices.Clone(p.Failures)
	slices.SortFunc(fs, func(a, b Failure) int { return strings.Compare(a.ARN, b.ARN) })
	for _, f := range fs {
		fmt.Fprintf(&b, "  !! %s %s", lastSeg(f.ARN), f.Reason)
		if f.Detail != "" {
			fmt.Fprintf(&b, " (%s)", f.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func lastSeg(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

func arn(id string) string {
	return "arn:aws:ecs:us-east-1:000000000000:container-instance/default/" + id
}
