package awsjson

import "fmt"

// Error is an AWS error as it goes on the wire: a code (the __type and the
// X-Amzn-Errortype header) and a message. Fault marks server faults (HTTP
// 500); every other error is a client error (HTTP 400) unless Status says
// otherwise.
type Error struct {
	Code    string
	Message string
	Fault   bool
	Status  int // 0: 400, or 500 for a fault
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// HTTPStatus returns the status code the error is sent with.
func (e *Error) HTTPStatus() int {
	switch {
	case e.Status != 0:
		return e.Status
	case e.Fault:
		return 500
	}
	return 400
}

// Errorf returns a client error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Protocol-level error codes shared by every AWS JSON service.
const (
	CodeSerialization    = "SerializationException"
	CodeUnknownOperation = "UnknownOperationException"
	CodeInternalFailure  = "InternalFailure"
	CodeRequestTooLarge  = "RequestEntityTooLargeException"
	CodeValidation       = "ValidationException"
)
