package customgen_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/examples/customgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

func TestMain(m *testing.M) { testcaddy.Main(m) }

const issuer = "https://localhost:9443/oauth2/token"

// start runs this folder's Caddyfile in front of a JWKS server and an
// upstream on 127.0.0.1.
func start(t *testing.T) (*testcaddy.Gateway, *testkit.Upstream) {
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: testkit.Keys().RSA})
	up := testkit.NewUpstream(t)
	g := testcaddy.New(t)
	g.StartExample(issuer, jwks.URL, up.Listener.Addr().String())
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() > 0 })
	return g, up
}

// backendClaims sends a request and returns the claims of the backend JWT
// the upstream received, verified with the gateway's JWKS.
func backendClaims(t *testing.T, g *testcaddy.Gateway, up *testkit.Upstream) map[string]any {
	t.Helper()
	r := g.Get("/pizzashack/menu", testcaddy.Bearer(testkit.AccessToken(t, issuer, nil))...)
	if r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	set, err := jwk.Parse([]byte(g.Get("/.well-known/backend-jwks.json").Body))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(up.Last().Header.Get("X-Jwt-Assertion")), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("the backend JWT does not verify with the gateway's JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestCustomGenerator(t *testing.T) {
	g, up := start(t)
	before := time.Now().Unix()
	claims := backendClaims(t, g, up)
	ts, _ := claims["timestamp"].(float64)
	if claims["custom"] != "claim" || int64(ts) < before || int64(ts) > time.Now().Unix() {
		t.Fatalf("custom %v, timestamp %v", claims["custom"], claims["timestamp"])
	}
	// The built-in claims are all there.
	for name, want := range map[string]any{
		"iss":                               "wso2.org/products/am",
		"sub":                               "admin@carbon.super",
		"http://wso2.org/claims/apiname":    "PizzaShackAPI",
		"http://wso2.org/claims/tier":       "Gold",
		"http://wso2.org/claims/usertype":   "Application_User",
		"http://wso2.org/claims/subscriber": "admin",
		"scope":                             "am_application_scope default",
	} {
		if claims[name] != want {
			t.Errorf("%s = %v, want %v", name, claims[name], want)
		}
	}

	t.Run("the JSON form through the admin API", func(t *testing.T) {
		cfg := fmt.Sprintf(`{
			"admin": {"listen": "127.0.0.1:%d", "config": {"persist": false}},
			"storage": {"module": "file_system", "root": %q},
			"apps": {"http": {"servers": {"example": {
				"listen": ["127.0.0.1:%d"],
				"automatic_https": {"disable": true},
				"routes": [{"handle": [
					{
						"handler": "backend_jwt",
						"issuers": [{"issuer": %q, "jwks_url": %q}],
						"generate": {"generator": {"generator": "custom_example", "value": "from JSON"}},
						"jwks_path": "/.well-known/backend-jwks.json"
					},
					{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
				]}]
			}}}}
		}`, g.AdminPort, g.Storage, g.Port, issuer, os.Getenv("JWKS_URL"), os.Getenv("UPSTREAM"))
		if err := g.Load("application/json", []byte(cfg)); err != nil {
			t.Fatal(err)
		}
		if claims := backendClaims(t, g, up); claims["custom"] != "from JSON" {
			t.Fatalf("custom %v", claims["custom"])
		}
	})
}
