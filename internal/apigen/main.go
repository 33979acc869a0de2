// Command apigen generates the Go wire types, enums, validation and
// operation dispatch for one AWS JSON-protocol service from its botocore
// service model. It is run by `go generate` in the package it writes to; the
// model is read from the botocore installation found through python3 (or
// -model), and only its structure is used: AWS's documentation prose is left
// out of the generated code.
//
// Type mapping (see ARCHITECTURE.md): structures become structs whose JSON
// names are the model's member names; optional scalars and nested structures
// are pointers tagged omitzero, lists and maps are slices and maps tagged
// omitzero (so nil is omitted and an empty value is echoed as [] or {});
// unboxed integers and booleans are plain values, always emitted, as AWS
// emits them; enum strings get named types; timestamps use Timestamp.
package main

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
)

type member struct {
	Shape        string `json:"shape"`
	Box          bool   `json:"box"`
	LocationName string `json:"locationName"`
	Flattened    bool   `json:"flattened"`
}

type shape struct {
	Type      string            `json:"type"`
	Members   map[string]member `json:"members"`
	Required  []string          `json:"required"`
	Member    *member           `json:"member"`
	Key       *member           `json:"key"`
	Value     *member           `json:"value"`
	Enum      []string          `json:"enum"`
	Min       *float64          `json:"min"`
	Max       *float64          `json:"max"`
	Pattern   string            `json:"pattern"`
	Box       bool              `json:"box"`
	Exception bool              `json:"exception"`
	Fault     bool              `json:"fault"`
	Document  bool              `json:"document"`
	Sensitive bool              `json:"sensitive"`
	Flattened bool              `json:"flattened"`
	Error     *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
	order []string // member order as in the model file
	raw   map[string]json.RawMessage
}

type operation struct {
	Name  string `json:"name"`
	Input *struct {
		Shape string `json:"shape"`
	} `json:"input"`
	Output *struct {
		Shape         string `json:"shape"`
		ResultWrapper string `json:"resultWrapper"`
	} `json:"output"`
	Errors []struct {
		Shape string `json:"shape"`
	} `json:"errors"`
}

type model struct {
	Metadata struct {
		TargetPrefix string `json:"targetPrefix"`
		SigningName  string `json:"signingName"`
		// EndpointPrefix is the signing name when the model has none
		// (servicediscovery).
		EndpointPrefix string `json:"endpointPrefix"`
		APIVersion     string `json:"apiVersion"`
		JSONVersion    string `json:"jsonVersion"`
		XMLNamespace   string `json:"xmlNamespace"`
		Protocol       string `json:"protocol"`
	} `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
	// unboxed is set when the model marks no shape or member "box" (models
	// converted from Smithy 2.0, such as servicediscovery): there every
	// member without a default is optional, so no scalar is unboxed.
	unboxed bool
}

// runtimeJSON is the hand-written part every JSON-protocol package shares
// (pointers, timestamps, errors, validation, dispatch), filled in per
// service.
//
//go:embed runtime_json.go.tmpl
var runtimeJSONText string

var runtimeJSON = template.Must(template.New("runtime").Parse(runtimeJSONText))

func main() {
	service := flag.String("service", "ecs", "botocore service name")
	version := flag.String("version", "2014-11-13", "API version directory")
	modelPath := flag.String("model", "", "path to service-2.json(.gz); default: found through python3's botocore")
	pkg := flag.String("pkg", "ecsapi", "Go package name")
	out := flag.String("out", ".", "output directory")
	protocol := flag.String("protocol", "json", "wire protocol of the generated code: json (AWS JSON 1.x) or query (AWS Query, XML responses)")
	title := flag.String("title", "Amazon ECS", "the service's name in error messages (json)")
	invalidCode := flag.String("invalid-code", "InvalidParameterException", "error code of a request that breaks the model's constraints (json)")
	unimplementedCode := flag.String("unimplemented-code", "ClientException", "error code of an operation berth does not implement (json)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("apigen: ")

	path := *modelPath
	if path == "" {
		p, err := botocoreModel(*service, *version)
		if err != nil {
			log.Fatal(err)
		}
		path = p
	}
	m, err := loadModel(path)
	if err != nil {
		log.Fatal(err)
	}
	if *protocol != "json" && *protocol != "query" {
		log.Fatalf("unknown -protocol %q: want json or query", *protocol)
	}
	g := &gen{m: m, pkg: *pkg, query: *protocol == "query"}
	ops := g.operations
	if g.query {
		ops = g.queryOperations
	}
	files := map[string][]byte{
		"types_gen.go":    g.types(),
		"enums_gen.go":    g.enums(),
		"validate_gen.go": g.validators(),
		"ops_gen.go":      ops(),
	}
	if !g.query {
		var b bytes.Buffer
		if err := runtimeJSON.Execute(&b, map[string]string{
			"Pkg": *pkg, "Title": *title,
			"InvalidName": *invalidCode, "InvalidCode": "Code" + *invalidCode,
			"UnimplementedCode": "Code" + *unimplementedCode,
		}); err != nil {
			log.Fatal(err)
		}
		files["runtime_gen.go"] = b.Bytes()
	}
	for name, src := range files {
		formatted, err := format.Source(src)
		if err != nil {
			_ = os.WriteFile(filepath.Join(*out, name+".broken"), src, 0o644)
			log.Fatalf("format %s: %v", name, err)
		}
		parts, err := splitSource(name, formatted, maxFileLines)
		if err != nil {
			log.Fatalf("split %s: %v", name, err)
		}
		if err := removeParts(*out, name); err != nil {
			log.Fatal(err)
		}
		for part, src := range parts {
			if err := os.WriteFile(filepath.Join(*out, part), src, 0o644); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// botocoreModel asks python3 where botocore is installed and returns the
// model file of service/version inside it.
func botocoreModel(service, version string) (string, error) {
	out, err := exec.Command("python3", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", fmt.Errorf("locate botocore with python3 (install awscli or boto3, or pass -model): %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "data", service, version)
	for _, name := range []string{"service-2.json.gz", "service-2.json"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no service-2.json(.gz) in %s", dir)
}

func loadModel(path string) (*model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var m model
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Recover member order, which a Go map loses.
	var raw struct {
		Shapes map[string]struct {
			Members json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	for name, s := range m.Shapes {
		if s.Type != "structure" {
			continue
		}
		s.order = memberOrder(raw.Shapes[name].Members)
	}
	if m.Metadata.SigningName == "" {
		m.Metadata.SigningName = m.Metadata.EndpointPrefix
	}
	m.fillMissingIO()
	m.unboxed = true
	for _, s := range m.Shapes {
		for _, mem := range s.Members {
			m.unboxed = m.unboxed && !mem.Box
		}
		m.unboxed = m.unboxed && !s.Box
	}
	return &m, nil
}

// fillMissingIO gives every operation without an input or output shape (an
// operation with an empty HTTP body, such as servicediscovery's
// UpdateInstanceCustomHealthStatus) an empty structure named after it, so
// the generated API has one request and one response type per operation.
func (m *model) fillMissingIO() {
	for name, o := range m.Operations {
		// Decoded rather than built, so this does not depend on the exact
		// fields of the operation's input and output structs.
		if o.Input == nil {
			ref, _ := json.Marshal(map[string]string{"shape": m.emptyShape(name, "Request", "Input")})
			_ = json.Unmarshal(ref, &o.Input)
		}
		if o.Output == nil {
			ref, _ := json.Marshal(map[string]string{"shape": m.emptyShape(name, "Response", "Output")})
			_ = json.Unmarshal(ref, &o.Output)
		}
		m.Operations[name] = o
	}
}

// emptyShape adds an empty structure named op+suffix (or op+alt when that is
// taken) and returns its name.
func (m *model) emptyShape(op, suffix, alt string) string {
	name := op + suffix
	if _, taken := m.Shapes[name]; taken {
		name = op + alt
	}
	for i := 2; ; i++ {
		if _, taken := m.Shapes[name]; !taken {
			break
		}
		name = fmt.Sprintf("%s%s%d", op, alt, i)
	}
	m.Shapes[name] = &shape{Type: "structure", Members: map[string]member{}}
	return name
}

// memberOrder returns the keys of a JSON object in document order.
func memberOrder(obj json.RawMessage) []string {
	if len(obj) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	var keys []string
	if _, err := dec.Token(); err != nil {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

type gen struct {
	m   *model
	pkg string
	// query generates for the AWS Query protocol: every optional scalar is
	// a pointer (the protocol has no unboxed members) and struct fields also
	// carry their Query/XML serialization names in a query tag.
	query bool
}

func (g *gen) header(b *bytes.Buffer, imports ...string) {
	fmt.Fprintf(b, "// Code generated by apigen from the AWS %s API model %s; DO NOT EDIT.\n\n", g.m.Metadata.SigningName, g.m.Metadata.APIVersion)
	fmt.Fprintf(b, "package %s\n\n", g.pkg)
	if len(imports) > 0 {
		b.WriteString("import (\n")
		for _, imp := range imports {
			fmt.Fprintf(b, "\t%q\n", imp)
		}
		b.WriteString(")\n\n")
	}
}

func (g *gen) sortedShapes(pred func(*shape) bool) []string {
	var names []string
	for n, s := range g.m.Shapes {
		if pred(s) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (g *gen) isEnum(name string) bool {
	s := g.m.Shapes[name]
	return s.Type == "string" && len(s.Enum) > 0
}

func isStruct(s *shape) bool { return s.Type == "structure" && !s.Exception }

func exported(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// goType returns the Go type of a member, and whether it is a pointer
// (optional scalar or any structure).
func (g *gen) goType(m member, required bool) (typ string, ptr bool) {
	s := g.m.Shapes[m.Shape]
	switch s.Type {
	case "structure":
		if s.Document {
			return "json.RawMessage", false
		}
		return "*" + m.Shape, true
	case "list":
		t, _ := g.elemType(*s.Member)
		return "[]" + t, false
	case "map":
		t, _ := g.elemType(*s.Value)
		return "map[string]" + t, false
	}
	base := g.scalar(m.Shape)
	boxed := s.Box || m.Box || g.m.unboxed
	switch s.Type {
	case "integer", "long", "boolean", "double":
		if g.query {
			break
		}
		if !boxed && s.Type != "double" {
			return base, false
		}
		if s.Type == "double" && !boxed {
			return base, false
		}
	}
	if required {
		return base, false
	}
	return "*" + base, true
}

// elemType is the Go type of a list element or map value: structures by
// value (there is no absent element), scalars by value.
func (g *gen) elemType(m member) (string, bool) {
	s := g.m.Shapes[m.Shape]
	switch s.Type {
	case "structure":
		if s.Document {
			return "json.RawMessage", false
		}
		return m.Shape, false
	case "list":
		t, _ := g.elemType(*s.Member)
		return "[]" + t, false
	case "map":
		t, _ := g.elemType(*s.Value)
		return "map[string]" + t, false
	}
	return g.scalar(m.Shape), false
}

func (g *gen) scalar(name string) string {
	s := g.m.Shapes[name]
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 {
			return name
		}
		return "string"
	case "integer":
		return "int32"
	case "long":
		return "int64"
	case "boolean":
		return "bool"
	case "double":
		return "float64"
	case "timestamp":
		return "Timestamp"
	case "blob":
		return "[]byte"
	}
	log.Fatalf("unknown scalar type %q of %s", s.Type, name)
	return ""
}

func (g *gen) types() []byte {
	var b bytes.Buffer
	g.header(&b, "encoding/json")
	b.WriteString("var _ json.RawMessage\n\n")
	for _, name := range g.sortedShapes(isStruct) {
		s := g.m.Shapes[name]
		if s.Document {
			continue
		}
		req := set(s.Required)
		fmt.Fprintf(&b, "// %s is the %s shape.\ntype %s struct {\n", name, name, name)
		for _, mn := range s.order {
			m := s.Members[mn]
			typ, _ := g.goType(m, req[mn])
			tag := mn
			if !(req[mn] && !strings.HasPrefix(typ, "*") && !strings.HasPrefix(typ, "[]") && !strings.HasPrefix(typ, "map")) {
				if strings.HasPrefix(typ, "*") || strings.HasPrefix(typ, "[]") || strings.HasPrefix(typ, "map") || typ == "json.RawMessage" {
					tag += ",omitzero"
				}
			}
			if g.query {
				fmt.Fprintf(&b, "\t%s %s `json:%q query:%q`\n", exported(mn), typ, tag, g.queryTag(mn, m))
				continue
			}
			fmt.Fprintf(&b, "\t%s %s `json:%q`\n", exported(mn), typ, tag)
		}
		b.WriteString("}\n\n")
	}
	return b.Bytes()
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func enumConst(typ, value string) string {
	var b strings.Builder
	b.WriteString(typ)
	up := true
	for _, r := range value {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			if up && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

func (g *gen) enums() []byte {
	var b bytes.Buffer
	g.header(&b)
	for _, name := range g.sortedShapes(func(s *shape) bool { return s.Type == "string" && len(s.Enum) > 0 }) {
		s := g.m.Shapes[name]
		fmt.Fprintf(&b, "// %s is an enum of the model.\ntype %s string\n\n", name, name)
		b.WriteString("const (\n")
		seen := map[string]bool{}
		for _, v := range s.Enum {
			c := enumConst(name, v)
			for seen[c] {
				c += "_"
			}
			seen[c] = true
			fmt.Fprintf(&b, "\t%s %s = %q\n", c, name, v)
		}
		b.WriteString(")\n\n")
		fmt.Fprintf(&b, "// Values lists every value of %s in model order.\nfunc (%s) Values() []string {\n\treturn []string{", name, name)
		for i, v := range s.Enum {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", v)
		}
		b.WriteString("}\n}\n\n")
	}
	return b.Bytes()
}

// validators writes one validate method per structure. It checks what the
// model declares: required members, string lengths and patterns, numeric
// ranges, list and map sizes, enum membership, recursively.
func (g *gen) validators() []byte {
	var b bytes.Buffer
	var body bytes.Buffer
	patterns := map[string]string{}
	var patternOrder []string
	patternVar := func(p string) string {
		if v, ok := patterns[p]; ok {
			return v
		}
		v := fmt.Sprintf("pattern%d", len(patterns))
		patterns[p] = v
		patternOrder = append(patternOrder, p)
		return v
	}
	for _, name := range g.sortedShapes(isStruct) {
		s := g.m.Shapes[name]
		if s.Document {
			continue
		}
		req := set(s.Required)
		fmt.Fprintf(&body, "func (s *%s) validate(v *validator, p *path) {\n", name)
		for _, mn := range s.order {
			m := s.Members[mn]
			field := "s." + exported(mn)
			typ, ptr := g.goType(m, req[mn])
			p := fmt.Sprintf("&path{parent: p, name: %q}", mn)
			ms := g.m.Shapes[m.Shape]
			if req[mn] {
				switch {
				case ptr || strings.HasPrefix(typ, "[]") || strings.HasPrefix(typ, "map"):
					fmt.Fprintf(&body, "\tif %s == nil {\n\t\tv.missing(%s)\n\t}\n", field, p)
				case typ == "string" || g.isEnum(m.Shape):
					fmt.Fprintf(&body, "\tif %s == \"\" {\n\t\tv.missing(%s)\n\t}\n", field, p)
				}
			}
			g.checkValue(&body, ms, m.Shape, field, ptr, p, patternVar, 1)
		}
		body.WriteString("}\n\n")
	}
	imports := []string{}
	if len(patterns) > 0 {
		imports = append(imports, "regexp")
	}
	g.header(&b, imports...)
	if len(patterns) > 0 {
		b.WriteString("var (\n")
		for _, p := range patternOrder {
			fmt.Fprintf(&b, "\t%s = regexp.MustCompile(%q)\n", patterns[p], "^(?:"+p+")$")
		}
		b.WriteString(")\n\n")
	}
	b.Write(body.Bytes())
	return b.Bytes()
}

// checkValue writes the checks for one value expression of shape s. ptr says
// whether expr is a pointer. depth numbers the loop variables.
func (g *gen) checkValue(b *bytes.Buffer, s *shape, shapeName, expr string, ptr bool, path string, patternVar func(string) string, depth int) {
	deref := expr
	open := func() {}
	closeIf := func() {}
	if ptr && s.Type != "structure" {
		deref = "*" + expr
		open = func() { fmt.Fprintf(b, "\tif %s != nil {\n", expr) }
		closeIf = func() { b.WriteString("\t}\n") }
	}
	switch s.Type {
	case "structure":
		if s.Document {
			return
		}
		if ptr {
			fmt.Fprintf(b, "\tif %s != nil {\n\t\t%s.validate(v, %s)\n\t}\n", expr, expr, path)
		} else {
			fmt.Fprintf(b, "\t%s.validate(v, %s)\n", expr, path)
		}
	case "string":
		if len(s.Enum) == 0 && s.Min == nil && s.Max == nil && !goPattern(s.Pattern) {
			return
		}
		open()
		if len(s.Enum) > 0 {
			fmt.Fprintf(b, "\tv.enum(%s, string(%s), %s(\"\").Values())\n", path, deref, shapeName)
		}
		if s.Min != nil || s.Max != nil {
			fmt.Fprintf(b, "\tv.length(%s, %s, %d, %d)\n", path, deref, bound(s.Min, 0), bound(s.Max, -1))
		}
		if goPattern(s.Pattern) {
			fmt.Fprintf(b, "\tv.pattern(%s, %s, %s)\n", path, deref, patternVar(s.Pattern))
		}
		closeIf()
	case "integer", "long":
		if s.Min == nil && s.Max == nil {
			return
		}
		open()
		fmt.Fprintf(b, "\tv.rangeCheck(%s, int64(%s), %d, %d)\n", path, deref, bound(s.Min, -1<<62), bound(s.Max, 1<<62))
		closeIf()
	case "list", "map":
		if (s.Min != nil || s.Max != nil) && g.query {
			// An absent list is not an empty one: only sent lists are sized.
			fmt.Fprintf(b, "\tif %s != nil {\n\tv.size(%s, len(%s), %d, %d)\n\t}\n", expr, path, expr, bound(s.Min, 0), bound(s.Max, -1))
		} else if s.Min != nil || s.Max != nil {
			if bound(s.Min, 0) > 0 {
				// An absent list or map is not an empty one: only a
				// present one must have the minimum size.
				fmt.Fprintf(b, "\tif %s != nil {\n\tv.size(%s, len(%s), %d, %d)\n\t}\n", expr, path, expr, bound(s.Min, 0), bound(s.Max, -1))
			} else {
				fmt.Fprintf(b, "\tv.size(%s, len(%s), %d, %d)\n", path, expr, bound(s.Min, 0), bound(s.Max, -1))
			}
		}
		elem := s.Member
		if s.Type == "map" {
			elem = s.Value
		}
		es := g.m.Shapes[elem.Shape]
		if !g.needsCheck(es, map[string]bool{}) {
			return
		}
		iv := fmt.Sprintf("i%d", depth)
		ev := fmt.Sprintf("e%d", depth)
		fmt.Fprintf(b, "\tfor %s := range %s {\n", iv, expr)
		var ep, elemExpr string
		if s.Type == "list" {
			ep = fmt.Sprintf("&path{parent: %s, index: %s + 1}", path, iv)
			fmt.Fprintf(b, "\t%s := &%s[%s]\n", ev, expr, iv)
			elemExpr = "(*" + ev + ")"
		} else {
			// Map values are not addressable: validate a copy.
			ep = fmt.Sprintf("&path{parent: %s, name: %s}", path, iv)
			fmt.Fprintf(b, "\t%s := %s[%s]\n", ev, expr, iv)
			elemExpr = ev
		}
		if es.Type == "structure" {
			fmt.Fprintf(b, "\t%s.validate(v, %s)\n", ev, ep)
		} else {
			g.checkValue(b, es, elem.Shape, elemExpr, false, ep, patternVar, depth+1)
		}
		b.WriteString("\t}\n")
	}
}

// needsCheck reports whether a value of shape s has anything to validate.
func (g *gen) needsCheck(s *shape, seen map[string]bool) bool {
	switch s.Type {
	case "structure":
		return !s.Document
	case "string":
		return len(s.Enum) > 0 || s.Min != nil || s.Max != nil || goPattern(s.Pattern)
	case "integer", "long":
		return s.Min != nil || s.Max != nil
	case "list":
		return s.Min != nil || s.Max != nil || g.needsCheck(g.m.Shapes[s.Member.Shape], seen)
	case "map":
		return s.Min != nil || s.Max != nil || g.needsCheck(g.m.Shapes[s.Value.Shape], seen)
	}
	return false
}

// goPattern reports whether a model pattern can be checked with Go's regexp
// package. Patterns with Perl lookarounds (servicediscovery's "(?!arn:)")
// cannot; they are left to the service implementation.
func goPattern(p string) bool {
	if p == "" {
		return false
	}
	_, err := regexp.Compile("^(?:" + p + ")$")
	return err == nil
}

func bound(p *float64, def int64) int64 {
	if p == nil {
		return def
	}
	return int64(*p)
}

// operations writes the service interface, the unimplemented defaults, the
// dispatch table and the exception codes.
func (g *gen) operations() []byte {
	var b bytes.Buffer
	g.header(&b, "context")
	var names []string
	for n := range g.m.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "// TargetPrefix is the X-Amz-Target prefix of this service.\nconst TargetPrefix = %q\n\n", g.m.Metadata.TargetPrefix)
	fmt.Fprintf(&b, "// SigningName is the SigV4 service name of this service.\nconst SigningName = %q\n\n", g.m.Metadata.SigningName)
	b.WriteString("// Operation names.\nconst (\n")
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

	b.WriteString("var operations = map[string]func(ctx context.Context, s API, body []byte) (any, error){\n")
	for _, n := range names {
		in, _ := g.io(n)
		fmt.Fprintf(&b, "\t%q: func(ctx context.Context, s API, body []byte) (any, error) {\n\t\tin := new(%s)\n\t\tif err := decode(body, in); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\tif err := check(in); err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\treturn s.%s(ctx, in)\n\t},\n", n, in, n)
	}
	b.WriteString("}\n\n")

	b.WriteString("// newInput makes an empty request of each operation.\nvar newInput = map[string]func() validatable{\n")
	for _, n := range names {
		in, _ := g.io(n)
		fmt.Fprintf(&b, "\t%q: func() validatable { return new(%s) },\n", n, in)
	}
	b.WriteString("}\n\n")

	b.WriteString("// Exception codes of this service.\nconst (\n")
	var faults []string
	for _, n := range g.sortedShapes(func(s *shape) bool { return s.Exception }) {
		fmt.Fprintf(&b, "\tCode%s = %q\n", n, n)
		if g.m.Shapes[n].Fault {
			faults = append(faults, n)
		}
	}
	b.WriteString(")\n\n")
	b.WriteString("// faults are the exception codes that are server faults (HTTP 5xx).\nvar faults = map[string]bool{\n")
	for _, f := range faults {
		fmt.Fprintf(&b, "\t%q: true,\n", f)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func (g *gen) io(op string) (in, out string) {
	o := g.m.Operations[op]
	if o.Input == nil || o.Output == nil {
		log.Fatalf("operation %s has no input or output shape", op)
	}
	return o.Input.Shape, o.Output.Shape
}
