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
