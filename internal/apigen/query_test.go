package main

import (
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tiny Query-protocol model with what ELBv2 does not use: locationName,
// flattened lists and maps, renamed map keys.
const queryModel = `{
  "metadata": {"apiVersion": "2020-01-01", "protocol": "query", "signingName": "demo", "xmlNamespace": "http://demo/doc/"},
  "operations": {
    "PutThing": {"name": "PutThing", "input": {"shape": "PutThingInput"}, "output": {"shape": "PutThingOutput", "resultWrapper": "PutThingResult"}, "errors": [{"shape": "ThingNotFoundException"}]}
  },
  "shapes": {
    "PutThingInput": {"type": "structure", "required": ["Name"], "members": {
      "Name": {"shape": "Name"},
      "Ids": {"shape": "Ids"},
      "Flat": {"shape": "FlatList", "locationName": "Item"},
      "Attrs": {"shape": "Attrs"},
      "Count": {"shape": "Count"}
    }},
    "PutThingOutput": {"type": "structure", "members": {"Things": {"shape": "Ids", "locationName": "ThingSet"}}},
    "Name": {"type": "string", "min": 1, "max": 8},
    "Count": {"type": "integer", "min": 1, "max": 5},
    "Ids": {"type": "list", "member": {"shape": "Name", "locationName": "item"}, "min": 1},
    "FlatList": {"type": "list", "member": {"shape": "Name"}, "flattened": true},
    "Attrs": {"type": "map", "key": {"shape": "Name", "locationName": "Key"}, "value": {"shape": "Name", "locationName": "Val"}},
    "ThingNotFoundException": {"type": "structure", "members": {}, "exception": true, "error": {"code": "ThingNotFound", "httpStatusCode": 404, "senderFault": true}},
    "BoomException": {"type": "structure", "members": {}, "exception": true, "fault": true, "error": {"code": "Boom", "httpStatusCode": 503}}
  }
}`

func TestQueryGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "service-2.json")
	if err := os.WriteFile(path, []byte(queryModel), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := loadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{m: m, pkg: "demo", query: true}
	types, ops := string(mustFormat(t, g.types())), string(mustFormat(t, g.queryOperations()))
	mustFormat(t, g.validators())
	for _, want := range []string{
		"Name  string            `json:\"Name\" query:\"Name\"`",
		"Ids   []string          `json:\"Ids,omitzero\" query:\"Ids,member=item\"`",
		"Flat  []string          `json:\"Flat,omitzero\" query:\"Item,flat,member=Item\"`",
		"Attrs map[string]string `json:\"Attrs,omitzero\" query:\"Attrs,key=Key,value=Val\"`",
		"Count *int32            `json:\"Count,omitzero\" query:\"Count\"`",
		"Things []string `json:\"Things,omitzero\" query:\"ThingSet,member=item\"`",
	} {
		if !strings.Contains(types, want) {
			t.Errorf("types lack %s in\n%s", want, types)
		}
	}
	for _, want := range []string{
		`const APIVersion = "2020-01-01"`,
		`const XMLNamespace = "http://demo/doc/"`,
		`"PutThing": {result: "PutThingResult", call: func(ctx context.Context, s API, form url.Values) (any, error) {`,
		`CodeThingNotFoundException = "ThingNotFound"`,
		`CodeThingNotFoundException: 404,`,
		`CodeBoomException:          503,`,
		"var receiver = map[string]bool{\n\tCodeBoomException: true,\n}",
	} {
		if !strings.Contains(ops, want) {
			t.Errorf("ops lack %s in\n%s", want, ops)
		}
	}
	// Without -protocol query, no query tags.
	jg := &gen{m: m, pkg: "demo"}
	if jt := string(mustFormat(t, jg.types())); strings.Contains(jt, "query:") || !strings.Contains(jt, "Flat  []string          `json:\"Flat,omitzero\"`") {
		t.Errorf("json-mode types:\n%s", jt)
	}
}

func mustFormat(t *testing.T, src []byte) []byte {
	t.Helper()
	out, err := format.Source(src)
	if err != nil {
		t.Fatalf("generated code does not parse: %v\n%s", err, src)
	}
	return out
}
