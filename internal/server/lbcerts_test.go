package server

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestLBCertsFileAndSelfSigned(t *testing.T) {
	dir := t.TempDir()
	// A certificate file named after the ARN's id is served.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	leaf := srv.Certificate()
	key, err := x509.MarshalPKCS8PrivateKey(srv.TLS.Certificates[0].PrivateKey)
	srv.Close()
	if err != nil {
		t.Fatal(err)
	}
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	if err := os.WriteFile(filepath.Join(dir, "abc-123.pem"), pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &lbCerts{dir: dir}
	cfg, k1, err := c.config([]string{"arn:aws:acm:us-east-1:000000000000:certificate/abc-123"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); !got.Equal(leaf) {
		t.Fatal("the file's certificate is not served")
	}
	// A certificate without a file is self-signed once, announced once.
	var announced []string
	note := func(arn string) { announced = append(announced, arn) }
	arn := "arn:aws:acm:us-east-1:000000000000:certificate/none"
	cfg, k2, err := c.config([]string{arn}, []string{"10.1.2.3"}, note)
	if err != nil {
		t.Fatal(err)
	}
	_, k3, _ := c.config([]string{arn}, []string{"10.1.2.3"}, note)
	if len(announced) != 1 || k2 != k3 || k1 == k2 {
		t.Fatalf("announced %v, keys %q %q %q", announced, k1, k2, k3)
	}
	got, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err := got.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := got.VerifyHostname("10.1.2.3"); err != nil {
		t.Error(err)
	}
	// A broken file is an error naming it, not a silent self-signed one.
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not pem"), 0o600)
	if _, _, err := c.config([]string{"arn:aws:acm:us-east-1:000000000000:certificate/bad"}, nil, nil); err == nil {
		t.Fatal("broken certificate file accepted")
	}
}
