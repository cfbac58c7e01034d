package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/auth"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func pki(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "elk test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", kd)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return
}

// TestTLS: the CLI's transport verifies the server with ELK_CACERT, and a
// server with a client CA (mutual TLS) admits only clients presenting
// ELK_CLIENT_CERT/ELK_CLIENT_KEY signed by it.
func TestTLS(t *testing.T) {
	ca, srvCert, srvKey, cliCert, cliKey := pki(t, t.TempDir())
	for _, tc := range []struct {
		name    string
		mtls    bool
		env     map[string]string
		wantErr bool
	}{
		{name: "server verified with ELK_CACERT", env: map[string]string{EnvCACert: ca}},
		{name: "unknown CA refused", env: map[string]string{}, wantErr: true},
		{name: "mutual TLS with a client certificate", mtls: true, env: map[string]string{EnvCACert: ca, EnvClientCert: cliCert, EnvClientKey: cliKey}},
		{name: "mutual TLS without a client certificate", mtls: true, env: map[string]string{EnvCACert: ca}, wantErr: true},
		{name: "client CA as a server certificate refused", mtls: true, env: map[string]string{EnvCACert: ca, EnvClientCert: srvCert, EnvClientKey: srvKey}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := auth.TLSFiles{Cert: srvCert, Key: srvKey}
			if tc.mtls {
				files.ClientCA = ca
			}
			cfg, err := auth.ServerTLS(files)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer tok-0123456789abcdef" {
					w.WriteHeader(http.StatusUnauthorized)
				}
			}))
			srv.TLS = cfg
			srv.StartTLS()
			defer srv.Close()
			env := map[string]string{EnvToken: "tok-0123456789abcdef"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := ConfigFromEnv(srv.URL, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			hc, err := c.HTTPClient()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(srv.URL + "/v1/apps")
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded (%s), want a TLS failure", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s, want 200 with the token sent", resp.Status)
			}
		})
	}
}
