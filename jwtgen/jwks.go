package jwtgen

import (
	"crypto"
	"encoding/json"
	"fmt"
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

// jsonWebKey is the JSON form of one public key.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// JWKS returns the JSON Web Key Set {"keys":[...]} of keys, each with its
// kid, alg (when given) and use "sig", in the order given.
func JWKS(keys []PublicKey) ([]byte, error) {
	set := struct {
		Keys []jsonWebKey `json:"keys"`
	}{Keys: make([]jsonWebKey, 0, len(keys))}
	for i, k := range keys {
		m, err := jwkMembers(k.Key)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if k.Algorithm != "" {
			alg, err := CanonicalAlgorithm(k.Algorithm)
			if err != nil || alg == None {
				return nil, fmt.Errorf("jwks: key %d: algorithm %q cannot be published", i, k.Algorithm)
			}
			if err := checkPublicKey(alg, k.Key); err != nil {
				return nil, fmt.Errorf("jwks: key %d: %w", i, err)
			}
			k.Algorithm = alg
		}
		kid := k.KeyID
		if kid == "" {
			if kid, err = Thumbprint(k.Key); err != nil {
				return nil, fmt.Errorf("jwks: key %d: %w", i, err)
			}
		}
		set.Keys = append(set.Keys, jsonWebKey{
			Kty: m.kty, Use: "sig", Kid: kid, Alg: k.Algorithm,
			Crv: m.crv, N: m.n, E: m.e, X: m.x, Y: m.y,
		})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return b, nil
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
