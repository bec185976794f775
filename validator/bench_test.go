package validator

import (
	"crypto"
	"encoding/json"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
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
