package validator

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
)

// introspectionServer answers RFC 7662 introspection with answers[token]
// (inactive for any other token) and counts its calls.
func introspectionServer(t *testing.T, answers map[string]map[string]any) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer, ok := answers[r.PostFormValue("token")]
		if !ok {
			answer = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestOpaqueTokens(t *testing.T) {
	const other = "https://hydra.example.org/"
	exp := time.Now().Add(time.Hour).Unix()
	km, kmCalls := introspectionServer(t, map[string]map[string]any{
		"0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f": {"active": true, "iss": testIssuer, "username": "alice@carbon.super", "sub": "uid-1",
			"client_id": "app-key", "scope": "menu:read menu:write", "exp": exp, "jti": "j-opaque"},
		"0b9c8f3e-2a41-4f7d-9c1e-000000000000": {"active": true, "exp": time.Now().Add(-time.Hour).Unix()},
	})
	hydra, hydraCalls := introspectionServer(t, map[string]map[string]any{
		"ory_at_abc": {"active": true, "sub": "bob", "client_id": "c2", "scope": "openid", "token_use": "access_token"},
		"ory_rt_abc": {"active": true, "sub": "bob", "token_use": "refresh_token"},
	})
	v := newValidator(t, Config{
		Issuers: []IssuerConfig{
			{Issuer: testIssuer, Introspection: &introspection.Config{URL: km.URL},
				TokenPattern: regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)},
			{Issuer: other, Introspection: &introspection.Config{URL: hydra.URL}, ConsumerKeyClaim: "sub"},
		},
		CacheSize: 100,
	})
	for _, tc := range []struct {
		name, token                string
		err                        error
		issuer, sub, key, jti      string
		scopes                     []string
		kmCalls, hydraCalls, after int64
	}{
		{name: "pattern to the key manager", token: "0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f", issuer: testIssuer,
			sub: "alice@carbon.super", key: "app-key", jti: "j-opaque", scopes: []string{"menu:read", "menu:write"}, kmCalls: 1},
		{name: "cached", token: "0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f", issuer: testIssuer,
			sub: "alice@carbon.super", key: "app-key", jti: "j-opaque", scopes: []string{"menu:read", "menu:write"}},
		{name: "expired", token: "0b9c8f3e-2a41-4f7d-9c1e-000000000000", err: ErrExpired, kmCalls: 1},
		{name: "the rest to the issuer without a pattern", token: "ory_at_abc", issuer: other, sub: "bob", key: "bob",
			scopes: []string{"openid"}, hydraCalls: 1},
		{name: "a refresh token", token: "ory_rt_abc", err: ErrInvalid, hydraCalls: 1},
		{name: "inactive", token: "ory_at_unknown", err: ErrInvalid, hydraCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			km0, hydra0 := kmCalls.Load(), hydraCalls.Load()
			tok, _, err := v.ValidateCached(tc.token)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var sub string
				_ = json.Unmarshal(tok.Claims["sub"], &sub)
				if tok.Issuer.Issuer != tc.issuer || tok.Subject != tc.sub || sub != tc.sub || tok.ConsumerKey != tc.key ||
					tok.JTI != tc.jti || !tok.HasScopes(tc.scopes) || len(tok.Scopes) != len(tc.scopes) || tok.Signature != "" {
					t.Fatalf("token %+v", tok)
				}
			}
			if got := [2]int64{kmCalls.Load() - km0, hydraCalls.Load() - hydra0}; got != [2]int64{tc.kmCalls, tc.hydraCalls} {
				t.Fatalf("calls (key manager, hydra) %v, want %v", got, [2]int64{tc.kmCalls, tc.hydraCalls})
			}
		})
	}
	// A JWT-shaped token is never introspected.
	if _, _, err := v.ValidateCached("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"); !errors.Is(err, ErrInvalid) || kmCalls.Load()+hydraCalls.Load() != 5 {
		t.Fatalf("a JWT-shaped token: %v, %d calls", err, kmCalls.Load()+hydraCalls.Load())
	}
	st, _ := v.Status()
	for _, s := range st {
		if s.Introspection == nil || s.Introspection.Calls[introspection.OutcomeActive] != 1 {
			t.Fatalf("status %+v", s)
		}
	}
}

func TestOpaqueTokensOnlyByPattern(t *testing.T) {
	km, calls := introspectionServer(t, nil)
	v := newValidator(t, Config{Issuers: []IssuerConfig{{Issuer: testIssuer, Introspection: &introspection.Config{URL: km.URL},
		TokenPattern: regexp.MustCompile(`^ghp_[A-Za-z0-9]{36}$`)}}})
	if _, _, err := v.ValidateCached("an opaque token"); !errors.Is(err, ErrInvalid) || calls.Load() != 0 {
		t.Fatalf("%v, %d calls", err, calls.Load())
	}
	if _, err := New(t.Context(), Config{Issuers: []IssuerConfig{
		{Issuer: "a", Introspection: &introspection.Config{URL: km.URL}},
		{Issuer: "b", Introspection: &introspection.Config{URL: km.URL}},
	}}); err == nil {
		t.Fatal("two issuers take every opaque token")
	}
}

func TestIsCompactJWS(t *testing.T) {
	for token, want := range map[string]bool{
		"a.b.c": true, "eyJ.eyJ.": false, ".b.c": false, "a..c": false, "a.b": false, "a.b.c.d": false,
		"a.b.c=": false, "0b9c8f3e-2a41-4f7d": false, "a b.c.d": false, "": false,
	} {
		if isCompactJWS(token) != want {
			t.Errorf("isCompactJWS(%q) = %v", token, !want)
		}
	}
}
