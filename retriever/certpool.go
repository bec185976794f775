package retriever

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertPoolPEM returns a pool of the certificates in PEM data (the
// ca_cert file): every "CERTIFICATE" block. Other block types, such as a
// private key kept in the same file, are skipped. It fails when a
// certificate block does not parse or when data holds no certificate.
func ParseCertPoolPEM(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n, blocks := 0, 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate %d: %w", blocks, err)
		}
		pool.AddCert(cert)
		n++
	}
	switch {
	case n > 0:
		return pool, nil
	case blocks > 0:
		return nil, fmt.Errorf("no CERTIFICATE block among %d PEM blocks", blocks)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, errors.New("no PEM data: the input is empty")
	default:
		return nil, errors.New("no PEM data found")
	}
}
