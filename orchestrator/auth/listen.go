package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLSFiles name PEM files of a server's TLS configuration.
type TLSFiles struct {
	Cert, Key string
	// ClientCA, if set, turns on mutual TLS: clients must present a
	// certificate signed by one of its CAs.
	ClientCA string
}

// ServerTLS builds the server's TLS configuration; nil when no
// certificate is configured.
func ServerTLS(f TLSFiles) (*tls.Config, error) {
	if f.Cert == "" && f.Key == "" {
		if f.ClientCA != "" {
			return nil, errors.New("tls: a client CA needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: --tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCA != "" {
		pool, err := LoadCertPool(f.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadCertPool reads a PEM bundle of CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ErrInsecureListen is returned by CheckListen for a plain-text listener
// reachable from other machines.
var ErrInsecureListen = errors.New("listening without TLS on a non-loopback address")

// CheckListen refuses a listen address other machines can reach (not
// loopback: a wildcard, an interface address, a name resolving to one)
// without TLS, unless insecure is set.
func CheckListen(listen string, withTLS, insecure bool) error {
	if withTLS || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	loop := host == "localhost"
	if !loop && host != "" {
		if ip := net.ParseIP(host); ip != nil {
			loop = ip.IsLoopback()
		} else if ips, err := net.LookupIP(host); err == nil && len(ips) > 0 {
			loop = true
			for _, ip := range ips {
				loop = loop && ip.IsLoopback()
			}
		}
	}
	if !loop {
		return fmt.Errorf("%w (%s): give --tls-cert and --tls-key, or --insecure-listen to accept that tokens travel in clear", ErrInsecureListen, listen)
	}
	return nil
}
