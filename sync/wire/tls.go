package wire

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSConfig builds the gateway's TLS client config. With caFile empty it
// trusts the system roots; otherwise only the CAs in caFile (PEM), which pins
// the central platform's CA. With certFile and keyFile it presents that
// client certificate. TLS 1.2 is the minimum. Each file is read whole, up
// to maxPEMFile bytes.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := readPEM(caFile)
		if err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %q: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client certificate: give both cert file and key file, or neither")
	}
	if certFile != "" {
		certPEM, err := readPEM(certFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		keyPEM, err := readPEM(keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate %q: %w", certFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// maxPEMFile bounds a CA bundle, certificate or key file (a system's whole
// CA bundle is about 200 KiB).
const maxPEMFile = 4 << 20

func readPEM(path string) ([]byte, error) {
	b, tooBig, err := readBounded(path, maxPEMFile)
	if err != nil {
		return nil, err
	}
	if tooBig {
		return nil, fmt.Errorf("%s is over %d bytes: not a PEM file", path, maxPEMFile)
	}
	return b, nil
}
