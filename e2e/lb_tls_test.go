package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHTTPSListenerCLI: HTTPS listeners made with the AWS CLI terminate
// TLS. A certificate ARN whose id has a file in --lb-certificates serves
// that certificate (a client trusting only it verifies the connection); one
// without a file serves a self-signed certificate (curl -k).
func TestHTTPSListenerCLI(t *testing.T) {
	bin, ok := awsCLIs(t)["v1"]
	if !ok {
		t.Skip("AWS CLI v1 not installed")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		requireTool(t, "curl")
	}
	dir := t.TempDir()
	leaf := writeCertificate(t, filepath.Join(dir, "web-cert.pem"))
	s := startServer(t, "", "--lb-certificates", dir)
	run := func(args ...string) map[string]any {
		t.Helper()
		out, err := s.runCLI(t, bin, append([]string{"elbv2"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var m map[string]any
		if strings.TrimSpace(out) == "" {
			return m
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", args, out)
		}
		return m
	}
	b := startBackend(t, "tls-backend")
	tg := run("create-target-group", "--name", "web", "--protocol", "HTTP", "--port", "80", "--target-type", "ip", "--vpc-id", "vpc-1",
		"--health-check-enabled", "--health-check-path", "/health", "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2")["TargetGroups"].([]any)[0].(map[string]any)["TargetGroupArn"].(string)
	host, p, _ := net.SplitHostPort(b.addr)
	run("register-targets", "--target-group-arn", tg, "--targets", "Id="+host+",Port="+p)
	lbARN := run("create-load-balancer", "--name", "web", "--subnets", "subnet-1", "subnet-2")["LoadBalancers"].([]any)[0].(map[string]any)["LoadBalancerArn"].(string)
	own, self := freeTCPPort(t), freeTCPPort(t)
	for port, cert := range map[int]string{own: "web-cert", self: "no-file"} {
		run("create-listener", "--load-balancer-arn", lbARN, "--protocol", "HTTPS", "--port", strconv.Itoa(port),
			"--certificates", "CertificateArn=arn:aws:acm:us-east-1:000000000000:certificate/"+cert,
			"--default-actions", "Type=forward,TargetGroupArn="+tg)
	}

	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	strict := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var body string
	waitFor(t, "the HTTPS listener answers with the configured certificate", func() bool {
		resp, err := strict.Get(fmt.Sprintf("https://localhost:%d/", own))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "tls-backend" {
		t.Fatalf("body %q", body)
	}
	// The other listener's certificate is self-signed: the strict client
	// refuses it, curl -k is served.
	if _, err := strict.Get(fmt.Sprintf("https://localhost:%d/", self)); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed certificate accepted by a strict client: %v", err)
	}
	out, err := exec.Command("curl", "-sk", "--max-time", "5", fmt.Sprintf("https://127.0.0.1:%d/", self)).Output()
	if err != nil || string(out) != "tls-backend" {
		t.Fatalf("curl -k: %q %v", out, err)
	}
}

// writeCertificate writes a self-signed certificate for localhost and its
// key to path (one PEM file) and returns the certificate.
func writeCertificate(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}
