package caddyfile_test

// SPEC 13: opaque tokens, API keys, token sources and scopes, through a
// real Caddy with real introspection, API Manager and upstream servers.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const (
	hydraIssuer = "https://hydra.example.org/"
	kmClient    = "gateway"
	kmSecret    = "km-s3cret"
	uuidPattern = `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
)

// opaqueToken is a fresh UUID-shaped opaque token, as WSO2's key manager
// issues for applications whose token type is reference.
func opaqueToken(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// activeAnswer is what WSO2's key manager answers for an active token of
// application key clientID used by alice.
func activeAnswer(clientID string, changes map[string]any) map[string]any {
	n := time.Now().Unix()
	return testkit.With(map[string]any{
		"active": true, "token_type": "Bearer", "client_id": clientID, "username": "alice@carbon.super",
		"scope": "default menu:read", "iss": wso2Issuer, "iat": n, "nbf": n, "exp": n + 3600,
		"aut": "APPLICATION_USER",
	}, changes)
}

// opaqueSite is a gateway taking opaque tokens of two issuers: WSO2's key
// manager (UUID-shaped tokens, subscriptions from API Manager's data) and
// a Hydra-like server (the rest; audience api://pizza).
type opaqueSite struct {
	g             *gateway
	km, hydra     *testkit.IntrospectionServer
	apim          *apimfake.Server
	upstream      *testkit.Upstream
	backendJWTKey *rsa.PrivateKey
}

func newOpaqueSite(t *testing.T, hydraExtra string) *opaqueSite {
	k := testkit.Keys()
	s := &opaqueSite{g: newGateway(t), upstream: testkit.NewUpstream(t), backendJWTKey: k.RSA2,
		km: testkit.NewIntrospectionServer(t, kmClient, kmSecret), hydra: testkit.NewIntrospectionServer(t, "edge", "hydra-s3cret")}
	apim, apimSrv := newAPIManager(t)
	s.apim = apim
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	s.g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %[1]s {
			jwks_url %[2]s
			introspection {
				url %[3]s
				client_id %[4]s
				client_secret %[5]s
				token_pattern %[6]s
				negative_ttl 1m
			}
			validate_subscription
		}
		issuer %[7]s {
			audience api://pizza
			introspection {
				url %[8]s
				client_id edge
				client_secret hydra-s3cret
				%[9]s
			}
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		api_manager {
			server_url %[10]s
			username %[11]s
			password %[12]s
		}
		generate {
			signing_key %[13]s
		}
	}
	reverse_proxy %[14]s`, wso2Issuer, jwks.URL, s.km.URL, kmClient, kmSecret, uuidPattern, hydraIssuer, s.hydra.URL, hydraExtra,
		apimSrv.URL, apimUser, apimPass, keyFile(t, k.RSA2), s.upstream.Listener.Addr()))
	testkit.WaitFor(t, "API Manager's data", func() bool {
		return s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"}))...).Status == 200
	})
	return s
}

// TestIntrospectedTokens: opaque tokens are routed by token_pattern,
// introspected with the client's credentials and judged by the answer;
// the backend JWT made from an active one carries the WSO2 claims of
// API Manager's data found by its client_id.
func TestIntrospectedTokens(t *testing.T) {
	s := newOpaqueSite(t, "timeout 1s")
	for _, tc := range []struct {
		name      string
		km, hydra map[string]any   // the answer of the server that gets the token
		fault     http.Handler     // or the Hydra server's answer
		status    int              // 0: 200
		code      int              // the fault code
		kmCalls   int              // calls to each server
		hydraCall int              //
		check     func(*testing.T) //
	}{
		{name: "active", km: activeAnswer("UNBLOCKED-prod", nil), kmCalls: 1, check: func(t *testing.T) {
			c := testkit.Verify(t, s.upstream.Last().Header.Get("X-JWT-Assertion"), testkit.Public(s.backendJWTKey), false).Claims
			for name, want := range map[string]any{
				"sub": "alice@carbon.super", claimsPrefix + "enduser": "alice@carbon.super",
				claimsPrefix + "applicationname": "app-UNBLOCKED", claimsPrefix + "subscriber": "alice",
				claimsPrefix + "applicationtier": "10PerMin", claimsPrefix + "tier": "Gold", claimsPrefix + "keytype": "PRODUCTION",
				claimsPrefix + "apiname": "PizzaShackAPI", "client_id": "UNBLOCKED-prod", "scope": "default menu:read",
				claimsPrefix + "usertype": "APPLICATION_USER",
			} {
				if c[name] != want {
					t.Errorf("backend JWT %s = %v, want %v", name, c[name], want)
				}
			}
			if _, ok := c["active"]; ok {
				t.Error("the backend JWT copies active")
			}
		}},
		{name: "an application's token", km: activeAnswer("UNBLOCKED-prod", map[string]any{"aut": "APPLICATION", "username": "svc"}), kmCalls: 1, check: func(t *testing.T) {
			c := testkit.Verify(t, s.upstream.Last().Header.Get("X-JWT-Assertion"), testkit.Public(s.backendJWTKey), false).Claims
			// API Manager's rule: the application's owner, in its tenant.
			for name, want := range map[string]any{
				"sub": "svc", claimsPrefix + "enduser": "alice@carbon.super", claimsPrefix + "usertype": "APPLICATION",
				claimsPrefix + "enduserTenantId": "-1234", claimsPrefix + "applicationid": "100",
			} {
				if c[name] != want {
					t.Errorf("backend JWT %s = %v, want %v", name, c[name], want)
				}
			}
		}},
		{name: "subscription blocked in API Manager", km: activeAnswer("BLOCKED-prod", nil), status: 403, code: 900907, kmCalls: 1},
		{name: "inactive", km: map[string]any{"active": false}, status: 401, code: 900901, kmCalls: 1},
		{name: "expired", km: activeAnswer("UNBLOCKED-prod", map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}), status: 401, code: 900903, kmCalls: 1},
		{name: "another issuer's", km: activeAnswer("UNBLOCKED-prod", map[string]any{"iss": "https://evil.example/"}), status: 401, code: 900901, kmCalls: 1},
		{name: "a refresh token", km: activeAnswer("UNBLOCKED-prod", map[string]any{"token_use": "refresh_token"}), status: 401, code: 900901, kmCalls: 1},
		{name: "the other issuer, its audience", hydra: map[string]any{"active": true, "sub": "bob", "client_id": "edge-app", "aud": []string{"api://pizza"}}, hydraCall: 1},
		{name: "the other issuer, another audience", hydra: map[string]any{"active": true, "sub": "bob", "aud": "api://other"}, status: 401, code: 900901, hydraCall: 1},
		{name: "no active member", fault: testkit.Respond(200, "application/json", []byte(`{"sub":"bob"}`)), status: 503, code: 900900, hydraCall: 1},
		{name: "status 500", fault: testkit.Respond(500, "application/json", []byte(`{}`)), status: 503, code: 900900, hydraCall: 1},
		{name: "not JSON", fault: testkit.Respond(200, "text/html", []byte(`<html>login</html>`)), status: 503, code: 900900, hydraCall: 1},
		{name: "over 64 KiB", fault: testkit.Respond(200, "application/json", []byte(`{"active":true,"x":"`+strings.Repeat("a", 70<<10)+`"}`)), status: 503, code: 900900, hydraCall: 1},
		{name: "hangs past timeout", fault: testkit.Stall("application/json", []byte(`{"active":`)), status: 503, code: 900900, hydraCall: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := opaqueToken(t)
			if tc.km == nil {
				token = "ory_at_" + strings.ReplaceAll(token, "-", "")
			}
			s.km.Answer(token, tc.km)
			s.hydra.Answer(token, tc.hydra)
			s.hydra.SetHandler(tc.fault)
			defer s.hydra.SetHandler(nil)
			r := s.g.Get("/", bearer(token)...)
			switch {
			case tc.status == 503:
				wantUnavailable(t, r, "")
			case tc.status != 0:
				wantFault(t, r, tc.status, tc.code)
			case r.Status != 200:
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := [2]int{s.km.Calls(token), s.hydra.Calls(token)}; got != [2]int{tc.kmCalls, tc.hydraCall} {
				t.Fatalf("calls to (key manager, hydra) %v, want %v", got, [2]int{tc.kmCalls, tc.hydraCall})
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
	_, st := admin(t, s.g, "GET", "/backend_jwt/status", "")
	body := fmt.Sprint(st)
	if !strings.Contains(body, "introspection") || strings.Contains(body, kmSecret) {
		t.Fatalf("status: %s", body)
	}
	_, metrics, _ := s.g.Admin(http.MethodGet, "/metrics", "", nil)
	if !strings.Contains(string(metrics), `caddy_backend_jwt_introspection_calls_total{issuer="`+wso2Issuer+`",outcome="active"}`) {
		t.Error("no introspection metric")
	}
}

// TestIntrospectionCaching: 50 concurrent requests with one token make one
// call and an inactive answer is reused; a revocation by token_sha256 or
// a flush applies at once.
func TestIntrospectionCaching(t *testing.T) {
	s := newOpaqueSite(t, "")
	token := opaqueToken(t)
	s.km.Answer(token, activeAnswer("UNBLOCKED-prod", nil))
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 50 {
		wg.Go(func() {
			if r, err := s.g.TryGet("/", bearer(token)...); err == nil && r.Status == 200 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || s.km.Calls(token) != 1 {
		t.Fatalf("%d of 50 passed with %d calls, want 50 with 1", ok.Load(), s.km.Calls(token))
	}

	inactive := opaqueToken(t)
	for range 3 {
		wantFault(t, s.g.Get("/", bearer(inactive)...), 401, 900901)
	}
	if n := s.km.Calls(inactive); n != 1 {
		t.Fatalf("an inactive token introspected %d times within negative_ttl", n)
	}

	// Revoked at the key manager: seen after a flush.
	s.km.Answer(token, map[string]any{"active": false})
	if r := s.g.Get("/", bearer(token)...); r.Status != 200 {
		t.Fatalf("cached answer: %d", r.Status)
	}
	if status, _ := admin(t, s.g, "POST", "/backend_jwt/flush", ""); status != 200 {
		t.Fatal("flush")
	}
	wantFault(t, s.g.Get("/", bearer(token)...), 401, 900901)

	// Revoked through the admin API by its hash: at once, though cached.
	other := opaqueToken(t)
	s.km.Answer(other, activeAnswer("UNBLOCKED-prod", nil))
	if r := s.g.Get("/", bearer(other)...); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	sum := sha256Hex(other)
	revoke(t, s.g, "token_sha256", sum, time.Now().Add(time.Hour).Unix())
	wantFault(t, s.g.Get("/", bearer(other)...), 401, 900901)
}

// TestIntrospectionMaxConcurrent: no more calls in flight than
// max_concurrent, the others waiting for a free one; requests that wait
// longer than timeout are 503.
func TestIntrospectionMaxConcurrent(t *testing.T) {
	s := newOpaqueSite(t, "max_concurrent 2\ntimeout 2s")
	var gate atomic.Pointer[chan struct{}]
	var inFlight, most atomic.Int64
	s.hydra.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-*gate.Load():
		case <-r.Context().Done():
		}
		inFlight.Add(-1) // before the answer, after which the client frees its slot
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"active":true,"sub":"bob","aud":"api://pizza"}`)
	}))
	// send sends n requests with new tokens while the gate holds the
	// calls, waits until two calls are in flight, opens the gate then when
	// release is set (else once the answers are in) and returns the
	// statuses.
	send := func(n int, prefix string, release bool) map[int]int {
		held := make(chan struct{})
		gate.Store(&held)
		statuses := make(chan int, n)
		for i := range n {
			go func() {
				r, err := s.g.TryGet("/", bearer(fmt.Sprintf("ory_at_%s_%d", prefix, i))...)
				if err != nil {
					r.Status = -1
				}
				statuses <- r.Status
			}()
		}
		testkit.WaitFor(t, "two calls in flight", func() bool { return inFlight.Load() == 2 })
		if release {
			close(held)
		}
		count := map[int]int{}
		for range n {
			count[<-statuses]++
		}
		if !release {
			close(held)
		}
		return count
	}

	// Released before the timeout: every request passes, two calls at a time.
	count := send(5, "released", true)
	if count[200] != 5 || most.Load() != 2 || s.hydra.Calls("") != 5 {
		t.Fatalf("statuses %v, %d calls, at most %d in flight; want five 200s, 5 calls, 2 in flight", count, s.hydra.Calls(""), most.Load())
	}
	// Held past the timeout: the two calls and the request waiting for a
	// free one are 503.
	if count := send(3, "held", false); count[503] != 3 {
		t.Fatalf("statuses %v, want three 503s", count)
	}
}

// TestOpaqueFloodMakesNoCall: opaque strings that no token_pattern takes
// are refused without a call when every issuer with introspection has one.
func TestOpaqueFloodMakesNoCall(t *testing.T) {
	km := testkit.NewIntrospectionServer(t, kmClient, kmSecret)
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			introspection {
				url %s
				client_id %s
				client_secret %s
				token_pattern %s
			}
		}
	}
	reverse_proxy %s`, wso2Issuer, km.URL, kmClient, kmSecret, uuidPattern, upstream.Listener.Addr()))
	for i := range 500 {
		r := g.Get("/", bearer(fmt.Sprintf("not-a-uuid-%d-%s", i, strings.ReplaceAll(opaqueToken(t), "-", "")))...)
		if r.Status != 401 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if n := km.Calls(""); n != 0 || upstream.Count() != 0 {
		t.Fatalf("%d introspection calls, %d requests upstream", n, upstream.Count())
	}
}

// apiKeySite is a gateway taking WSO2 API keys behind a trusted proxy
// (127.0.0.0/8), and JWT access tokens.
type apiKeySite struct {
	g        *gateway
	upstream *testkit.Upstream
	key      *rsa.PrivateKey
	cert     []byte
}

func newAPIKeySite(t *testing.T, extra string) *apiKeySite {
	k := testkit.Keys()
	s := &apiKeySite{g: newGateway(t), upstream: testkit.NewUpstream(t), key: testkit.APIKeySigner()}
	s.cert = testkit.CertificatePEM(t, s.key, "apikeysign")
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	globals := strings.Replace(s.g.Globals(), "auto_https off", "auto_https off\n\tservers {\n\t\ttrusted_proxies static 127.0.0.0/8\n\t}", 1)
	s.g.StartCaddyfile(fmt.Sprintf(`%s
http://127.0.0.1:%d {
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		api_keys {
			certificate %s
			validate_subscription
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		generate {
			signing_key %s
		}
		%s
	}
	reverse_proxy %s
}
`, globals, s.g.Port, wso2Issuer, jwks.URL, writeFile(t, "apikey.pem", s.cert), keyFile(t, k.RSA2), extra, s.upstream.Listener.Addr()))
	return s
}

func (s *apiKeySite) apiKey(t *testing.T, changes map[string]any) string {
	return testkit.APIKey(t, s.key, s.cert, testkit.APIKeyClaims(changes))
}

func TestAPIKeys(t *testing.T) {
	s := newAPIKeySite(t, "")
	k := testkit.Keys()
	good := s.apiKey(t, nil)
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name    string
		headers []string
		path    string
		status  int
		code    int
	}{
		{name: "in the apikey header", headers: []string{"apikey", good}, status: 200},
		{name: "in the apikey query parameter", path: "/?apikey=" + good, status: 200},
		{name: "never expires", headers: []string{"apikey", s.apiKey(t, map[string]any{"exp": nil})}, status: 200},
		{name: "expired", headers: []string{"apikey", s.apiKey(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}, status: 401, code: 900903},
		{name: "tampered", headers: []string{"apikey", parts[0] + "." + testkit.B64([]byte(`{"sub":"mallory"}`)) + "." + parts[2]}, status: 401, code: 900901},
		{name: "another signer", headers: []string{"apikey", testkit.APIKey(t, k.RSA, s.cert, testkit.APIKeyClaims(nil))}, status: 401, code: 900901},
		{name: "HS256 keyed with the certificate", headers: []string{"apikey", testkit.Sign(t, "HS256", s.cert, map[string]any{"alg": "HS256", "typ": "JWT"}, testkit.APIKeyClaims(nil))}, status: 401, code: 900901},
		{name: "alg none", headers: []string{"apikey", testkit.Sign(t, "none", nil, map[string]any{"alg": "none", "typ": "JWT"}, testkit.APIKeyClaims(nil))}, status: 401, code: 900901},
		{name: "an internal key", headers: []string{"apikey", s.apiKey(t, map[string]any{"token_type": "InternalKey"})}, status: 401, code: 900901},
		{name: "not subscribed to this API", headers: []string{"apikey", s.apiKey(t, map[string]any{"subscribedAPIs": []any{map[string]any{"name": "Other", "version": "1.0.0"}}})}, status: 403, code: 900908},
		{name: "as a Bearer token", headers: bearer(good), status: 401, code: 900901},
		{name: "permitted IPv4 address", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedIP": "198.51.100.1, 203.0.113.7"}), "X-Forwarded-For", "203.0.113.7"}, status: 200},
		{name: "another IPv4 address", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedIP": "203.0.113.7"}), "X-Forwarded-For", "203.0.113.8"}, status: 403, code: 900908},
		{name: "IPv4 range", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedIP": "10.0.0.0/8"}), "X-Forwarded-For", "10.20.30.40"}, status: 200},
		{name: "IPv6 range", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedIP": "2001:db8::/32"}), "X-Forwarded-For", "2001:db8:1::5"}, status: 200},
		{name: "outside the IPv6 range", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedIP": "2001:db8::/32"}), "X-Forwarded-For", "2001:db9::5"}, status: 403, code: 900908},
		{name: "permitted referer", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedReferer": "https://*.example.com/*"}), "Referer", "https://shop.example.com/cart"}, status: 200},
		{name: "another referer", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedReferer": "https://*.example.com/*"}), "Referer", "https://example.com.evil.test/"}, status: 403, code: 900908},
		{name: "no referer", headers: []string{"apikey", s.apiKey(t, map[string]any{"permittedReferer": "https://*.example.com/*"})}, status: 403, code: 900908},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/"
			}
			r := s.g.Get(path, tc.headers...)
			if tc.status != 200 {
				wantFault(t, r, tc.status, tc.code)
				return
			}
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			c := testkit.Verify(t, s.upstream.Last().Header.Get("X-JWT-Assertion"), testkit.Public(k.RSA2), false).Claims
			if c[claimsPrefix+"applicationname"] != "KeyApp" || c[claimsPrefix+"tier"] != "Gold" || c["sub"] != "admin@carbon.super" {
				t.Fatalf("backend JWT claims %v", c)
			}
		})
	}
}

// TestTokenSources: every place is read; one credential is taken from
// wherever it is, two are refused, and strip_authorization removes it
// from where it was found, keeping the rest of the request.
func TestTokenSources(t *testing.T) {
	s := newAPIKeySite(t, "token_from header X-Access-Token\n\t\ttoken_from query access_token\n\t\ttoken_from cookie at\n\t\tstrip_authorization")
	tok := testkit.AccessToken(t, wso2Issuer, nil)
	other := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "another"})
	key := s.apiKey(t, nil)
	for _, tc := range []struct {
		name    string
		path    string
		headers []string
		code    int                                 // 0: passes
		check   func(t *testing.T, r *http.Request) // what the upstream received
	}{
		{name: "Authorization", headers: bearer(tok), check: func(t *testing.T, r *http.Request) {
			if r.Header.Get("Authorization") != "" {
				t.Error("Authorization forwarded")
			}
		}},
		{name: "a header", headers: []string{"X-Access-Token", tok, "X-Other", "kept"}, check: func(t *testing.T, r *http.Request) {
			if r.Header.Get("X-Access-Token") != "" || r.Header.Get("X-Other") != "kept" {
				t.Errorf("headers forwarded: %v", r.Header)
			}
		}},
		{name: "a query parameter", path: "/menu?size=large&access_token=" + tok + "&crust=thin", check: func(t *testing.T, r *http.Request) {
			if r.URL.RawQuery != "size=large&crust=thin" {
				t.Errorf("query forwarded: %q", r.URL.RawQuery)
			}
		}},
		{name: "a cookie", headers: []string{"Cookie", "theme=dark; at=" + tok + "; lang=en"}, check: func(t *testing.T, r *http.Request) {
			if got := strings.Join(r.Header.Values("Cookie"), "|"); got != "theme=dark; lang=en" {
				t.Errorf("cookies forwarded: %q", got)
			}
		}},
		{name: "an API key in the apikey header", headers: []string{"apikey", key}, check: func(t *testing.T, r *http.Request) {
			if r.Header.Get("apikey") != "" {
				t.Error("apikey forwarded")
			}
		}},
		{name: "the same token in two places", headers: append(bearer(tok), "X-Access-Token", tok)},
		{name: "two tokens", headers: append(bearer(tok), "Cookie", "at="+other), code: 900901},
		{name: "a token and an API key", headers: append(bearer(tok), "apikey", key), code: 900901},
		{name: "one value as token and as API key", headers: []string{"X-Access-Token", key, "apikey", key}, code: 900901},
		{name: "a query parameter twice", path: "/?access_token=" + tok + "&access_token=" + tok, code: 900901},
		{name: "nothing", code: 900902},
		{name: "Basic credentials", headers: []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"}, code: 900902},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/"
			}
			before := s.upstream.Count()
			r := s.g.Get(path, tc.headers...)
			if tc.code != 0 {
				wantFault(t, r, map[int]int{900901: 401, 900902: 401}[tc.code], tc.code)
				return
			}
			if r.Status != 200 || s.upstream.Count() != before+1 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if tc.check != nil {
				tc.check(t, s.upstream.Last())
			}
		})
	}
}

// TestRequireScopes: every required scope must be in the token's scope
// (a string or a list), scp, or the introspection answer; API keys are
// not checked.
func TestRequireScopes(t *testing.T) {
	km := testkit.NewIntrospectionServer(t, kmClient, kmSecret)
	signer := testkit.APIKeySigner()
	cert := testkit.CertificatePEM(t, signer, "apikeysign")
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
			introspection {
				url %s
				client_id %s
				client_secret %s
			}
		}
		api_keys {
			certificate %s
		}
		require_scopes menu:read
		require_scopes menu:write
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, km.URL, kmClient, kmSecret, writeFile(t, "apikey.pem", cert), upstream.Listener.Addr()))
	both, one := opaqueToken(t), opaqueToken(t)
	km.Answer(both, activeAnswer("app", map[string]any{"scope": "menu:write menu:read"}))
	km.Answer(one, activeAnswer("app", map[string]any{"scope": "menu:read"}))
	for _, tc := range []struct {
		name    string
		headers []string
		ok      bool
	}{
		{"scope string", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"scope": "default menu:read menu:write"})), true},
		{"scope list", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"scope": []string{"menu:write", "menu:read"}})), true},
		{"scp", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"scope": nil, "scp": []string{"menu:read", "menu:write"}})), true},
		{"introspected", bearer(both), true},
		{"an API key", []string{"apikey", testkit.APIKey(t, signer, cert, testkit.APIKeyClaims(nil))}, true},
		{"one missing", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"scope": "menu:read"})), false},
		{"none", bearer(testkit.AccessToken(t, wso2Issuer, map[string]any{"scope": nil})), false},
		{"introspected, one missing", bearer(one), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.Get("/", tc.headers...)
			if !tc.ok {
				wantFault(t, r, 403, 900910)
				return
			}
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
}

// sha256Hex is the hex SHA-256 of a token, as token_sha256 takes it.
func sha256Hex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
