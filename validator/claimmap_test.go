package validator

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
)

// rawsOf makes claims from name/raw JSON pairs.
func rawsOf(kv ...string) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

// TestClaimMapApply checks the renaming itself: value unchanged, the
// renamed claim replacing one of the target name, no chaining.
func TestClaimMapApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      map[string]string
		claims map[string]json.RawMessage
		want   map[string]json.RawMessage
	}{
		{
			name:   "rename, value as written",
			m:      map[string]string{"uid": "user_id"},
			claims: rawsOf("uid", `{ "n" : [1, 2] }`, "sub", `"bob"`),
			want:   rawsOf("user_id", `{ "n" : [1, 2] }`, "sub", `"bob"`),
		},
		{
			name:   "replaces a claim of the target name",
			m:      map[string]string{"mail": "email"},
			claims: rawsOf("mail", `"m@x"`, "email", `"e@x"`),
			want:   rawsOf("email", `"m@x"`),
		},
		{
			name:   "no chaining",
			m:      map[string]string{"a": "b", "b": "c"},
			claims: rawsOf("a", `"A"`, "b", `"B"`),
			want:   rawsOf("b", `"A"`, "c", `"B"`),
		},
		{
			name:   "no chaining, the other way round",
			m:      map[string]string{"b": "c", "a": "b"},
			claims: rawsOf("a", `"A"`, "b", `"B"`, "c", `"C"`),
			want:   rawsOf("b", `"A"`, "c", `"B"`),
		},
		{
			name:   "swap",
			m:      map[string]string{"a": "b", "b": "a"},
			claims: rawsOf("a", `1`, "b", `2`),
			want:   rawsOf("a", `2`, "b", `1`),
		},
		{
			name:   "remote claim absent: the target kept",
			m:      map[string]string{"mail": "email"},
			claims: rawsOf("email", `"e@x"`),
			want:   rawsOf("email", `"e@x"`),
		},
		{
			name:   "renamed to a restricted name: kept here, dropped by the generator",
			m:      map[string]string{"uid": "sub"},
			claims: rawsOf("uid", `"u"`, "sub", `"bob"`),
			want:   rawsOf("sub", `"u"`),
		},
		{
			name:   "no claims",
			m:      map[string]string{"a": "b"},
			claims: nil,
			want:   map[string]json.RawMessage{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm, err := newClaimMap(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			before := maps.Clone(tc.claims)
			got := cm.apply(tc.claims)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("apply = %s\nwant %s", show(got), show(tc.want))
			}
			if !reflect.DeepEqual(tc.claims, before) {
				t.Error("apply changed the claims as issued")
			}
		})
	}
	var none *claimMap
	if got := none.apply(rawsOf("a", `1`)); got != nil {
		t.Errorf("no claim map: %v, want nil", got)
	}
}

func show(m map[string]json.RawMessage) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s=%s ", k, v)
	}
	return b.String()
}

// TestClaimMapConfig checks the claim maps New refuses, for issuers and for
// API keys.
func TestClaimMapConfig(t *testing.T) {
	k := keys(t)
	big := make(map[string]string, MaxClaimMap+1)
	for i := range MaxClaimMap + 1 {
		big[fmt.Sprint("r", i)] = fmt.Sprint("l", i)
	}
	for _, tc := range []struct {
		name string
		m    map[string]string
		want string // "" accepted
	}{
		{name: "fine", m: map[string]string{"a": "b", "b": "c"}},
		{name: "empty remote", m: map[string]string{"": "b"}, want: "empty claim name"},
		{name: "empty local", m: map[string]string{"a": ""}, want: "empty claim name"},
		{name: "two to one", m: map[string]string{"a": "x", "b": "x"}, want: `"a" and "b" both map to "x"`},
		{name: "too many", m: big, want: "more than the 1024 allowed"},
	} {
		for _, where := range []string{"issuer", "api_keys"} {
			t.Run(where+"/"+tc.name, func(t *testing.T) {
				cfg := Config{Issuers: []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA)}}}}
				if where == "issuer" {
					cfg.Issuers[0].ClaimMap = tc.m
				} else {
					cfg.APIKeys = apiKeyConfig(t, false)
					cfg.APIKeys.ClaimMap = tc.m
				}
				_, err := New(context.Background(), cfg)
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("refused: %v", err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("err = %v, want one saying %q", err, tc.want)
				}
			})
		}
	}
}

// mappedClaims is the claim map of the token tests: every claim a check
// reads is renamed, so a check that read Copied would fail.
var mappedClaims = map[string]string{
	"azp": "client", "subscribedAPIs": "subs", "scope": "perms", "aut": "user_type",
	"jti": "token_id", "sub": "user", "uid": "user_id", "given": "givenname", "givenname": "first_name",
}

// checkMapped checks a token of mappedClaims: Copied renamed, the checks
// made on Claims as issued (scopes only for access tokens: API keys carry
// none).
func checkMapped(t *testing.T, tok *Token, wantKey string, scopes bool) {
	t.Helper()
	wantCopied := map[string]string{
		"client": `"` + wantKey + `"`, "perms": `"menu:read"`, "user_type": `"APPLICATION_USER"`,
		"user_id": `"u-1"`, "givenname": `"Ann"`, "first_name": `"Old"`,
	}
	for name, want := range wantCopied {
		if got := string(tok.Copied[name]); got != want {
			t.Errorf("Copied[%s] = %s, want %s", name, got, want)
		}
	}
	for _, name := range []string{"azp", "subscribedAPIs", "scope", "aut", "uid", "given", "sub", "jti"} {
		if v, ok := tok.Copied[name]; ok {
			t.Errorf("Copied[%s] = %s, want it renamed", name, v)
		}
	}
	if _, ok := tok.Copied["subs"]; !ok {
		t.Error("Copied has no subs")
	}
	if string(tok.Claims["azp"]) != `"`+wantKey+`"` || string(tok.Claims["givenname"]) != `"Old"` || tok.Claims["client"] != nil {
		t.Errorf("Claims changed: %s", show(tok.Claims))
	}
	if !reflect.DeepEqual(tok.CopiedClaims(), tok.Copied) {
		t.Error("CopiedClaims is not Copied")
	}
	// The checks read the token as issued.
	if tok.ConsumerKey != wantKey {
		t.Errorf("consumer key %q, want %q (from azp)", tok.ConsumerKey, wantKey)
	}
	if tok.Subscription == nil || tok.Subscription.SubscriptionTier != "Gold" {
		t.Errorf("subscription %+v, want the Gold one", tok.Subscription)
	}
	if scopes && (len(tok.Scopes) != 1 || tok.Scopes[0] != "menu:read") {
		t.Errorf("scopes %v, want those of scope", tok.Scopes)
	}
	if tok.Subject == "" || tok.JTI == "" {
		t.Errorf("subject %q, jti %q", tok.Subject, tok.JTI)
	}
}

// mappedTokenClaims are the claims of the token tests, as issued.
func mappedTokenClaims() map[string]any {
	return map[string]any{
		"azp": "app-key", "scope": "menu:read", "aut": "APPLICATION_USER", "uid": "u-1", "given": "Ann", "givenname": "Old",
		"subscribedAPIs": []any{map[string]any{"name": "PizzaShackAPI", "version": "1.0.0", "context": "/pizzashack/1.0.0",
			"publisher": "admin", "subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}},
	}
}

// TestClaimMapTokens checks claim_map on a JWT, an API key and an
// introspected token: Copied renamed once at validation (a cache hit hands
// out the same), while consumer key, subscription and scopes are read from
// the claims as issued; an issuer without a claim map gives no Copied.
func TestClaimMapTokens(t *testing.T) {
	k := keys(t)
	api := &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"}
	answer := mappedTokenClaims()
	answer["active"], answer["iss"], answer["sub"], answer["client_id"] = true, testIssuer, "alice", "app-key"
	answer["exp"], answer["jti"] = time.Now().Add(time.Hour).Unix(), "j-o"
	km, _ := introspectionServer(t, map[string]map[string]any{"0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f": answer})
	const plainIssuer = "https://plain.example.org"
	apiKeys := apiKeyConfig(t, true)
	apiKeys.ClaimMap = mappedClaims
	v := newValidator(t, Config{
		Issuers: []IssuerConfig{
			{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA)}, ValidateSubscription: true, ClaimMap: mappedClaims,
				Introspection: &introspection.Config{URL: km.URL}, TokenPattern: regexp.MustCompile(`^[0-9a-f-]{36}$`)},
			{Issuer: plainIssuer, PublicKeys: []crypto.PublicKey{publicOf(k.RSA)}},
		},
		API:       api,
		APIKeys:   apiKeys,
		CacheSize: 16,
	})

	jwtClaims := claimsFor(testIssuer)
	maps.Copy(jwtClaims, mappedTokenClaims())
	jwt := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, jwtClaims)
	key := wso2APIKey(t, mappedTokenClaims())

	for _, tc := range []struct {
		name     string
		scopes   bool
		validate func() (*Token, bool, error)
	}{
		{name: "JWT", scopes: true, validate: func() (*Token, bool, error) { return v.ValidateCached(jwt) }},
		{name: "API key", validate: func() (*Token, bool, error) { return v.ValidateAPIKey(key) }},
		{name: "introspected", scopes: true, validate: func() (*Token, bool, error) {
			return v.ValidateCached("0b9c8f3e-2a41-4f7d-9c1e-7a4b5c6d7e8f")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, cached, err := tc.validate()
			if err != nil || cached {
				t.Fatalf("first: cached %v, %v", cached, err)
			}
			checkMapped(t, first, "app-key", tc.scopes)
			again, cached, err := tc.validate()
			if err != nil || !cached {
				t.Fatalf("second: cached %v, %v", cached, err)
			}
			if reflect.ValueOf(again.Copied).UnsafePointer() != reflect.ValueOf(first.Copied).UnsafePointer() {
				t.Error("a cache hit made Copied again")
			}
		})
	}

	t.Run("no claim map", func(t *testing.T) {
		plain := sign(t, "RS256", k.RSA, map[string]any{"alg": "RS256"}, claimsFor(plainIssuer))
		tok, err := v.Validate(plain)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Copied != nil {
			t.Errorf("Copied = %v, want nil", tok.Copied)
		}
		if !reflect.DeepEqual(tok.CopiedClaims(), tok.Claims) {
			t.Error("CopiedClaims is not Claims")
		}
	})
}
