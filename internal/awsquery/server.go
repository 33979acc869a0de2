// Package awsquery serves AWS Query protocol APIs (Elastic Load Balancing,
// among others) over HTTP: POST / with a form-encoded body (or GET with a
// query string) whose Action and Version parameters name the operation,
// SigV4 authentication, and XML responses:
//
//	<ActionResponse xmlns="..."><ActionResult>...</ActionResult>
//	<ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></ActionResponse>
//
// and errors as <ErrorResponse><Error><Type>Sender</Type><Code>...
// It knows nothing about any particular service: services register their
// API version, XML namespace and a dispatch function. Request structs are
// filled from the form by Decode following their query struct tags (see
// internal/apigen -protocol query), results are encoded the same way.
package awsquery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/awsjson"
)

// Error is an AWS error on the wire: its Code, Message and HTTP status.
// Fault marks receiver (server) faults: <Type>Receiver</Type> and HTTP 500
// unless Status says otherwise. It is awsjson's error type, so errors of
// the shared authentication layer keep their codes here.
type Error = awsjson.Error

// Common error codes of the Query protocol.
const (
	CodeValidation       = "ValidationError"
	CodeInvalidAction    = "InvalidAction"
	CodeMissingAction    = "MissingAction"
	CodeInternalFailure  = "InternalFailure"
	CodeMalformedQuery   = "MalformedQueryString"
	CodeRequestTooLarge  = "RequestEntityTooLarge"
	CodeInvalidVersion   = "InvalidParameterValue"
	CodeMethodNotAllowed = "MethodNotAllowed"
)

// DefaultMaxBody caps request bodies when Server.MaxBody is zero.
const DefaultMaxBody = 1 << 20

func validationf(format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Message: fmt.Sprintf(format, args...)}
}

// Dispatcher runs one action on the request's form values. It returns the
// name of the result element (the operation's result wrapper; "" when the
// operation has no result) and the result struct to encode inside it.
type Dispatcher func(ctx context.Context, action string, form url.Values) (wrapper string, out any, err error)

// Service is one AWS Query API served by a Server.
type Service struct {
	// Version is the API version clients send as the Version parameter.
	Version string
	// Namespace is the xmlns of responses.
	Namespace string
	// Name is the service's name in error messages.
	Name string
	// HasAction reports whether the service has the action.
	HasAction func(action string) bool
	Dispatch  Dispatcher
}

// Server is an http.Handler for one or more AWS Query services.
type Server struct {
	Services []Service
	Auth     awsjson.Authenticator // nil: no authentication
	MaxBody  int64                 // 0: DefaultMaxBody
	Log      *slog.Logger          // nil: slog.Default()
}

type ctxKey int

const requestIDKey ctxKey = iota

// RequestIDFrom returns the request id of the request ctx belongs to.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// IsQueryRequest reports whether r looks like an AWS Query protocol
// request: no X-Amz-Target, and a form-encoded POST body or an Action in
// the URL's query string.
func IsQueryRequest(r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	if r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "application/x-www-form-urlencoded" {
			return true
		}
	}
	return r.URL.Query().Get("Action") != ""
}

// Route sends AWS Query requests to query and everything else to other.
func Route(query, other http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsQueryRequest(r) {
			query.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
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

	svc, action, wrapper, out, err := s.handle(ctx, r, buf)
	if err != nil {
		s.writeError(w, svc, action, reqID, err)
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header[:len(xml.Header)-1])
	fmt.Fprintf(&b, "<%sResponse xmlns=\"%s\">", action, escape(svc.Namespace))
	if wrapper != "" {
		open(&b, wrapper)
		if err := encodeXML(&b, out); err != nil {
			s.writeError(w, svc, action, reqID, fmt.Errorf("encode %s result: %w", action, err))
			return
		}
		closeTag(&b, wrapper)
	}
	b.WriteString("<ResponseMetadata><RequestId>" + reqID + "</RequestId></ResponseMetadata>")
	closeTag(&b, action+"Response")
	write(w, http.StatusOK, b.Bytes())
}

func (s *Server) handle(ctx context.Context, r *http.Request, buf *bytes.Buffer) (svc *Service, action, wrapper string, out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", action, p)
		}
	}()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, "", "", nil, &Error{Code: CodeMethodNotAllowed, Message: "Only POST and GET requests are served here.", Status: http.StatusMethodNotAllowed}
	}
	limit := s.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, "", "", nil, &Error{Code: CodeMalformedQuery, Message: fmt.Sprintf("Could not read the request body: %v.", err)}
	}
	if n > limit {
		return nil, "", "", nil, &Error{Code: CodeRequestTooLarge, Message: fmt.Sprintf("The request body is larger than the %d bytes this server accepts.", limit), Status: http.StatusRequestEntityTooLarge}
	}
	body := buf.Bytes()
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, "", "", nil, &Error{Code: CodeMalformedQuery, Message: fmt.Sprintf("The query string is malformed: %v.", err)}
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		bf, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, "", "", nil, &Error{Code: CodeMalformedQuery, Message: fmt.Sprintf("The form-encoded body is malformed: %v.", err)}
		}
		for k, v := range bf {
			form[k] = append(form[k], v...)
		}
	}
	action = form.Get("Action")
	if s.Auth != nil {
		if _, err := s.Auth.Authenticate(r, body); err != nil {
			return nil, action, "", nil, err
		}
	}
	if action == "" {
		return nil, "", "", nil, &Error{Code: CodeMissingAction, Message: "The request must contain the parameter Action."}
	}
	svc = s.service(form.Get("Version"), action)
	if svc == nil {
		return nil, action, "", nil, &Error{Code: CodeInvalidAction, Message: fmt.Sprintf("Could not find operation %s for version %s.", action, form.Get("Version"))}
	}
	wrapper, out, err = svc.Dispatch(ctx, action, form)
	return svc, action, wrapper, out, err
}

// service finds the service serving action: the one whose Version the
// request names, or, without a Version, the only one with the action.
func (s *Server) service(version, action string) *Service {
	for i := range s.Services {
		svc := &s.Services[i]
		if (version == "" || svc.Version == version) && (svc.HasAction == nil || svc.HasAction(action)) {
			return svc
		}
	}
	return nil
}

func (s *Server) writeError(w http.ResponseWriter, svc *Service, action, reqID string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.logger().Error("internal error", "action", action, "request_id", reqID, "err", err)
		e = &Error{Code: CodeInternalFailure, Message: "The server could not complete the request (request id " + reqID + "); see the server log.", Fault: true}
	} else if e.Fault {
		s.logger().Error("server fault", "action", action, "request_id", reqID, "code", e.Code, "message", e.Message)
	}
	ns := ""
	if svc != nil {
		ns = svc.Namespace
	} else if len(s.Services) == 1 {
		ns = s.Services[0].Namespace
	}
	write(w, e.HTTPStatus(), ErrorBody(ns, e, reqID))
}

// ErrorBody is the XML document of error e.
func ErrorBody(namespace string, e *Error, reqID string) []byte {
	typ := "Sender"
	if e.Fault {
		typ = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString(xml.Header[:len(xml.Header)-1])
	if namespace != "" {
		fmt.Fprintf(&b, "<ErrorResponse xmlns=\"%s\">", escape(namespace))
	} else {
		b.WriteString("<ErrorResponse>")
	}
	b.WriteString("<Error><Type>" + typ + "</Type><Code>" + escape(e.Code) + "</Code><Message>" + escape(e.Message) + "</Message></Error>")
	b.WriteString("<RequestId>" + reqID + "</RequestId></ErrorResponse>")
	return b.Bytes()
}

func write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// newRequestID returns a random UUID (version 4), as AWS request ids look.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
