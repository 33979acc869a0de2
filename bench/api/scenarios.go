package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

const (
	clusterName    = "bench-cluster"
	listFamilyFmt  = "bench-list-%02d"
	registerFamily = "bench-register"
	// registerFamilies is how many families RegisterTaskDefinitionManyFamilies
	// rotates over.
	registerFamilies = 8
)

// scenarioNames in the order they are measured. RegisterTaskDefinition is
// last so the reads see exactly the revisions the setup stored.
var scenarioNames = []string{
	"DescribeClusters",
	"DescribeTaskDefinition",
	"ListTaskDefinitions",
	"RegisterTaskDefinition",
	"RegisterTaskDefinitionManyFamilies",
}

// target is one server under test and what its setup left in it.
type target struct {
	Name           string         `json:"name"`
	URL            string         `json:"url"`
	Revisions      int            `json:"revisions_requested"`
	Stored         int            `json:"revisions_stored"`
	SetupSeconds   float64        `json:"setup_register_seconds"`
	SetupRate      float64        `json:"setup_register_per_sec"`
	SetupErrors    int            `json:"setup_errors"`
	SetupErrorKind map[string]int `json:"setup_error_kinds,omitempty"`
	SetupTimedOut  bool           `json:"setup_timed_out,omitempty"`
	ListPageItems  int            `json:"list_first_page_items"`
	ListNextToken  bool           `json:"list_first_page_has_next_token"`
	DescribeRef    string         `json:"describe_task_definition"`

	client *ecs.Client
}

// registerInput is the small task definition of the setup and of the
// RegisterTaskDefinition scenario: one container, image, memory 250, port 80.
func registerInput(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:      aws.String("web"),
			Image:     aws.String("nginx:1.27"),
			Memory:    aws.Int32(250),
			Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{
				ContainerPort: aws.Int32(80),
				HostPort:      aws.Int32(80),
				Protocol:      types.TransportProtocolTcp,
			}},
		}},
	}
}

// setup creates the cluster and registers t.Revisions revisions spread over
// `families` families, one writer per family (registrations within a family
// are sequential, families run in parallel). Progress goes to stderr.
func setup(t *target, families int, timeout, callTimeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cctx, ccancel := context.WithTimeout(ctx, callTimeout)
	_, err := t.client.CreateCluster(cctx, &ecs.CreateClusterInput{ClusterName: aws.String(clusterName)})
	ccancel()
	if err != nil {
		return fmt.Errorf("CreateCluster: %s", describeError(err))
	}

	var (
		done  atomic.Int64
		errs  = &errorTally{}
		wg    sync.WaitGroup
		start = time.Now()
	)
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "  %s: registered %d/%d revisions (%.0f/s)\n",
					t.Name, n, t.Revisions, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	for f := 0; f < families; f++ {
		n := t.Revisions / families
		if f < t.Revisions%families {
			n++
		}
		wg.Add(1)
		go func(family string, n int) {
			defer wg.Done()
			in := registerInput(family)
			for i := 0; i < n && ctx.Err() == nil; i++ {
				cctx, ccancel := context.WithTimeout(ctx, callTimeout)
				_, err := t.client.RegisterTaskDefinition(cctx, in)
				ccancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.add(err)
					continue
				}
				done.Add(1)
			}
		}(fmt.Sprintf(listFamilyFmt, f), n)
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	elapsed := time.Since(start)
	t.SetupSeconds = elapsed.Seconds()
	t.SetupRate = float64(done.Load()) / elapsed.Seconds()
	t.SetupTimedOut = ctx.Err() != nil
	for _, n := range errs.kinds {
		t.SetupErrors += n
	}
	t.SetupErrorKind = errs.kinds
	fmt.Fprintf(os.Stderr, "  %s: registered %d/%d revisions in %.1fs (%.0f/s), %d errors%s\n",
		t.Name, done.Load(), t.Revisions, t.SetupSeconds, t.SetupRate, t.SetupErrors,
		map[bool]string{true: ", setup TIMED OUT", false: ""}[t.SetupTimedOut])

	// Count what is stored, following every page, and look at the first page
	// the ListTaskDefinitions scenario will fetch.
	lctx, lcancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer lcancel()
	stored, first, next, err := countRevisions(lctx, t.client)
	if err != nil {
		return fmt.Errorf("ListTaskDefinitions (counting stored revisions): %s", describeError(err))
	}
	t.Stored, t.ListPageItems, t.ListNextToken = stored, first, next

	// A stored revision in the middle of the first family.
	perFamily := t.Revisions / families
	rev := max(1, (perFamily+1)/2)
	t.DescribeRef = fmt.Sprintf(listFamilyFmt+":%d", 0, rev)
	dctx, dcancel := context.WithTimeout(context.Background(), callTimeout)
	defer dcancel()
	if _, err := t.client.DescribeTaskDefinition(dctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(t.DescribeRef)}); err != nil {
		return fmt.Errorf("DescribeTaskDefinition %s: %s", t.DescribeRef, describeError(err))
	}
	return nil
}

// countRevisions lists every ACTIVE revision (all pages) and reports the
// total and the size of the first, default-sized page.
func countRevisions(ctx context.Context, c *ecs.Client) (total, firstPage int, firstHasNext bool, err error) {
	var token *string
	for page := 0; ; page++ {
		out, err := c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: token})
		if err != nil {
			return 0, 0, false, err
		}
		if page == 0 {
			firstPage = len(out.TaskDefinitionArns)
			firstHasNext = aws.ToString(out.NextToken) != ""
		}
		total += len(out.TaskDefinitionArns)
		if aws.ToString(out.NextToken) == "" {
			return total, firstPage, firstHasNext, nil
		}
		token = out.NextToken
	}
}

// scenario returns the call measured for a scenario against t.
func scenario(name string, t *target) (op, error) {
	c := t.client
	switch name {
	case "DescribeClusters":
		in := &ecs.DescribeClustersInput{Clusters: []string{clusterName}}
		return func(ctx context.Context) error {
			out, err := c.DescribeClusters(ctx, in)
			if err != nil {
				return err
			}
			if len(out.Failures) > 0 {
				return fmt.Errorf("failure: %s %s", aws.ToString(out.Failures[0].Arn), aws.ToString(out.Failures[0].Reason))
			}
			if len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterName) != clusterName {
				return fmt.Errorf("DescribeClusters returned %d clusters", len(out.Clusters))
			}
			return nil
		}, nil
	case "DescribeTaskDefinition":
		in := &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(t.DescribeRef)}
		return func(ctx context.Context) error {
			out, err := c.DescribeTaskDefinition(ctx, in)
			if err != nil {
				return err
			}
			if out.TaskDefinition == nil || len(out.TaskDefinition.ContainerDefinitions) != 1 {
				return errors.New("DescribeTaskDefinition returned no task definition")
			}
			return nil
		}, nil
	case "ListTaskDefinitions":
		in := &ecs.ListTaskDefinitionsInput{}
		return func(ctx context.Context) error {
			out, err := c.ListTaskDefinitions(ctx, in)
			if err != nil {
				return err
			}
			return checkListPage(len(out.TaskDefinitionArns))
		}, nil
	case "RegisterTaskDefinition", "RegisterTaskDefinitionManyFamilies":
		families := registerFamilyNames(name)
		ins := make([]*ecs.RegisterTaskDefinitionInput, len(families))
		for i, f := range families {
			ins[i] = registerInput(f)
		}
		var next atomic.Uint64
		return func(ctx context.Context) error {
			out, err := c.RegisterTaskDefinition(ctx, ins[next.Add(1)%uint64(len(ins))])
			if err != nil {
				return err
			}
			var rev int32
			if out.TaskDefinition != nil {
				rev = out.TaskDefinition.Revision
			}
			return checkRevision(rev)
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (known: %v)", name, scenarioNames)
}

// registerFamilyNames lists the families a registration scenario writes:
// one, or registerFamilies that calls rotate over so concurrent clients
// mostly write different families (several pipelines deploying at once).
func registerFamilyNames(scenario string) []string {
	if scenario != "RegisterTaskDefinitionManyFamilies" {
		return []string{registerFamily}
	}
	names := make([]string, registerFamilies)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", registerFamily, i)
	}
	return names
}

func checkRevision(rev int32) error {
	if rev < 1 {
		return errors.New("RegisterTaskDefinition returned no revision")
	}
	return nil
}

func checkListPage(n int) error {
	if n == 0 {
		return errors.New("ListTaskDefinitions returned an empty page")
	}
	return nil
}
