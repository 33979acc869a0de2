// Package cloudmapapi is the AWS Cloud Map (servicediscovery) API as Go
// types: every request, response and nested shape of the service model with
// AWS's exact JSON member names, the enums, the model's validation rules,
// the API interface with one method per operation and the table that
// decodes, validates and dispatches a request body to it.
//
// The *_gen.go files are generated from the botocore model by
// internal/apigen; regenerate with `go generate ./internal/cloudmapapi`.
package cloudmapapi

//go:generate go run ../apigen -service servicediscovery -version 2017-03-14 -pkg cloudmapapi -title "AWS Cloud Map" -invalid-code InvalidInput -unimplemented-code InvalidInput -out .
