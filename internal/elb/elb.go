// Package elb implements the Elastic Load Balancing v2 API (served over the
// AWS Query protocol by internal/awsquery) on the store: load balancers,
// listeners and their rules, target groups, their targets, attributes and
// tags, under /elb/. This package is the API and its state; the data plane
// reads the exported Go API:
//
//   - Listeners: every listener (protocol, port, default actions) with its
//     rules in priority order and their parsed conditions (Rule.Matches).
//   - TargetGroup, TargetGroups: target groups with their health check and
//     deregistration delay, and their targets (TargetHealth) with health,
//     registration and deregistration times. Route to Routable targets;
//     let Draining ones finish until DrainUntil.
//   - SetTargetHealth: the health checker reports a target's state.
//   - SetTargets: the ECS integration registers a service's targets.
//
// Times come from Config.Now.
package elb

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/awsquery"
	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// Store layout.
const (
	// Prefix holds every ELB record.
	Prefix = "/elb/"
	// LoadBalancersPrefix holds one lbRecord per load balancer, by name.
	LoadBalancersPrefix = "/elb/loadbalancers/"
	// TargetGroupsPrefix holds one tgRecord per target group, by name.
	TargetGroupsPrefix = "/elb/targetgroups/"
)

const (
	maxTags         = 50
	maxTxnAttempts  = 20
	defaultPageSize = 400
)

// Config configures the ELB API.
type Config struct {
	Region    string
	AccountID string
	Now       func() time.Time // time.Now when nil; target registration and draining times come from it
	// InstanceExists, when set, tells whether an instance id names a
	// container instance (its ec2InstanceId): RegisterTargets refuses
	// others with InvalidTarget. When nil, instance ids are only checked
	// for their form (i-...).
	InstanceExists func(ctx context.Context, ec2InstanceID string) (bool, error)
}

// ELB serves the ELBv2 API on a store.
type ELB struct {
	elbv2api.Unimplemented
	st      store.Store
	region  string
	account string
	now     func() time.Time

	instanceExists func(context.Context, string) (bool, error)
}

// New returns the ELBv2 API on st.
func New(st store.Store, cfg Config) *ELB {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &ELB{st: st, region: cfg.Region, account: cfg.AccountID, now: now, instanceExists: cfg.InstanceExists}
}

// Service returns the awsquery service that serves e.
func (e *ELB) Service() awsquery.Service { return elbv2api.Service(e) }

// lbRecord is a stored load balancer.
type lbRecord struct {
	LoadBalancer elbv2api.LoadBalancer
	Tags         []elbv2api.Tag
}

// tgRecord is a stored target group with its registered and draining
// targets.
type tgRecord struct {
	TargetGroup elbv2api.TargetGroup
	Attributes  []elbv2api.TargetGroupAttribute
	Tags        []elbv2api.Tag
	Targets     []targetRecord `json:",omitempty"`
}

func retry(ctx context.Context, attempt func() error) error {
	for i := 0; ; i++ {
		err := attempt()
		if !errors.Is(err, store.ErrConflict) || i == maxTxnAttempts {
			return err
		}
		if i >= 2 {
			pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(i-2, 5)))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (e *ELB) getJSON(ctx context.Context, key string, v any) (int64, error) {
	kv, err := e.st.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return kv.ModRev, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode record: %v", err))
	}
	return b
}

// list decodes every record under prefix, in name order, with revisions.
func list[T any](ctx context.Context, st store.Store, prefix string) ([]T, []int64, error) {
	kvs, _, err := st.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	out := make([]T, 0, len(kvs))
	revs := make([]int64, 0, len(kvs))
	for _, kv := range kvs {
		var r T
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, r)
		revs = append(revs, kv.ModRev)
	}
	return out, revs, nil
}

// resourceID returns 16 random hex digits, the id part of ELB ARNs.
func resourceID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *ELB) arnPrefix() string {
	return "arn:aws:elasticloadbalancing:" + e.region + ":" + e.account + ":"
}

// vpcID is the VPC berth reports when a request names none: one stable id
// per account and region.
func (e *ELB) vpcID() string {
	sum := sha256.Sum256([]byte(e.account + "/" + e.region))
	return "vpc-" + hex.EncodeToString(sum[:])[:17]
}

// arnKind splits an ELB ARN into its resource kind ("loadbalancer",
// "targetgroup"), its name and id. ok is false for anything else.
func (e *ELB) parseARN(s string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(s, e.arnPrefix())
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 4 && parts[0] == "loadbalancer" && (parts[1] == "app" || parts[1] == "net"):
		return "loadbalancer", parts[2], parts[2] != "" && parts[3] != ""
	case len(parts) == 3 && parts[0] == "targetgroup":
		return "targetgroup", parts[1], parts[1] != "" && parts[2] != ""
	}
	return "", "", false
}

// validName checks an ELB load balancer or target group name: up to 32
// alphanumeric characters or hyphens, not starting or ending with a hyphen.
func validName(kind, name string) error {
	if name == "" {
		return elbv2api.ValidationErrorf("%s name cannot be empty", kind)
	}
	if len(name) > 32 {
		return elbv2api.ValidationErrorf("%s name '%s' cannot be longer than '32' characters", kind, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return elbv2api.ValidationErrorf("%s name '%s' can only contain characters that are alphanumeric characters or hyphens(-)", kind, name)
		}
	}
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		return elbv2api.ValidationErrorf("%s name '%s' cannot begin or end with a hyphen", kind, name)
	}
	return nil
}

// checkTags validates tags to set: no duplicate keys, no aws: prefix.
func checkTags(tags []elbv2api.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t.Key] {
			return elbv2api.Errorf(elbv2api.CodeDuplicateTagKeysException, "Tag key '%s' is duplicated", t.Key)
		}
		seen[t.Key] = true
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return elbv2api.ValidationErrorf("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	if len(tags) > maxTags {
		return elbv2api.Errorf(elbv2api.CodeTooManyTagsException, "The quota for the number of tags that can be assigned to a resource has been reached (%d)", maxTags)
	}
	return nil
}

// page cuts items (sorted by name) after marker, at most size of them, and
// returns the next marker when more remain.
func page[T any](items []T, name func(T) string, marker *string, size *int32) ([]T, *string) {
	start := 0
	if m := elbv2api.Value(marker); m != "" {
		start = len(items)
		for i, it := range items {
			if name(it) > m {
				start = i
				break
			}
		}
	}
	n := int(elbv2api.Value(size))
	if n <= 0 {
		n = defaultPageSize
	}
	items = items[start:]
	if len(items) > n {
		return items[:n], elbv2api.Ptr(name(items[n-1]))
	}
	return items, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
