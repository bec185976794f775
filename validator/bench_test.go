package validator

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
)

// The micro-benchmarks of the all-miss path's own work, the parts of a
// validation that are not the signature check:
//
//	go test -run x -bench 'SplitToken|ReadClaims|MatchSubscription|ParseObject' -benchmem ./validator

// benchToken is a WSO2 access token (testkit.AccessClaims) signed with
// EdDSA, as the all-miss benchmark of caddymodule sends.
func benchToken(b *testing.B) []byte {
	return []byte(sign(b, "EdDSA", keys(b).Ed, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "ed"},
		testkit.AccessClaims(testIssuer)))
}

// BenchmarkSplitToken measures splitting, decoding and strictly parsing a
// token's header and payload.
func BenchmarkSplitToken(b *testing.B) {
	token := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := splitToken(token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadClaims measures splitToken followed by the registered
// claims' checks: all a validation does before the signature check.
func BenchmarkReadClaims(b *testing.B) {
	token := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := splitToken(token)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := readClaims(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseObject measures the strict JSON reader on the worked
// example's payload.
func BenchmarkParseObject(b *testing.B) {
	payload := testkit.MustJSON(b, testkit.AccessClaims(testIssuer))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := strictjson.ParseObject(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchSubscription measures finding the API's entry in a
// subscribedAPIs claim of three entries, the match last.
func BenchmarkMatchSubscription(b *testing.B) {
	entry := func(name, version string) map[string]any {
		return map[string]any{"subscriberTenantDomain": "carbon.super", "name": name, "context": "/" + name + "/" + version,
			"publisher": "admin", "version": version, "subscriptionTier": "Gold"}
	}
	raw := json.RawMessage(testkit.MustJSON(b, []any{entry("Other", "1.0.0"), entry("PizzaShackAPI", "2.0.0"),
		entry("PizzaShackAPI", "1.0.0")}))
	api := &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"}
	b.ReportAllocs()
	for b.Loop() {
		if s := matchSubscription(raw, api); s == nil || s.SubscriptionTier != "Gold" {
			b.Fatal("no match")
		}
	}
}

// BenchmarkValidateCachedHit measures the cache-hit path of an access
// token: hashing it, the cache lookup, the exp re-check and the
// subscription rule.
func BenchmarkValidateCachedHit(b *testing.B) {
	v := newValidator(b, Config{
		Issuers:   []IssuerConfig{{Issuer: testIssuer, PublicKeys: []crypto.PublicKey{publicOf(keys(b).Ed)}, ValidateSubscription: true}},
		API:       &API{Name: "PizzaShackAPI", Version: "1.0.0", Context: "/pizzashack"},
		CacheSize: 16,
	})
	token := string(benchToken(b))
	if _, _, err := v.ValidateCached(token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, cached, err := v.ValidateCached(token); err != nil || !cached {
			b.Fatal(cached, err)
		}
	}
}

// BenchmarkValidateAPIKeyHit is BenchmarkValidateCachedHit for an API key
// in API Manager's layout: it must cost what an access token's hit does.
func BenchmarkValidateAPIKeyHit(b *testing.B) {
	v := apiKeyValidator(b, true, false)
	key := wso2APIKey(b, nil)
	if _, _, err := v.ValidateAPIKey(key); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, cached, err := v.ValidateAPIKey(key); err != nil || !cached {
			b.Fatal(cached, err)
		}
	}
}

// cannedIntrospection answers every introspection in the process, without
// a network or a server: what is left of a miss is our own work (the
// request built, the answer read, checked, converted and cached).
type cannedIntrospection []byte

func (c cannedIntrospection) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c)), Request: r}, nil
}

// BenchmarkValidateOpaqueMiss is the validation of an opaque token seen for
// the first time, its introspection answered in the process: the
// handler's own CPU for an introspection miss, besides the round trip
// (and the few µs of the hot path around it).
func BenchmarkValidateOpaqueMiss(b *testing.B) {
	answer := cannedIntrospection(fmt.Sprintf(`{"active":true,"token_type":"Bearer","client_id":"app","username":"admin@carbon.super",`+
		`"scope":"default","iss":%q,"exp":%d,"iat":%d}`, testIssuer, time.Now().Add(time.Hour).Unix(), time.Now().Unix()))
	v := newValidator(b, Config{Issuers: []IssuerConfig{{Issuer: testIssuer,
		Introspection: &introspection.Config{URL: "http://127.0.0.1:1/introspect", ClientID: "gw", ClientSecret: "s", Transport: answer}}},
		CacheSize: b.N + 1, API: &API{Name: "PizzaShackAPI", Version: "1.0.0"}})
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("opaque-%d-b3f1c2d4e5f6a7b8", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, tok := range tokens {
		if _, cached, err := v.ValidateCached(tok); err != nil || cached {
			b.Fatalf("cached %v, %v", cached, err)
		}
	}
}
