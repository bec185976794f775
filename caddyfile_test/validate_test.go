package caddyfile_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const (
	wso2Issuer = "https://localhost:9443/oauth2/token"
	certIssuer = "https://accounts.example.org"
)

// accessClaims are the worked example's access-token claims.
var accessClaims = testkit.AccessClaims

// with returns a copy of claims with changes (a nil value deletes).
var with = testkit.With

func hdr(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

// standardSite is the site most tests run: a JWKS issuer with subscription
// validation, a certificate issuer with an audience, placeholders in
// header_up, and two more routes for strip_authorization and
// error_response caddy.
type standardSite struct {
	g        *gateway
	jwks     *testkit.JWKSServer
	upstream *testkit.Upstream
	certFile string
	site     string
}

func newStandardSite(t *testing.T) *standardSite {
	k := testkit.Keys()
	s := &standardSite{g: newGateway(t)}
	s.jwks = testkit.NewJWKSServer(t,
		testkit.JWK{KID: "rsa", Key: k.RSA},
		testkit.JWK{KID: "p256", Key: k.P256},
		testkit.JWK{KID: "ed", Key: k.Ed},
	)
	s.upstream = testkit.NewUpstream(t)
	s.certFile = writeFile(t, "issuer.pem", testkit.CertificatePEM(t, k.RSA2, "issuer"))
	issuers := fmt.Sprintf(`
		issuer %s {
			jwks_url %s
			algorithms RS256 PS256 ES256 EdDSA
			validate_subscription
		}
		issuer %s {
			certificate %s
			audience gw other
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		max_token_size 4KiB`, wso2Issuer, s.jwks.URL, certIssuer, s.certFile)
	s.site = fmt.Sprintf(`
	handle /strip/* {
		backend_jwt {
			%[1]s
			strip_authorization
		}
		reverse_proxy %[2]s
	}
	handle /caddyerr/* {
		backend_jwt {
			%[1]s
			error_response caddy
		}
		reverse_proxy %[2]s
	}
	handle {
		backend_jwt {
			%[1]s
		}
		reverse_proxy %[2]s {
			header_up X-User {http.auth.user.id}
			header_up X-Issuer {http.auth.user.issuer}
			header_up X-Scope {http.auth.user.claims.scope}
			header_up X-App {http.auth.user.claims.application}
		}
	}
	handle_errors {
		respond "custom {http.backend_jwt.error.code} {http.backend_jwt.error.message}" {http.error.status_code}
	}`, issuers, s.upstream.Listener.Addr())
	s.g.Start(s.site)
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return s.jwks.Fetches.Load() > 0 })
	return s
}

func TestAccessTokens(t *testing.T) {
	k := testkit.Keys()
	s := newStandardSite(t)
	good := accessClaims(wso2Issuer)
	certGood := with(accessClaims(certIssuer), map[string]any{"aud": []string{"x", "gw"}})
	n := time.Now().Unix()
	pubPEM := testkit.PublicKeyPEM(t, k.RSA)

	tests := []struct {
		name    string
		headers []string
		status  int
		code    int // 0: passed to the upstream
	}{
		{"RS256 via JWKS", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), good)), 200, 0},
		{"PS256 via JWKS", bearer(testkit.Sign(t, "PS256", k.RSA, hdr("PS256", "rsa"), good)), 200, 0},
		{"ES256 via JWKS", bearer(testkit.Sign(t, "ES256", k.P256, hdr("ES256", "p256"), good)), 200, 0},
		{"EdDSA via JWKS", bearer(testkit.Sign(t, "EdDSA", k.Ed, hdr("EdDSA", "ed"), good)), 200, 0},
		{"static certificate issuer", bearer(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", ""), certGood)), 200, 0},
		{"scheme is case-insensitive", []string{"Authorization", "bEaReR " + testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), good)}, 200, 0},
		{"no token", nil, 401, 900902},
		{"not a Bearer token", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, 401, 900902},
		{"empty Bearer", []string{"Authorization", "Bearer "}, 401, 900902},
		{"two Authorization headers", append(bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), good)), bearer("x.y.z")...), 401, 900901},
		{"two credentials", []string{"Authorization", "Bearer a.b.c d.e.f"}, 401, 900901},
		{"malformed", bearer("not-a-jwt"), 401, 900901},
		{"too large", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(good, map[string]any{"pad": strings.Repeat("x", 5000)}))), 401, 900901},
		{"bad signature", bearer(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", "rsa"), good)), 401, 900901},
		{"tampered payload", bearer(tamper(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), good), with(good, map[string]any{"sub": "root"}))), 401, 900901},
		{"alg none", bearer(testkit.Sign(t, "none", nil, hdr("none", "rsa"), good)), 401, 900901},
		{"HS256 keyed with the issuer's public key PEM", bearer(testkit.Sign(t, "HS256", pubPEM, hdr("HS256", "rsa"), good)), 401, 900901},
		{"alg not allowed for the issuer", bearer(testkit.Sign(t, "RS512", k.RSA, hdr("RS512", "rsa"), good)), 401, 900901},
		{"unknown issuer", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(good, map[string]any{"iss": "https://evil.example"}))), 401, 900901},
		{"unknown kid", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "nope"), good)), 401, 900901},
		{"wrong aud", bearer(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", ""), with(certGood, map[string]any{"aud": "nobody"}))), 401, 900901},
		{"expired", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(good, map[string]any{"exp": n - 600}))), 401, 900903},
		{"not subscribed", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(good, map[string]any{"subscribedAPIs": []any{}}))), 403, 900908},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.upstream.Count()
			r := s.g.Get("/pizza", tc.headers...)
			if tc.code == 0 {
				if r.Status != tc.status || r.Body != "upstream ok" {
					t.Fatalf("status %d body %q, want it passed to the upstream", r.Status, r.Body)
				}
				return
			}
			wantFault(t, r, tc.status, tc.code)
			if s.upstream.Count() != before {
				t.Fatal("a refused request reached the upstream")
			}
			challenge := r.Header.Get("WWW-Authenticate")
			switch {
			case tc.status != 401:
				if challenge != "" {
					t.Fatalf("WWW-Authenticate on a %d: %q", tc.status, challenge)
				}
			case tc.code == 900902:
				if challenge != fmt.Sprintf(`Bearer realm="127.0.0.1:%d"`, s.g.Port) {
					t.Fatalf("challenge %q", challenge)
				}
			default:
				if !strings.HasPrefix(challenge, fmt.Sprintf(`Bearer realm="127.0.0.1:%d", error="invalid_token", error_description="`, s.g.Port)) {
					t.Fatalf("challenge %q", challenge)
				}
			}
			for _, v := range tc.headers {
				if len(v) > 40 && (strings.Contains(r.Body, v) || strings.Contains(challenge, v)) {
					t.Fatal("the answer echoes the token")
				}
			}
		})
	}

	// Every refusal was logged with its reason, and no log line holds a token.
	logs := s.g.Logs()
	if n := strings.Count(logs, `"msg":"request refused"`); n < len(tests)-6 {
		t.Fatalf("%d refusals logged, want one per refused request", n)
	}
	if !strings.Contains(logs, `"sub":"admin@carbon.super"`) || !strings.Contains(logs, `"jti":"0987c6d3-f11a-402c-8eb2-b21fb7b97f4d"`) {
		t.Fatal("the refusal of a valid but unsubscribed token does not name its sub and jti")
	}
	for _, tc := range tests {
		for _, v := range tc.headers {
			token := strings.TrimPrefix(v, "Bearer ")
			if len(token) > 40 && strings.Contains(logs, token) {
				t.Fatalf("the log holds the token of %q", tc.name)
			}
		}
	}
}

// tamper replaces a token's payload, keeping its header and signature.
func tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	b, _ := json.Marshal(claims)
	return parts[0] + "." + testkit.B64(b) + "." + parts[2]
}

func TestWhatTheUpstreamReceives(t *testing.T) {
	k := testkit.Keys()
	s := newStandardSite(t)
	token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	backendJWT := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
	withBackend := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(accessClaims(wso2Issuer), map[string]any{"backendJwt": backendJWT}))

	t.Run("placeholders in header_up", func(t *testing.T) {
		r := s.g.Get("/pizza", bearer(token)...)
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		got := s.upstream.Last().Header
		want := map[string]string{
			"X-User":        "admin@carbon.super",
			"X-Issuer":      wso2Issuer,
			"X-Scope":       "am_application_scope default",
			"X-App":         `{"id":1,"name":"DefaultApplication","owner":"admin","tier":"Unlimited","uuid":"3f1c4d2e-6a0b-4c5d-9e8f-7a6b5c4d3e2f"}`,
			"Authorization": "Bearer " + token,
		}
		for name, v := range want {
			if got.Get(name) != v {
				t.Errorf("%s = %q, want %q", name, got.Get(name), v)
			}
		}
		if v, ok := got["X-Jwt-Assertion"]; ok {
			t.Errorf("X-JWT-Assertion %q set without generation or backendJwt", v)
		}
	})

	t.Run("client-supplied backend headers never reach the upstream", func(t *testing.T) {
		forged := []string{
			"X-JWT-Assertion", "forged-1",
			"x-jwt-assertion", "forged-2",
			"X_JWT_Assertion", "forged-3",
			"X-Jwt-Assertion", "forged-4",
		}
		for _, tc := range []struct {
			name  string
			token string
			want  string
		}{
			{"no backend JWT to set", token, ""},
			{"backendJwt passthrough", withBackend, backendJWT},
		} {
			r := s.g.Get("/pizza", append(forged, bearer(tc.token)...)...)
			if r.Status != 200 {
				t.Fatalf("%s: status %d", tc.name, r.Status)
			}
			got := s.upstream.Last().Header
			for field, values := range got {
				for _, v := range values {
					if strings.HasPrefix(v, "forged") {
						t.Errorf("%s: the upstream received %s: %s", tc.name, field, v)
					}
				}
			}
			if v := got.Values("X-Jwt-Assertion"); tc.want == "" && len(v) != 0 || tc.want != "" && (len(v) != 1 || v[0] != tc.want) {
				t.Errorf("%s: X-JWT-Assertion %q, want %q", tc.name, v, tc.want)
			}
		}
	})

	t.Run("strip_authorization", func(t *testing.T) {
		if r := s.g.Get("/strip/x", bearer(token)...); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		if v, ok := s.upstream.Last().Header["Authorization"]; ok {
			t.Fatalf("Authorization reached the upstream: %q", v)
		}
	})
}

func TestErrorResponseCaddy(t *testing.T) {
	k := testkit.Keys()
	s := newStandardSite(t)
	tests := []struct {
		name    string
		headers []string
		want    string
		status  int
	}{
		{"no token", nil, "custom 900902 Missing Credentials", 401},
		{"bad token", bearer("a.b.c"), "custom 900901 Invalid Credentials", 401},
		{"not subscribed", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"),
			with(accessClaims(wso2Issuer), map[string]any{"subscribedAPIs": nil}))), "custom 900908 Resource forbidden", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.g.Get("/caddyerr/x", tc.headers...)
			if r.Status != tc.status || r.Body != tc.want {
				t.Fatalf("got %d %q, want %d %q", r.Status, r.Body, tc.status, tc.want)
			}
			if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Fatalf("no challenge: %v", r.Header)
			}
		})
	}
}

func TestSubscriptionVersions(t *testing.T) {
	k := testkit.Keys()
	s := newStandardSite(t)
	sub := func(version string) map[string]any {
		return with(accessClaims(wso2Issuer), map[string]any{"subscribedAPIs": []any{map[string]any{
			"name": "PizzaShackAPI", "version": version, "context": "/pizzashack", "publisher": "admin",
			"subscriptionTier": "Gold", "subscriberTenantDomain": "carbon.super"}}})
	}
	for _, tc := range []struct {
		version string
		status  int
	}{{"1.0.0", 200}, {"*", 200}, {"2.0.0", 403}} {
		t.Run(tc.version, func(t *testing.T) {
			r := s.g.Get("/pizza", bearer(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), sub(tc.version)))...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d", r.Status, tc.status)
			}
			if tc.status == 403 {
				wantFault(t, r, 403, 900908)
			}
		})
	}
}

// jwksSite runs a one-issuer gateway against jwks with the given extra
// backend_jwt lines.
func jwksSite(t *testing.T, jwks *testkit.JWKSServer, extra string) (*gateway, *testkit.Upstream) {
	g := newGateway(t)
	up := testkit.NewUpstream(t)
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		%s
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, extra, up.Listener.Addr()))
	return g, up
}

func TestJWKSKeyRotation(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "old", Key: k.RSA})
	g, _ := jwksSite(t, jwks, "jwks_min_refresh 500ms")
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() == 1 })

	oldToken := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "old"), accessClaims(wso2Issuer))
	if r := g.Get("/", bearer(oldToken)...); r.Status != 200 {
		t.Fatalf("old key: %d", r.Status)
	}
	// The issuer rotates: the new kid is unknown until a refetch, which an
	// unknown kid triggers once jwks_min_refresh has passed.
	jwks.SetKeys(t, testkit.JWK{KID: "new", Key: k.RSA2})
	newToken := testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", "new"), accessClaims(wso2Issuer))
	testkit.WaitFor(t, "the rotated key to be picked up", func() bool {
		return g.Get("/", bearer(newToken)...).Status == 200
	})
}

func TestUnknownKidsFetchOnce(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g, _ := jwksSite(t, jwks, "jwks_min_refresh 1h")
	testkit.WaitFor(t, "the first JWKS fetch", func() bool { return jwks.Fetches.Load() == 1 })
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			token := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", fmt.Sprintf("kid-%d", i)), accessClaims(wso2Issuer))
			if r := g.Get("/", bearer(token)...); r.Status != 401 {
				t.Errorf("unknown kid %d: status %d", i, r.Status)
			}
		}(i)
	}
	wg.Wait()
	if extra := jwks.Fetches.Load() - 1; extra > 1 {
		t.Fatalf("30 unknown kids caused %d extra JWKS fetches, want at most 1", extra)
	}
}

func TestAdminLoadJSONBehavesLikeCaddyfile(t *testing.T) {
	k := testkit.Keys()
	s := newStandardSite(t)
	cfg, err := adapt(s.g.Caddyfile(s.site))
	if err != nil {
		t.Fatal(err)
	}
	good := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), accessClaims(wso2Issuer))
	unsubscribed := testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "rsa"), with(accessClaims(wso2Issuer), map[string]any{"subscribedAPIs": nil}))
	probe := func() []string {
		var out []string
		for _, headers := range [][]string{bearer(good), bearer(unsubscribed), nil, bearer("a.b.c")} {
			r := s.g.Get("/pizza", headers...)
			out = append(out, fmt.Sprintf("%d %s %s", r.Status, r.Body, r.Header.Get("WWW-Authenticate")))
		}
		return out
	}
	fromCaddyfile := probe()
	if err := s.g.Load("application/json", cfg); err != nil {
		t.Fatal(err)
	}
	fromJSON := probe()
	if strings.Join(fromCaddyfile, "\n") != strings.Join(fromJSON, "\n") {
		t.Fatalf("Caddyfile:\n%s\nJSON via /load:\n%s", strings.Join(fromCaddyfile, "\n"), strings.Join(fromJSON, "\n"))
	}
}
