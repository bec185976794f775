package benchkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The key files WriteKeys makes in its folder.
const (
	// IssuerKeyFile is the access-token issuer's private key (PKCS#8).
	IssuerKeyFile = "issuer.key"
	// IssuerPublicFile is its public key (PKIX), the issuer's certificate line.
	IssuerPublicFile = "issuer.pub.pem"
	// RSAKeyFile is the RSA-2048 key that signs RS256 backend JWTs (PKCS#8).
	RSAKeyFile = "rsa2048.key"
	// P256KeyFile is the P-256 key that signs ES256 backend JWTs (PKCS#8).
	P256KeyFile = "p256.key"
)

// WriteKeys makes fresh keys in dir: an issuer key for accessAlg (RS256,
// EdDSA or ES256) with its public key, and the RSA-2048 and P-256 signing keys.
func WriteKeys(dir, accessAlg string) error {
	issuer, err := newIssuerKey(accessAlg)
	if err != nil {
		return err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating the RSA key: %w", err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the P-256 key: %w", err)
	}
	for name, key := range map[string]crypto.Signer{IssuerKeyFile: issuer, RSAKeyFile: rsaKey, P256KeyFile: p256} {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", name, err)
		}
		if err := writePEM(filepath.Join(dir, name), "PRIVATE KEY", der); err != nil {
			return err
		}
	}
	der, err := x509.MarshalPKIXPublicKey(issuer.Public())
	if err != nil {
		return fmt.Errorf("encoding the issuer's public key: %w", err)
	}
	return writePEM(filepath.Join(dir, IssuerPublicFile), "PUBLIC KEY", der)
}

func newIssuerKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generating the RSA issuer key: %w", err)
		}
		return k, nil
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating the Ed25519 issuer key: %w", err)
		}
		return k, nil
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating the P-256 issuer key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("access-token algorithm %q: want RS256, EdDSA or ES256", alg)
}

func writePEM(path, typ string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}

// LoadSigner reads a PKCS#8 private key written by WriteKeys.
func LoadSigner(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: no PRIVATE KEY PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New(path + ": not a signing key")
	}
	return s, nil
}
