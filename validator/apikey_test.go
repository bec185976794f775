package validator

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// The API keys of these tests are minted as WSO2 API Manager mints them, as
// read in carbon-apimgt's
// components/apimgt/org.wso2.carbon.apimgt.impl/src/main/java/org/wso2/carbon/apimgt/impl/token/DefaultApiKeyGenerator.java
// (API Manager 4.x; the 3.x one differs only in writing no token_type):
//
//   - the header is {"typ":"JWT","alg":"RS256","x5t":...,"kid":...}: x5t is
//     the base64url (padded) of the lowercase hex SHA-1 of the signing
//     certificate, kid the API-key alias;
//   - the claims are sub (with the tenant), jti (a UUID), iss (the key
//     manager's ID token issuer), iat, exp (none for a key that never
//     expires), subscribedAPIs, tierInfo, application, keytype, token_type
//     "apiKey", and permittedIP and permittedReferer (as given, "" when
//     none), written by json-smart, which escapes '/' as "\/";
//   - every part is encoded with java.util.Base64.getUrlEncoder(), which
//     pads with '=', and the signature is SHA256withRSA over the padded
//     header and payload.

// The API-key signing key of the tests, made once: API Manager signs API
// keys with a key of its own (the apikeysign keystore).
var (
	apiKeyRSAOnce sync.Once
	apiKeyRSA     *rsa.PrivateKey
)

func apiKeySigner(t testing.TB) *rsa.PrivateKey {
	apiKeyRSAOnce.Do(func() {
		var err error
		if apiKeyRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return apiKeyRSA
}

// apiKeyCertPEM is a certificate of the API-key signing key.
func apiKeyCertPEM(t testing.TB) []byte {
	return testkit.CertificatePEM(t, apiKeySigner(t), "apikeysign")
}

// wso2Encode is java.util.Base64.getUrlEncoder().encodeToString: base64url
// with '=' padding.
func wso2Encode(b []byte) string { return base64.URLEncoding.EncodeToString(b) }

// wso2JSON marshals v as json-smart writes it: '/' escaped as "\/".
func wso2JSON(t testing.TB, v any) []byte {
	return bytes.ReplaceAll(testkit.MustJSON(t, v), []byte("/"), []byte(`\/`))
}

// wso2X5T is the x5t API Manager writes for a PEM certificate.
func wso2X5T(t testing.TB, certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	sum := sha1.Sum(block.Bytes)
	return wso2Encode([]byte(hex.EncodeToString(sum[:])))
}

// wso2Header is the header of an API key signed alg by the key of certPEM.
func wso2Header(t testing.TB, certPEM []byte, alg string) map[string]any {
	return map[string]any{"x5t": wso2X5T(t, certPEM), "kid": "gateway_certificate_alias", "typ": "JWT", "alg": alg}
}

// wso2APIKeyClaims are the claims API Manager 4.x writes in an API key of
// DefaultApplication subscribed to PizzaShackAPI 1.0.0, issued now and
// valid for an hour, changed by changes (see testkit.With; "exp": nil makes
// a key that never expires).
func wso2APIKeyClaims(changes map[string]any) map[string]any {
	n := time.Now().Unix()
	return testkit.With(map[string]any{
		"sub": "admin@carbon.super",
		"application": map[string]any{"owner": "admin", "tier": "Unlimited", "name": "DefaultApplication", "id": 1,
			"uuid": "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f"},
		"iss": testIssuer,
		"tierInfo": map[string]any{"Unlimited": map[string]any{"tierQuotaType": "requestCount", "graphQLMaxComplexity": 0,
			"graphQLMaxDepth": 0, "stopOnQuotaReach": true, "spikeArrestLimit": 0, "spikeArrestUnit": nil}},
		"keytype":          "PRODUCTION",
		"permittedReferer": "",
		"subscribedAPIs": []any{map[string]any{"subscriberTenantDomain": "carbon.super", "name": "PizzaShackAPI",
			"context": "/pizzashack/1.0.0", "publisher": "admin", "version": "1.0.0", "subscriptionTier": "Gold"}},
		"token_type":  "apiKey",
		"permittedIP": "",
		"iat":         n,
		"exp":         n + 3600,
		"jti":         "5a4d8a3e-2a1f-4c2b-9d6e-0f1e2d3c4b5a",
	}, changes)
}

// mintAPIKey encodes and signs an API key as API Manager does (padded
// base64url, signature over the padded parts). header and claims are
// JSON-able values, or []byte used as they are; key is what
// testkit.Signature takes for alg.
func mintAPIKey(t testing.TB, alg string, key any, header, claims any) string {
	t.Helper()
	enc := func(v any) []byte {
		if b, ok := v.([]byte); ok {
			return b
		}
		return wso2JSON(t, v)
	}
	input := wso2Encode(enc(header)) + "." + wso2Encode(enc(claims))
	return input + "." + wso2Encode(testkit.Signature(t, alg, key, []byte(input)))
}

// wso2APIKey is an API key as API Manager mints it, signed by the API-key
// signing key, with wso2APIKeyClaims changed by changes.
func wso2APIKey(t testing.TB, changes map[string]any) string {
	t.Helper()
	return mintAPIKey(t, "RS256", apiKeySigner(t), wso2Header(t, apiKeyCertPEM(t), "RS256"), wso2APIKeyClaims(changes))
}

// apiKeyConfig is an APIKeyConfig trusting an unrelated certificate first
// and then the API-key signing certificate, read as the caller reads the
// api_keys block's files.
func apiKeyConfig(t testing.TB, validateSubscription bool) *APIKeyConfig {
	t.Helper()
	other, err := ParsePublicKeysPEM(testkit.CertificatePEM(t, keys(t).RSA2, "other"))
	if err != nil {
		t.Fatal(err)
	}
	signing, err := ParsePublicKeysPEM(apiKeyCertPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	return &APIKeyConfig{Certificates: append(other, signing...), ValidateSubscription: validateSubscription}
}

// apiKeyValidator is a Validator with an access-token issuer (testIssuer,
// keyed with the test kit's RSA key), API keys, the API and a cache.
func apiKeyValidator(t testing.TB, validateSubscription, external bool) *Validator {
	t.Helper()
	return newValidator(t, Config{
		Issuers:               []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(keys(t).RSA)}}},
		API:                   &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		APIKeys:               apiKeyConfig(t, validateSubscription),
		ExternalSubscriptions: external,
		CacheSize:             16,
	})
}

// fill returns m with a "fill" member chosen so that its JSON, as wso2JSON
// writes it, needs base64 padding (a length that is not a multiple of
// three) or not.
func fill(t testing.TB, m map[string]any, padded bool) map[string]any {
	t.Helper()
	for n := range 3 {
		c := testkit.With(m, map[string]any{"fill": strings.Repeat("x", n)})
		if (len(wso2JSON(t, c))%3 != 0) == padded {
			return c
		}
	}
	t.Fatal("no fill fits")
	return nil
}

// unpadded re-encodes a padded key's parts without padding (the signature
// then no longer covers them, unless no part was padded).
func unpadded(key string) string { return strings.ReplaceAll(key, "=", "") }

// tamperPadded replaces a padded key's payload, keeping its header and
// signature.
func tamperPadded(t testing.TB, key string, claims map[string]any) string {
	parts := strings.Split(key, ".")
	return parts[0] + "." + wso2Encode(wso2JSON(t, claims)) + "." + parts[2]
}

func TestValidateAPIKey(t *testing.T) {
	k := keys(t)
	signer := apiKeySigner(t)
	cert := apiKeyCertPEM(t)
	hdr := wso2Header(t, cert, "RS256")
	n := time.Now().Unix()
	with := func(changes map[string]any) map[string]any { return wso2APIKeyClaims(changes) }
	// A padded header and a payload that needs padding but has none.
	mixedInput := wso2Encode(wso2JSON(t, fill(t, hdr, true))) + "." + testkit.B64(wso2JSON(t, fill(t, with(nil), true)))
	mixed := mixedInput + "." + wso2Encode(testkit.Signature(t, "RS256", signer, []byte(mixedInput)))
	// A header and payload that need no padding: the key is the same with
	// and without its signature's padding.
	unambiguous := mintAPIKey(t, "RS256", signer, fill(t, hdr, true), fill(t, with(nil), true))
	ambiguous := mintAPIKey(t, "RS256", signer, fill(t, hdr, false), fill(t, with(nil), false))

	tests := []struct {
		name string
		key  string
		want error // nil: valid
	}{
		{"API Manager 4.x key with exp", wso2APIKey(t, nil), nil},
		{"API Manager 4.x key without exp", wso2APIKey(t, map[string]any{"exp": nil}), nil},
		{"API Manager 3.x key: no iss, no token_type", wso2APIKey(t, map[string]any{"iss": nil, "token_type": nil}), nil},
		{"RFC 7515 encoding (no padding)", sign(t, "RS256", signer, hdr, with(nil)), nil},
		{"kid and x5t of another certificate are ignored",
			mintAPIKey(t, "RS256", signer, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "other", "x5t": "bm9uZQ=="}, with(nil)), nil},
		{"a scope claim gives an API key no scopes", wso2APIKey(t, map[string]any{"scope": "default menu:read"}), nil},
		{"no kid, no typ", mintAPIKey(t, "RS256", signer, map[string]any{"alg": "RS256"}, with(nil)), nil},
		{"tampered payload", tamperPadded(t, wso2APIKey(t, nil), with(map[string]any{"sub": "root@carbon.super"})), ErrInvalid},
		{"signed by a key whose certificate is not configured", mintAPIKey(t, "RS256", k.RSA, hdr, with(nil)), ErrInvalid},
		{"HS256 keyed with the certificate PEM", mintAPIKey(t, "HS256", cert, wso2Header(t, cert, "HS256"), with(nil)), ErrInvalid},
		{"HS256 keyed with the public key PEM",
			mintAPIKey(t, "HS256", testkit.PublicKeyPEM(t, signer), wso2Header(t, cert, "HS256"), with(nil)), ErrInvalid},
		{"alg none", mintAPIKey(t, "none", nil, wso2Header(t, cert, "none"), with(nil)), ErrInvalid},
		{"alg none with an empty signature", sign(t, "none", nil, wso2Header(t, cert, "none"), with(nil)), ErrInvalid},
		{"PS256", mintAPIKey(t, "PS256", signer, wso2Header(t, cert, "PS256"), with(nil)), ErrInvalid},
		{"RS512", mintAPIKey(t, "RS512", signer, wso2Header(t, cert, "RS512"), with(nil)), ErrInvalid},
		{"expired", wso2APIKey(t, map[string]any{"exp": n - 60}), ErrExpired},
		{"expired within the clock skew", wso2APIKey(t, map[string]any{"exp": n - 2}), nil},
		{"expired and badly signed", mintAPIKey(t, "RS256", k.RSA, hdr, with(map[string]any{"exp": n - 60})), ErrInvalid},
		{"expired and not yet valid", wso2APIKey(t, map[string]any{"exp": n - 60, "nbf": n + 600}), ErrInvalid},
		{"nbf in the future", wso2APIKey(t, map[string]any{"nbf": n + 600}), ErrInvalid},
		{"iat in the future", wso2APIKey(t, map[string]any{"iat": n + 600}), ErrInvalid},
		{"exp as a string", wso2APIKey(t, map[string]any{"exp": "9999999999"}), ErrInvalid},
		{"iss as a number", wso2APIKey(t, map[string]any{"iss": 7}), ErrInvalid},
		{"sub as a number", wso2APIKey(t, map[string]any{"sub": 7}), ErrInvalid},
		{"internal key", wso2APIKey(t, map[string]any{"token_type": "InternalKey"}), ErrInvalid},
		{"token_type as a number", wso2APIKey(t, map[string]any{"token_type": 1}), ErrInvalid},
		{"permittedIP with a bad entry", wso2APIKey(t, map[string]any{"permittedIP": "10.0.0.1, intranet"}), ErrInvalid},
		{"permittedIP as a list", wso2APIKey(t, map[string]any{"permittedIP": []string{"10.0.0.1"}}), ErrInvalid},
		{"permittedReferer as a number", wso2APIKey(t, map[string]any{"permittedReferer": 1}), ErrInvalid},
		{"crit header", mintAPIKey(t, "RS256", signer, map[string]any{"alg": "RS256", "crit": []string{"exp"}, "exp": 1}, with(nil)), ErrInvalid},
		{"duplicate claim", mintAPIKey(t, "RS256", signer, hdr, []byte(`{"sub":"a","sub":"b"}`)), ErrInvalid},
		{"padded header, unpadded payload", mixed, ErrInvalid},
		{"too much padding", wso2APIKey(t, nil) + "=", ErrInvalid},
		{"padding stripped from a padded header and payload", unpadded(unambiguous), ErrInvalid},
		{"nothing padded but the signature", ambiguous, nil},
		{"nothing padded but the signature, its padding stripped", unpadded(ambiguous), nil},
		{"padding in the middle of a part", strings.Replace(wso2APIKey(t, nil), "eyJ", "eyJ=", 1), ErrInvalid},
		{"two parts", strings.Join(strings.Split(wso2APIKey(t, nil), ".")[:2], "."), ErrInvalid},
		{"empty", "", ErrInvalid},
	}
	v := apiKeyValidator(t, false, false)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, cached, err := v.ValidateAPIKey(tc.key)
			if cached {
				t.Fatal("a first validation came from the cache")
			}
			if tc.want != nil {
				if !errors.Is(err, tc.want) || tok != nil {
					t.Fatalf("got %v (token %v), want %v", err, tok != nil, tc.want)
				}
				if len(tc.key) > 100 && strings.Contains(err.Error(), tc.key[:100]) {
					t.Fatal("the error echoes the key")
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateAPIKey: %v", err)
			}
			if tok.Subject != "admin@carbon.super" || tok.Algorithm != "RS256" || tok.Scopes != nil {
				t.Fatalf("token %+v", tok)
			}
			if tok.Issuer == nil || tok.Issuer.RemoteClaims || tok.Issuer.ValidateSubscription ||
				len(tok.Issuer.Algorithms) != 1 || tok.Issuer.Algorithms[0] != "RS256" {
				t.Fatalf("issuer %+v", tok.Issuer)
			}
			if _, hasIss := tok.Claims["iss"]; hasIss != (tok.Issuer.Issuer == testIssuer) || !hasIss && tok.Issuer.Issuer != "" {
				t.Fatalf("issuer name %q", tok.Issuer.Issuer)
			}
			if _, hasExp := tok.Claims["exp"]; hasExp == tok.Expires.IsZero() {
				t.Fatalf("exp claim present %v, Expires %v", hasExp, tok.Expires)
			}
			if tok.Subscription == nil || tok.Subscription.SubscriptionTier != "Gold" {
				t.Fatalf("subscription %+v", tok.Subscription)
			}
			if tok.Restrictions != nil {
				t.Fatalf("restrictions %+v from empty permittedIP and permittedReferer", tok.Restrictions)
			}
			if want := tc.key[strings.LastIndexByte(tc.key, '.')+1:]; tok.Signature != want {
				t.Fatalf("signature %q, want %q", tok.Signature, want)
			}
		})
	}
}

// TestAPIKeyFixture checks that the fixture is in API Manager's layout:
// padded parts, '/' escaped, and the header members API Manager writes.
func TestAPIKeyFixture(t *testing.T) {
	key := wso2APIKey(t, nil)
	parts := strings.Split(key, ".")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], "==") { // 256 bytes: two padding characters
		t.Fatalf("the signature of an RSA-2048 key is padded: %q", parts[2])
	}
	payload, err := base64.URLEncoding.DecodeString(parts[1])
	if err != nil || !bytes.Contains(payload, []byte(`"context":"\/pizzashack\/1.0.0"`)) {
		t.Fatalf("payload %s (%v)", payload, err)
	}
	header, err := base64.URLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{`"typ":"JWT"`, `"alg":"RS256"`, `"kid":"gateway_certificate_alias"`, `"x5t":"`} {
		if !bytes.Contains(header, []byte(member)) {
			t.Errorf("header %s lacks %s", header, member)
		}
	}
}

func TestAPIKeysConfig(t *testing.T) {
	k := keys(t)
	iss := []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA)}}}
	for _, tc := range []struct {
		name  string
		certs []crypto.PublicKey
		ok    bool
	}{
		{"RSA", []crypto.PublicKey{publicOf(k.RSA)}, true},
		{"none", nil, false},
		{"EC", []crypto.PublicKey{publicOf(k.P256)}, false},
		{"Ed25519", []crypto.PublicKey{publicOf(k.Ed)}, false},
		{"RSA of 1024 bits", []crypto.PublicKey{publicOf(k.RSA1024)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), Config{Issuers: iss, APIKeys: &APIKeyConfig{Certificates: tc.certs}})
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v", err)
			}
		})
	}
	v := newValidator(t, Config{Issuers: iss})
	if _, _, err := v.ValidateAPIKey(wso2APIKey(t, nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("without api_keys: %v", err)
	}
}

// TestAPIKeySubscription: subscribedAPIs is checked against the API as for
// access tokens of API Manager 3.0/3.1; a key without it is left to the
// caller's API Manager data under ExternalSubscriptions (3.2 and later).
func TestAPIKeySubscription(t *testing.T) {
	sub := func(name, version string) []any {
		return []any{map[string]any{"name": name, "version": version, "context": "/x", "publisher": "admin",
			"subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}}
	}
	tests := []struct {
		name      string
		subs      any // nil: no subscribedAPIs claim
		validate  bool
		external  bool
		wantErr   error
		wantMatch bool
	}{
		{"subscribed", sub("PizzaShackAPI", "1.0.0"), true, false, nil, true},
		{"subscribed to every version", sub("PizzaShackAPI", "*"), true, false, nil, true},
		{"another version", sub("PizzaShackAPI", "2.0.0"), true, false, ErrNotSubscribed, false},
		{"another API", sub("Other", "1.0.0"), true, false, ErrNotSubscribed, false},
		{"empty list", []any{}, true, false, ErrNotSubscribed, false},
		{"no subscribedAPIs", nil, true, false, ErrNotSubscribed, false},
		{"no subscribedAPIs, external subscriptions", nil, true, true, nil, false},
		{"another API, external subscriptions", sub("Other", "1.0.0"), true, true, ErrNotSubscribed, false},
		{"not validated", sub("Other", "1.0.0"), false, false, nil, false},
		{"not validated, still matched for the tier", sub("PizzaShackAPI", "1.0.0"), false, false, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := apiKeyValidator(t, tc.validate, tc.external)
			changes := map[string]any{"subscribedAPIs": tc.subs}
			key := wso2APIKey(t, changes)
			for round := range 2 { // the second round is a cache hit
				tok, cached, err := v.ValidateAPIKey(key)
				if cached != (round == 1) {
					t.Fatalf("round %d: cached %v", round, cached)
				}
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("round %d: got %v, want %v", round, err, tc.wantErr)
				}
				if got := tok != nil && tok.Subscription != nil; got != tc.wantMatch {
					t.Fatalf("round %d: matched %v, want %v", round, got, tc.wantMatch)
				}
			}
		})
	}
}

// TestAPIKeyCacheSeparation: the same string validated as an access token
// and as an API key never takes the other's cache entry, and Forget drops
// both.
func TestAPIKeyCacheSeparation(t *testing.T) {
	v := apiKeyValidator(t, false, false)

	// An access token (not signed by an API-key certificate) presented as
	// an API key.
	access := testkit.AccessToken(t, testIssuer, nil)
	for round := range 2 {
		if _, cached, err := v.ValidateCached(access); err != nil || cached != (round == 1) {
			t.Fatalf("access token, round %d: cached %v, %v", round, cached, err)
		}
	}
	if tok, cached, err := v.ValidateAPIKey(access); cached || !errors.Is(err, ErrInvalid) || tok != nil {
		t.Fatalf("access token as an API key: cached %v, %v", cached, err)
	}

	// An API key (not signed by an issuer's key) presented as an access
	// token.
	key := sign(t, "RS256", apiKeySigner(t), map[string]any{"alg": "RS256", "typ": "JWT"}, wso2APIKeyClaims(nil))
	for round := range 2 {
		if _, cached, err := v.ValidateAPIKey(key); err != nil || cached != (round == 1) {
			t.Fatalf("API key, round %d: cached %v, %v", round, cached, err)
		}
	}
	if tok, cached, err := v.ValidateCached(key); cached || !errors.Is(err, ErrInvalid) || tok != nil {
		t.Fatalf("API key as an access token: cached %v, %v", cached, err)
	}

	// A string valid both ways is validated and cached once each way, as
	// two different tokens.
	both := newValidator(t, Config{
		Issuers:   []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(apiKeySigner(t))}}},
		APIKeys:   &APIKeyConfig{Certificates: []crypto.PublicKey{publicOf(apiKeySigner(t))}},
		CacheSize: 16,
	})
	token := sign(t, "RS256", apiKeySigner(t), map[string]any{"alg": "RS256", "typ": "JWT"},
		testkit.With(wso2APIKeyClaims(nil), map[string]any{"scope": "default"}))
	asAccess, cached, err := both.ValidateCached(token)
	if err != nil || cached {
		t.Fatalf("as an access token: cached %v, %v", cached, err)
	}
	asKey, cached, err := both.ValidateAPIKey(token)
	if err != nil || cached {
		t.Fatalf("as an API key after the access token: cached %v, %v", cached, err)
	}
	if asKey == asAccess || asAccess.Issuer != both.Issuer(testIssuer) || asKey.Issuer == asAccess.Issuer ||
		asAccess.Scopes == nil || asKey.Scopes != nil || asKey.Digest != asAccess.Digest {
		t.Fatalf("as an access token %+v, as an API key %+v", asAccess, asKey)
	}
	if again, cached, _ := both.ValidateCached(token); !cached || again != asAccess {
		t.Fatalf("the access token's entry: cached %v, same %v", cached, again == asAccess)
	}
	if again, cached, _ := both.ValidateAPIKey(token); !cached || again != asKey {
		t.Fatalf("the API key's entry: cached %v, same %v", cached, again == asKey)
	}
	if n := both.cache.Len(); n != 2 {
		t.Fatalf("%d cache entries, want 2", n)
	}
	both.Forget(asKey.Digest)
	if n := both.cache.Len(); n != 0 {
		t.Fatalf("%d cache entries after Forget, want 0", n)
	}
}

// TestAPIKeyCacheExpiry: a key without exp never expires on a cache hit and
// is cached at most apiKeyCacheTTL; a key with exp expires at its exp, on a
// hit too; the capacity bounds keys without exp.
func TestAPIKeyCacheExpiry(t *testing.T) {
	v := newValidator(t, Config{
		Issuers:   []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(keys(t).RSA)}}},
		APIKeys:   apiKeyConfig(t, false),
		CacheSize: 3,
	})
	defer func(f func() time.Time) { now = f }(now)

	forever := wso2APIKey(t, map[string]any{"exp": nil, "jti": "forever"})
	before := time.Now()
	tok, _, err := v.ValidateAPIKey(forever)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	_, expires, ok := v.cache.Get(cacheKey(&tok.Digest, true))
	if !ok || expires.Before(before.Add(apiKeyCacheTTL)) || expires.After(after.Add(apiKeyCacheTTL)) {
		t.Fatalf("cached %v until %v, want %v after now", ok, expires, apiKeyCacheTTL)
	}
	now = func() time.Time { return time.Now().AddDate(10, 0, 0) }
	if _, cached, err := v.ValidateAPIKey(forever); err != nil || !cached {
		t.Fatalf("a key without exp, ten years on, from the cache: cached %v, %v", cached, err)
	}
	now = time.Now

	soon := wso2APIKey(t, map[string]any{"exp": time.Now().Unix() + 60, "jti": "soon"})
	tok, _, err = v.ValidateAPIKey(soon)
	if err != nil {
		t.Fatal(err)
	}
	// Cached until its exp, a minute away, not for apiKeyCacheTTL.
	if _, expires, _ := v.cache.Get(cacheKey(&tok.Digest, true)); !expires.Before(time.Now().Add(apiKeyCacheTTL / 2)) {
		t.Fatalf("cached until %v, its exp is %v", expires, tok.Expires)
	}
	now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, cached, err := v.ValidateAPIKey(soon); !cached || !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp, from the cache: cached %v, %v", cached, err)
	}
	now = time.Now

	for i := range 10 {
		if _, _, err := v.ValidateAPIKey(wso2APIKey(t, map[string]any{"exp": nil, "jti": string(rune('a' + i))})); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.Len(); n > 3 {
			t.Fatalf("cache holds %d entries, capacity 3", n)
		}
	}
}

// TestAPIKeyIssuerShared: keys of one iss share one Issuer, so a cache hit
// and a miss alike make none, and a hit allocates no more than an access
// token's.
func TestAPIKeyIssuerShared(t *testing.T) {
	v := apiKeyValidator(t, true, false)
	a, _, err := v.ValidateAPIKey(wso2APIKey(t, map[string]any{"jti": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := v.ValidateAPIKey(wso2APIKey(t, map[string]any{"jti": "b", "exp": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Issuer != b.Issuer || a.Issuer.Issuer != testIssuer || !a.Issuer.ValidateSubscription {
		t.Fatalf("issuers %p %p %+v", a.Issuer, b.Issuer, a.Issuer)
	}
	key := wso2APIKey(t, map[string]any{"jti": "c"})
	access := testkit.AccessToken(t, testIssuer, nil)
	for _, s := range []string{key, access} {
		if _, _, err := v.validateCached(s, s == key); err != nil {
			t.Fatal(err)
		}
	}
	hit := func(s string, apiKey bool) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, cached, err := v.validateCached(s, apiKey); !cached || err != nil {
				t.Fatal(cached, err)
			}
		})
	}
	if keyAllocs, accessAllocs := hit(key, true), hit(access, false); keyAllocs > accessAllocs {
		t.Fatalf("an API key's cache hit makes %v allocations, an access token's %v", keyAllocs, accessAllocs)
	}
}

// TestAPIKeyRestrictionsRead: the restriction claims end in
// Token.Restrictions, read once, and a cache hit hands back the same.
func TestAPIKeyRestrictionsRead(t *testing.T) {
	v := apiKeyValidator(t, false, false)
	key := wso2APIKey(t, map[string]any{"permittedIP": " 192.0.2.10 , 2001:db8::/32", "permittedReferer": "https://*.example.com/*"})
	tok, _, err := v.ValidateAPIKey(key)
	if err != nil {
		t.Fatal(err)
	}
	r := tok.Restrictions
	if r == nil || len(r.Addresses) != 2 || r.Addresses[0].String() != "192.0.2.10/32" || r.Addresses[1].String() != "2001:db8::/32" ||
		len(r.Referers) != 1 || r.Referers[0] != "https://*.example.com/*" {
		t.Fatalf("restrictions %+v", r)
	}
	again, cached, err := v.ValidateAPIKey(key)
	if err != nil || !cached || again.Restrictions != r {
		t.Fatalf("cache hit: cached %v, %v", cached, err)
	}
}
