package containerspec

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/ecsapi"
)

func env(pairs ...string) []ecsapi.KeyValuePair {
	var out []ecsapi.KeyValuePair
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, ecsapi.KeyValuePair{Name: str(pairs[i]), Value: str(pairs[i+1])})
	}
	return out
}

// overrideBase is the definition every override case starts from.
func overrideBase() ecsapi.ContainerDefinition {
	return ecsapi.ContainerDefinition{
		Name:              str("app"),
		Image:             str("nginx:1.27"),
		Cpu:               256,
		Memory:            i32(512),
		MemoryReservation: i32(256),
		Command:           []string{"serve"},
		Environment:       env("A", "1", "B", "2"),
		EnvironmentFiles:  []ecsapi.EnvironmentFile{{Type: ecsapi.EnvironmentFileTypeS3, Value: "arn:aws:s3:::b/base.env"}},
		ResourceRequirements: []ecsapi.ResourceRequirement{
			{Type: ecsapi.ResourceTypeGPU, Value: "1"},
			{Type: ecsapi.ResourceTypeInferenceAccelerator, Value: "dev1"},
		},
	}
}

func TestApplyOverride(t *testing.T) {
	cases := []struct {
		name string
		o    *ecsapi.ContainerOverride
		want func(*ecsapi.ContainerDefinition)
	}{
		{name: "nil override", o: nil},
		{name: "empty override", o: &ecsapi.ContainerOverride{Name: str("app")}},
		{
			name: "command replaces",
			o:    &ecsapi.ContainerOverride{Command: []string{"migrate", "--yes"}},
			want: func(d *ecsapi.ContainerDefinition) { d.Command = []string{"migrate", "--yes"} },
		},
		{
			name: "explicit empty command replaces too",
			o:    &ecsapi.ContainerOverride{Command: []string{}},
			want: func(d *ecsapi.ContainerDefinition) { d.Command = []string{} },
		},
		{
			name: "environment merges by name, new names appended",
			o:    &ecsapi.ContainerOverride{Environment: env("B", "20", "C", "30", "D", "40")},
			want: func(d *ecsapi.ContainerDefinition) { d.Environment = env("A", "1", "B", "20", "C", "30", "D", "40") },
		},
		{
			name: "later override entry of a name wins",
			o:    &ecsapi.ContainerOverride{Environment: env("A", "x", "A", "y", "E", "1", "E", "2")},
			want: func(d *ecsapi.ContainerDefinition) { d.Environment = env("A", "y", "B", "2", "E", "2") },
		},
		{
			name: "nameless override entries are dropped",
			o:    &ecsapi.ContainerOverride{Environment: []ecsapi.KeyValuePair{{Value: str("v")}}},
		},
		{
			name: "environmentFiles appended",
			o: &ecsapi.ContainerOverride{EnvironmentFiles: []ecsapi.EnvironmentFile{
				{Type: ecsapi.EnvironmentFileTypeS3, Value: "arn:aws:s3:::b/run.env"},
			}},
			want: func(d *ecsapi.ContainerDefinition) {
				d.EnvironmentFiles = append(d.EnvironmentFiles, ecsapi.EnvironmentFile{Type: ecsapi.EnvironmentFileTypeS3, Value: "arn:aws:s3:::b/run.env"})
			},
		},
		{
			name: "cpu, memory and memoryReservation replace",
			o:    &ecsapi.ContainerOverride{Cpu: i32(1024), Memory: i32(2048), MemoryReservation: i32(1024)},
			want: func(d *ecsapi.ContainerDefinition) {
				d.Cpu, d.Memory, d.MemoryReservation = 1024, i32(2048), i32(1024)
			},
		},
		{
			name: "cpu 0 replaces",
			o:    &ecsapi.ContainerOverride{Cpu: i32(0)},
			want: func(d *ecsapi.ContainerDefinition) { d.Cpu = 0 },
		},
		{
			name: "resourceRequirements replace by type",
			o: &ecsapi.ContainerOverride{ResourceRequirements: []ecsapi.ResourceRequirement{
				{Type: ecsapi.ResourceTypeGPU, Value: "4"},
			}},
			want: func(d *ecsapi.ContainerDefinition) {
				d.ResourceRequirements = []ecsapi.ResourceRequirement{
					{Type: ecsapi.ResourceTypeInferenceAccelerator, Value: "dev1"},
					{Type: ecsapi.ResourceTypeGPU, Value: "4"},
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := overrideBase()
			defBefore := mustMarshal(t, def)
			oBefore := mustMarshal(t, tc.o)
			got := ApplyOverride(def, tc.o)
			want := overrideBase()
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", mustMarshal(t, got), mustMarshal(t, want))
			}
			if mustMarshal(t, def) != defBefore || mustMarshal(t, tc.o) != oBefore {
				t.Error("ApplyOverride changed its input")
			}
		})
	}
}

// TestApplyOverrideDoesNotAlias: writing into the result's changed slices
// must not reach the definition or the override.
func TestApplyOverrideDoesNotAlias(t *testing.T) {
	def := overrideBase()
	o := &ecsapi.ContainerOverride{
		Command:              []string{"x"},
		Environment:          env("A", "9", "Z", "26"),
		EnvironmentFiles:     []ecsapi.EnvironmentFile{{Type: ecsapi.EnvironmentFileTypeS3, Value: "arn:aws:s3:::b/o.env"}},
		Memory:               i32(1024),
		ResourceRequirements: []ecsapi.ResourceRequirement{{Type: ecsapi.ResourceTypeGPU, Value: "2"}},
	}
	defBefore, oBefore := mustMarshal(t, def), mustMarshal(t, o)
	got := ApplyOverride(def, o)
	got.Command[0] = "changed"
	got.Environment[0] = ecsapi.KeyValuePair{Name: str("changed")}
	got.Environment[1] = ecsapi.KeyValuePair{Name: str("changed")}
	got.Environment[2] = ecsapi.KeyValuePair{Name: str("changed")}
	got.EnvironmentFiles[0].Value, got.EnvironmentFiles[1].Value = "changed", "changed"
	got.ResourceRequirements[0].Value = "changed"
	got.ResourceRequirements[1].Value = "changed"
	*got.Memory = 1
	if mustMarshal(t, def) != defBefore {
		t.Error("the result shares memory with the definition")
	}
	if mustMarshal(t, o) != oBefore {
		t.Error("the result shares memory with the override")
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
