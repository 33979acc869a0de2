package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// rawCall sends a signed AWS JSON request with an arbitrary target and body
// and returns the status, the X-Amzn-Errortype header and the decoded body.
func (s *server) rawCall(t *testing.T, target string, body []byte, sign func(*http.Request)) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if sign == nil {
		sign = s.signer(t, testKeyID, testSecret, time.Now())
	}
	sign(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	return resp.StatusCode, resp.Header, m
}

func (s *server) signer(t *testing.T, keyID, secret string, at time.Time) func(*http.Request) {
	return func(req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "ecs", testRegion, at)
		if err != nil {
			t.Fatal(err)
		}
	}
}

const target = "AmazonEC2ContainerServiceV20141113."

func TestProtocolErrors(t *testing.T) {
	s := startServer(t, "")
	tests := []struct {
		name     string
		target   string
		body     string
		sign     func(*http.Request)
		status   int
		code     string
		contains string
	}{
		{name: "malformed JSON", target: target + "ListClusters", body: `{"maxResults": `, status: 400, code: "SerializationException"},
		{name: "wrong JSON type", target: target + "ListClusters", body: `{"maxResults": "ten"}`, status: 400, code: "SerializationException"},
		{name: "unknown operation", target: target + "LaunchRockets", body: `{}`, status: 400, code: "UnknownOperationException"},
		{name: "unknown service", target: "Nope_20200101.ListClusters", body: `{}`, status: 400, code: "UnknownOperationException"},
		{name: "no target", target: "", body: `{}`, status: 400, code: "UnknownOperationException"},
		{name: "unimplemented operation", target: target + "CreateTaskSet", body: `{"service":"web","cluster":"default","taskDefinition":"web"}`, status: 400, code: "ClientException", contains: "CreateTaskSet"},
		{name: "missing required member", target: target + "RegisterTaskDefinition", body: `{"containerDefinitions":[]}`, status: 400, code: "InvalidParameterException", contains: "family"},
		{name: "bad enum", target: target + "ListTaskDefinitions", body: `{"status":"SLEEPING"}`, status: 400, code: "InvalidParameterException", contains: "SLEEPING"},
		{name: "body too large", target: target + "ListClusters", body: `{"nextToken":"` + strings.Repeat("a", 2<<20) + `"}`, status: 413, code: "RequestEntityTooLargeException"},
		{name: "unsigned", target: target + "ListClusters", body: `{}`, sign: func(*http.Request) {}, status: 403, code: "MissingAuthenticationTokenException"},
		{name: "unknown key", target: target + "ListClusters", body: `{}`, sign: s.signer(t, "AKIDNOBODY", "x", time.Now()), status: 403, code: "UnrecognizedClientException"},
		{name: "wrong secret", target: target + "ListClusters", body: `{}`, sign: s.signer(t, testKeyID, "wrong", time.Now()), status: 403, code: "InvalidSignatureException"},
		{name: "signed 6 min ago", target: target + "ListClusters", body: `{}`, sign: s.signer(t, testKeyID, testSecret, time.Now().Add(-6*time.Minute)), status: 403, code: "InvalidSignatureException", contains: "Signature expired"},
		{name: "signed 6 min ahead", target: target + "ListClusters", body: `{}`, sign: s.signer(t, testKeyID, testSecret, time.Now().Add(6*time.Minute)), status: 403, code: "InvalidSignatureException", contains: "Signature not yet current"},
		{name: "tampered body", target: target + "ListClusters", body: `{}`, sign: func(r *http.Request) {
			s.signer(t, testKeyID, testSecret, time.Now())(r)
			r.Body = io.NopCloser(strings.NewReader(`{"maxResults":1}`))
			r.ContentLength = 16
		}, status: 403, code: "InvalidSignatureException"},
		{name: "changed signed header", target: target + "ListClusters", body: `{}`, sign: func(r *http.Request) {
			s.signer(t, testKeyID, testSecret, time.Now())(r)
			r.Header.Set("X-Amz-Target", target+"DescribeClusters")
		}, status: 403, code: "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := s.rawCall(t, tt.target, []byte(tt.body), tt.sign)
			if status != tt.status || body["__type"] != tt.code || h.Get("X-Amzn-Errortype") != tt.code {
				t.Fatalf("status %d, header %q, body %v; want %d %s", status, h.Get("X-Amzn-Errortype"), body, tt.status, tt.code)
			}
			if msg, _ := body["message"].(string); msg == "" || !strings.Contains(msg, tt.contains) {
				t.Errorf("message %q does not mention %q", msg, tt.contains)
			}
			if h.Get("X-Amzn-Requestid") == "" {
				t.Errorf("no x-amzn-RequestId")
			}
		})
	}
}

// TestEveryOperationRouted sends every ECS operation of the model and checks
// each is answered by the ECS service: a result or an ECS error, never an
// unknown-operation error, a 404 or a server fault.
func TestEveryOperationRouted(t *testing.T) {
	s := startServer(t, "")
	out, err := exec.Command("python3", "-c", "import botocore.session as s; print('\\n'.join(s.get_session().get_service_model('ecs').operation_names))").Output()
	if err != nil {
		requireTool(t, "python3 with botocore")
	}
	ops := lines(string(out))
	if len(ops) < 77 {
		t.Fatalf("botocore lists %d ECS operations, want at least 77", len(ops))
	}
	for _, op := range ops {
		status, _, body := s.rawCall(t, target+op, []byte(`{}`), nil)
		code, _ := body["__type"].(string)
		if status >= 500 || status == 404 || code == "UnknownOperationException" || code == "SerializationException" {
			t.Errorf("%s: status %d, body %v", op, status, body)
		}
	}
}

func TestTimestampsAreEpochSeconds(t *testing.T) {
	s := startServer(t, "")
	c := s.ecs(t)
	// The strict SDK client rejects anything but epoch numbers, so a
	// successful decode of registeredAt proves the wire format.
	before := time.Now().Add(-time.Second)
	out, err := c.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("ts"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	at := aws.ToTime(out.TaskDefinition.RegisteredAt)
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("registeredAt = %v, want about now", at)
	}
	_, _, raw := s.rawCall(t, target+"DescribeTaskDefinition", []byte(`{"taskDefinition":"ts"}`), nil)
	td := raw["taskDefinition"].(map[string]any)
	if _, ok := td["registeredAt"].(float64); !ok {
		t.Errorf("registeredAt on the wire is %T, want a JSON number", td["registeredAt"])
	}
}
