package jwtgen

import (
	"crypto"
)

// PublicKey is one key to publish in a JWKS.
type PublicKey struct {
	// Key is an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Key crypto.PublicKey
	// KeyID is the kid; empty means the RFC 7638 thumbprint, which is
	// what Generator.KeyID returns for the same key.
	KeyID string
	// Algorithm is the alg the key signs with (e.g. RS256); empty leaves
	// alg out.
	Algorithm string
}

// publicOnly is a crypto.Signer that only has a public key, so CheckKey's
// rules apply to a public key.
type publicOnly struct {
	crypto.Signer
	pub crypto.PublicKey
}

func (p publicOnly) Public() crypto.PublicKey { return p.pub }

// checkPublicKey applies CheckKey's rules to a public key.
func checkPublicKey(alg string, pub crypto.PublicKey) error {
	return CheckKey(alg, publicOnly{pub: pub})
}
