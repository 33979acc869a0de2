// Package api implements the Amazon ECS operations on top of the store: it
// turns validated ecsapi requests into store transactions and store records
// into ecsapi responses. The wire protocol is awsjson's; the types and the
// model's own validation are ecsapi's; the semantics (ECS's defaults, error
// types and messages) are here, one file per resource.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/arn"
	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/ecsapi"
	"github.com/berth-dev/berth/internal/store"
)

// Config is what the ECS API needs to know about the deployment.
type Config struct {
	Region    string
	AccountID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// ECS serves the ECS API. Operations not implemented yet fall through to
// ecsapi.Unimplemented, which names them in a ClientException.
type ECS struct {
	ecsapi.Unimplemented
	st    store.Store
	names arn.Namer
	now   func() time.Time
	log   *slog.Logger
	locks stripes
	reg   registrar
	// endpoint is the base URL agents reach this server at.
	endpoint endpointURL
	// tasks caches decoded tasks for the read calls.
	tasks taskCache
	// instances caches decoded container instances and their placement
	// views for the scheduler.
	instances revCache[cachedInstance]
	// disconnected tracks agents the service controller saw disconnected.
	disconnected disconnects
	// svcRecs caches decoded service records for the controller.
	svcRecs revCache[serviceRecord]
	// healthChecks remembers, by task definition ARN, whether an essential
	// container has a health check.
	healthChecks sync.Map
	// netModes remembers task definitions' network modes by ARN.
	netModes sync.Map
	// registry receives services' serviceRegistries (Cloud Map).
	registry ServiceRegistry
	// lbs receives services' loadBalancers (ELBv2 target groups).
	lbs LoadBalancers
}

var _ ecsapi.API = (*ECS)(nil)

// New returns the ECS API backed by st.
func New(st store.Store, cfg Config) *ECS {
	e := &ECS{st: st, names: arn.Namer{Region: cfg.Region, Account: cfg.AccountID}, now: cfg.Now, log: cfg.Log}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e
}

// Service returns the awsjson registration of the ECS API.
func (e *ECS) Service() awsjson.Service {
	return awsjson.Service{
		TargetPrefix: ecsapi.TargetPrefix,
		Name:         "Amazon ECS",
		Dispatch: func(ctx context.Context, op string, body []byte) (any, error) {
			return ecsapi.Dispatch(ctx, e, op, body)
		},
	}
}

// stripes serialises this process's writers of one record (a task
// definition family's status changes) so they queue instead of failing
// compare-and-swap against each other and retrying. CAS still guards every write: the locks
// only remove contention, they are not needed for correctness.
type stripes [256]sync.Mutex

func (s *stripes) lock(key string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &s[h.Sum32()%uint32(len(s))]
	m.Lock()
	return m.Unlock
}

// maxTxnAttempts bounds optimistic-concurrency retries of one operation.
const maxTxnAttempts = 64

// errRetry tells update loops that a compare-and-swap lost a race.
var errRetry = store.ErrConflict

// retry runs attempt until it does not fail with store.ErrConflict.
func retry(ctx context.Context, attempt func() error) error {
	for i := 0; ; i++ {
		err := attempt()
		if !errors.Is(err, store.ErrConflict) || i == maxTxnAttempts {
			return err
		}
		if i >= 2 {
			// Under contention, a random pause (growing to 32 ms) spreads
			// the writers out instead of letting them collide again.
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

func (e *ECS) getJSON(ctx context.Context, key string, v any) (int64, error) {
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

func (e *ECS) callerARN(ctx context.Context) string {
	return e.names.Root()
}

func invalidParam(format string, args ...any) error {
	return ecsapi.Errorf(ecsapi.CodeInvalidParameterException, format, args...)
}

func clientErr(format string, args ...any) error {
	return ecsapi.Errorf(ecsapi.CodeClientException, format, args...)
}
