// Package arn builds and parses Amazon Resource Names in the long format ECS
// uses (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME, task-definition/FAMILY:REV,
// and so on), and resolves the "name or ARN" parameters ECS accepts.
package arn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ARN is a parsed Amazon Resource Name.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string // everything after the fifth colon, e.g. "cluster/web"
}

// ErrMalformed is returned (wrapped) by Parse for text that is not an ARN.
var ErrMalformed = errors.New("malformed ARN")

// Parse splits s into its parts. It checks the shape only: "arn", a
// partition, a service and a resource must be present.
func Parse(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("%w: %q does not have the form arn:partition:service:region:account:resource", ErrMalformed, s)
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if a.Partition == "" || a.Service == "" || a.Resource == "" {
		return ARN{}, fmt.Errorf("%w: %q lacks a partition, service or resource", ErrMalformed, s)
	}
	return a, nil
}

// String renders the ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// IsARN reports whether s looks like an ARN rather than a bare name.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// Namer builds ARNs for one account and region.
type Namer struct {
	Partition string // "aws" when empty
	Region    string
	Account   string
}

func (n Namer) arn(service, resource string) string {
	p := n.Partition
	if p == "" {
		p = "aws"
	}
	return ARN{Partition: p, Service: service, Region: n.Region, Account: n.Account, Resource: resource}.String()
}

// Cluster returns the ARN of the cluster named name.
func (n Namer) Cluster(name string) string { return n.arn("ecs", "cluster/"+name) }

// TaskDefinition returns the ARN of family:revision.
func (n Namer) TaskDefinition(family string, revision int32) string {
	return n.arn("ecs", "task-definition/"+family+":"+strconv.Itoa(int(revision)))
}

// Resource returns an ECS ARN for an arbitrary resource path.
func (n Namer) Resource(resource string) string { return n.arn("ecs", resource) }

// Root returns the ARN of the account's root principal.
func (n Namer) Root() string {
	p := n.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":iam::" + n.Account + ":root"
}

// ECSResource parses an ECS ARN and returns its resource type and the rest
// of its resource path: "cluster/web" → ("cluster", "web").
func ECSResource(s string) (kind, rest string, err error) {
	a, err := Parse(s)
	if err != nil {
		return "", "", err
	}
	if a.Service != "ecs" {
		return "", "", fmt.Errorf("%w: %q is not an ECS ARN", ErrMalformed, s)
	}
	kind, rest, ok := strings.Cut(a.Resource, "/")
	if !ok || kind == "" || rest == "" {
		return "", "", fmt.Errorf("%w: %q has no resource type and id", ErrMalformed, s)
	}
	return kind, rest, nil
}

// ClusterName returns the cluster name of a "name or ARN" parameter.
func ClusterName(nameOrARN string) (string, error) {
	if !IsARN(nameOrARN) {
		return nameOrARN, nil
	}
	kind, rest, err := ECSResource(nameOrARN)
	if err != nil {
		return "", err
	}
	if kind != "cluster" {
		return "", fmt.Errorf("%w: %q is not a cluster ARN", ErrMalformed, nameOrARN)
	}
	return rest, nil
}

// TaskDefinitionRef splits a task definition reference: "family",
// "family:revision" or a task definition ARN. revision is 0 when absent.
func TaskDefinitionRef(ref string) (family string, revision int32, err error) {
	s := ref
	if IsARN(ref) {
		kind, rest, err := ECSResource(ref)
		if err != nil {
			return "", 0, err
		}
		if kind != "task-definition" {
			return "", 0, fmt.Errorf("%w: %q is not a task definition ARN", ErrMalformed, ref)
		}
		s = rest
		if !strings.Contains(s, ":") {
			return "", 0, fmt.Errorf("%w: task definition ARN %q has no revision", ErrMalformed, ref)
		}
	}
	family, revText, hasRev := strings.Cut(s, ":")
	if family == "" {
		return "", 0, fmt.Errorf("%w: %q has an empty family", ErrMalformed, ref)
	}
	if !hasRev {
		return family, 0, nil
	}
	r, err := strconv.ParseInt(revText, 10, 32)
	if err != nil || r < 1 {
		return "", 0, fmt.Errorf("%w: %q has an invalid revision %q", ErrMalformed, ref, revText)
	}
	return family, int32(r), nil
}
