package cloudmapapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/awsjson"
)

// Timestamp is an instant on the wire as AWS JSON sends it: epoch seconds as
// a JSON number with millisecond precision.
type Timestamp struct{ time.Time }

// Time returns a pointer to a Timestamp of t, truncated to milliseconds.
func Time(t time.Time) *Timestamp { return &Timestamp{t.Truncate(time.Millisecond)} }

// MarshalJSON writes epoch seconds.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON accepts epoch seconds (a number) or an RFC 3339 string.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", s, err)
		}
		t.Time = p
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
	return nil
}

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }

// Value returns *p, or the zero value when p is nil.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// Errorf returns a Cloud Map error with the given code (one of the Code
// constants); every Cloud Map exception is a client error (HTTP 400).
func Errorf(code, format string, args ...any) *awsjson.Error {
	e := awsjson.Errorf(code, format, args...)
	e.Fault = faults[code]
	return e
}

// Dispatch decodes body as the input of operation op, validates it against
// the model and calls the matching method of s.
func Dispatch(ctx context.Context, s API, op string, body []byte) (any, error) {
	fn, ok := operations[op]
	if !ok {
		return nil, awsjson.Errorf(awsjson.CodeUnknownOperation, "Operation %s is not an operation of AWS Cloud Map.", op)
	}
	return fn(ctx, s, body)
}

// HasOperation reports whether op is an operation of the model.
func HasOperation(op string) bool { _, ok := operations[op]; return ok }

// Operations returns the names of every operation of the model.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for n := range operations {
		names = append(names, n)
	}
	return names
}

func unimplemented(op string) error {
	return Errorf(CodeInvalidInput, "berth does not implement %s yet.", op)
}

// decode parses a JSON request body into in. An empty body is an empty
// object. Syntax and type errors are SerializationExceptions.
func decode(body []byte, in any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return awsjson.Errorf(awsjson.CodeSerialization, "Cannot deserialize the request: expected %s at '%s', got a JSON %s.", te.Type, te.Field, te.Value)
		}
		return awsjson.Errorf(awsjson.CodeSerialization, "The request body is not valid JSON: %v.", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return awsjson.Errorf(awsjson.CodeSerialization, "The request body has data after the JSON object.")
	}
	return nil
}

type validatable interface{ validate(v *validator, p *path) }

// check validates in against the model's constraints and returns an
// InvalidInput error listing every violation.
func check(in validatable) error {
	var v validator
	in.validate(&v, nil)
	if len(v.errs) == 0 {
		return nil
	}
	n := len(v.errs)
	noun := "error"
	if n > 1 {
		noun = "errors"
	}
	return Errorf(CodeInvalidInput, "%d validation %s detected: %s", n, noun, strings.Join(v.errs, "; "))
}

// path names a value inside a request, built lazily: its string is made
// only when a violation is reported. A list element has index > 0 (1-based);
// a map value has the key as name.
type path struct {
	parent *path
	name   string
	index  int
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	prefix := p.parent.String()
	if p.index > 0 {
		return prefix + "." + strconv.Itoa(p.index) + ".member"
	}
	if prefix == "" {
		return p.name
	}
	return prefix + "." + p.name
}

// validator collects constraint violations in the style of AWS's own
// validation messages.
type validator struct{ errs []string }

func (v *validator) add(format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf(format, args...))
}

func (v *validator) missing(p *path) {
	v.add("Value null at '%s' failed to satisfy constraint: Member must not be null", p)
}

func (v *validator) enum(p *path, value string, values []string) {
	if slices.Contains(values, value) {
		return
	}
	v.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", value, p, strings.Join(values, ", "))
}

func (v *validator) length(p *path, s string, min, max int64) {
	n := int64(utf8.RuneCountInString(s))
	if n < min {
		v.add("Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", p, min)
	}
	if max >= 0 && n > max {
		v.add("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", p, max)
	}
}

func (v *validator) size(p *path, n int, min, max int64) {
	if int64(n) < min {
		v.add("Value at '%s' failed to satisfy constraint: Member must have at least %d elements", p, min)
	}
	if max >= 0 && int64(n) > max {
		v.add("Value at '%s' failed to satisfy constraint: Member must have at most %d elements", p, max)
	}
}

func (v *validator) rangeCheck(p *path, n, min, max int64) {
	if n < min {
		v.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", n, p, min)
	}
	if n > max {
		v.add("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", n, p, max)
	}
}

func (v *validator) pattern(p *path, value string, re *regexp.Regexp) {
	if !re.MatchString(value) {
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", value, p, strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$"))
	}
}

// Check validates a request against the model's constraints, as Dispatch
// does before calling the API, for callers that build requests in Go.
func Check(in validatable) error { return check(in) }
