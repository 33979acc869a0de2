package cloudmap

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store"
)

// GetOperation returns a recorded operation. berth completes every
// operation before answering the request that started it, so its status is
// always SUCCESS.
func (c *CloudMap) GetOperation(ctx context.Context, in *cloudmapapi.GetOperationRequest) (*cloudmapapi.GetOperationResponse, error) {
	var op cloudmapapi.Operation
	if in.OperationId == "" || strings.Contains(in.OperationId, "/") {
		return nil, cloudmapapi.Errorf(cloudmapapi.CodeOperationNotFound, "No operation found with ID %s.", in.OperationId)
	}
	if _, err := c.getJSON(ctx, operationKey(in.OperationId), &op); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, cloudmapapi.Errorf(cloudmapapi.CodeOperationNotFound, "No operation found with ID %s.", in.OperationId)
		}
		return nil, err
	}
	op.OwnerAccount = cloudmapapi.Ptr(c.cfg.AccountID)
	return &cloudmapapi.GetOperationResponse{Operation: &op}, nil
}

// ListOperations lists recorded operations, filtered by status, type,
// namespace or service.
func (c *CloudMap) ListOperations(ctx context.Context, in *cloudmapapi.ListOperationsRequest) (*cloudmapapi.ListOperationsResponse, error) {
	limit, err := pageSize(cloudmapapi.Value(in.MaxResults), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	kvs, _, err := c.st.List(ctx, operationsPrefix, store.ListOptions{After: after})
	if err != nil {
		return nil, err
	}
	out := &cloudmapapi.ListOperationsResponse{Operations: []cloudmapapi.OperationSummary{}}
	for _, kv := range kvs {
		var op cloudmapapi.Operation
		if err := jsonUnmarshal(kv, &op); err != nil {
			return nil, err
		}
		ok := true
		for _, f := range in.Filters {
			var value string
			switch f.Name {
			case cloudmapapi.OperationFilterNameSTATUS:
				value = string(cloudmapapi.Value(op.Status))
			case cloudmapapi.OperationFilterNameTYPE:
				value = string(cloudmapapi.Value(op.Type))
			case cloudmapapi.OperationFilterNameNAMESPACEID:
				value = op.Targets[string(cloudmapapi.OperationTargetTypeNAMESPACE)]
			case cloudmapapi.OperationFilterNameSERVICEID:
				value = op.Targets[string(cloudmapapi.OperationTargetTypeSERVICE)]
			case cloudmapapi.OperationFilterNameUPDATEDATE:
				if len(f.Values) != 2 {
					return nil, invalidInput("The UPDATE_DATE filter takes two values: the start and end of the range.")
				}
				continue // every operation is recent; the range is not applied
			}
			cond := cloudmapapi.Value(f.Condition)
			if cond == "" {
				cond = cloudmapapi.FilterConditionEQ
			}
			m, err := filterMatch(string(f.Name), cond, f.Values, value)
			if err != nil {
				return nil, err
			}
			ok = ok && m
		}
		if !ok {
			continue
		}
		if len(out.Operations) == limit {
			out.NextToken = encodeToken(after)
			break
		}
		out.Operations = append(out.Operations, cloudmapapi.OperationSummary{Id: op.Id, Status: op.Status})
		after = kv.Key
	}
	return out, nil
}

// Tags.

// taggable resolves a resource ARN to its store key.
func (c *CloudMap) taggable(arn string) (string, error) {
	notFound := cloudmapapi.Errorf(cloudmapapi.CodeResourceNotFoundException, "The resource %s was not found.", arn)
	base := "arn:aws:servicediscovery:" + c.cfg.Region + ":" + c.cfg.AccountID + ":"
	rest, ok := strings.CutPrefix(arn, base)
	if !ok {
		return "", notFound
	}
	kind, id, _ := strings.Cut(rest, "/")
	if id == "" || strings.Contains(id, "/") {
		return "", notFound
	}
	switch kind {
	case "namespace":
		return namespaceKey(id), nil
	case "service":
		return serviceKey(id), nil
	}
	return "", notFound
}

// changeTags applies change to the tags of the resource at arn.
func (c *CloudMap) changeTags(ctx context.Context, arn string, change func([]cloudmapapi.Tag) ([]cloudmapapi.Tag, error)) ([]cloudmapapi.Tag, error) {
	key, err := c.taggable(arn)
	if err != nil {
		return nil, err
	}
	var tags []cloudmapapi.Tag
	err = retry(ctx, func() error {
		kv, err := c.st.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return cloudmapapi.Errorf(cloudmapapi.CodeResourceNotFoundException, "The resource %s was not found.", arn)
		}
		if err != nil {
			return err
		}
		var value []byte
		if strings.HasPrefix(key, namespacesPrefix) {
			var rec namespaceRecord
			if err := jsonUnmarshal(kv, &rec); err != nil {
				return err
			}
			if rec.Tags, err = change(rec.Tags); err != nil {
				return err
			}
			tags, value = rec.Tags, mustJSON(rec)
		} else {
			var rec serviceRecord
			if err := jsonUnmarshal(kv, &rec); err != nil {
				return err
			}
			if rec.Tags, err = change(rec.Tags); err != nil {
				return err
			}
			tags, value = rec.Tags, mustJSON(rec)
		}
		_, err = c.st.Txn(ctx, []store.Cond{{Key: key, ModRev: kv.ModRev}}, []store.Op{store.Put(key, value)})
		return err
	})
	return tags, err
}

// TagResource adds or replaces tags of a namespace or service.
func (c *CloudMap) TagResource(ctx context.Context, in *cloudmapapi.TagResourceRequest) (*cloudmapapi.TagResourceResponse, error) {
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := c.changeTags(ctx, in.ResourceARN, func(have []cloudmapapi.Tag) ([]cloudmapapi.Tag, error) {
		tags := mergeTags(have, in.Tags)
		if len(tags) > maxTags {
			return nil, cloudmapapi.Errorf(cloudmapapi.CodeTooManyTagsException, "A resource can have at most %d tags.", maxTags)
		}
		return tags, nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.TagResourceResponse{}, nil
}

// UntagResource removes tags of a namespace or service.
func (c *CloudMap) UntagResource(ctx context.Context, in *cloudmapapi.UntagResourceRequest) (*cloudmapapi.UntagResourceResponse, error) {
	_, err := c.changeTags(ctx, in.ResourceARN, func(have []cloudmapapi.Tag) ([]cloudmapapi.Tag, error) {
		return slices.DeleteFunc(have, func(t cloudmapapi.Tag) bool { return slices.Contains(in.TagKeys, t.Key) }), nil
	})
	if err != nil {
		return nil, err
	}
	return &cloudmapapi.UntagResourceResponse{}, nil
}

// ListTagsForResource lists the tags of a namespace or service.
func (c *CloudMap) ListTagsForResource(ctx context.Context, in *cloudmapapi.ListTagsForResourceRequest) (*cloudmapapi.ListTagsForResourceResponse, error) {
	key, err := c.taggable(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	var rec struct {
		Tags []cloudmapapi.Tag `json:"tags"`
	}
	if _, err := c.getJSON(ctx, key, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, cloudmapapi.Errorf(cloudmapapi.CodeResourceNotFoundException, "The resource %s was not found.", in.ResourceARN)
		}
		return nil, err
	}
	if rec.Tags == nil {
		rec.Tags = []cloudmapapi.Tag{}
	}
	return &cloudmapapi.ListTagsForResourceResponse{Tags: rec.Tags}, nil
}
