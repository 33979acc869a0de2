package arn

import (
	"errors"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{
		"arn:aws:ecs:us-east-1:123456789012:cluster/default",
		"arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7",
		"arn:aws:iam::123456789012:root",
		"arn:aws-cn:ecs:cn-north-1:123456789012:task/default/0123abc",
		"arn:aws:s3:::bucket/key:with:colons",
	} {
		a, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if a.String() != s {
			t.Errorf("round trip %q → %q", s, a.String())
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "web", "arn:aws", "arn:aws:ecs:r:a", "arn::ecs:r:a:x", "arn:aws::r:a:x", "arn:aws:ecs:r:a:", "urn:aws:ecs:r:a:x"} {
		if _, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestNamer(t *testing.T) {
	n := Namer{Region: "us-west-2", Account: "000000000000"}
	if got := n.Cluster("web"); got != "arn:aws:ecs:us-west-2:000000000000:cluster/web" {
		t.Errorf("Cluster = %q", got)
	}
	if got := n.TaskDefinition("web", 12); got != "arn:aws:ecs:us-west-2:000000000000:task-definition/web:12" {
		t.Errorf("TaskDefinition = %q", got)
	}
	if got := n.Root(); got != "arn:aws:iam::000000000000:root" {
		t.Errorf("Root = %q", got)
	}
}

func TestClusterName(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "web", want: "web"},
		{in: "arn:aws:ecs:us-east-1:1:cluster/web", want: "web"},
		{in: "arn:aws:ecs:us-east-1:1:service/web/x", bad: true},
		{in: "arn:aws:s3:us-east-1:1:cluster/web", bad: true},
		{in: "arn:aws:ecs", bad: true},
	}
	for _, tt := range tests {
		got, err := ClusterName(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ClusterName(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestTaskDefinitionRef(t *testing.T) {
	tests := []struct {
		in   string
		fam  string
		rev  int32
		fail bool
	}{
		{in: "web", fam: "web"},
		{in: "web:3", fam: "web", rev: 3},
		{in: "arn:aws:ecs:us-east-1:1:task-definition/web:3", fam: "web", rev: 3},
		{in: "arn:aws:ecs:us-east-1:1:task-definition/web", fail: true},
		{in: "arn:aws:ecs:us-east-1:1:cluster/web", fail: true},
		{in: "web:0", fail: true},
		{in: "web:x", fail: true},
		{in: ":3", fail: true},
		{in: "web:99999999999", fail: true},
	}
	for _, tt := range tests {
		fam, rev, err := TaskDefinitionRef(tt.in)
		if (err != nil) != tt.fail || fam != tt.fam || rev != tt.rev {
			t.Errorf("TaskDefinitionRef(%q) = %q, %d, %v", tt.in, fam, rev, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"arn:aws:ecs:us-east-1:1:cluster/web", "arn:aws:ecs:r:a:task-definition/x:1", "arn:::::", "web:3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err == nil && a.String() != s {
			t.Fatalf("round trip %q → %q", s, a.String())
		}
		fam, rev, err := TaskDefinitionRef(s)
		if err == nil && (fam == "" || rev < 0) {
			t.Fatalf("TaskDefinitionRef(%q) accepted %q %d", s, fam, rev)
		}
		_, _ = ClusterName(s)
	})
}
