package validator

// This file holds every use of jwx in the validator, so that moving from the
// deprecated jwx v2 to v3 stays local.

import (
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// signatureVerifier checks a signature over a JWS signing input.
type signatureVerifier interface {
	Verify(signingInput, signature []byte, key any) error
}

// verifiers holds one jwx verifier per allowed algorithm; they are stateless.
var verifiers = func() map[string]signatureVerifier {
	m := make(map[string]signatureVerifier, len(algKeyTypes))
	for alg := range algKeyTypes {
		v, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
		if err != nil {
			panic(fmt.Sprintf("jwx has no verifier for %s: %v", alg, err))
		}
		m[alg] = v
	}
	return m
}()

// parseJWKS reads a JWK Set and returns its usable verification keys. Keys
// that cannot verify an allowed algorithm are dropped: symmetric (oct) keys,
// keys whose use is not "sig", keys whose stated alg is not allowed, and
// unsupported key types or sizes. dropped counts them.
func parseJWKS(body []byte) (keys []publicKey, dropped int, err error) {
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, 0, fmt.Errorf("parsing JWKS: %w", err)
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyType() == "oct" || (k.KeyUsage() != "" && k.KeyUsage() != "sig") {
			dropped++
			continue
		}
		alg := k.Algorithm().String()
		if _, ok := algKeyTypes[alg]; alg != "" && !ok {
			dropped++
			continue
		}
		raw, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			dropped++
			continue
		}
		typ, err := typeOf(raw)
		if err != nil {
			dropped++
			continue
		}
		keys = append(keys, publicKey{kid: k.KeyID(), alg: alg, typ: typ, key: raw})
	}
	return keys, dropped, nil
}
