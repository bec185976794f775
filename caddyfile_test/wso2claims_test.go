package caddyfile_test

// SPEC 14's claim directives through a real Caddy: claim_map,
// convert_dialect, include_claims and static claims, with placeholders.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// claimsSite is a gateway whose issuer renames claims, on two routes:
// /all/ converts to the dialect and adds static claims, /some/ copies only
// a few claims.
func newClaimsDirectivesSite(t *testing.T) (*gateway, *testkit.Upstream) {
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	issuer := fmt.Sprintf(`issuer %s {
				jwks_url %s
				claim_map organization org
				claim_map extra http://wso2.org/claims/apiname
			}
			api PizzaShackAPI 1.0.0 /pizzashack`, wso2Issuer, jwks.URL)
	g.Start(fmt.Sprintf(`
	handle /all/* {
		backend_jwt {
			%[1]s
			generate {
				signing_key %[2]s
				convert_dialect
				dialect_map nickname alias
				claim region {http.request.header.X-Region}
				claim replicas 3 int
				claim ratio 0.5 float
				claim beta true bool
				claim limits {"rpm":60} json
				claim email static@example.com
			}
		}
		reverse_proxy %[3]s {
			header_up X-Org {http.auth.user.claims.org}
			header_up X-Organization "{http.auth.user.claims.organization}"
		}
	}
	handle /some/* {
		backend_jwt {
			%[1]s
			generate {
				signing_key %[2]s
				convert_dialect
				include_claims http://wso2.org/claims/givenname org
				claim environment production
			}
		}
		reverse_proxy %[3]s
	}`, issuer, keyFile(t, k.RSA2), upstream.Listener.Addr()))
	return g, upstream
}

func TestClaimDirectives(t *testing.T) {
	g, upstream := newClaimsDirectivesSite(t)
	tok := testkit.AccessToken(t, wso2Issuer, map[string]any{
		"email": "alice@example.com", "given_name": "Alice", "nickname": "al", "groups": []string{"cooks"},
		"organization": "acme", "extra": "sneaky", "org": "replaced by the mapping",
		"http://wso2.org/claims/emailaddress": "old@example.com", "http://wso2.org/claims/country": "NZ",
	})
	backend := func(path string, headers ...string) map[string]any {
		t.Helper()
		r := g.Get(path, append(bearer(tok), headers...)...)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		return testkit.Verify(t, upstream.Last().Header.Get("X-JWT-Assertion"), testkit.Public(testkit.Keys().RSA2), false).Claims
	}

	c := backend("/all/menu", "X-Region", "eu-west")
	for name, want := range map[string]any{
		claimsPrefix + "emailaddress": "alice@example.com", // converted, replacing the token's own
		claimsPrefix + "givenname":    "Alice",
		claimsPrefix + "alias":        "al", // dialect_map
		claimsPrefix + "groups":       []any{"cooks"},
		claimsPrefix + "country":      "NZ", // in the dialect already
		claimsPrefix + "apiname":      "PizzaShackAPI",
		"org":                         "acme", // claim_map
		"region":                      "eu-west",
		"replicas":                    json.Number("3"),
		"ratio":                       json.Number("0.5"),
		"beta":                        true,
		"limits":                      map[string]any{"rpm": json.Number("60")},
		"email":                       "static@example.com", // a static claim replaces a copied one
	} {
		if !reflect.DeepEqual(c[name], want) {
			t.Errorf("/all/: %s = %#v, want %#v", name, c[name], want)
		}
	}
	for _, gone := range []string{"organization", "extra", "given_name", "nickname", "groups"} {
		if _, ok := c[gone]; ok {
			t.Errorf("/all/: %s is copied", gone)
		}
	}
	// Caddy leaves a placeholder it cannot resolve as it is.
	if r := upstream.Last(); r.Header.Get("X-Org") != "acme" || r.Header.Get("X-Organization") != "{http.auth.user.claims.organization}" {
		t.Errorf("placeholders: org %q, organization %q; want the mapped name only", r.Header.Get("X-Org"), r.Header.Get("X-Organization"))
	}

	c = backend("/some/menu")
	want := map[string]any{claimsPrefix + "givenname": "Alice", "org": "acme", "environment": "production"}
	for name, v := range want {
		if !reflect.DeepEqual(c[name], v) {
			t.Errorf("/some/: %s = %#v, want %#v", name, c[name], v)
		}
	}
	for _, gone := range []string{claimsPrefix + "emailaddress", claimsPrefix + "groups", claimsPrefix + "country", "scope", "azp"} {
		if _, ok := c[gone]; ok {
			t.Errorf("/some/: %s is copied, include_claims does not list it", gone)
		}
	}
}

// TestStaticClaimPlaceholderCache: a static claim rendered from a header
// makes another backend JWT for another value, and the cache never serves
// the token made for one value to a request with the other.
func TestStaticClaimPlaceholderCache(t *testing.T) {
	g, upstream := newClaimsDirectivesSite(t)
	tok := testkit.AccessToken(t, wso2Issuer, nil)
	seen := map[string]string{} // region -> backend JWT
	for _, region := range []string{"eu-west", "us-east", "eu-west", "us-east", ""} {
		r := g.Get("/all/menu", append(bearer(tok), "X-Region", region)...)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		jwt := upstream.Last().Header.Get("X-JWT-Assertion")
		c := testkit.Verify(t, jwt, testkit.Public(testkit.Keys().RSA2), false).Claims
		got, present := c["region"]
		switch {
		case region == "" && present:
			t.Fatalf("no X-Region: region %v, want the claim left out", got)
		case region != "" && got != region:
			t.Fatalf("X-Region %s: region %v", region, got)
		}
		if first, ok := seen[region]; ok && first != jwt {
			t.Errorf("X-Region %s: a new token, want the cached one", region)
		}
		seen[region] = jwt
	}
	if seen["eu-west"] == seen["us-east"] {
		t.Fatal("one backend JWT for two regions")
	}
}
