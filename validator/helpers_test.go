package validator

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
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

// testKeySet holds keys generated once per test binary: RSA generation is slow.
type testKeySet struct {
	rsa, rsa2, rsa1024 *rsa.PrivateKey
	p256, p384         *ecdsa.PrivateKey
	ed                 ed25519.PrivateKey
}

var (
	testKeysOnce sync.Once
	testKeys     testKeySet
)

func keys(t testing.TB) *testKeySet {
	t.Helper()
	testKeysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		testKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		testKeys.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		testKeys.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024)
		must(err)
		testKeys.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		testKeys.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, testKeys.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &testKeys
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a compact JWS of header and claims (any JSON-able values, or
// raw bytes used as they are) signed with key under alg. For HS* the key
// is the []byte secret; for none the signature part is empty.
func sign(t testing.TB, alg string, key any, header, claims any) string {
	t.Helper()
	enc := func(v any) []byte {
		if b, ok := v.([]byte); ok {
			return b
		}
		return mustJSON(t, v)
	}
	input := b64(enc(header)) + "." + b64(enc(claims))
	return input + "." + b64(signature(t, alg, key, []byte(input)))
}

func signature(t testing.TB, alg string, key any, input []byte) []byte {
	t.Helper()
	hashFor := func(alg string) crypto.Hash {
		switch alg[2:] {
		case "384":
			return crypto.SHA384
		case "512":
			return crypto.SHA512
		}
		return crypto.SHA256
	}
	switch {
	case alg == "none":
		return nil
	case strings.HasPrefix(alg, "HS"):
		var m = hmac.New(sha256.New, key.([]byte))
		if alg == "HS512" {
			m = hmac.New(sha512.New, key.([]byte))
		}
		m.Write(input)
		return m.Sum(nil)
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		h := hashFor(alg).New()
		h.Write(input)
		var sig []byte
		var err error
		if alg[0] == 'R' {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), hashFor(alg), h.Sum(nil))
		} else {
			sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), hashFor(alg), h.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case strings.HasPrefix(alg, "ES"):
		k := key.(*ecdsa.PrivateKey)
		h := hashFor(alg).New()
		h.Write(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, h.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case alg == "EdDSA":
		return ed25519.Sign(key.(ed25519.PrivateKey), input)
	}
	t.Fatalf("test cannot sign %s", alg)
	return nil
}

// publicOf returns the public half of a test private key.
func publicOf(key any) crypto.PublicKey {
	return key.(crypto.Signer).Public()
}

// jwksServer is a JWKS endpoint on 127.0.0.1 whose keys the test changes
// and whose fetches it counts.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	body    []byte
	status  int
}

type jwkSpec struct {
	kid, alg, use string
	key           any // public or private; the public half is published
}

func newJWKSServer(t testing.TB, specs ...jwkSpec) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, specs...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, specs ...jwkSpec) {
	t.Helper()
	set := jwk.NewSet()
	for _, sp := range specs {
		k, err := jwk.FromRaw(sp.key)
		if err != nil {
			t.Fatal(err)
		}
		if pk, err := jwk.PublicKeyOf(k); err == nil {
			k = pk
		}
		_ = k.Set(jwk.KeyIDKey, sp.kid)
		if sp.alg != "" {
			_ = k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(sp.alg))
		}
		if sp.use != "" {
			_ = k.Set(jwk.KeyUsageKey, sp.use)
		}
		_ = set.AddKey(k)
	}
	s.set(http.StatusOK, mustJSON(t, set))
}

func (s *jwksServer) set(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// newValidator builds a Validator bound to the test's lifetime.
func newValidator(t testing.TB, cfg Config) *Validator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor polls cond for up to five seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// claimsFor returns typical access-token claims for issuer iss, valid now.
func claimsFor(iss string) map[string]any {
	n := time.Now().Unix()
	return map[string]any{
		"iss": iss, "sub": "admin@carbon.super", "jti": "j-1",
		"iat": n, "nbf": n, "exp": n + 3600,
		"aud": "JzCLuJq6kHIpMhK7C5OhiWN7cPsa",
	}
}
