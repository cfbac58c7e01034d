package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/elk-project/elk/orchestrator/auth"
)

// Environment variables of the CLI's transport.
const (
	// EnvToken is the bearer token sent to the server.
	EnvToken = "ELK_TOKEN"
	// EnvCACert names a PEM file of CAs that sign the server's certificate.
	EnvCACert = "ELK_CACERT"
	// EnvClientCert and EnvClientKey name the PEM client certificate and
	// key presented to a server that requires mutual TLS.
	EnvClientCert = "ELK_CLIENT_CERT"
	EnvClientKey  = "ELK_CLIENT_KEY"
)

// TransportConfig says how to reach a server: the token and the TLS files.
type TransportConfig struct {
	Token                         string
	CACert, ClientCert, ClientKey string
}

// ConfigFromEnv reads ELK_TOKEN, ELK_CACERT, ELK_CLIENT_CERT and
// ELK_CLIENT_KEY. Without ELK_TOKEN the token is the one a server on this
// machine at addr published in the local index (auth.LookupLocal): that
// is how `elk status` finds the token of `elk up` or `elk server`.
func ConfigFromEnv(addr string, getenv func(string) string) (TransportConfig, error) {
	c := TransportConfig{
		Token: getenv(EnvToken), CACert: getenv(EnvCACert),
		ClientCert: getenv(EnvClientCert), ClientKey: getenv(EnvClientKey),
	}
	if c.Token == "" {
		tok, ok, err := auth.LookupLocal(getenv, addr)
		if err != nil {
			return c, fmt.Errorf("find the token of the server at %s (or set %s): %w", addr, EnvToken, err)
		}
		if ok {
			c.Token = tok
		}
	}
	return c, nil
}

// TLSConfig builds the client's TLS configuration; nil when no TLS file
// is named (the system's CAs then verify an https server).
func (c TransportConfig) TLSConfig() (*tls.Config, error) {
	if c.CACert == "" && c.ClientCert == "" && c.ClientKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pool, err := auth.LoadCertPool(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCACert, err)
		}
		cfg.RootCAs = pool
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return nil, errors.New("tls: " + EnvClientCert + " and " + EnvClientKey + " go together")
	}
	if c.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("tls: load %s and %s: %w", EnvClientCert, EnvClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// HTTPClient returns an HTTP client that sends the token and uses the TLS
// configuration.
func (c TransportConfig) HTTPClient() (*http.Client, error) {
	tc, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil {
		base.TLSClientConfig = tc
	}
	return &http.Client{Transport: &Transport{Token: c.Token, Base: base}}, nil
}

// Transport adds Authorization: Bearer Token to every request that has
// none.
type Transport struct {
	Token string
	// Base sends the requests (http.DefaultTransport when nil).
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == "" || r.Header.Get("Authorization") != "" {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return base.RoundTrip(r)
}
