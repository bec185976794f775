package jwtgen

// This file holds every use of jwx in jwtgen, so that moving from the
// deprecated jwx v2 to v3 stays local. Signing does not use jwx: it uses
// the parsed standard-library keys directly (see sign.go).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Thumbprint returns the RFC 7638 JWK thumbprint of pub (SHA-256,
// base64url without padding): the kid of the tokens and of the JWKS. pub is
// an *rsa.PublicKey, *ecdsa.PublicKey (P-256, P-384, P-521) or
// ed25519.PublicKey.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// JWKS returns the JSON Web Key Set {"keys":[...]} of keys, each with its
// kid, alg (when given) and use "sig", in the order given.
func JWKS(keys []PublicKey) ([]byte, error) {
	set := jwk.NewSet()
	for i, pk := range keys {
		k, err := publicJWK(pk.Key)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		kid := pk.KeyID
		if kid == "" {
			if kid, err = Thumbprint(pk.Key); err != nil {
				return nil, fmt.Errorf("jwks: key %d: %w", i, err)
			}
		}
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if err := k.Set(jwk.KeyUsageKey, jwk.ForSignature); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if pk.Algorithm != "" {
			alg, err := CanonicalAlgorithm(pk.Algorithm)
			if err != nil || alg == None {
				return nil, fmt.Errorf("jwks: key %d: algorithm %q cannot be published", i, pk.Algorithm)
			}
			if err := checkPublicKey(alg, pk.Key); err != nil {
				return nil, fmt.Errorf("jwks: key %d: %w", i, err)
			}
			if err := k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)); err != nil {
				return nil, fmt.Errorf("jwks: key %d: %w", i, err)
			}
		}
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return b, nil
}

// publicJWK is the JWK of a supported public key.
func publicJWK(pub crypto.PublicKey) (jwk.Key, error) {
	if err := checkPublicKeyType(pub); err != nil {
		return nil, err
	}
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("public key to JWK: %w", err)
	}
	return k, nil
}

// checkPublicKeyType refuses keys no supported algorithm signs with.
func checkPublicKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey, ed25519.PublicKey:
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}
