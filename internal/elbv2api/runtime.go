package elbv2api

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/awsquery"
)

// Timestamp is an instant; the Query protocol writes it in ISO 8601.
type Timestamp = time.Time

type operation struct {
	result string // the result wrapper element
	call   func(ctx context.Context, s API, form url.Values) (any, error)
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

// Errorf returns an error with one of the service's codes (Code...
// constants) or a common Query-protocol code, with the model's HTTP status.
func Errorf(code, format string, args ...any) *awsquery.Error {
	return &awsquery.Error{Code: code, Message: fmt.Sprintf(format, args...), Status: errorStatus[code], Fault: receiver[code]}
}

// ValidationErrorf returns a ValidationError, as ELB answers requests that
// break a parameter rule.
func ValidationErrorf(format string, args ...any) *awsquery.Error {
	return Errorf(awsquery.CodeValidation, format, args...)
}

// Service returns the awsquery service serving s.
func Service(s API) awsquery.Service {
	return awsquery.Service{
		Version:   APIVersion,
		Namespace: XMLNamespace,
		Name:      "Elastic Load Balancing",
		HasAction: HasOperation,
		Dispatch: func(ctx context.Context, action string, form url.Values) (string, any, error) {
			op, ok := operations[action]
			if !ok {
				return "", nil, Errorf(awsquery.CodeInvalidAction, "Could not find operation %s for version %s.", action, APIVersion)
			}
			out, err := op.call(ctx, s, form)
			return op.result, out, err
		},
	}
}

// HasOperation reports whether op is an operation of the model.
func HasOperation(op string) bool { _, ok := operations[op]; return ok }

func unimplemented(op string) error {
	return Errorf(CodeOperationNotPermittedException, "berth does not implement %s yet.", op)
}

type validatable interface{ validate(v *validator, p *path) }

// check validates in against the model's constraints and returns a
// ValidationError listing every violation.
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
	return ValidationErrorf("%d validation %s detected: %s", n, noun, strings.Join(v.errs, "; "))
}

// path names a value inside a request, built only when a violation is
// reported. A list element has index > 0 (1-based); a map value has the key
// as name.
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
		return prefix + ".member." + strconv.Itoa(p.index)
	}
	if prefix == "" {
		return lowerFirst(p.name)
	}
	return prefix + "." + lowerFirst(p.name)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

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
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", s, p, min)
	}
	if max >= 0 && n > max {
		v.add("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", s, p, max)
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
