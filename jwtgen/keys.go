package jwtgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// MinRSABits is the smallest RSA modulus accepted for RS256 and PS256.
const MinRSABits = 2048

// CanonicalAlgorithm returns the JWS name of a configured algorithm: RS256
// (alias SHA256withRSA), PS256, ES256, EdDSA or none (alias NONE). Any
// other name is an error.
func CanonicalAlgorithm(name string) (string, error) {
	switch name {
	case RS256, "SHA256withRSA":
		return RS256, nil
	case PS256, ES256, EdDSA:
		return name, nil
	case None, "NONE":
		return None, nil
	case "":
		return "", errors.New("no algorithm given (want RS256, PS256, ES256, EdDSA or none)")
	}
	return "", fmt.Errorf("unknown algorithm %q (want RS256, SHA256withRSA, PS256, ES256, EdDSA, none or NONE)", name)
}

// describeKey names a public key's type and size for error messages.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA %d-bit key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("an ECDSA %s key", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("a key of type %T", pub)
}

// CheckKey reports whether key fits the algorithm alg (a name or alias):
// RSA of at least 2048 bits for RS256 and PS256, ECDSA P-256 for ES256,
// Ed25519 for EdDSA, and no key for none.
func CheckKey(alg string, key crypto.Signer) error {
	alg, err := CanonicalAlgorithm(alg)
	if err != nil {
		return err
	}
	if alg == None {
		if key != nil {
			return errors.New("algorithm none takes no signing key")
		}
		return nil
	}
	if key == nil {
		return fmt.Errorf("%s needs a signing key", alg)
	}
	pub := key.Public()
	switch alg {
	case RS256, PS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an RSA key, got %s", alg, describeKey(pub))
		}
		if bits := k.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("%s needs an RSA key of at least %d bits, got %d bits", alg, MinRSABits, bits)
		}
	case ES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("ES256 needs an ECDSA P-256 key, got %s", describeKey(pub))
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ES256 needs a P-256 key, got %s", k.Curve.Params().Name)
		}
	case EdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("EdDSA needs an Ed25519 key, got %s", describeKey(pub))
		}
	}
	return nil
}

// checkCertificate reports whether cert certifies key's public key.
func checkCertificate(cert *x509.Certificate, key crypto.Signer) error {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return fmt.Errorf("the certificate %q (%s) is not the signing key's (%s)",
			cert.Subject.String(), describeKey(cert.PublicKey), describeKey(key.Public()))
	}
	return nil
}

// GenerateKey returns a new key for alg: RSA 2048 for RS256 and PS256,
// ECDSA P-256 for ES256, Ed25519 for EdDSA.
func GenerateKey(alg string) (crypto.Signer, error) {
	alg, err := CanonicalAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	switch alg {
	case RS256, PS256:
		k, err := rsa.GenerateKey(rand.Reader, MinRSABits)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		return k, nil
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate P-256 key: %w", err)
		}
		return k, nil
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("algorithm %s has no key", alg)
}

// MarshalPrivateKeyPEM encodes key as a PKCS#8 "PRIVATE KEY" PEM block, for
// storing a managed key.
func MarshalPrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if k, ok := key.(*ed25519.PrivateKey); ok {
		key = *k
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM returns the private key in PEM data: PKCS#1 ("RSA
// PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// Other blocks (certificates, EC PARAMETERS) are skipped; encrypted keys,
// no key or several keys are errors. Errors never include key material.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	var found crypto.Signer
	sawPEM := false
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		var parse func([]byte) (crypto.Signer, error)
		switch block.Type {
		case "RSA PRIVATE KEY":
			parse = parsePKCS1
		case "PRIVATE KEY":
			parse = parsePKCS8
		case "EC PRIVATE KEY":
			parse = parseSEC1
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted (PKCS#8 ENCRYPTED PRIVATE KEY); give an unencrypted key")
		default:
			continue
		}
		if _, ok := block.Headers["DEK-Info"]; ok {
			return nil, fmt.Errorf("the %s PEM block is encrypted; give an unencrypted key", block.Type)
		}
		if found != nil {
			return nil, errors.New("more than one private key in the PEM data")
		}
		key, err := parse(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s PEM block: %w", block.Type, err)
		}
		found = key
	}
	switch {
	case found != nil:
		return found, nil
	case sawPEM:
		return nil, errors.New("no private key in the PEM data (want an RSA PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY block)")
	default:
		return nil, errors.New("no PEM data found")
	}
}

func parsePKCS1(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS#1: %w", err)
	}
	return k, nil
}

func parseSEC1(der []byte) (crypto.Signer, error) {
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("SEC 1: %w", err)
	}
	return k, nil
}

func parsePKCS8(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign", k)
}

// ParseCertificatesPEM returns every CERTIFICATE block in data, in order:
// the signing key's certificate first, then its chain. Other blocks are
// skipped; no certificate is an error.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block in the PEM data")
	}
	return certs, nil
}

// X5TWSO2Value returns the x5t of cert in the WSO2 format: base64url, with
// padding, of the lowercase hex SHA-1 of the certificate's DER.
func X5TWSO2Value(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // the header format demands SHA-1
	return base64.URLEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
}

// X5TRFC7515Value returns the x5t of cert as RFC 7515 defines it: base64url,
// without padding, of the SHA-1 of the certificate's DER.
func X5TRFC7515Value(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // the header format demands SHA-1
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
