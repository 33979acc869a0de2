// Package awsjson serves AWS JSON 1.0/1.1 protocol APIs over HTTP: POST /
// with an X-Amz-Target header naming the operation, a JSON body, SigV4
// authentication, and errors as {"__type", "message"} with the
// X-Amzn-Errortype header. It knows nothing about any particular service:
// services register a target prefix and a dispatch function.
package awsjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// DefaultMaxBody caps request bodies when Server.MaxBody is zero.
const DefaultMaxBody = 1 << 20

// Dispatcher runs one operation of a service on a raw JSON body and returns
// the response value to encode.
type Dispatcher func(ctx context.Context, op string, body []byte) (any, error)

// Service is one AWS JSON API served by a Server.
type Service struct {
	// TargetPrefix is the part of X-Amz-Target before the dot.
	TargetPrefix string
	// Name is the service's name in error messages ("Amazon ECS").
	Name     string
	Dispatch Dispatcher
}

// Authenticator verifies a request's signature. A non-nil error is sent to
// the client; an *Error keeps its code, anything else is an auth failure.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte) (Caller, error)
}

// Caller is who signed a request.
type Caller struct {
	AccessKeyID string
	Region      string
	Service     string
}

type ctxKey int

const (
	callerKey ctxKey = iota
	requestIDKey
)

// CallerFrom returns the authenticated caller of the request ctx belongs to.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey).(Caller)
	return c, ok
}

// RequestIDFrom returns the x-amzn-RequestId of the request ctx belongs to.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Server is an http.Handler for one or more AWS JSON services.
type Server struct {
	Services []Service
	Auth     Authenticator // nil: no authentication
	MaxBody  int64         // 0: DefaultMaxBody
	Log      *slog.Logger  // nil: slog.Default()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("X-Amzn-Requestid", reqID)
	ctx := context.WithValue(r.Context(), requestIDKey, reqID)

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)

	out, op, err := s.handle(ctx, r, buf)
	if err != nil {
		s.writeError(w, op, reqID, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		s.writeError(w, op, reqID, fmt.Errorf("encode %s response: %w", op, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (s *Server) handle(ctx context.Context, r *http.Request, buf *bytes.Buffer) (out any, op string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", op, p)
		}
	}()
	target := r.Header.Get("X-Amz-Target")
	prefix, op, _ := strings.Cut(target, ".")
	if r.Method != http.MethodPost {
		return nil, op, &Error{Code: CodeUnknownOperation, Message: "Only POST requests are served here; send AWS JSON requests with an X-Amz-Target header.", Status: http.StatusMethodNotAllowed}
	}
	limit := s.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, op, Errorf(CodeSerialization, "Could not read the request body: %v.", err)
	}
	if n > limit {
		return nil, op, &Error{Code: CodeRequestTooLarge, Message: fmt.Sprintf("The request body is larger than the %d bytes this server accepts.", limit), Status: http.StatusRequestEntityTooLarge}
	}
	body := buf.Bytes()
	if s.Auth != nil {
		caller, err := s.Auth.Authenticate(r, body)
		if err != nil {
			return nil, op, err
		}
		ctx = context.WithValue(ctx, callerKey, caller)
	}
	svc := s.service(prefix)
	if svc == nil || op == "" {
		if target == "" {
			return nil, op, Errorf(CodeUnknownOperation, "The request has no X-Amz-Target header naming the operation.")
		}
		return nil, op, Errorf(CodeUnknownOperation, "The target %q names no operation served here.", target)
	}
	out, err = svc.Dispatch(ctx, op, body)
	if err == nil && out == nil {
		out = struct{}{}
	}
	return out, op, err
}

func (s *Server) service(prefix string) *Service {
	for i := range s.Services {
		if s.Services[i].TargetPrefix == prefix {
			return &s.Services[i]
		}
	}
	return nil
}

func (s *Server) writeError(w http.ResponseWriter, op, reqID string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.logger().Error("internal error", "op", op, "request_id", reqID, "err", err)
		e = &Error{Code: "ServerException", Message: "The server could not complete the request (request id " + reqID + "); see the server log.", Fault: true}
	} else if e.Fault {
		s.logger().Error("server fault", "op", op, "request_id", reqID, "code", e.Code, "message", e.Message)
	}
	data, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-Errortype", e.Code)
	h.Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(data)
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// newRequestID returns a random UUID (version 4) as AWS request ids look.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
