package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// keyType is the kind of public key an algorithm needs.
type keyType int

const (
	keyUnusable keyType = iota
	keyRSA
	keyP256
	keyP384
	keyP521
	keyEd25519
)

// minRSABits is the smallest RSA modulus accepted for access-token keys.
const minRSABits = 2048

// algKeyTypes lists every algorithm that may sign an access token and the key
// type it needs. HMAC algs and none are absent on purpose: they are refused
// whatever a key set says.
var algKeyTypes = map[string]keyType{
	"RS256": keyRSA, "RS384": keyRSA, "RS512": keyRSA,
	"PS256": keyRSA, "PS384": keyRSA, "PS512": keyRSA,
	"ES256": keyP256, "ES384": keyP384, "ES512": keyP521,
	"EdDSA": keyEd25519,
}

// DefaultAlgorithms is the per-issuer allowlist when none is configured.
var DefaultAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// SupportedAlgorithms returns, sorted, every algorithm an issuer may allow.
func SupportedAlgorithms() []string {
	algs := make([]string, 0, len(algKeyTypes))
	for alg := range algKeyTypes {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	return algs
}

// CheckAlgorithm returns an error unless alg may sign access tokens.
func CheckAlgorithm(alg string) error {
	if _, ok := algKeyTypes[alg]; ok {
		return nil
	}
	if strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS") {
		return fmt.Errorf("algorithm %q is refused for access tokens (no HMAC, no none); use one of %s", alg, strings.Join(SupportedAlgorithms(), " "))
	}
	return fmt.Errorf("unknown algorithm %q; use one of %s", alg, strings.Join(SupportedAlgorithms(), " "))
}

// publicKey is a verification key with what limits its use.
type publicKey struct {
	kid string // "" for a key from a certificate
	alg string // the alg the key set states for it; "" means any alg of its type
	typ keyType
	key crypto.PublicKey
}

// fits reports whether the key may verify a token signed with alg.
func (k *publicKey) fits(alg string) bool {
	return algKeyTypes[alg] == k.typ && (k.alg == "" || k.alg == alg)
}

// typeOf classifies a public key, refusing kinds and sizes that no allowed
// algorithm uses.
func typeOf(pub crypto.PublicKey) (keyType, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return keyUnusable, fmt.Errorf("RSA key of %d bits is shorter than %d", k.N.BitLen(), minRSABits)
		}
		return keyRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return keyP256, nil
		case elliptic.P384():
			return keyP384, nil
		case elliptic.P521():
			return keyP521, nil
		}
		return keyUnusable, fmt.Errorf("unsupported elliptic curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return keyEd25519, nil
	}
	return keyUnusable, fmt.Errorf("unsupported key type %T", pub)
}

// ParsePublicKeysPEM reads every certificate or public key in a PEM file, in
// order: CERTIFICATE, PUBLIC KEY (PKIX) and RSA PUBLIC KEY (PKCS#1) blocks.
// A private key block is an error: the gateway needs only the public half.
func ParsePublicKeysPEM(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("PEM block %d is a private key; give the certificate or public key instead", n)
			}
			return nil, fmt.Errorf("PEM block %d has type %q; want CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		if _, err := typeOf(pub); err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM certificate or public key found")
	}
	return keys, nil
}
