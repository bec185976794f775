package caddyfile_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// adminSite is a gateway generating backend JWTs, with revocations read
// from storage every second.
func adminSite(t *testing.T) (*gateway, *testkit.Upstream) {
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
			validate_subscription
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		clock_skew 1s
		revocation_sync 1s
		generate {
			signing_key %s
		}
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, keyFile(t, k.RSA2), upstream.Listener.Addr()))
	return g, upstream
}

func admin(t *testing.T, g *gateway, method, path, body string) (int, map[string]any) {
	t.Helper()
	status, out, err := g.Admin(method, path, "application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, path, status, out)
	}
	return status, v
}

func TestAdminRevocations(t *testing.T) {
	g, upstream := adminSite(t)
	exp := time.Now().Add(time.Hour).Unix()
	byJTI := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "revoke-me-" + t.Name()})
	bySig := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "other-" + t.Name()})
	for _, tok := range []string{byJTI, bySig, byJTI, bySig} { // the second time both caches hit
		if r := g.Get("/", bearer(tok)...); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
	}
	seen := upstream.Count()

	status, v := admin(t, g, "POST", "/backend_jwt/revocations", fmt.Sprintf(`{"jti":"revoke-me-%s","exp":%d}`, t.Name(), exp))
	if status != http.StatusCreated || v["jti"] != "revoke-me-"+t.Name() {
		t.Fatalf("POST jti: %d %v", status, v)
	}
	sig := bySig[strings.LastIndexByte(bySig, '.')+1:]
	status, v = admin(t, g, "POST", "/backend_jwt/revocations", fmt.Sprintf(`{"signature":%q,"exp":%d}`, sig, exp))
	if status != http.StatusCreated || v["signature"] != sig[:16] {
		t.Fatalf("POST signature: %d %v (the answer must show 16 characters)", status, v)
	}
	for _, tok := range []string{byJTI, bySig} {
		wantFault(t, g.Get("/", bearer(tok)...), 401, 900901)
	}
	if upstream.Count() != seen {
		t.Fatal("a revoked token reached the upstream")
	}
	_, list := admin(t, g, "GET", "/backend_jwt/revocations", "")
	if list["count"] != 2.0 {
		t.Fatalf("GET revocations: %v", list)
	}
	if body, _ := json.Marshal(list); strings.Contains(string(body), sig) {
		t.Fatal("GET revocations shows a whole signature")
	}
	// A token that is not revoked still passes.
	if r := g.Get("/", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "fine"}))...); r.Status != 200 {
		t.Fatalf("another token: %d", r.Status)
	}

	// Bad input: 400 naming the problem, nothing changes.
	for _, tc := range []struct{ name, body, want string }{
		{"malformed JSON", `{"jti":`, "want {"},
		{"not an object", `["jti"]`, "want {"},
		{"neither", fmt.Sprintf(`{"exp":%d}`, exp), "give jti, signature or token_sha256"},
		{"both", fmt.Sprintf(`{"jti":"a","signature":"b","exp":%d}`, exp), "not several"},
		{"token_sha256 not hex", fmt.Sprintf(`{"token_sha256":"xyz","exp":%d}`, exp), "64 lowercase hex digits"},
		{"no exp", `{"jti":"a"}`, "exp is missing"},
		{"exp in the past", fmt.Sprintf(`{"jti":"a","exp":%d}`, time.Now().Unix()-10), "in the past"},
		{"exp more than a year ahead", fmt.Sprintf(`{"jti":"a","exp":%d}`, time.Now().Add(400*24*time.Hour).Unix()), "more than a year ahead"},
		{"exp a string", `{"jti":"a","exp":"tomorrow"}`, "want {"},
		{"unknown member", fmt.Sprintf(`{"jti":"a","exp":%d,"sub":"x"}`, exp), "unknown field"},
		{"empty jti", fmt.Sprintf(`{"jti":"","exp":%d}`, exp), "jti is empty"},
		{"over 64 KiB", fmt.Sprintf(`{"jti":"%s","exp":%d}`, strings.Repeat("a", 70<<10), exp), "at most 65536 bytes"},
		{"two values", fmt.Sprintf(`{"jti":"a","exp":%d}{}`, exp), "after its one JSON object"},
		{"a closing brace after the object", fmt.Sprintf(`{"jti":"a","exp":%d}}`, exp), "after its one JSON object"},
		{"text after the object", fmt.Sprintf(`{"jti":"a","exp":%d} and more`, exp), "after its one JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, v := admin(t, g, "POST", "/backend_jwt/revocations", tc.body)
			if msg, _ := v["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %v, want 400 with %q", status, v, tc.want)
			}
			if _, list := admin(t, g, "GET", "/backend_jwt/revocations", ""); list["count"] != 2.0 {
				t.Fatalf("a bad request changed the list: %v", list)
			}
		})
	}
	if status, v := admin(t, g, "DELETE", "/backend_jwt/revocations", ""); status != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d %v", status, v)
	}
}

// TestAdminRevocationByTokenHash: token_sha256 revokes a token by the hash
// of the whole token, even when it is in both caches.
func TestAdminRevocationByTokenHash(t *testing.T) {
	g, upstream := adminSite(t)
	tok := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "by-hash-" + t.Name()})
	for range 2 {
		if r := g.Get("/", bearer(tok)...); r.Status != 200 {
			t.Fatalf("before revocation: %d %s", r.Status, r.Body)
		}
	}
	seen := upstream.Count()
	sum := sha256.Sum256([]byte(tok))
	digest := hex.EncodeToString(sum[:])
	status, v := admin(t, g, "POST", "/backend_jwt/revocations", fmt.Sprintf(`{"token_sha256":%q,"exp":%d}`, digest, time.Now().Add(time.Hour).Unix()))
	if status != http.StatusCreated || v["token_sha256"] != digest[:16] {
		t.Fatalf("POST token_sha256: %d %v (the answer must show 16 characters)", status, v)
	}
	wantFault(t, g.Get("/", bearer(tok)...), 401, 900901)
	if upstream.Count() != seen {
		t.Fatal("the revoked token reached the upstream")
	}
}

// TestAdminRevocationExpires: an entry is dropped, from the list and the
// storage, once its exp plus clock_skew has passed.
func TestAdminRevocationExpires(t *testing.T) {
	g, _ := adminSite(t)
	status, _ := admin(t, g, "POST", "/backend_jwt/revocations", fmt.Sprintf(`{"jti":"short-lived","exp":%d}`, time.Now().Unix()+1))
	if status != http.StatusCreated {
		t.Fatalf("POST: %d", status)
	}
	testkit.WaitFor(t, "the entry to expire", func() bool {
		_, list := admin(t, g, "GET", "/backend_jwt/revocations", "")
		return list["count"] == 0.0
	})
}

func TestAdminFlushStatusRefresh(t *testing.T) {
	g, _ := adminSite(t)
	tok := testkit.AccessToken(t, wso2Issuer, nil)
	if r := g.Get("/", bearer(tok)...); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	_, st := admin(t, g, "GET", "/backend_jwt/status", "")
	h := st["handlers"].([]any)[0].(map[string]any)
	iss := h["issuers"].([]any)[0].(map[string]any)
	if h["api"] != "PizzaShackAPI 1.0.0" || h["validation_cache"] != 1.0 || h["generation_cache"] != 1.0 || iss["keys"] != 1.0 || iss["jwks_fetched"] == nil {
		t.Fatalf("status %v", st)
	}
	if status, v := admin(t, g, "POST", "/backend_jwt/flush", ""); status != 200 || v["handlers"] != 1.0 {
		t.Fatalf("flush: %d %v", status, v)
	}
	_, st = admin(t, g, "GET", "/backend_jwt/status", "")
	h = st["handlers"].([]any)[0].(map[string]any)
	if h["validation_cache"] != 0.0 || h["generation_cache"] != 0.0 {
		t.Fatalf("status after flush %v", st)
	}
	status, v := admin(t, g, "POST", "/backend_jwt/api_manager/refresh", "")
	if msg, _ := v["error"].(string); status != http.StatusNotFound || !strings.Contains(msg, "no backend_jwt handler has api_manager") {
		t.Fatalf("refresh without api_manager: %d %v", status, v)
	}
}

func TestAdminAPIManagerRefresh(t *testing.T) {
	s := newAPIMSite(t, false)
	tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "a 200", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
	s.apim.Update(func(d *apimfake.Data) { d.Subscriptions[0]["subscriptionState"] = "ON_HOLD" })
	status, v := admin(t, s.g, "POST", "/backend_jwt/api_manager/refresh", "")
	src := v["sources"].([]any)[0].(map[string]any)
	if status != 200 || src["subscriptions"] != 12.0 || src["ready"] != true {
		t.Fatalf("refresh: %d %v", status, v)
	}
	wantFault(t, s.g.Get("/", bearer(tok)...), 403, 900909) // at once, not after refresh
	_, st := admin(t, s.g, "GET", "/backend_jwt/status", "")
	body, _ := json.Marshal(st)
	if !strings.Contains(string(body), `"key_mappings":12`) || strings.Contains(string(body), apimPass) {
		t.Fatalf("status %s", body)
	}
	s.apim.SetStatus(http.StatusInternalServerError)
	if status, v := admin(t, s.g, "POST", "/backend_jwt/api_manager/refresh", ""); status != http.StatusBadGateway {
		t.Fatalf("refresh while API Manager fails: %d %v", status, v)
	}
}
