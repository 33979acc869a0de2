package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/awsjson"
)

func TestTimestampWire(t *testing.T) {
	ts := Time(time.Unix(1700000000, 123456789))
	b, err := json.Marshal(ts)
	if err != nil || string(b) != "1700000000.123" {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var back Timestamp
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(ts.Time) {
		t.Fatalf("unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"2024-01-02T03:04:05Z"`), &back); err != nil || back.Unix() != 1704164645 {
		t.Fatalf("RFC 3339 = %v, %v", back, err)
	}
	for _, bad := range []string{`"yesterday"`, `true`, `1e999`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// recorder implements API by embedding Unimplemented and capturing the one
// operation under test.
type recorder struct {
	Unimplemented
	got *RegisterTaskDefinitionRequest
}

func (r *recorder) RegisterTaskDefinition(_ context.Context, in *RegisterTaskDefinitionRequest) (*RegisterTaskDefinitionResponse, error) {
	r.got = in
	return &RegisterTaskDefinitionResponse{}, nil
}

func code(err error) string {
	var e *awsjson.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name, op, body, code, contains string
	}{
		{name: "ok", op: OpRegisterTaskDefinition, body: `{"family":"web","containerDefinitions":[{"name":"a","cpu":10}]}`},
		{name: "empty body is an empty object", op: OpListClusters, body: ``, code: CodeClientException, contains: "ListClusters"},
		{name: "unknown op", op: "Nope", body: `{}`, code: awsjson.CodeUnknownOperation},
		{name: "syntax", op: OpRegisterTaskDefinition, body: `{"family":`, code: awsjson.CodeSerialization},
		{name: "trailing data", op: OpRegisterTaskDefinition, body: `{} {}`, code: awsjson.CodeSerialization},
		{name: "type", op: OpRegisterTaskDefinition, body: `{"family":7}`, code: awsjson.CodeSerialization, contains: "family"},
		{name: "required", op: OpRegisterTaskDefinition, body: `{}`, code: CodeInvalidParameterException, contains: "2 validation errors"},
		{name: "enum in list", op: OpRegisterTaskDefinition, body: `{"family":"f","containerDefinitions":[],"requiresCompatibilities":["EC2","MOON"]}`, code: CodeInvalidParameterException, contains: "requiresCompatibilities.2.member"},
		{name: "nested length", op: OpRegisterTaskDefinition, body: `{"family":"f","containerDefinitions":[],"tags":[{"key":""}]}`, code: CodeInvalidParameterException, contains: "tags.1.member.key"},
		{name: "range", op: OpCreateCluster, body: `{"defaultCapacityProviderStrategy":[{"capacityProvider":"x","weight":1001}]}`, code: CodeInvalidParameterException, contains: "less than or equal to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			_, err := Dispatch(context.Background(), r, tt.op, []byte(tt.body))
			if code(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if err != nil && !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("message %q does not mention %q", err, tt.contains)
			}
		})
	}
}

func TestEveryOperationDispatches(t *testing.T) {
	if n := len(Operations()); n != 77 {
		t.Fatalf("%d operations, want the model's 77", n)
	}
	for _, op := range Operations() {
		_, err := Dispatch(context.Background(), Unimplemented{}, op, []byte(`{}`))
		if c := code(err); c != CodeClientException && c != CodeInvalidParameterException {
			t.Errorf("%s: %v", op, err)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the decoder and validator of every
// operation: nothing panics, every rejection carries an AWS error code, and
// what they accept re-encodes and decodes to the same JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"family":"web","containerDefinitions":[{"name":"a","image":"b","memory":5,"portMappings":[{"containerPort":80}]}]}`, `{"clusters":["a"],"include":["TAGS"]}`, `{"tags":[{"key":"k","value":"v"}]}`, `{"registeredAt":1.5}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for op, mk := range newInput {
			in := mk()
			err := decode([]byte(body), in)
			if err == nil {
				err = check(in)
			}
			if err != nil {
				if code(err) == "" {
					t.Fatalf("%s: error without a code: %v", op, err)
				}
				continue
			}
			once, err := json.Marshal(in)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", op, err)
			}
			again := mk()
			if err := decode(once, again); err != nil {
				t.Fatalf("%s: decode of own encoding %s: %v", op, once, err)
			}
			twice, _ := json.Marshal(again)
			if string(once) != string(twice) {
				t.Fatalf("%s: unstable encoding:\n%s\n%s", op, once, twice)
			}
		}
	})
}
