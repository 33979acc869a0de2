// Package elbv2api is the Elastic Load Balancing v2 API as Go types: every
// request, response and nested shape of the elbv2 service model with their
// AWS Query serialization names (query struct tags, read by
// internal/awsquery) and JSON names for storage, the enums, the model's
// validation rules, the API interface with one method per operation and the
// table that decodes, validates and dispatches a request form to it.
//
// The *_gen.go files are generated from the botocore model by
// internal/apigen; regenerate with `go generate ./internal/elbv2api`.
package elbv2api

//go:generate go run ../apigen -service elbv2 -version 2015-12-01 -pkg elbv2api -protocol query -out .
