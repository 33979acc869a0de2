package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// lbCerts gives HTTPS and TLS listeners their certificates. berth has no
// certificate manager: a listener's certificate ARN names a file in dir,
// <id>.pem holding the certificate chain and its private key, where <id>
// is the ARN's last path segment (arn:aws:acm:...:certificate/<id>). A
// certificate with no file is served self-signed (generated once per ARN,
// for the load balancer's DNS name, localhost and the listener host), so
// HTTPS works at once for clients told to trust it (curl -k).
type lbCerts struct {
	dir string

	mu    sync.Mutex
	self  map[string]*tls.Certificate // by ARN
	files map[string]loadedCert       // by path
}

// loadedCert is a certificate file as read at its modification time: the
// configuration is rebuilt on every ELB change, the file read only when it
// changed.
type loadedCert struct {
	mod  time.Time
	cert tls.Certificate
}

// config returns the TLS configuration for a listener's certificates (the
// first is the default, the others are chosen by SNI) and a key that
// changes when a certificate file changes.
func (c *lbCerts) config(arns []string, names []string, onSelfSigned func(arn string)) (*tls.Config, string, error) {
	var certs []tls.Certificate
	var key strings.Builder
	for _, arn := range arns {
		id := arn[strings.LastIndexByte(arn, '/')+1:]
		if c.dir != "" && id != "" {
			path := filepath.Join(c.dir, id+".pem")
			st, err := os.Stat(path)
			if err == nil {
				cert, err := c.load(path, st.ModTime())
				if err != nil {
					return nil, "", fmt.Errorf("certificate %s: %s: %w", arn, path, err)
				}
				certs = append(certs, cert)
				fmt.Fprintf(&key, "%s@%d;", path, st.ModTime().UnixNano())
				continue
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, "", fmt.Errorf("certificate %s: %w", arn, err)
			}
		}
		cert, fresh, err := c.selfSigned(arn, names)
		if err != nil {
			return nil, "", err
		}
		if fresh && onSelfSigned != nil {
			onSelfSigned(arn)
		}
		certs = append(certs, *cert)
		fmt.Fprintf(&key, "self:%s;", arn)
	}
	if len(certs) == 0 {
		return nil, "", errors.New("no certificate")
	}
	return &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, key.String(), nil
}

// load reads a certificate file unless it was read at the same
// modification time.
func (c *lbCerts) load(path string, mod time.Time) (tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.files[path]; ok && f.mod.Equal(mod) {
		return f.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(path, path)
	if err != nil {
		return cert, err
	}
	if c.files == nil {
		c.files = map[string]loadedCert{}
	}
	c.files[path] = loadedCert{mod: mod, cert: cert}
	return cert, nil
}

func (c *lbCerts) selfSigned(arn string, names []string) (*tls.Certificate, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.self[arn]; cert != nil {
		return cert, false, nil
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, false, fmt.Errorf("self-signed certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "berth load balancer", Organization: []string{"berth"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range append([]string{"localhost", "127.0.0.1"}, names...) {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, false, fmt.Errorf("self-signed certificate: %w", err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	if c.self == nil {
		c.self = map[string]*tls.Certificate{}
	}
	c.self[arn] = cert
	return cert, true, nil
}
