package customretriever_test

import (
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/examples/customretriever"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

func TestMain(m *testing.M) { testcaddy.Main(m) }

const issuer = "https://localhost:9443/oauth2/token"

func TestJSONFileRetriever(t *testing.T) {
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: testkit.Keys().RSA})
	up := testkit.NewUpstream(t)
	g := testcaddy.New(t)
	g.StartExample(issuer, jwks.URL, up.Listener.Addr().String())
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })
	set, err := jwk.Parse([]byte(g.Get("/.well-known/backend-jwks.json").Body))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		sub  string
		want map[string]any // claims that must be there; a nil value: absent
	}{
		{"admin@carbon.super", map[string]any{
			"http://wso2.org/claims/givenname":  "John",
			"http://wso2.org/claims/department": "sales",
			"iss":                               "wso2.org/products/am",
		}},
		{"alice@carbon.super", map[string]any{"http://wso2.org/claims/givenname": "Alice"}},
		// Not in the file: with on_error continue (the default), no claims.
		{"mallory@carbon.super", map[string]any{"http://wso2.org/claims/givenname": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.sub, func(t *testing.T) {
			r := g.Get("/pizzashack/menu", testcaddy.Bearer(testkit.AccessToken(t, issuer, map[string]any{"sub": tc.sub}))...)
			if r.Status != 200 {
				t.Fatalf("status %d %s", r.Status, r.Body)
			}
			payload, err := jws.Verify([]byte(up.Last().Header.Get("X-Jwt-Assertion")), jws.WithKeySet(set, jws.WithRequireKid(true)))
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			if claims["sub"] != tc.sub {
				t.Fatalf("sub %v", claims["sub"])
			}
			for name, want := range tc.want {
				if got, ok := claims[name]; want == nil && ok || want != nil && got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}
