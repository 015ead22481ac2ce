package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are PEM files for a TLS broker and its clients, made for one test: a CA, a server
// certificate for 127.0.0.1 and localhost, a client certificate signed by the CA, and a
// client certificate signed by another CA the broker does not trust.
type Certs struct {
	Dir                   string
	CA                    string // the CA certificate (what clients and the broker trust)
	ServerCert, ServerKey string
	ClientCert, ClientKey string // signed by CA
	RogueCert, RogueKey   string // signed by a CA nobody trusts
}

// NewCerts writes a fresh set of certificates (ECDSA P-256, valid from an hour ago for a
// day) into a temporary directory.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{Dir: dir}
	caCert, caKey := newCA(t, "imagent test CA")
	c.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", caCert.Raw)
	c.ServerCert, c.ServerKey = newLeaf(t, dir, "server", caCert, caKey, true)
	c.ClientCert, c.ClientKey = newLeaf(t, dir, "client", caCert, caKey, false)
	rogueCA, rogueKey := newCA(t, "rogue CA")
	c.RogueCert, c.RogueKey = newLeaf(t, dir, "rogue", rogueCA, rogueKey, false)
	return c
}

// ClientTLS returns a client configuration that trusts the CA and, if withCert, presents
// the client certificate.
func (c *Certs) ClientTLS(t testing.TB, certFile, keyFile string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(c.CA)
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("brokertest: CA: %v", err)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("brokertest: client key pair: %v", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("brokertest: key: %v", err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("brokertest: serial: %v", err)
	}
	return n
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("brokertest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("brokertest: CA certificate: %v", err)
	}
	return cert, key
}

func newLeaf(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (string, string) {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "imagent-test-" + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("brokertest: %s certificate: %v", name, err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("brokertest: %s key: %v", name, err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", kb)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return p
}

// WithTLS makes the listener TLS-only with the given certificates; requireClientCert makes it
// mutual TLS (a client without a certificate signed by the CA is refused). URL becomes
// ssl://127.0.0.1:port.
func WithTLS(c *Certs, requireClientCert bool) MosquittoOption {
	return func(m *mosqConf) {
		m.tls = true
		m.extra = append(m.extra, "cafile "+c.CA, "certfile "+c.ServerCert, "keyfile "+c.ServerKey)
		if requireClientCert {
			m.extra = append(m.extra, "require_certificate true")
		}
	}
}
