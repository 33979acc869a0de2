package elb

import (
	"context"
	"slices"

	"github.com/berth-dev/berth/internal/elbv2api"
	"github.com/berth-dev/berth/internal/store"
)

// tagged is one resource whose tags an operation reads or writes.
type tagged struct {
	key  string
	rev  int64
	tags *[]elbv2api.Tag
	rec  any
}

// loadTagged loads the resources named by ARN; any missing one fails the
// whole call with the NotFound error of its kind.
func (e *ELB) loadTagged(ctx context.Context, arns []string) ([]tagged, error) {
	out := make([]tagged, 0, len(arns))
	for _, a := range arns {
		kind, name, ok := e.parseARN(a)
		switch {
		case ok && kind == "targetgroup":
			rec, rev, err := e.targetGroupByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			r := &rec
			out = append(out, tagged{key: tgKey(name), rev: rev, tags: &r.Tags, rec: r})
		default:
			rec, rev, err := e.loadBalancerByARN(ctx, a)
			if err != nil {
				return nil, err
			}
			r := &rec
			out = append(out, tagged{key: lbKey(name), rev: rev, tags: &r.Tags, rec: r})
		}
	}
	return out, nil
}

// updateTags applies change to the tags of every resource, atomically.
func (e *ELB) updateTags(ctx context.Context, arns []string, change func([]elbv2api.Tag) ([]elbv2api.Tag, error)) error {
	if dup := firstDuplicate(arns); dup != "" {
		return elbv2api.ValidationErrorf("Resource ARN '%s' is specified more than once", dup)
	}
	return retry(ctx, func() error {
		res, err := e.loadTagged(ctx, arns)
		if err != nil {
			return err
		}
		conds := make([]store.Cond, 0, len(res))
		ops := make([]store.Op, 0, len(res))
		for _, r := range res {
			tags, err := change(*r.tags)
			if err != nil {
				return err
			}
			*r.tags = tags
			conds = append(conds, store.Cond{Key: r.key, ModRev: r.rev})
			ops = append(ops, store.Put(r.key, mustJSON(r.rec)))
		}
		_, err = e.st.Txn(ctx, conds, ops)
		return err
	})
}

// AddTags adds or overwrites tags of load balancers and target groups.
func (e *ELB) AddTags(ctx context.Context, in *elbv2api.AddTagsInput) (*elbv2api.AddTagsOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	err := e.updateTags(ctx, in.ResourceArns, func(have []elbv2api.Tag) ([]elbv2api.Tag, error) {
		out := slices.Clone(have)
		for _, t := range in.Tags {
			if i := slices.IndexFunc(out, func(o elbv2api.Tag) bool { return o.Key == t.Key }); i >= 0 {
				out[i] = t
			} else {
				out = append(out, t)
			}
		}
		if len(out) > maxTags {
			return nil, elbv2api.Errorf(elbv2api.CodeTooManyTagsException, "The quota for the number of tags that can be assigned to a resource has been reached (%d)", maxTags)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.AddTagsOutput{}, nil
}

// RemoveTags removes tags by key; keys a resource does not have are
// ignored.
func (e *ELB) RemoveTags(ctx context.Context, in *elbv2api.RemoveTagsInput) (*elbv2api.RemoveTagsOutput, error) {
	err := e.updateTags(ctx, in.ResourceArns, func(have []elbv2api.Tag) ([]elbv2api.Tag, error) {
		return slices.DeleteFunc(slices.Clone(have), func(t elbv2api.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.RemoveTagsOutput{}, nil
}

// DescribeTags returns the tags of each resource.
func (e *ELB) DescribeTags(ctx context.Context, in *elbv2api.DescribeTagsInput) (*elbv2api.DescribeTagsOutput, error) {
	res, err := e.loadTagged(ctx, in.ResourceArns)
	if err != nil {
		return nil, err
	}
	out := make([]elbv2api.TagDescription, len(res))
	for i, r := range res {
		out[i] = elbv2api.TagDescription{ResourceArn: elbv2api.Ptr(in.ResourceArns[i]), Tags: nonNil(*r.tags)}
	}
	return &elbv2api.DescribeTagsOutput{TagDescriptions: out}, nil
}
