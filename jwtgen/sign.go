package jwtgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// signer signs a JWS signing input, appending the JWS signature (r||s for
// ECDSA) to dst.
type signer interface {
	sign(input, dst []byte) ([]byte, error)
}

// pssOptions are the RFC 7518 PS256 parameters: the salt as long as the hash.
var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

// newSigner returns the signer for alg and key, which CheckKey has accepted.
// The standard library's key types are used directly; any other
// crypto.Signer through its Sign method.
func newSigner(alg string, key crypto.Signer) (signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg == PS256 {
			return rsaPSS{k}, nil
		}
		return rsaPKCS1{k}, nil
	case *ecdsa.PrivateKey:
		return ecdsaP256{k}, nil
	case ed25519.PrivateKey:
		return ed25519Signer{k}, nil
	case *ed25519.PrivateKey:
		return ed25519Signer{*k}, nil
	}
	switch alg {
	case RS256, PS256, ES256, EdDSA:
		return genericSigner{alg: alg, key: key}, nil
	}
	return nil, fmt.Errorf("no signer for %s", alg)
}

type rsaPKCS1 struct{ key *rsa.PrivateKey }

func (s rsaPKCS1) sign(input, dst []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	sig, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA256, h[:])
	if err != nil {
		return nil, err
	}
	return append(dst, sig...), nil
}

type rsaPSS struct{ key *rsa.PrivateKey }

func (s rsaPSS) sign(input, dst []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	sig, err := rsa.SignPSS(rand.Reader, s.key, crypto.SHA256, h[:], pssOptions)
	if err != nil {
		return nil, err
	}
	return append(dst, sig...), nil
}

type ecdsaP256 struct{ key *ecdsa.PrivateKey }

func (s ecdsaP256) sign(input, dst []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	der, err := ecdsa.SignASN1(rand.Reader, s.key, h[:])
	if err != nil {
		return nil, err
	}
	return appendRawECDSA(dst, der, 32)
}

type ed25519Signer struct{ key ed25519.PrivateKey }

func (s ed25519Signer) sign(input, dst []byte) ([]byte, error) {
	return append(dst, ed25519.Sign(s.key, input)...), nil
}

// genericSigner signs through crypto.Signer.Sign, for keys held elsewhere.
type genericSigner struct {
	alg string
	key crypto.Signer
}

func (s genericSigner) sign(input, dst []byte) ([]byte, error) {
	if s.alg == EdDSA {
		sig, err := s.key.Sign(rand.Reader, input, crypto.Hash(0))
		if err != nil {
			return nil, err
		}
		return append(dst, sig...), nil
	}
	h := sha256.Sum256(input)
	var opts crypto.SignerOpts = crypto.SHA256
	if s.alg == PS256 {
		opts = pssOptions
	}
	sig, err := s.key.Sign(rand.Reader, h[:], opts)
	if err != nil {
		return nil, err
	}
	if s.alg == ES256 {
		return appendRawECDSA(dst, sig, 32)
	}
	return append(dst, sig...), nil
}

var errECDSASignature = errors.New("malformed ECDSA signature")

// appendRawECDSA converts an ASN.1 DER ECDSA signature, SEQUENCE { r
// INTEGER, s INTEGER }, to the JWS form r||s, each size bytes, big-endian.
func appendRawECDSA(dst, der []byte, size int) ([]byte, error) {
	if len(der) < 2 || der[0] != 0x30 || der[1] >= 0x80 || int(der[1]) != len(der)-2 {
		return nil, errECDSASignature
	}
	rest := der[2:]
	for range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || rest[1] >= 0x80 || int(rest[1]) > len(rest)-2 {
			return nil, errECDSASignature
		}
		n := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		for len(n) > 0 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > size {
			return nil, errECDSASignature
		}
		for range size - len(n) {
			dst = append(dst, 0)
		}
		dst = append(dst, n...)
	}
	if len(rest) != 0 {
		return nil, errECDSASignature
	}
	return dst, nil
}
