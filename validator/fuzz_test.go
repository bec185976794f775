package validator

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// The issuers of the fuzzed Validator. Both use certificates only, so
// validation never touches the network.
const (
	fuzzIssuer           = "https://fuzz.example/certs"
	fuzzSubscribedIssuer = "https://fuzz.example/subscribed"
)

// fuzzKeySeed is the seed of the fixed Ed25519 key that signed the valid
// tokens of the checked-in corpus (testdata/fuzz/FuzzValidate). Its exp is
// 253402300799, the largest accepted, so those tokens stay valid.
var fuzzKeySeed = sha256.Sum256([]byte("caddy-backend-jwt FuzzValidate fixed key"))

// fuzzEd25519 is the fixed key of the checked-in corpus.
func fuzzEd25519() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(fuzzKeySeed[:]) }

// fuzzValidator builds the Validator under fuzz: two certificate issuers
// holding the fixed Ed25519 key and the test kit's RSA key, every supported
// algorithm allowed, an API, and a small validated-token cache. The second
// issuer requires the audience "gw" and a subscription.
func fuzzValidator(f *testing.F) (*Validator, []crypto.PublicKey) {
	pubs := []crypto.PublicKey{fuzzEd25519().Public(), publicOf(keys(f).RSA)}
	v := newValidator(f, Config{
		Issuers: []IssuerConfig{
			{Issuer: fuzzIssuer, PublicKeys: pubs, Algorithms: SupportedAlgorithms()},
			{Issuer: fuzzSubscribedIssuer, PublicKeys: pubs, Audiences: []string{"gw"}, ValidateSubscription: true},
		},
		API:       &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		CacheSize: 64,
	})
	return v, pubs
}

// fuzzClaims are access-token claims for iss, valid until the largest exp.
func fuzzClaims(iss string) map[string]any {
	return map[string]any{
		"iss": iss, "sub": "admin@carbon.super", "jti": "fuzz-1", "aud": "gw",
		"iat": 1700000000, "nbf": 1700000000, "exp": maxTimestamp,
		"subscribedAPIs": []any{map[string]any{"name": "PizzaShackAPI", "version": "1.0.0", "subscriptionTier": "Gold"}},
	}
}

// FuzzValidate feeds any string to Validate as a token. It never panics; it
// either fails with an error wrapping exactly one of the four error kinds
// (never ErrKeysUnavailable: there is no JWKS here) or returns a Token
// whose signature really verifies, checked with the standard library only.
// An error never quotes an input longer than 100 bytes whole.
func FuzzValidate(f *testing.F) {
	k := keys(f)
	ed := fuzzEd25519()
	n := time.Now().Unix()
	valid := sign(f, "EdDSA", ed, map[string]any{"alg": "EdDSA", "typ": "JWT"}, fuzzClaims(fuzzIssuer))
	validRSA := sign(f, "RS256", k.RSA, map[string]any{"alg": "RS256"}, fuzzClaims(fuzzIssuer))
	validPS := sign(f, "PS256", k.RSA, map[string]any{"alg": "PS256", "kid": "any"}, fuzzClaims(fuzzSubscribedIssuer))
	validRS512 := sign(f, "RS512", k.RSA, map[string]any{"alg": "RS512"}, fuzzClaims(fuzzIssuer))
	expired := sign(f, "RS256", k.RSA, map[string]any{"alg": "RS256"}, func() map[string]any {
		c := fuzzClaims(fuzzIssuer)
		c["exp"] = n - 600
		return c
	}())
	unsubscribed := sign(f, "EdDSA", ed, map[string]any{"alg": "EdDSA"}, func() map[string]any {
		c := fuzzClaims(fuzzSubscribedIssuer)
		delete(c, "subscribedAPIs")
		return c
	}())
	parts := strings.Split(valid, ".")
	seeds := []string{
		valid, validRSA, validPS, validRS512, expired, unsubscribed,
		valid + "=", valid + "==", parts[0] + "." + parts[1], parts[0] + "." + parts[1] + ".",
		valid + "." + parts[2], strings.ReplaceAll(validRSA, "-", "+"),
		parts[0] + "." + b64([]byte(`{"iss":"`+fuzzIssuer+`","exp":253402300799,"sub":"root"}`)) + "." + parts[2],
		sign(f, "none", nil, map[string]any{"alg": "none"}, fuzzClaims(fuzzIssuer)),
		sign(f, "HS256", testkit.PublicKeyPEM(f, k.RSA), map[string]any{"alg": "HS256"}, fuzzClaims(fuzzIssuer)),
		sign(f, "EdDSA", ed, map[string]any{"alg": "EdDSA", "crit": []string{"x"}, "x": 1}, fuzzClaims(fuzzIssuer)),
		sign(f, "EdDSA", ed, []byte(`{"alg":"EdDSA","alg":"none"}`), fuzzClaims(fuzzIssuer)),
		sign(f, "EdDSA", ed, map[string]any{"alg": "EdDSA"}, []byte(`{"iss":"`+fuzzIssuer+`","exp":1e10}`)),
		sign(f, "EdDSA", ed, map[string]any{"alg": "EdDSA"}, []byte(`{"iss":"`+fuzzIssuer+`","exp":253402300799,"x":"\ud800"}`)),
		"", ".", "..", "a.b.c", "a.b.c.d.e", strings.Repeat("A", 200),
	}
	for _, s := range seeds {
		f.Add(s)
	}

	v, pubs := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := v.Validate(token)
		if err != nil {
			checkErrorKind(t, err)
			if errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("ErrKeysUnavailable without any JWKS: %v", err)
			}
			if len(token) > 100 && strings.Contains(err.Error(), token) {
				t.Fatal("the error quotes the whole token")
			}
			if len(err.Error()) > 512 {
				t.Fatalf("an error of %d bytes: %.200q...", len(err.Error()), err)
			}
			switch {
			case errors.Is(err, ErrNotSubscribed):
				// The token is valid in every other respect.
				if tok == nil {
					t.Fatal("ErrNotSubscribed without the token")
				}
			case tok != nil:
				t.Fatalf("a token with the error %v", err)
			}
			if errors.Is(err, ErrInvalid) {
				return
			}
		}
		// Valid, expired or not subscribed: only after the signature verified.
		if vErr := verifyIndependently(token, pubs); vErr != nil {
			t.Fatalf("Validate answered %v, but the signature does not verify: %v", err, vErr)
		}
		if tok == nil {
			return
		}
		if tok.Issuer == nil || (tok.Issuer.Issuer != fuzzIssuer && tok.Issuer.Issuer != fuzzSubscribedIssuer) {
			t.Fatalf("issuer %+v", tok.Issuer)
		}
		if tok.Digest != sha256.Sum256([]byte(token)) {
			t.Fatal("Digest is not the SHA-256 of the token")
		}
		if !slices.Contains(tok.Issuer.Algorithms, tok.Algorithm) {
			t.Fatalf("alg %q is not in the issuer's list", tok.Algorithm)
		}
		if tok.Expires.Unix() < 0 || tok.Expires.Unix() > maxTimestamp {
			t.Fatalf("exp %v out of range", tok.Expires)
		}
		var claims map[string]json.RawMessage
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
		if json.Unmarshal(payload, &claims) != nil || len(claims) != len(tok.Claims) {
			t.Fatalf("encoding/json reads the payload differently: %q", payload)
		}
	})
}

// checkErrorKind fails the test unless err wraps exactly one of the kinds
// of validation error.
func checkErrorKind(t *testing.T, err error) {
	t.Helper()
	kinds := 0
	for _, kind := range []error{ErrInvalid, ErrExpired, ErrNotSubscribed, ErrKeysUnavailable, ErrForbidden} {
		if errors.Is(err, kind) {
			kinds++
		}
	}
	if kinds != 1 {
		t.Fatalf("error %q wraps %d of the error kinds, want exactly 1", err, kinds)
	}
}

// verifyIndependently checks a compact JWS with the standard library only:
// three parts in unpadded base64url, a header naming an RS*, PS*, ES* or
// EdDSA alg, and a signature by one of pubs.
func verifyIndependently(token string, pubs []crypto.PublicKey) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d parts", len(parts))
	}
	enc := base64.RawURLEncoding.Strict()
	hdr, err := enc.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hdr, &header); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	input := []byte(parts[0] + "." + parts[1])
	for _, pub := range pubs {
		if stdVerify(header.Alg, pub, input, sig) {
			return nil
		}
	}
	return fmt.Errorf("no key verifies the %q signature", header.Alg)
}

// stdVerify reports whether sig is a valid alg signature of input by pub.
func stdVerify(alg string, pub crypto.PublicKey, input, sig []byte) bool {
	if alg == "EdDSA" {
		k, ok := pub.(ed25519.PublicKey)
		return ok && ed25519.Verify(k, input, sig)
	}
	if len(alg) != 5 {
		return false
	}
	var id crypto.Hash
	var h hash.Hash
	switch alg[2:] {
	case "256":
		id, h = crypto.SHA256, sha256.New()
	case "384":
		id, h = crypto.SHA384, sha512.New384()
	case "512":
		id, h = crypto.SHA512, sha512.New()
	default:
		return false
	}
	h.Write(input)
	digest := h.Sum(nil)
	switch alg[:2] {
	case "RS":
		k, ok := pub.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(k, id, digest, sig) == nil
	case "PS":
		k, ok := pub.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(k, id, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// FuzzMatchSubscription compares matchSubscription with encoding/json
// decoding the claim into []Subscription, on every claim the strict reader
// accepts. The one difference is intended: member names must be written
// exactly as the JSON tags (encoding/json also takes them in any case), so
// the reference matches names exactly too.
func FuzzMatchSubscription(f *testing.F) {
	for _, s := range []string{
		`[{"name":"PizzaShackAPI","version":"1.0.0","subscriptionTier":"Gold"}]`,
		`[{"name":"PizzaShackAPI","version":"*"},{"name":"PizzaShackAPI","version":"1.0.0"}]`,
		`[null,{"n\u0061me":"Pizza\u0053hackAPI","version":"1.0.0","publisher":null,"x":[{}]}]`,
		`[{"name":"PizzaShackAPI","version":"1.0.0"},1]`, `[{"name":1}]`, `[[]]`, `[]`, `null`, `{}`, `"x"`,
		`[{"Name":"PizzaShackAPI","version":"1.0.0"}]`, `[{"context":"\ud83d\ude00","subscriberTenantDomain":"\n"}]`,
	} {
		f.Add([]byte(s), "PizzaShackAPI", "1.0.0")
	}
	f.Add([]byte(`[{}]`), "", "")
	f.Fuzz(func(t *testing.T, claim []byte, name, version string) {
		if _, err := strictjson.ParseObject(append(append([]byte(`{"s":`), claim...), '}')); err != nil {
			return // the strict reader refuses the claim, so no Token holds it
		}
		api := &API{Name: name, Version: version}
		got, want := matchSubscription(claim, api), referenceSubscription(claim, api)
		switch {
		case got == nil && want == nil:
		case got == nil || want == nil || *got != *want:
			t.Fatalf("matchSubscription %+v, encoding/json %+v, claim %q", got, want, claim)
		}
	})
}

// referenceSubscription is what matchSubscription must return, built on
// encoding/json with member names matched exactly.
func referenceSubscription(claim json.RawMessage, api *API) *Subscription {
	if len(bytes.TrimSpace(claim)) == 0 {
		return nil
	}
	var entries []json.RawMessage
	if json.Unmarshal(claim, &entries) != nil {
		return nil
	}
	subs := make([]Subscription, len(entries))
	for i, entry := range entries {
		if string(entry) == "null" {
			continue
		}
		var members map[string]json.RawMessage
		if json.Unmarshal(entry, &members) != nil || members == nil {
			return nil
		}
		s := &subs[i]
		for name, field := range map[string]*string{
			"name": &s.Name, "version": &s.Version, "context": &s.Context, "publisher": &s.Publisher,
			"subscriptionTier": &s.SubscriptionTier, "subscriberTenantDomain": &s.SubscriberTenantDomain,
		} {
			if raw, ok := members[name]; ok && json.Unmarshal(raw, field) != nil {
				return nil
			}
		}
	}
	for i := range subs {
		if subs[i].Name == api.Name && (subs[i].Version == api.Version || subs[i].Version == "*") {
			return &subs[i]
		}
	}
	return nil
}
