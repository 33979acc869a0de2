// Package ecsapi is the Amazon ECS API as Go types: every request, response
// and nested shape of the ECS service model with AWS's exact JSON member
// names, the enums, the model's validation rules, the Service interface with
// one method per operation and the table that decodes, validates and
// dispatches a request body to it.
//
// The *_gen.go files are generated from the botocore model by
// internal/apigen; regenerate with `go generate ./internal/ecsapi`.
package ecsapi

//go:generate go run ../apigen -service ecs -version 2014-11-13 -pkg ecsapi -out .
