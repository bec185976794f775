package validator

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const testIssuer = "https://localhost:9443/oauth2/token"

func TestValidateTokens(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t,
		jwkSpec{KID: "rsa", Key: k.RSA},
		jwkSpec{KID: "rsa-rs256-only", Alg: "RS256", Key: k.RSA2},
		jwkSpec{KID: "p256", Key: k.P256},
		jwkSpec{KID: "p384", Key: k.P384},
		jwkSpec{KID: "ed", Key: k.Ed},
		jwkSpec{KID: "enc", Use: "enc", Key: k.RSA},
	)
	certIssuer := "https://certs.example.org"
	v := newValidator(t, Config{
		Issuers: []IssuerConfig{
			{Issuer: testIssuer, JWKSURL: jwks.URL, Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA"}},
			{Issuer: certIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA2), publicOf(k.RSA)}, Audiences: []string{"gw", "other"}},
		},
		CacheSize: 0,
	})
	pubPEM := testkit.PublicKeyPEM(t, k.RSA)

	claims := claimsFor(testIssuer)
	with := func(changes map[string]any) map[string]any { return testkit.With(claims, changes) }
	hdr := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "typ": "JWT", "kid": kid} }
	certClaims := with(map[string]any{"iss": certIssuer, "aud": []string{"x", "gw"}})
	n := time.Now().Unix()

	tests := []struct {
		name  string
		token string
		want  error // nil: valid
	}{
		{"RS256 via JWKS", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), claims), nil},
		{"PS256 via JWKS", sign(t, "PS256", k.RSA, hdr("PS256", "rsa"), claims), nil},
		{"ES256 via JWKS", sign(t, "ES256", k.P256, hdr("ES256", "p256"), claims), nil},
		{"EdDSA via JWKS", sign(t, "EdDSA", k.Ed, hdr("EdDSA", "ed"), claims), nil},
		{"static certificate, second key, aud array", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, certClaims), nil},
		{"static certificate ignores a kid without JWKS", sign(t, "RS256", k.RSA2, hdr("RS256", "whatever"), certClaims), nil},
		{"alg none", sign(t, "none", nil, hdr("none", "rsa"), claims), ErrInvalid},
		{"alg none with a signature", sign(t, "RS256", k.RSA, hdr("none", "rsa"), claims), ErrInvalid},
		{"alg NONE", sign(t, "none", nil, hdr("NONE", "rsa"), claims), ErrInvalid},
		{"HS256 keyed with the public key PEM", sign(t, "HS256", pubPEM, hdr("HS256", "rsa"), claims), ErrInvalid},
		{"HS256 on a certificate issuer", sign(t, "HS256", pubPEM, hdr("HS256", ""), certClaims), ErrInvalid},
		{"alg not in the issuer's list", sign(t, "RS384", k.RSA, hdr("RS384", "rsa"), claims), ErrInvalid},
		{"RSA key used for ES256", sign(t, "ES256", k.P256, hdr("ES256", "rsa"), claims), ErrInvalid},
		{"JWKS key stating RS256 used for PS256", sign(t, "PS256", k.RSA2, hdr("PS256", "rsa-rs256-only"), claims), ErrInvalid},
		{"JWKS key stating RS256 used for RS256", sign(t, "RS256", k.RSA2, hdr("RS256", "rsa-rs256-only"), claims), nil},
		{"P-384 key for ES256", sign(t, "ES256", k.P256, hdr("ES256", "p384"), claims), ErrInvalid},
		{"encryption key not used", sign(t, "RS256", k.RSA, hdr("RS256", "enc"), claims), ErrInvalid},
		{"signed by another key", sign(t, "RS256", k.RSA2, hdr("RS256", "rsa"), claims), ErrInvalid},
		{"tampered payload", tamper(sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), claims), with(map[string]any{"sub": "root"})), ErrInvalid},
		{"unknown issuer", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"iss": "https://evil"})), ErrInvalid},
		{"no iss", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"iss": nil})), ErrInvalid},
		{"unknown kid", sign(t, "RS256", k.RSA, hdr("RS256", "nope"), claims), ErrInvalid},
		{"no kid on a JWKS-only issuer", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, claims), ErrInvalid},
		{"expired", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": n - 60})), ErrExpired},
		{"expired within clock skew", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": n - 2})), nil},
		{"expired and badly signed", sign(t, "RS256", k.RSA2, hdr("RS256", "rsa"), with(map[string]any{"exp": n - 60})), ErrInvalid},
		{"expired and not yet valid", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": n - 60, "nbf": n + 600})), ErrInvalid},
		{"no exp", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": nil})), ErrInvalid},
		{"exp as a string", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": fmt.Sprint(n + 60)})), ErrInvalid},
		{"exp as a float", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": float64(n) + 60.5})), ErrInvalid},
		{"exp beyond year 9999", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"exp": int64(253402300800)})), ErrInvalid},
		{"nbf in the future", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"nbf": n + 600})), ErrInvalid},
		{"iat in the future", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"iat": n + 600})), ErrInvalid},
		{"iss as an array", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"iss": []string{testIssuer}})), ErrInvalid},
		{"sub as a number", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"sub": 7})), ErrInvalid},
		{"aud as a number", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(map[string]any{"aud": 7})), ErrInvalid},
		{"wrong aud", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, with(map[string]any{"iss": certIssuer, "aud": "nobody"})), ErrInvalid},
		{"aud required but absent", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, with(map[string]any{"iss": certIssuer, "aud": nil})), ErrInvalid},
		{"crit header", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa", "crit": []string{"exp"}, "exp": 1}, claims), ErrInvalid},
		{"nested JWT", sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa", "cty": "JWT"}, claims), ErrInvalid},
		{"duplicate claim", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), []byte(`{"iss":"`+testIssuer+`","exp":9999999999,"sub":"a","sub":"b"}`)), ErrInvalid},
		{"duplicate header member", sign(t, "RS256", k.RSA, []byte(`{"alg":"RS256","kid":"rsa","alg":"none"}`), claims), ErrInvalid},
		{"two parts", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0", ErrInvalid},
		{"five parts (JWE)", "a.b.c.d.e", ErrInvalid},
		{"padded part", sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), claims) + "==", ErrInvalid},
		{"empty", "", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := v.Validate(tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if tok.Subject == "" || tok.Issuer == nil {
					t.Fatalf("token lacks subject or issuer: %+v", tok)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if len(tc.token) > 100 && strings.Contains(err.Error(), tc.token) {
				t.Fatal("error message echoes the token")
			}
		})
	}
}

// tamper replaces a token's payload, keeping its header and signature.
func tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	b, _ := json.Marshal(claims)
	return parts[0] + "." + b64(b) + "." + parts[2]
}

func TestMaxTokenSize(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, MaxTokenSize: 2048})
	small := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, claimsFor(testIssuer))
	waitFor(t, "first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })
	if _, err := v.Validate(small); err != nil {
		t.Fatalf("small token: %v", err)
	}
	c := claimsFor(testIssuer)
	c["padding"] = strings.Repeat("x", 2048)
	if _, err := v.Validate(sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, c)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("large token: got %v", err)
	}
}

func TestSubscription(t *testing.T) {
	k := keys(t)
	api := &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"}
	sub := func(name, version string) map[string]any {
		return map[string]any{"name": name, "version": version, "context": "/x", "publisher": "admin",
			"subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}
	}
	tests := []struct {
		name      string
		subs      any
		validate  bool
		wantErr   error
		wantMatch bool
	}{
		{"exact version", []any{sub("Other", "1.0.0"), sub("PizzaShackAPI", "1.0.0")}, true, nil, true},
		{"any version", []any{sub("PizzaShackAPI", "*")}, true, nil, true},
		{"other version", []any{sub("PizzaShackAPI", "2.0.0")}, true, ErrNotSubscribed, false},
		{"other API", []any{sub("Other", "1.0.0")}, true, ErrNotSubscribed, false},
		{"no claim", nil, true, ErrNotSubscribed, false},
		{"claim of the wrong shape", "PizzaShackAPI", true, ErrNotSubscribed, false},
		{"not checked, still matched for tier claims", []any{sub("PizzaShackAPI", "1.0.0")}, false, nil, true},
		{"not checked, no match", []any{sub("Other", "1.0.0")}, false, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newValidator(t, Config{
				Issuers:   []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA)}, ValidateSubscription: tc.validate}},
				API:       api,
				CacheSize: 10,
			})
			c := claimsFor(testIssuer)
			if tc.subs != nil {
				c["subscribedAPIs"] = tc.subs
			}
			token := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, c)
			for round := 0; round < 2; round++ { // the second round is a cache hit
				tok, err := v.Validate(token)
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("round %d: got %v, want %v", round, err, tc.wantErr)
				}
				if got := tok != nil && tok.Subscription != nil; got != tc.wantMatch {
					t.Fatalf("round %d: matched %v, want %v", round, got, tc.wantMatch)
				}
				if tc.wantMatch && tok.Subscription.SubscriptionTier != "Gold" {
					t.Fatalf("tier %q", tok.Subscription.SubscriptionTier)
				}
			}
		})
	}
}

func TestValidationCache(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, CacheSize: 3})
	waitFor(t, "first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })

	c := claimsFor(testIssuer)
	c["exp"] = time.Now().Unix() + 60
	token := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, c)
	first, err := v.Validate(token)
	if err != nil {
		t.Fatal(err)
	}
	// A hit hands back the same token without a signature check: the
	// key set can be emptied and the token still validates.
	jwks.SetResponse(http.StatusOK, []byte(`{"keys":[]}`))
	second, err := v.Validate(token)
	if err != nil || second != first {
		t.Fatalf("cache hit: %v, same=%v", err, second == first)
	}
	// Only exp is re-checked on a hit.
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := v.Validate(token); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp: got %v", err)
	}
	now = time.Now

	// Capacity holds: many distinct tokens never make the cache larger.
	jwks.SetKeys(t, jwkSpec{KID: "rsa", Key: k.RSA})
	for i := 0; i < 10; i++ {
		c := claimsFor(testIssuer)
		c["jti"] = fmt.Sprint(i)
		c["exp"] = time.Now().Unix() + int64(100+i)
		if _, err := v.Validate(sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, c)); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.Len(); n > 3 {
			t.Fatalf("cache holds %d entries, capacity 3", n)
		}
	}
}

func TestJWKSUnknownKidsRefetchOnce(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, JWKSMinRefresh: time.Hour})
	waitFor(t, "first JWKS fetch", func() bool { return jwks.Fetches.Load() == 1 })

	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			token := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": fmt.Sprintf("unknown-%d", i)}, claimsFor(testIssuer))
			if _, err := v.Validate(token); !errors.Is(err, ErrInvalid) {
				t.Errorf("unknown kid %d: got %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if got := jwks.Fetches.Load(); got > 2 {
		t.Fatalf("30 unknown kids caused %d JWKS fetches in all, want at most 2", got)
	}
}

func TestJWKSRotationAfterMinRefresh(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "old", Key: k.RSA})
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, JWKSMinRefresh: 200 * time.Millisecond})
	waitFor(t, "first JWKS fetch", func() bool { return jwks.Fetches.Load() == 1 })
	// The next scheduled refresh is far away; an unknown kid makes one refetch.
	jwks.SetKeys(t, jwkSpec{KID: "new", Key: k.RSA2})
	token := sign(t, "RS256", k.RSA2, map[string]any{"alg": "RS256", "kid": "new"}, claimsFor(testIssuer))
	if _, err := v.Validate(token); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	jwks.SetResponse(http.StatusServiceUnavailable, []byte("<html>down</html>"))
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, JWKSRefresh: 100 * time.Millisecond, JWKSMinRefresh: 100 * time.Millisecond})
	token := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, claimsFor(testIssuer))
	waitFor(t, "first failed fetch", func() bool { return jwks.Fetches.Load() > 0 })
	if _, err := v.Validate(token); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("JWKS down from the start: got %v", err)
	}
	// It keeps retrying in the background and recovers.
	jwks.SetKeys(t, jwkSpec{KID: "rsa", Key: k.RSA})
	waitFor(t, "recovery", func() bool { _, err := v.Validate(token); return err == nil })
	// Once fetched, an outage keeps the last good keys serving.
	jwks.SetResponse(http.StatusInternalServerError, nil)
	before := jwks.Fetches.Load()
	waitFor(t, "failed refresh", func() bool { return jwks.Fetches.Load() > before })
	c := claimsFor(testIssuer)
	c["jti"] = "another"
	if _, err := v.Validate(sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256", "kid": "rsa"}, c)); err != nil {
		t.Fatalf("after a failed refresh the last good keys must serve: %v", err)
	}
}

func TestGoroutinesEndOnCancel(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	base := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		v, err := New(ctx, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL}}, CacheSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		v.Start()
		cancel()
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}

func TestConsumerKey(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	const other = "https://other.example.org"
	v := newValidator(t, Config{
		Issuers: []IssuerConfig{
			{Issuer: testIssuer, JWKSURL: jwks.URL},
			{Issuer: other, JWKSURL: jwks.URL, ConsumerKeyClaim: "client_id"},
		},
	})
	hdr := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa"}
	for _, tc := range []struct {
		name    string
		changes map[string]any
		want    string
	}{
		{"azp", map[string]any{"azp": "azpKey", "aud": "audKey"}, "azpKey"},
		{"aud string", map[string]any{"azp": nil, "aud": "audKey"}, "audKey"},
		{"aud array: its first value", map[string]any{"azp": nil, "aud": []string{"first", "second"}}, "first"},
		{"empty azp: aud", map[string]any{"azp": "", "aud": []string{"first"}}, "first"},
		{"neither", map[string]any{"azp": nil, "aud": nil}, ""},
		{"configured claim", map[string]any{"iss": other, "client_id": "cid", "azp": "azpKey"}, "cid"},
		{"configured claim, an array", map[string]any{"iss": other, "client_id": []any{7, "cid2"}}, "cid2"},
		{"configured claim missing: no fallback", map[string]any{"iss": other, "azp": "azpKey"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, "RS256", k.RSA, hdr, testkit.With(claimsFor(testIssuer), tc.changes))
			got, err := v.Validate(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.ConsumerKey != tc.want {
				t.Fatalf("consumer key %q, want %q", got.ConsumerKey, tc.want)
			}
			if want := tok[strings.LastIndexByte(tok, '.')+1:]; got.Signature != want {
				t.Fatalf("signature %q, want %q", got.Signature, want)
			}
		})
	}
}

// TestExternalSubscriptions: with API Manager's data checking
// subscriptions, a token without subscribedAPIs is left to it, and one
// with subscribedAPIs is still checked here.
func TestExternalSubscriptions(t *testing.T) {
	k := keys(t)
	jwks := newJWKSServer(t, jwkSpec{KID: "rsa", Key: k.RSA})
	hdr := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa"}
	api := &API{Name: "PizzaShackAPI", Version: "1.0.0"}
	for _, external := range []bool{false, true} {
		v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, JWKSURL: jwks.URL, ValidateSubscription: true}},
			API: api, ExternalSubscriptions: external})
		without := sign(t, "RS256", k.RSA, hdr, testkit.With(claimsFor(testIssuer), map[string]any{"subscribedAPIs": nil}))
		other := sign(t, "RS256", k.RSA, hdr, testkit.With(claimsFor(testIssuer), map[string]any{
			"subscribedAPIs": []map[string]any{{"name": "Other", "version": "1"}}}))
		if _, err := v.Validate(without); (err == nil) != external {
			t.Errorf("external %v, no subscribedAPIs: %v", external, err)
		}
		if _, err := v.Validate(other); !errors.Is(err, ErrNotSubscribed) {
			t.Errorf("external %v, subscribedAPIs without the API: %v", external, err)
		}
	}
}
