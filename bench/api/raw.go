package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/berth-dev/berth/bench/internal/rawecs"
)

// rawScenario is scenario's counterpart for the raw client: the same calls
// and the same checks of each answer.
func rawScenario(name string, t *target, c *rawecs.Client) (op, error) {
	type arnList struct {
		TaskDefinitionArns []string `json:"taskDefinitionArns"`
	}
	type tdOut struct {
		TaskDefinition *struct {
			Family   string `json:"family"`
			Revision int    `json:"revision"`
		} `json:"taskDefinition"`
	}
	switch name {
	case "DescribeClusters":
		call := rawecs.Prepare(name, map[string]any{"clusters": []string{clusterName}})
		return func(ctx context.Context) error {
			var out struct {
				Clusters []struct {
					ClusterName string `json:"clusterName"`
				} `json:"clusters"`
				Failures []json.RawMessage `json:"failures"`
			}
			if err := c.Do(ctx, call, &out); err != nil {
				return err
			}
			if len(out.Failures) > 0 || len(out.Clusters) != 1 || out.Clusters[0].ClusterName != clusterName {
				return fmt.Errorf("DescribeClusters returned %d clusters, %d failures", len(out.Clusters), len(out.Failures))
			}
			return nil
		}, nil
	case "DescribeTaskDefinition":
		call := rawecs.Prepare(name, map[string]any{"taskDefinition": t.DescribeRef})
		return func(ctx context.Context) error {
			var out tdOut
			if err := c.Do(ctx, call, &out); err != nil {
				return err
			}
			if out.TaskDefinition == nil || out.TaskDefinition.Revision < 1 {
				return errors.New("DescribeTaskDefinition returned no task definition")
			}
			return nil
		}, nil
	case "ListTaskDefinitions":
		call := rawecs.Prepare(name, map[string]any{})
		return func(ctx context.Context) error {
			var out arnList
			if err := c.Do(ctx, call, &out); err != nil {
				return err
			}
			return checkListPage(len(out.TaskDefinitionArns))
		}, nil
	case "RegisterTaskDefinition", "RegisterTaskDefinitionManyFamilies":
		families := registerFamilyNames(name)
		calls := make([]rawecs.Call, len(families))
		for i, f := range families {
			calls[i] = rawecs.Prepare("RegisterTaskDefinition", registerJSON(f))
		}
		var next atomic.Uint64
		return func(ctx context.Context) error {
			var out tdOut
			if err := c.Do(ctx, calls[next.Add(1)%uint64(len(calls))], &out); err != nil {
				return err
			}
			if out.TaskDefinition == nil {
				return checkRevision(0)
			}
			return checkRevision(int32(out.TaskDefinition.Revision))
		}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (known: %v)", name, scenarioNames)
}

// registerJSON is registerInput as the wire JSON (the SDK's input structs
// have no JSON names).
func registerJSON(family string) map[string]any {
	return map[string]any{
		"family": family,
		"containerDefinitions": []map[string]any{{
			"name":         "web",
			"image":        "nginx:1.27",
			"memory":       250,
			"essential":    true,
			"portMappings": []map[string]any{{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}},
		}},
	}
}
