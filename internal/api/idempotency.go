package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Client tokens (clientToken on RunTask, CreateService, …) make a create
// call idempotent, per cluster, as in ECS: the same token with the same
// parameters returns the first call's result; the same token with other
// parameters is a ConflictException. The token record is written in the
// same transaction as the call's effect, so a crash never leaves one
// without the other.
//
//	/idem/<cluster>/<operation>/<token>   tokenRecord

// tokenTTL is how long a token is remembered.
const tokenTTL = 8 * time.Hour

type tokenRecord struct {
	ParamsHash string          `json:"paramsHash"`
	Result     json.RawMessage `json:"result"`
	CreatedAt  time.Time       `json:"createdAt"`
}

func tokenKey(cluster, op, token string) string { return "/idem/" + cluster + "/" + op + "/" + token }

// paramsHash hashes a request with its clientToken member cleared by the
// caller.
func paramsHash(params any) string {
	sum := sha256.Sum256(mustJSON(params))
	return hex.EncodeToString(sum[:])
}

// tokenCall is one use of a client token: where its record lives and the
// hash of the call's parameters.
type tokenCall struct {
	key  string
	hash string
	// modRev is the revision of the record the lookup saw (an expired one),
	// 0 when there was none: the commit is conditional on it still being so.
	modRev int64
}

// lookupToken reports a previous use of token: the stored result when it was
// used with the same parameters, a ConflictException when with others, and
// a nil result when it is new (or expired).
func (e *ECS) lookupToken(ctx context.Context, cluster, op, token string, params any) (tokenCall, json.RawMessage, error) {
	call := tokenCall{key: tokenKey(cluster, op, token), hash: paramsHash(params)}
	var rec tokenRecord
	modRev, err := e.getJSON(ctx, call.key, &rec)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return call, nil, nil
	case err != nil:
		return call, nil, err
	case e.now().Sub(rec.CreatedAt) > tokenTTL:
		call.modRev = modRev
		return call, nil, nil
	case rec.ParamsHash != call.hash:
		return call, nil, ecsapi.Errorf(ecsapi.CodeConflictException, "The clientToken %q was already used with different parameters.", token)
	}
	return call, rec.Result, nil
}

// commitWithToken writes ops together with the token record holding result. It
// fails with store.ErrConflict if another call with the token won the race
// (or conds fail); the caller retries, and its lookup then finds the winner.
func (e *ECS) commitWithToken(ctx context.Context, call tokenCall, result any, conds []store.Cond, ops []store.Op) error {
	rec := tokenRecord{ParamsHash: call.hash, Result: mustJSON(result), CreatedAt: e.now().UTC()}
	// Conditional on what the lookup saw: absent, or the expired record
	// being replaced. A record written since means another call won.
	conds = append(conds, store.Cond{Key: call.key, ModRev: call.modRev})
	_, err := e.st.Txn(ctx, conds, append(ops, store.Put(call.key, mustJSON(rec))))
	return err
}
