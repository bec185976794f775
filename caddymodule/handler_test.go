package caddymodule

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/revocation"
)

const testIssuer = "https://localhost:9443/oauth2/token"

// writePEM writes a PEM block into dir and returns its path.
func writePEM(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// provisioned returns a handler with a certificate issuer (the testkit RSA
// and Ed25519 keys), the PizzaShack API and generation with an RS256 key
// file, provisioned outside a Caddy config and cleaned up with the test.
func provisioned(t testing.TB, onError string) *Handler {
	return provisionedWith(t, "RS256", testkit.Keys().RSA2, onError)
}

// provisionedWith is provisioned with another generation algorithm and
// key; edits change the handler before it is provisioned.
func provisionedWith(t testing.TB, alg string, signingKey crypto.Signer, onError string, edits ...func(*Handler)) *Handler {
	t.Helper()
	k := testkit.Keys()
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(signingKey)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{
		Issuers: []*IssuerConfig{{Issuer: testIssuer, Certificates: []string{
			writePEM(t, dir, "issuer.pem", testkit.PublicKeyPEM(t, k.RSA)),
			writePEM(t, dir, "issuer-ed.pem", testkit.PublicKeyPEM(t, k.Ed)),
		}}},
		API: &APIConfig{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		Generate: &GenerateConfig{
			Algorithm:  alg,
			SigningKey: writePEM(t, dir, "signing.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			OnError:    onError,
		},
	}
	for _, edit := range edits {
		edit(h)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	h.logger, h.warnings = zap.NewNop(), zap.NewNop()
	return h
}

// accessToken is a valid RS256 access token of the test issuer.
func accessToken(t testing.TB) string {
	n := time.Now().Unix()
	return testkit.Sign(t, "RS256", testkit.Keys().RSA, map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{
		"iss": testIssuer, "sub": "admin@carbon.super", "jti": "j1", "iat": n, "exp": n + 3600,
		"application":    map[string]any{"id": 1, "name": "DefaultApplication", "owner": "admin", "tier": "Unlimited"},
		"subscribedAPIs": []any{map[string]any{"name": "PizzaShackAPI", "version": "1.0.0", "subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}},
	})
}

// request returns a request carrying token, with Caddy's replacer in its
// context as the server puts it there.
func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.example/pizzashack/menu", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
}

// failingSigner has a real public key but cannot sign (an HSM that is down).
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signing device unavailable")
}

func TestGenerationOnError(t *testing.T) {
	tests := []struct {
		onError    string
		wantStatus int  // of the answer; 0 when the request goes on
		wantNext   bool // the next handler ran, without the header
	}{
		{"fail", 500, false},
		{"", 500, false},
		{"continue", 0, true},
	}
	for _, tc := range tests {
		t.Run("on_error "+tc.onError, func(t *testing.T) {
			h := provisioned(t, tc.onError)
			gen, err := jwtgen.New(jwtgen.Config{Algorithm: jwtgen.RS256, Key: failingSigner{testkit.Keys().RSA2}, Audience: []string{"gw"}})
			if err != nil {
				t.Fatal(err)
			}
			h.generation.signing.Store(&signingState{gen: gen})
			core, logs := observer.New(zapcore.WarnLevel)
			h.logger = zap.New(core)
			h.warnings = h.logger

			r := request(accessToken(t))
			r.Header.Set("X-JWT-Assertion", "forged")
			w := httptest.NewRecorder()
			nextRan := false
			err = h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				nextRan = true
				if v := r.Header.Values("X-Jwt-Assertion"); len(v) != 0 {
					t.Errorf("next handler got X-JWT-Assertion %q", v)
				}
				return nil
			}))
			if err != nil || nextRan != tc.wantNext {
				t.Fatalf("err %v, next ran %v", err, nextRan)
			}
			if tc.wantStatus != 0 {
				if w.Code != tc.wantStatus || !strings.Contains(w.Body.String(), `"code":900900`) {
					t.Fatalf("answer %d %s", w.Code, w.Body)
				}
				return
			}
			if logs.FilterMessageSnippet("backend JWT not generated").Len() != 1 {
				t.Fatalf("warnings: %v", logs.All())
			}
		})
	}
}

// discard is a ResponseWriter that keeps nothing, for benchmarks.
type discard struct{ h http.Header }

func (d discard) Header() http.Header               { return d.h }
func (discard) Write(b []byte) (int, error)         { return len(b), nil }
func (discard) WriteHeader(statusCode int)          {}
func noop(http.ResponseWriter, *http.Request) error { return nil }

// BenchmarkServeHTTPHotPath is the common path: the validated-token and the
// generated-token caches both hit. Each iteration also pays what Caddy's
// server does per request before any handler (a replacer in the request's
// context); BenchmarkRequestSetup measures that alone, for subtraction.
func BenchmarkServeHTTPHotPath(b *testing.B) {
	benchHotPath(b, provisioned(b, ""), accessToken(b))
}

// benchHotPath sends token to h once to fill the caches, then b.N times.
func benchHotPath(b *testing.B, h *Handler, token string) {
	benchRequest(b, h, request(token))
}

// benchRequest measures the handler answering base again and again.
func benchRequest(b *testing.B, h *Handler, base *http.Request) {
	w := discard{h: http.Header{}}
	next := caddyhttp.HandlerFunc(noop)
	if err := h.ServeHTTP(w, base, next); err != nil || base.Header.Get("X-JWT-Assertion") == "" {
		b.Fatalf("warm-up: %v %v", err, w.h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPHotPathAPIManager is the hot path of an API Manager
// 3.2+ token (no application, no subscribedAPIs) with api_manager on: both
// caches hit, and the revoked list and the subscription are looked up in a
// snapshot of 100,000 subscriptions.
func BenchmarkServeHTTPHotPathAPIManager(b *testing.B) {
	const apps = 50000
	d := apimfake.Data{APIs: []apimfake.Record{apimfake.API(7, "PizzaShackAPI", "1.0.0", "/pizzashack", "PUBLISHED")}}
	for i := range apps {
		d.Applications = append(d.Applications, apimfake.Application(i, "app", "admin", "Unlimited"))
		d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(i, "key"+strconv.Itoa(i), "PRODUCTION", "Resident Key Manager"))
		d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(2*i, 7, i, "Gold", "UNBLOCKED"),
			apimfake.Subscription(2*i+1, 8, i, "Gold", "UNBLOCKED"))
	}
	srv := httptest.NewServer(apimfake.New("u", "p", "carbon.super", d))
	defer srv.Close()
	h := provisionedWith(b, "RS256", testkit.Keys().RSA2, "", func(h *Handler) {
		h.Issuers[0].ValidateSubscription = true
		h.APIManager = &APIManagerConfig{ServerURL: srv.URL, Username: "u", Password: "p"}
	})
	testkit.WaitFor(b, "API Manager's data", func() bool { return h.apim.src.store.Snapshot() != nil })
	n := time.Now().Unix()
	benchHotPath(b, h, testkit.Sign(b, "RS256", testkit.Keys().RSA, map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{
		"iss": testIssuer, "sub": "admin@carbon.super", "jti": "j1", "iat": n, "exp": n + 3600, "azp": "key4242",
	}))
}

// BenchmarkServeHTTPHotPathRevocations is BenchmarkServeHTTPHotPath with
// 10,000 revocations in force (none of them the token's).
func BenchmarkServeHTTPHotPathRevocations(b *testing.B) {
	var entries []revocation.Entry
	exp := time.Now().Add(time.Hour).Unix()
	for i := range 10000 {
		entries = append(entries, revocation.Entry{JTI: "revoked-" + strconv.Itoa(i), Exp: exp},
			revocation.Entry{Signature: "c2lnbmF0dXJl" + strconv.Itoa(i), Exp: exp})
	}
	revocations.Put(entries...)
	b.Cleanup(func() { revocations = revocation.NewList() })
	BenchmarkServeHTTPHotPath(b)
}

// BenchmarkServeHTTPHotPathBulkRevocations is BenchmarkServeHTTPHotPath
// with 10,000 bulk revocations in force (consumer keys and subjects; none
// of them the token's).
func BenchmarkServeHTTPHotPathBulkRevocations(b *testing.B) {
	var entries []revocation.Entry
	before, until := time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Hour).Unix()
	for i := range 5000 {
		entries = append(entries, revocation.Entry{ConsumerKey: "client-" + strconv.Itoa(i), Before: before, Until: until},
			revocation.Entry{Subject: "user-" + strconv.Itoa(i), Before: before, Until: until})
	}
	revocations.Put(entries...)
	b.Cleanup(func() { revocations = revocation.NewList() })
	if revocations.Len() != 10000 {
		b.Fatalf("%d revocations in force", revocations.Len())
	}
	BenchmarkServeHTTPHotPath(b)
}

// BenchmarkRequestSetup is the per-request work of BenchmarkServeHTTPHotPath
// that is not the handler's.
func BenchmarkRequestSetup(b *testing.B) {
	base := request("x")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		if r == nil {
			b.Fatal("no request")
		}
	}
}

// BenchmarkServeHTTPMiss is the all-miss path: every request a fresh EdDSA
// access token, so each one is verified and gets a new ES256 backend JWT.
// Compare with BenchmarkCryptoFloor, its signature work alone.
func BenchmarkServeHTTPMiss(b *testing.B) {
	h := provisionedWith(b, "ES256", testkit.Keys().P256, "")
	tokens := make([]string, b.N)
	n := time.Now().Unix()
	for i := range tokens {
		tokens[i] = testkit.Sign(b, "EdDSA", testkit.Keys().Ed, map[string]any{"alg": "EdDSA", "typ": "JWT"},
			testkit.With(testkit.AccessClaims(testIssuer), map[string]any{"jti": strconv.Itoa(i), "iat": n, "nbf": n, "exp": n + 3600}))
	}
	base := request("x")
	w := discard{h: http.Header{}}
	next := caddyhttp.HandlerFunc(noop)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		r.Header["Authorization"] = []string{"Bearer " + tokens[i]}
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		if r.Header.Get("X-JWT-Assertion") == "" {
			b.Fatal("no backend JWT")
		}
	}
}

// BenchmarkCryptoFloor is the signature work of one all-miss request: an
// Ed25519 verification and an ES256 signature.
func BenchmarkCryptoFloor(b *testing.B) {
	k := testkit.Keys()
	msg := []byte(testkit.AccessToken(b, testIssuer, nil))
	sig := ed25519.Sign(k.Ed, msg)
	pub := k.Ed.Public().(ed25519.PublicKey)
	digest := sha256.Sum256(msg)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
		if _, err := ecdsa.SignASN1(rand.Reader, k.P256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTPMissVsFloor alternates one all-miss request (as
// BenchmarkServeHTTPMiss) and one crypto floor (as BenchmarkCryptoFloor)
// per iteration, so both see the same machine load, and reports their times
// and own-ns/op, the difference: the handler's own work on a miss, beyond
// the two signatures.
func BenchmarkServeHTTPMissVsFloor(b *testing.B) {
	h := provisionedWith(b, "ES256", testkit.Keys().P256, "")
	k := testkit.Keys()
	tokens := make([]string, b.N)
	n := time.Now().Unix()
	for i := range tokens {
		tokens[i] = testkit.Sign(b, "EdDSA", k.Ed, map[string]any{"alg": "EdDSA", "typ": "JWT"},
			testkit.With(testkit.AccessClaims(testIssuer), map[string]any{"jti": strconv.Itoa(i), "iat": n, "nbf": n, "exp": n + 3600}))
	}
	msg := []byte(tokens[0])
	sig := ed25519.Sign(k.Ed, msg)
	pub := k.Ed.Public().(ed25519.PublicKey)
	digest := sha256.Sum256(msg)
	base := request("x")
	w := discard{h: http.Header{}}
	next := caddyhttp.HandlerFunc(noop)
	var missTime, floorTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		r.Header["Authorization"] = []string{"Bearer " + tokens[i]}
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify")
		}
		if _, err := ecdsa.SignASN1(rand.Reader, k.P256, digest[:]); err != nil {
			b.Fatal(err)
		}
		missTime += t1.Sub(t0)
		floorTime += time.Since(t1)
		if r.Header.Get("X-JWT-Assertion") == "" {
			b.Fatal("no backend JWT")
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(missTime), "miss-ns/op")
	b.ReportMetric(per(floorTime), "floor-ns/op")
	b.ReportMetric(per(missTime-floorTime), "own-ns/op")
}

// BenchmarkServeHTTPHotPathOpaque is the hot path of an opaque access
// token whose introspection answer is cached (and its backend JWT too).
func BenchmarkServeHTTPHotPathOpaque(b *testing.B) {
	km := testkit.NewIntrospectionServer(b, "gw", "secret")
	const token = "0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f"
	km.Answer(token, map[string]any{"active": true, "username": "admin@carbon.super", "client_id": "app",
		"scope": "default", "exp": time.Now().Add(time.Hour).Unix()})
	h := provisionedWith(b, "RS256", testkit.Keys().RSA2, "", func(h *Handler) {
		h.Issuers[0].Introspection = &IntrospectionConfig{URL: km.URL, ClientID: "gw", ClientSecret: "secret"}
	})
	benchHotPath(b, h, token)
	if km.Calls(token) != 1 {
		b.Fatalf("%d introspection calls", km.Calls(token))
	}
}

// BenchmarkServeHTTPHotPathAPIKey is the hot path of a WSO2 API key in the
// apikey header: both caches hit, its restrictions checked.
func BenchmarkServeHTTPHotPathAPIKey(b *testing.B) {
	signer := testkit.APIKeySigner()
	cert := testkit.CertificatePEM(b, signer, "apikeysign")
	h := provisionedWith(b, "RS256", testkit.Keys().RSA2, "", func(h *Handler) {
		h.APIKeys = &APIKeysConfig{Certificates: []string{writePEM(b, b.TempDir(), "apikey.pem", cert)}, ValidateSubscription: true}
	})
	base := request("")
	base.Header.Del("Authorization")
	base.Header.Set("Apikey", testkit.APIKey(b, signer, cert, testkit.APIKeyClaims(map[string]any{"permittedReferer": "https://*.example.com/*"})))
	base.Header.Set("Referer", "https://shop.example.com/")
	benchRequest(b, h, base)
}

// BenchmarkServeHTTPIntrospectionMiss is the path of an opaque token seen
// for the first time: one introspection call each, no generation. Its
// cpu-µs/op (the whole process: handler, client, introspection server)
// less that of BenchmarkIntrospectionRoundTrip (the same call alone) is
// the handler's own CPU per miss.
func BenchmarkServeHTTPIntrospectionMiss(b *testing.B) {
	km := testkit.NewIntrospectionServer(b, "gw", "secret")
	km.SetHandler(activeIntrospection)
	h := provisionedWith(b, "RS256", testkit.Keys().RSA2, "", func(h *Handler) {
		h.Issuers[0].Introspection = &IntrospectionConfig{URL: km.URL, ClientID: "gw", ClientSecret: "secret"}
		h.Generate = nil
	})
	base := request("")
	w := discard{h: http.Header{}}
	next := caddyhttp.HandlerFunc(noop)
	b.ReportAllocs()
	runtime.GC() // the set-up's garbage is not the loop's
	start := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// What Caddy's server does per request, and a new token.
		r := base.WithContext(context.WithValue(base.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		r.Header = http.Header{"Authorization": {"Bearer opaque-" + strconv.Itoa(i) + "-b3f1c2d4e5f6a7b8"}}
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	if km.Calls("") != b.N+0 {
		b.Fatalf("%d calls for %d requests", km.Calls(""), b.N)
	}
}

// BenchmarkIntrospectionRoundTrip is one introspection call as the
// introspection client makes it (a form POST with Basic credentials on a
// kept-alive connection), without the handler: the floor of
// BenchmarkServeHTTPIntrospectionMiss.
func BenchmarkIntrospectionRoundTrip(b *testing.B) {
	km := testkit.NewIntrospectionServer(b, "gw", "secret")
	km.SetHandler(activeIntrospection)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	b.ReportAllocs()
	runtime.GC() // the set-up's garbage is not the loop's
	start := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, err := http.NewRequest(http.MethodPost, km.URL, strings.NewReader("token=opaque-"+strconv.Itoa(i)+"-b3f1c2d4e5f6a7b8&token_type_hint=access_token"))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.SetBasicAuth("gw", "secret")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// activeIntrospection answers every introspection as WSO2's key manager
// does for an active token.
var activeIntrospection = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"active":true,"token_type":"Bearer","client_id":"app","username":"admin@carbon.super","scope":"default","iss":%q,"exp":%d}`,
		testIssuer, time.Now().Add(time.Hour).Unix())
})

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
