// Package testkit holds what the project's tests share: signing keys made
// once per test binary, a token signer that can also make hostile tokens,
// a JWKS server and an upstream that records what it received, all on
// 127.0.0.1. It is imported by tests only.
package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeySet holds test signing keys.
type KeySet struct {
	RSA, RSA2, RSA1024 *rsa.PrivateKey
	P256, P384         *ecdsa.PrivateKey
	Ed                 ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     KeySet
)

// Keys returns keys generated once per test binary (RSA generation is slow).
func Keys() *KeySet {
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		keys.RSA, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keys.RSA2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		keys.RSA1024, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		keys.P256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keys.P384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, keys.Ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &keys
}

// B64 is unpadded base64url.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// MustJSON marshals v or fails the test.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sign makes a compact JWS of header and claims signed with key under alg.
// header and claims are JSON-able values, or []byte used as they are (to
// make malformed tokens). For HS* the key is the []byte secret; for none
// the signature part is empty.
func Sign(t testing.TB, alg string, key any, header, claims any) string {
	t.Helper()
	enc := func(v any) []byte {
		if b, ok := v.([]byte); ok {
			return b
		}
		return MustJSON(t, v)
	}
	input := B64(enc(header)) + "." + B64(enc(claims))
	return input + "." + B64(Signature(t, alg, key, []byte(input)))
}

// Signature signs input with the standard library, as alg prescribes.
func Signature(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	if alg == "none" {
		return nil
	}
	hashID := crypto.SHA256
	newHash := func() hash.Hash { return sha256.New() }
	switch {
	case strings.HasSuffix(alg, "384"):
		hashID, newHash = crypto.SHA384, sha512.New384
	case strings.HasSuffix(alg, "512"):
		hashID, newHash = crypto.SHA512, sha512.New
	}
	h := newHash()
	h.Write(input)
	digest := h.Sum(nil)
	var sig []byte
	var err error
	switch {
	case strings.HasPrefix(alg, "HS"):
		m := hmac.New(newHash, key.([]byte))
		m.Write(input)
		return m.Sum(nil)
	case strings.HasPrefix(alg, "RS"):
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), hashID, digest)
	case strings.HasPrefix(alg, "PS"):
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), hashID, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case strings.HasPrefix(alg, "ES"):
		k := key.(*ecdsa.PrivateKey)
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, k, digest); err == nil {
			size := (k.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	case alg == "EdDSA":
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	default:
		t.Fatalf("testkit cannot sign %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Public returns the public half of a private key.
func Public(key any) crypto.PublicKey { return key.(crypto.Signer).Public() }

// PublicKeyPEM is the PKIX PEM of key's public half.
func PublicKeyPEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(Public(key))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// CertificatePEM is a self-signed certificate for key, valid for a day.
func CertificatePEM(t testing.TB, key crypto.Signer, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// JWK describes one key a JWKSServer publishes.
type JWK struct {
	KID, Alg, Use string
	Key           any // public or private; only the public half is published
}

// JWKSServer is a JWKS endpoint on 127.0.0.1 whose answer the test sets and
// whose fetches it counts.
type JWKSServer struct {
	*httptest.Server
	Fetches atomic.Int64
	mu      sync.Mutex
	status  int
	body    []byte
	delay   time.Duration
}

// NewJWKSServer starts a JWKS server publishing keys; it stops with the test.
func NewJWKSServer(t testing.TB, keys ...JWK) *JWKSServer {
	t.Helper()
	s := &JWKSServer{}
	s.SetKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Fetches.Add(1)
		s.mu.Lock()
		status, body, delay := s.status, s.body, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// SetKeys makes the server publish keys.
func (s *JWKSServer) SetKeys(t testing.TB, keys ...JWK) {
	t.Helper()
	set := jwk.NewSet()
	for _, spec := range keys {
		k, err := jwk.FromRaw(spec.Key)
		if err != nil {
			t.Fatal(err)
		}
		if pk, err := jwk.PublicKeyOf(k); err == nil {
			k = pk
		}
		_ = k.Set(jwk.KeyIDKey, spec.KID)
		if spec.Alg != "" {
			_ = k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(spec.Alg))
		}
		if spec.Use != "" {
			_ = k.Set(jwk.KeyUsageKey, spec.Use)
		}
		_ = set.AddKey(k)
	}
	s.SetResponse(http.StatusOK, MustJSON(t, set))
}

// SetResponse makes the server answer status with body.
func (s *JWKSServer) SetResponse(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// SetDelay makes the server wait before answering.
func (s *JWKSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Upstream is a backend on 127.0.0.1 that records the requests it gets.
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
}

// NewUpstream starts a backend answering 200 "upstream ok"; it stops with the test.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Clone(r.Context()))
		u.mu.Unlock()
		_, _ = w.Write([]byte("upstream ok"))
	}))
	t.Cleanup(u.Close)
	return u
}

// Count returns how many requests reached the upstream.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

// Last returns the last request the upstream received, or nil.
func (u *Upstream) Last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return nil
	}
	return u.requests[len(u.requests)-1]
}

// WaitFor polls cond for up to ten seconds.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Decoded is a verified compact JWS: its header and claims.
type Decoded struct {
	Header, Claims map[string]any
}

// Verify checks token's signature with pub using only the standard library
// and returns its decoded header and claims. base64std selects the WSO2 API
// Manager encoding (standard alphabet, no padding) instead of base64url.
func Verify(t testing.TB, token string, pub crypto.PublicKey, base64std bool) Decoded {
	t.Helper()
	enc := base64.RawURLEncoding
	if base64std {
		enc = base64.RawStdEncoding
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var d Decoded
	for i, dst := range []*map[string]any{&d.Header, &d.Claims} {
		raw, err := enc.Strict().DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	sig, err := enc.Strict().DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	input := []byte(parts[0] + "." + parts[1])
	alg, _ := d.Header["alg"].(string)
	digest := sha256.Sum256(input)
	ok := false
	switch alg {
	case "RS256":
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
	case "PS256":
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig, nil) == nil
	case "ES256":
		if len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			ok = ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:], r, s)
		}
	case "EdDSA":
		ok = ed25519.Verify(pub.(ed25519.PublicKey), input, sig)
	case "none":
		ok = pub == nil && len(sig) == 0
	default:
		t.Fatalf("cannot verify alg %q", alg)
	}
	if !ok {
		t.Fatalf("the %s signature does not verify", alg)
	}
	return d
}

// AccessClaims are the claims of a WSO2 API Manager access token of issuer
// iss (shared/examples/wso2-access-token.md), valid from now for an hour.
func AccessClaims(iss string) map[string]any {
	n := time.Now().Unix()
	return map[string]any{
		"sub": "admin@carbon.super", "aud": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa", "nbf": n,
		"azp": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa", "scope": "am_application_scope default",
		"iss": iss, "keytype": "PRODUCTION",
		"application": map[string]any{"owner": "admin", "tier": "Unlimited", "name": "DefaultApplication", "id": 1,
			"uuid": "3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f"},
		"subscribedAPIs": []any{map[string]any{"subscriberTenantDomain": "carbon.super", "name": "PizzaShackAPI",
			"context": "/pizzashack/1.0.0", "publisher": "admin", "version": "1.0.0", "subscriptionTier": "Gold"}},
		"exp": n + 3600, "iat": n, "jti": "0987c6d3-f11a-402c-8eb2-b21fb7b97f4d",
	}
}

// With returns a copy of claims with changes applied; a nil value deletes
// the claim.
func With(claims, changes map[string]any) map[string]any {
	c := make(map[string]any, len(claims)+len(changes))
	for k, v := range claims {
		c[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// AccessToken is an RS256 access token with AccessClaims of iss, signed
// with Keys().RSA under kid "rsa", changed by changes (see With).
func AccessToken(t testing.TB, iss string, changes map[string]any) string {
	t.Helper()
	return Sign(t, "RS256", Keys().RSA, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa"}, With(AccessClaims(iss), changes))
}
