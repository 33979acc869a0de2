package api

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// pageRequest is a decoded nextToken/maxResults pair.
type pageRequest struct {
	after string // list strictly after (before, when reverse) this key
	limit int
}

// parsePage decodes a list call's paging parameters. Tokens are the last key
// returned, opaque to clients; prefix guards against a token of another list.
func parsePage(nextToken *string, maxResults *int32, prefix string, def, max int) (pageRequest, error) {
	p := pageRequest{limit: def}
	if maxResults != nil {
		n := int(*maxResults)
		if n < 1 || n > max {
			return p, invalidParam("maxResults must be between 1 and %d.", max)
		}
		p.limit = n
	}
	if tok := ecsapi.Value(nextToken); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return p, invalidParam("The nextToken is invalid; pass the nextToken returned by the previous call unchanged.")
		}
		p.after = string(raw)
	}
	return p, nil
}

func pageToken(lastKey string) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte(lastKey))
	return &t
}

// scan lists keys under prefix from p, keeping those keep accepts, until
// p.limit are kept. It returns the kept entries and the token of the next
// page (nil at the end).
func (e *ECS) scan(ctx context.Context, prefix string, p pageRequest, reverse, keysOnly bool, keep func(store.KV) bool) ([]store.KV, *string, error) {
	var out []store.KV
	after := p.after
	batch := p.limit + 1
	if batch < 64 {
		batch = 64
	}
	for {
		kvs, _, err := e.st.List(ctx, prefix, store.ListOptions{After: after, Limit: batch, Reverse: reverse, KeysOnly: keysOnly})
		if err != nil {
			return nil, nil, err
		}
		for _, kv := range kvs {
			if keep != nil && !keep(kv) {
				continue
			}
			if len(out) == p.limit {
				// One more match exists: the page is full and continues
				// after the last kept key.
				return out, pageToken(out[len(out)-1].Key), nil
			}
			out = append(out, kv)
		}
		if len(kvs) < batch {
			return out, nil, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}
