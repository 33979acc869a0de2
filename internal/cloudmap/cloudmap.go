// Package cloudmap implements AWS Cloud Map (servicediscovery) on the berth
// store: namespaces, services, instances and the operations that record
// their changes, served over the same AWS JSON 1.1 endpoint as ECS.
//
// berth's namespaces are private: private DNS and HTTP namespaces are
// served, public DNS namespaces are refused. Every asynchronous operation of
// Cloud Map completes before its request returns, so GetOperation always
// reports SUCCESS.
//
// Besides the API, the package has a small Go interface for the rest of
// berth: Resolve for the DNS server, Register and Deregister for the ECS
// controller.
//
// Store layout (JSON values):
//
//	/cloudmap/namespaces/<ns-id>               namespace record
//	/cloudmap/namespace-names/<name>           ns-id (names are unique)
//	/cloudmap/services/<srv-id>                service record
//	/cloudmap/service-names/<ns-id>/<name>     srv-id (unique per namespace)
//	/cloudmap/instances/<srv-id>/<instance-id> instance record
//	/cloudmap/operations/<operation-id>        operation
//	/cloudmap/requests/<kind>/<creator-id>     earlier request with that CreatorRequestId
package cloudmap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
	"github.com/berth-dev/berth/internal/cloudmapapi"
	"github.com/berth-dev/berth/internal/store"
)

const (
	prefix             = "/cloudmap/"
	namespacesPrefix   = prefix + "namespaces/"
	namespaceNames     = prefix + "namespace-names/"
	servicesPrefix     = prefix + "services/"
	serviceNamesPrefix = prefix + "service-names/"
	instancesPrefix    = prefix + "instances/"
	operationsPrefix   = prefix + "operations/"
	requestsPrefix     = prefix + "requests/"

	maxTxnAttempts = 50
	maxTags        = 50
)

func namespaceKey(id string) string          { return namespacesPrefix + id }
func namespaceNameKey(name string) string    { return namespaceNames + name }
func serviceKey(id string) string            { return servicesPrefix + id }
func serviceNamesOf(nsID string) string      { return serviceNamesPrefix + nsID + "/" }
func serviceNameKey(nsID, n string) string   { return serviceNamesOf(nsID) + strings.ToLower(n) }
func instancesOf(srvID string) string        { return instancesPrefix + srvID + "/" }
func instanceKey(srvID, id string) string    { return instancesOf(srvID) + id }
func operationKey(id string) string          { return operationsPrefix + id }
func requestKey(kind, creator string) string { return requestsPrefix + kind + "/" + creator }

// Config configures a CloudMap.
type Config struct {
	Region    string
	AccountID string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// CloudMap serves the Cloud Map API on a store.
type CloudMap struct {
	cloudmapapi.Unimplemented
	st  store.Store
	cfg Config
}

// New returns a CloudMap on st.
func New(st store.Store, cfg Config) *CloudMap {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CloudMap{st: st, cfg: cfg}
}

// Service returns the awsjson service that dispatches Cloud Map requests to c.
func (c *CloudMap) Service() awsjson.Service {
	return awsjson.Service{
		TargetPrefix: cloudmapapi.TargetPrefix,
		Name:         "AWS Cloud Map",
		Dispatch: func(ctx context.Context, op string, body []byte) (any, error) {
			return cloudmapapi.Dispatch(ctx, c, op, body)
		},
	}
}

func (c *CloudMap) now() *cloudmapapi.Timestamp { return cloudmapapi.Time(c.cfg.Now()) }

func (c *CloudMap) namespaceARN(id string) string {
	return "arn:aws:servicediscovery:" + c.cfg.Region + ":" + c.cfg.AccountID + ":namespace/" + id
}

func (c *CloudMap) serviceARN(id string) string {
	return "arn:aws:servicediscovery:" + c.cfg.Region + ":" + c.cfg.AccountID + ":service/" + id
}

// Errors.

func invalidInput(format string, args ...any) error {
	return cloudmapapi.Errorf(cloudmapapi.CodeInvalidInput, format, args...)
}

func namespaceNotFound(id string) error {
	return cloudmapapi.Errorf(cloudmapapi.CodeNamespaceNotFound, "Namespace not found: %s", id)
}

func serviceNotFound(id string) error {
	return cloudmapapi.Errorf(cloudmapapi.CodeServiceNotFound, "Service not found: %s", id)
}

func instanceNotFound(srv, id string) error {
	return cloudmapapi.Errorf(cloudmapapi.CodeInstanceNotFound, "Instance %s not found in service %s", id, srv)
}

// Ids.

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// randomID returns n random lowercase alphanumerics.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%36]
	}
	return string(b)
}

func newNamespaceID() string { return "ns-" + randomID(16) }
func newServiceID() string   { return "srv-" + randomID(16) }

// newOperationID returns an id shaped like Cloud Map's: 32 lowercase
// alphanumerics, a dash and 8 more.
func newOperationID() string { return randomID(32) + "-" + randomID(8) }

// Store helpers.

// retry runs attempt again while it loses compare-and-swap races.
func retry(ctx context.Context, attempt func() error) error {
	for i := 0; ; i++ {
		err := attempt()
		if !errors.Is(err, store.ErrConflict) || i == maxTxnAttempts {
			return err
		}
		if i >= 2 {
			pause := time.Duration(mrand.Int64N(int64(time.Millisecond) << min(i-2, 5)))
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

func (c *CloudMap) getJSON(ctx context.Context, key string, v any) (int64, error) {
	kv, err := c.st.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return kv.ModRev, nil
}

func jsonUnmarshal(kv store.KV, v any) error {
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cloudmap: encode %T: %v", v, err))
	}
	return b
}

// count returns the number of keys under prefix.
func (c *CloudMap) count(ctx context.Context, prefix string) (int32, error) {
	kvs, _, err := c.st.List(ctx, prefix, store.ListOptions{KeysOnly: true})
	return int32(len(kvs)), err
}

// Operations: every change completes at once and is recorded as a
// successful operation.

func (c *CloudMap) newOperation(typ cloudmapapi.OperationType, targets map[string]string) (cloudmapapi.Operation, store.Op) {
	now := c.now()
	op := cloudmapapi.Operation{
		Id:         cloudmapapi.Ptr(newOperationID()),
		Type:       cloudmapapi.Ptr(typ),
		Status:     cloudmapapi.Ptr(cloudmapapi.OperationStatusSUCCESS),
		CreateDate: now,
		UpdateDate: now,
		Targets:    targets,
	}
	return op, store.Put(operationKey(*op.Id), mustJSON(op))
}

// Creator request ids: a repeated CreatorRequestId with the same parameters
// answers the first request's result; with other parameters it is a
// DuplicateRequest.

type request struct {
	Params string `json:"params"` // digest of the request
	Result string `json:"result"` // operation or service id
}

func digest(v any) string {
	sum := sha256.Sum256(mustJSON(v))
	return hex.EncodeToString(sum[:])
}

// previous looks up an earlier request of kind with the same creator id. It
// returns its result, or "" when there is none, and the key's revision for
// the write's condition.
func (c *CloudMap) previous(ctx context.Context, kind string, creator *string, params any) (string, int64, error) {
	if creator == nil || *creator == "" {
		return "", 0, nil
	}
	var r request
	rev, err := c.getJSON(ctx, requestKey(kind, *creator), &r)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", 0, nil
	case err != nil:
		return "", 0, err
	case r.Params != digest(params):
		return "", 0, cloudmapapi.Errorf(cloudmapapi.CodeDuplicateRequest, "The request with CreatorRequestId %s was already made with different parameters (operation %s).", *creator, r.Result)
	}
	return r.Result, rev, nil
}

// remember returns the condition and write that record a request's result
// under its creator id (none without one).
func remember(kind string, creator *string, params any, result string) ([]store.Cond, []store.Op) {
	if creator == nil || *creator == "" {
		return nil, nil
	}
	key := requestKey(kind, *creator)
	return []store.Cond{{Key: key}}, []store.Op{store.Put(key, mustJSON(request{Params: digest(params), Result: result}))}
}

// Paging: a NextToken is the last key returned.

func pageSize(n int32, def int) (int, error) {
	if n < 0 {
		return 0, invalidInput("MaxResults must be positive.")
	}
	if n == 0 {
		return def, nil
	}
	return int(n), nil
}

func decodeToken(tok *string) (string, error) {
	if tok == nil || *tok == "" {
		return "", nil
	}
	b, err := hex.DecodeString(*tok)
	if err != nil {
		return "", invalidInput("The NextToken %q is invalid.", *tok)
	}
	return string(b), nil
}

func encodeToken(key string) *string {
	return cloudmapapi.Ptr(hex.EncodeToString([]byte(key)))
}

// Tags.

func validateTags(tags []cloudmapapi.Tag) error {
	if len(tags) > maxTags {
		return cloudmapapi.Errorf(cloudmapapi.CodeTooManyTagsException, "A resource can have at most %d tags.", maxTags)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidInput("Tag keys beginning with aws: are reserved.")
		}
		if seen[t.Key] {
			return invalidInput("Duplicate tag key %s.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func mergeTags(have, add []cloudmapapi.Tag) []cloudmapapi.Tag {
	out := append([]cloudmapapi.Tag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value = t.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}
