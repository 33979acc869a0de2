package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawClient sends ECS calls as plain signed HTTP: a prepared JSON body, a
// SigV4 signature from the aws-sdk-go-v2 signer, sent over leanPool's
// keep-alive connections, the JSON response decoded into a small struct. It
// costs the client a fraction of the full SDK's CPU, so on a small machine
// more of it is left to the server measured.
type rawClient struct {
	pool   *leanPool
	url    string
	region string
	creds  aws.Credentials
	signer *v4.Signer
}

func newRawClient(url, region, key, secret string) (*rawClient, error) {
	pool, err := newLeanPool(url)
	if err != nil {
		return nil, err
	}
	return &rawClient{pool: pool, url: url + "/", region: region, creds: aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, signer: v4.NewSigner()}, nil
}

// rawCall is one prepared call: the body and its hash are computed once.
type rawCall struct {
	target string
	body   []byte
	hash   string
}

func prepare(op string, in any) rawCall {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return rawCall{target: "AmazonEC2ContainerServiceV20141113." + op, body: b, hash: hex.EncodeToString(sum[:])}
}

// do sends call and decodes a 200 response into out; any other status is an
// error carrying the AWS error type.
func (c *rawClient) do(ctx context.Context, call rawCall, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(call.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", call.target)
	if err := c.signer.SignHTTP(ctx, c.creds, req, call.hash, "ecs", c.region, time.Now()); err != nil {
		return err
	}
	status, raw, err := c.pool.roundTrip(ctx, req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("HTTP %d %s: %s", status, e.Type, e.Message)
	}
	return json.Unmarshal(raw, out)
}

// rawScenario is scenario's counterpart for the raw client: the same calls
// and the same checks of each answer.
func rawScenario(name string, t *target, c *rawClient) (op, error) {
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
		call := prepare(name, map[string]any{"clusters": []string{clusterName}})
		return func(ctx context.Context) error {
			var out struct {
				Clusters []struct {
					ClusterName string `json:"clusterName"`
				} `json:"clusters"`
				Failures []json.RawMessage `json:"failures"`
			}
			if err := c.do(ctx, call, &out); err != nil {
				return err
			}
			if len(out.Failures) > 0 || len(out.Clusters) != 1 || out.Clusters[0].ClusterName != clusterName {
				return fmt.Errorf("DescribeClusters returned %d clusters, %d failures", len(out.Clusters), len(out.Failures))
			}
			return nil
		}, nil
	case "DescribeTaskDefinition":
		call := prepare(name, map[string]any{"taskDefinition": t.DescribeRef})
		return func(ctx context.Context) error {
			var out tdOut
			if err := c.do(ctx, call, &out); err != nil {
				return err
			}
			if out.TaskDefinition == nil || out.TaskDefinition.Revision < 1 {
				return errors.New("DescribeTaskDefinition returned no task definition")
			}
			return nil
		}, nil
	case "ListTaskDefinitions":
		call := prepare(name, map[string]any{})
		return func(ctx context.Context) error {
			var out arnList
			if err := c.do(ctx, call, &out); err != nil {
				return err
			}
			return checkListPage(len(out.TaskDefinitionArns))
		}, nil
	case "RegisterTaskDefinition", "RegisterTaskDefinitionManyFamilies":
		families := registerFamilyNames(name)
		calls := make([]rawCall, len(families))
		for i, f := range families {
			calls[i] = prepare("RegisterTaskDefinition", registerJSON(f))
		}
		var next atomic.Uint64
		return func(ctx context.Context) error {
			var out tdOut
			if err := c.do(ctx, calls[next.Add(1)%uint64(len(calls))], &out); err != nil {
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
