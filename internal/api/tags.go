package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

const maxTags = 50

// validateTags applies ECS's tag rules: at most 50, keys of 1–128 and values
// of at most 256 characters, and no key in the reserved aws: namespace.
func validateTags(tags []ecsapi.Tag) error {
	if len(tags) > maxTags {
		return invalidParam("A resource can have at most %d tags; %d were given.", maxTags, len(tags))
	}
	for i, t := range tags {
		k, v := ecsapi.Value(t.Key), ecsapi.Value(t.Value)
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			return invalidParam("tags[%d].key must be 1 to 128 characters long.", i)
		}
		if utf8.RuneCountInString(v) > 256 {
			return invalidParam("tags[%d].value must be at most 256 characters long.", i)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidParam("Tag keys beginning with 'aws:' are reserved for AWS use: %q.", k)
		}
	}
	return nil
}

// taggable is how tags are read and written for one kind of resource: the
// store key of the record and accessors into the decoded record.
type taggable struct {
	key  string
	tags func(raw []byte) ([]ecsapi.Tag, error)
	set  func(raw []byte, tags []ecsapi.Tag) ([]byte, error)
}

var errNoResource = ecsapi.Errorf(ecsapi.CodeResourceNotFoundException, "The specified resource could not be found.")

func (e *ECS) taggableOf(resourceARN string) (taggable, error) {
	kind, rest, err := arn.ECSResource(resourceARN)
	if err != nil {
		return taggable{}, invalidParam("The ARN %q is not a valid ECS resource ARN.", resourceARN)
	}
	switch kind {
	case "service":
		return serviceTaggable(resourceARN, rest)
	case "cluster":
		return taggable{
			key: clusterKey(rest),
			tags: func(raw []byte) ([]ecsapi.Tag, error) {
				var c ecsapi.Cluster
				err := json.Unmarshal(raw, &c)
				return c.Tags, err
			},
			set: func(raw []byte, tags []ecsapi.Tag) ([]byte, error) {
				var c ecsapi.Cluster
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, err
				}
				c.Tags = tags
				return json.Marshal(c)
			},
		}, nil
	case "task-definition":
		family, rev, err := arn.TaskDefinitionRef(rest)
		if err != nil || rev == 0 {
			return taggable{}, invalidParam("The ARN %q is not a valid task definition ARN.", resourceARN)
		}
		return taggable{
			key: taskDefKey(family, rev),
			tags: func(raw []byte) ([]ecsapi.Tag, error) {
				var r taskDefRecord
				err := json.Unmarshal(raw, &r)
				return r.Tags, err
			},
			set: func(raw []byte, tags []ecsapi.Tag) ([]byte, error) {
				var r taskDefRecord
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, err
				}
				r.Tags = tags
				return json.Marshal(r)
			},
		}, nil
	case "container-instance":
		return instanceTaggable(resourceARN)
	case "capacity-provider":
		return capacityProviderTaggable(resourceARN, rest)
	}
	return taggable{}, invalidParam("Resources of type %q cannot be tagged in berth yet.", kind)
}

func (e *ECS) changeTags(ctx context.Context, resourceARN string, change func([]ecsapi.Tag) ([]ecsapi.Tag, error)) error {
	t, err := e.taggableOf(resourceARN)
	if err != nil {
		return err
	}
	return retry(ctx, func() error {
		kv, err := e.st.Get(ctx, t.key)
		if errors.Is(err, store.ErrNotFound) || (err == nil && jsonStatus(kv.Value) == statusInactive && (strings.HasPrefix(t.key, clustersPrefix) || strings.HasPrefix(t.key, capacityProvidersPrefix))) {
			return errNoResource
		}
		if err != nil {
			return err
		}
		tags, err := t.tags(kv.Value)
		if err != nil {
			return err
		}
		tags, err = change(tags)
		if err != nil {
			return err
		}
		raw, err := t.set(kv.Value, nonNil(tags))
		if err != nil {
			return err
		}
		_, err = e.st.Txn(ctx, []store.Cond{{Key: t.key, ModRev: kv.ModRev}}, []store.Op{store.Put(t.key, raw)})
		return err
	})
}

// TagResource adds or overwrites tags.
func (e *ECS) TagResource(ctx context.Context, in *ecsapi.TagResourceRequest) (*ecsapi.TagResourceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	err := e.changeTags(ctx, in.ResourceArn, func(have []ecsapi.Tag) ([]ecsapi.Tag, error) {
		out := slices.Clone(have)
		for _, t := range in.Tags {
			i := slices.IndexFunc(out, func(o ecsapi.Tag) bool { return ecsapi.Value(o.Key) == ecsapi.Value(t.Key) })
			if i >= 0 {
				out[i] = t
			} else {
				out = append(out, t)
			}
		}
		return out, validateTags(out)
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.TagResourceResponse{}, nil
}

// UntagResource removes tags by key; absent keys are ignored.
func (e *ECS) UntagResource(ctx context.Context, in *ecsapi.UntagResourceRequest) (*ecsapi.UntagResourceResponse, error) {
	err := e.changeTags(ctx, in.ResourceArn, func(have []ecsapi.Tag) ([]ecsapi.Tag, error) {
		return slices.DeleteFunc(slices.Clone(have), func(t ecsapi.Tag) bool { return slices.Contains(in.TagKeys, ecsapi.Value(t.Key)) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UntagResourceResponse{}, nil
}

// ListTagsForResource returns a resource's tags.
func (e *ECS) ListTagsForResource(ctx context.Context, in *ecsapi.ListTagsForResourceRequest) (*ecsapi.ListTagsForResourceResponse, error) {
	t, err := e.taggableOf(in.ResourceArn)
	if err != nil {
		return nil, err
	}
	kv, err := e.st.Get(ctx, t.key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoResource
	}
	if err != nil {
		return nil, err
	}
	tags, err := t.tags(kv.Value)
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListTagsForResourceResponse{Tags: nonNil(tags)}, nil
}
