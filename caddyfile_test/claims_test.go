package caddyfile_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// keyManager is a WSO2 key manager's claims endpoint on 127.0.0.1 whose
// answer the test sets and whose calls it records.
type keyManager struct {
	*httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	seen   []string // "METHOD path user:password body" of each call
	answer func(w http.ResponseWriter, r *http.Request)
}

func newKeyManager(t *testing.T) *keyManager {
	km := &keyManager{}
	km.answer = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"count":3,"list":[
			{"uri":"http://wso2.org/claims/givenname","value":"John"},
			{"uri":"http://wso2.org/claims/emailaddress","value":"john@example.org"},
			{"uri":"iss","value":"https://evil.example"}]}`)
	}
	km.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		km.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		km.mu.Lock()
		km.seen = append(km.seen, fmt.Sprintf("%s %s %s:%s %s", r.Method, r.URL.Path, user, pass, body))
		answer := km.answer
		km.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(km.Close)
	return km
}

func (km *keyManager) setAnswer(f func(w http.ResponseWriter, r *http.Request)) {
	km.mu.Lock()
	km.answer = f
	km.mu.Unlock()
}

// claimsSite is a gateway with two issuers, one with remote_claims, and
// the wso2 retriever pointed at km.
type claimsSite struct {
	g        *gateway
	upstream *testkit.Upstream
	km       *keyManager
}

const plainIssuer = "https://plain.example.org"

func newClaimsSite(t *testing.T, km *keyManager, claimsExtra string) *claimsSite {
	k := testkit.Keys()
	s := &claimsSite{g: newGateway(t), upstream: testkit.NewUpstream(t), km: km}
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	t.Setenv("KM_PASSWORD", "s3cret")
	s.g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %[1]s {
			jwks_url %[2]s
			remote_claims
		}
		issuer %[3]s {
			jwks_url %[2]s
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		generate {
			algorithm ES256
			signing_key %[4]s
		}
		claims wso2 {
			server_url %[5]s
			username admin
			password {env.KM_PASSWORD}
			%[6]s
		}
	}
	reverse_proxy %[7]s`, wso2Issuer, jwks.URL, plainIssuer, keyFile(t, k.P256), km.URL, claimsExtra, s.upstream.Listener.Addr()))
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })
	return s
}

// tokenFor is a fresh access token of iss for sub, unique by its jti.
func tokenFor(t testing.TB, iss, sub string) string {
	return testkit.Sign(t, "RS256", testkit.Keys().RSA, hdr("RS256", "rsa"), with(accessClaims(iss), map[string]any{
		"sub": sub, "jti": fmt.Sprintf("%s-%d", sub, time.Now().UnixNano()),
	}))
}

// backendClaims sends a request and returns the claims of the backend JWT
// the upstream received.
func (s *claimsSite) backendClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	r := s.g.Get("/", bearer(token)...)
	if r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	return testkit.Verify(t, s.upstream.Last().Header.Get("X-Jwt-Assertion"), testkit.Keys().P256.Public(), false).Claims
}

func TestClaimsRetrieval(t *testing.T) {
	km := newKeyManager(t)
	s := newClaimsSite(t, km, "cache_expiry 1h")

	claims := s.backendClaims(t, tokenFor(t, wso2Issuer, "admin@carbon.super"))
	km.mu.Lock()
	seen := strings.Join(km.seen, "\n")
	km.mu.Unlock()
	if seen != `POST /keymanager-operations/user-info/claims/generate admin:s3cret {"username":"admin"}` {
		t.Fatalf("the key manager saw:\n%s", seen)
	}
	for name, want := range map[string]any{
		"http://wso2.org/claims/givenname":    "John",
		"http://wso2.org/claims/emailaddress": "john@example.org",
		"iss":                                 "wso2.org/products/am", // a retrieved iss never replaces it
		"sub":                                 "admin@carbon.super",
	} {
		if claims[name] != want {
			t.Errorf("%s = %v, want %v", name, claims[name], want)
		}
	}

	t.Run("a second token of the user within cache_expiry makes no call", func(t *testing.T) {
		before := km.calls.Load()
		if c := s.backendClaims(t, tokenFor(t, wso2Issuer, "admin@carbon.super")); c["http://wso2.org/claims/givenname"] != "John" {
			t.Fatalf("claims %v", c)
		}
		if km.calls.Load() != before {
			t.Fatal("the key manager was called again")
		}
	})

	t.Run("50 concurrent first requests of one user make one call", func(t *testing.T) {
		before := km.calls.Load()
		tokens := make([]string, 50)
		for i := range tokens {
			tokens[i] = tokenFor(t, wso2Issuer, "bob@carbon.super")
		}
		var wg sync.WaitGroup
		for _, token := range tokens {
			wg.Add(1)
			go func(token string) {
				defer wg.Done()
				if r := s.g.Get("/", bearer(token)...); r.Status != 200 {
					t.Errorf("status %d", r.Status)
				}
			}(token)
		}
		wg.Wait()
		if n := km.calls.Load() - before; n != 1 {
			t.Fatalf("%d calls for one user", n)
		}
	})

	t.Run("an issuer without remote_claims makes no call", func(t *testing.T) {
		before := km.calls.Load()
		c := s.backendClaims(t, tokenFor(t, plainIssuer, "carol@carbon.super"))
		if km.calls.Load() != before {
			t.Fatal("the key manager was called")
		}
		if _, ok := c["http://wso2.org/claims/givenname"]; ok {
			t.Fatal("retrieved claims in a token of an issuer without remote_claims")
		}
	})
}

func TestClaimsFailures(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect target was called (Authorization %q)", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	failures := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
	}{
		{"user not found", func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"code":404}`, 404) }},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "who?", 401) }},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}},
		{"redirect to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}},
		{"malformed body", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"count":1,"list":[{"uri":`) }},
		{"HTML page", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>login</html>") }},
		{"oversized body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"count":1,"list":[{"uri":"x","value":"`+strings.Repeat("a", 2<<20)+`"}]}`)
		}},
	}
	const timeout = 500 * time.Millisecond
	for _, onError := range []string{"continue", "fail"} {
		t.Run("on_error "+onError, func(t *testing.T) {
			km := newKeyManager(t)
			s := newClaimsSite(t, km, fmt.Sprintf("timeout %s\n\t\t\ton_error %s", timeout, onError))
			for _, f := range failures {
				t.Run(f.name, func(t *testing.T) {
					km.setAnswer(f.answer)
					start := time.Now()
					r := s.g.Get("/", bearer(tokenFor(t, wso2Issuer, "dave@carbon.super"))...)
					if waited := time.Since(start); waited > timeout+2*time.Second {
						t.Errorf("the request waited %s with a %s timeout", waited, timeout)
					}
					if onError == "fail" {
						wantFault(t, r, 503, 900900)
						if r.Header.Get("Retry-After") == "" {
							t.Error("no Retry-After")
						}
						return
					}
					if r.Status != 200 {
						t.Fatalf("status %d %s", r.Status, r.Body)
					}
					claims := testkit.Verify(t, s.upstream.Last().Header.Get("X-Jwt-Assertion"), testkit.Keys().P256.Public(), false).Claims
					if _, ok := claims["http://wso2.org/claims/givenname"]; ok || claims["sub"] != "dave@carbon.super" {
						t.Fatalf("claims %v", claims)
					}
				})
			}
			// Eight failures in a second or two: the sampled warning is
			// logged once (twice if a 10 s tick falls between them).
			if n := strings.Count(s.g.Logs(), `"msg":"claims retrieval failed"`); n < 1 || n > 2 {
				t.Errorf("%d warnings for %d failures, want 1 (or 2)", n, len(failures))
			}
			if strings.Contains(s.g.Logs(), "s3cret") {
				t.Error("the log holds the key manager's password")
			}
		})
	}
}

// TestClaimsRecoverAfterOutage: with on_error continue, a token made
// without the claims during an outage is not cached, so the next request
// gets them once the key manager answers again.
func TestClaimsRecoverAfterOutage(t *testing.T) {
	km := newKeyManager(t)
	good := km.answer
	s := newClaimsSite(t, km, "")
	token := tokenFor(t, wso2Issuer, "erin@carbon.super")
	km.setAnswer(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) })
	if c := s.backendClaims(t, token); c["http://wso2.org/claims/givenname"] != nil {
		t.Fatal("claims during the outage")
	}
	km.setAnswer(good)
	if c := s.backendClaims(t, token); c["http://wso2.org/claims/givenname"] != "John" {
		t.Fatalf("the same token after the outage: %v", c)
	}
}

// TestClaimsJSON loads the claims block as JSON through the admin API.
func TestClaimsJSON(t *testing.T) {
	km := newKeyManager(t)
	s := newClaimsSite(t, km, "")
	cfg, err := adapt(s.g.Caddyfile(strings.Replace(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			certificate %s
			remote_claims
		}
		generate {
		}
		claims wso2 {
			server_url %s
		}
	}
	respond "ok"`, wso2Issuer, writeFile(t, "c.pem", testkit.CertificatePEM(t, testkit.Keys().RSA, "x")), km.URL), "\n\t", "\n\t", -1)))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(cfg, &doc); err != nil || !strings.Contains(string(cfg), `"claims":{"retriever":"wso2","server_url":"`+km.URL+`"}`) {
		t.Fatalf("adapted claims: %v\n%s", err, cfg)
	}
	if err := s.g.Load("application/json", cfg); err != nil {
		t.Fatal(err)
	}
}
