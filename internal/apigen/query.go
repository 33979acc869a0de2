package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// queryTag is the query struct tag of member mn: its serialization name
// (the member's locationName, else its name), then for lists "flat" when
// flattened and "member=" the element name, for maps "flat", "key=" and
// "value=". internal/awsquery reads these tags to decode forms and encode
// XML.
func (g *gen) queryTag(mn string, m member) string {
	name := mn
	if m.LocationName != "" {
		name = m.LocationName
	}
	parts := []string{name}
	s := g.m.Shapes[m.Shape]
	switch s.Type {
	case "list":
		if s.Flattened || m.Flattened {
			parts = append(parts, "flat")
		}
		elem := "member"
		if s.Member != nil && s.Member.LocationName != "" {
			elem = s.Member.LocationName
		} else if s.Flattened || m.Flattened {
			elem = name
		}
		parts = append(parts, "member="+elem)
	case "map":
		if s.Flattened || m.Flattened {
			parts = append(parts, "flat")
		}
		key, value := "key", "value"
		if s.Key != nil && s.Key.LocationName != "" {
			key = s.Key.LocationName
		}
		if s.Value != nil && s.Value.LocationName != "" {
			value = s.Value.LocationName
		}
		parts = append(parts, "key="+key, "value="+value)
	}
	return strings.Join(parts, ",")
}

// queryOperations writes, for a Query-protocol service, the API interface,
// the unimplemented defaults, the action table (decoder, validation, result
// wrapper element) and the error codes with their HTTP statuses.
func (g *gen) queryOperations() []byte {
	var b bytes.Buffer
	g.header(&b, "context", "net/url", "github.com/berth-dev/berth/internal/awsquery")
	var names []string
	for n := range g.m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "// APIVersion is the Version parameter of this service's requests.\nconst APIVersion = %q\n\n", g.m.Metadata.APIVersion)
	fmt.Fprintf(&b, "// XMLNamespace is the xmlns of this service's responses.\nconst XMLNamespace = %q\n\n", g.m.Metadata.XMLNamespace)
	fmt.Fprintf(&b, "// SigningName is the SigV4 service name of this service.\nconst SigningName = %q\n\n", g.m.Metadata.SigningName)
	b.WriteString("// Action names.\nconst (\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\tOp%s = %q\n", n, n)
	}
	b.WriteString(")\n\n")

	b.WriteString("// API is every operation of the service. Embed Unimplemented to answer\n// the ones an implementation does not serve yet.\ntype API interface {\n")
	for _, n := range names {
		in, out := g.io(n)
		fmt.Fprintf(&b, "\t%s(ctx context.Context, in *%s) (*%s, error)\n", n, in, out)
	}
	b.WriteString("}\n\n")

	b.WriteString("// Unimplemented answers every operation with an error naming it.\ntype Unimplemented struct{}\n\n")
	for _, n := range names {
		in, out := g.io(n)
		fmt.Fprintf(&b, "// %s is not implemented.\nfunc (Unimplemented) %s(context.Context, *%s) (*%s, error) {\n\treturn nil, unimplemented(%q)\n}\n\n", n, n, in, out, n)
	}

	b.WriteString("var operations = map[string]operation{\n")
	for _, n := range names {
		in, _ := g.io(n)
		wrapper := g.m.Operations[n].Output.ResultWrapper
		fmt.Fprintf(&b, "\t%q: {result: %q, call: func(ctx context.Context, s API, form url.Values) (any, error) {\n\t\tin := new(%s)\n\t\tif err := awsquery.Decode(form, in); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\tif err := check(in); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\treturn s.%s(ctx, in)\n\t}},\n", n, wrapper, in, n)
	}
	b.WriteString("}\n\n")

	b.WriteString("// Error codes of this service, named after their exception shapes.\nconst (\n")
	excs := g.sortedShapes(func(s *shape) bool { return s.Exception })
	for _, n := range excs {
		code := n
		if e := g.m.Shapes[n].Error; e != nil && e.Code != "" {
			code = e.Code
		}
		fmt.Fprintf(&b, "\tCode%s = %q\n", n, code)
	}
	b.WriteString(")\n\n")
	b.WriteString("// errorStatus is the HTTP status of each error code; receiver marks the\n// codes that are server faults.\nvar errorStatus = map[string]int{\n")
	var receiver []string
	for _, n := range excs {
		s := g.m.Shapes[n]
		status := 400
		if s.Fault {
			status = 500
		}
		if s.Error != nil && s.Error.HTTPStatusCode != 0 {
			status = s.Error.HTTPStatusCode
		}
		if s.Fault || (s.Error != nil && !s.Error.SenderFault) {
			receiver = append(receiver, "Code"+n)
		}
		fmt.Fprintf(&b, "\tCode%s: %d,\n", n, status)
	}
	b.WriteString("}\n\nvar receiver = map[string]bool{\n")
	for _, r := range receiver {
		fmt.Fprintf(&b, "\t%s: true,\n", r)
	}
	b.WriteString("}\n")
	return b.Bytes()
}
