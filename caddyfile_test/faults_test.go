package caddyfile_test

// Dependency faults (SPEC 8): a JWKS or claims endpoint that is down,
// slow, stalled, answering garbage, an HTML page or an enormous body. Each
// test runs one Caddy with a route, and so a backend_jwt handler (its own
// key set, claims cache and sampled warnings), per fault, and checks the
// faults side by side: the answer a client gets, within what time, and
// whether the upstream was reached and with what.

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const (
	// depTimeout is jwks_timeout and the claims retriever's timeout.
	depTimeout = 300 * time.Millisecond
	// hugeTimeout is theirs for the enormous body: long enough that its
	// read ends at the cap, not at the timeout, even on a loaded machine.
	hugeTimeout = 5 * time.Second
	// boundSlack is how much longer than the timeout a request may wait on
	// a failing dependency: a correctness bound, not a performance figure.
	boundSlack = 2 * time.Second
	// hugeSize is the enormous body's length: far more than the 1 MiB
	// caps, and more than the kernel's socket buffers can absorb, so an
	// answer written whole means the gateway read it all.
	hugeSize = 64 << 20
)

// depFault is one way a dependency fails. break_ turns it on for a
// server whose good handler is good; heal turns it off.
type depFault struct {
	name   string
	break_ func(s *testkit.FaultyServer, good http.Handler)
	heal   func(s *testkit.FaultyServer) error
	huge   *testkit.HugeBody // the enormous body, to check how much was sent
	log    string            // what the gateway's warning must also say
	// timeout is the route's jwks_timeout or claims timeout: depTimeout
	// unless set.
	timeout time.Duration
}

// bound is the longest a request may wait on f.
func (f depFault) bound() time.Duration { return f.fetchTimeout() + boundSlack }

func (f depFault) fetchTimeout() time.Duration {
	if f.timeout == 0 {
		return depTimeout
	}
	return f.timeout
}

// setFault is a fault answered by h, healed by removing it.
func setFault(name string, h http.Handler) depFault {
	return depFault{
		name:   name,
		break_: func(s *testkit.FaultyServer, _ http.Handler) { s.SetFault(h) },
		heal:   func(s *testkit.FaultyServer) error { s.SetFault(nil); return nil },
	}
}

// hugeFault streams a hugeSize body that starts like a good answer.
func hugeFault(prefix, log string) depFault {
	// One HugeBody per use, so its counts are the case's own.
	h := testkit.Huge("application/json", prefix, hugeSize)
	f := setFault("enormous body (streamed)", h)
	f.huge, f.log, f.timeout = h, log, hugeTimeout
	return f
}

// commonFaults are the faults of any HTTP dependency. prefix begins a
// well-formed answer, for the stalled and the enormous bodies; capLog is
// what the gateway says of a body over its cap.
func commonFaults(t *testing.T, prefix, capLog string) []depFault {
	garbage := make([]byte, 4096)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	return []depFault{
		{
			name:   "connection refused",
			break_: func(s *testkit.FaultyServer, _ http.Handler) { s.Down() },
			heal:   func(s *testkit.FaultyServer) error { return s.Up() },
		},
		setFault("500", testkit.Respond(500, "application/json", []byte(`{"error":"boom"}`))),
		setFault("502 HTML page", testkit.Respond(502, "text/html", []byte("<html><body>Bad Gateway</body></html>"))),
		{
			name:   "slower than the timeout",
			break_: func(s *testkit.FaultyServer, good http.Handler) { s.SetFault(testkit.Delay(time.Minute, good)) },
			heal:   func(s *testkit.FaultyServer) error { s.SetFault(nil); return nil },
		},
		setFault("headers, then the body stalls", testkit.Stall("application/json", []byte(prefix))),
		setFault("connection closed without an answer", testkit.Hangup()),
		setFault("garbage bytes", testkit.Respond(200, "application/json", garbage)),
		setFault("HTML page with 200", testkit.Respond(200, "text/html; charset=utf-8",
			[]byte("<!DOCTYPE html><html><head><title>Sign in</title></head><body><form></form></body></html>"))),
		hugeFault(prefix, capLog),
	}
}

// jwksFaults are commonFaults plus the answers of a JWKS endpoint that are
// JSON but no usable key set.
func jwksFaults(t *testing.T) []depFault {
	return append(commonFaults(t, `{"keys":[{"kty":"RSA","kid":"rsa","e":"AQAB","n":"`, "JWKS larger than 1 MiB"),
		setFault("JSON that is not a JWKS (a discovery document)", testkit.Respond(200, "application/json",
			[]byte(`{"issuer":"https://localhost:9443/oauth2/token","jwks_uri":"https://localhost:9443/oauth2/jwks"}`))),
		setFault("a JWKS without a usable key", testkit.Respond(200, "application/json", []byte(`{"keys":[]}`))),
	)
}

// heal ends f on s, failing the test if it cannot.
func heal(t *testing.T, f depFault, s *testkit.FaultyServer) {
	t.Helper()
	if err := f.heal(s); err != nil {
		t.Fatal(err)
	}
}

// timedGet sends GET path with token and returns the answer, failing the
// (sub)test if none comes or it comes later than bound.
func timedGet(t *testing.T, g *gateway, bound time.Duration, path, token string) testcaddy.Response {
	t.Helper()
	start := time.Now()
	r, err := g.TryGet(path, bearer(token)...)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("GET %s: %v after %s", path, err, took)
	}
	if took > bound {
		t.Errorf("GET %s answered %d after %s, want within %s", path, r.Status, took, bound)
	}
	return r
}

// wantUnavailable checks a dependency outage's answer: 503, 900900, a
// Retry-After of whole seconds, and no challenge (it is not the caller's
// fault).
func wantUnavailable(t *testing.T, r testcaddy.Response, retryAfter string) {
	t.Helper()
	wantFault(t, r, 503, 900900)
	ra := r.Header.Get("Retry-After")
	if n, err := strconv.Atoi(ra); err != nil || n < 1 || retryAfter != "" && ra != retryAfter {
		t.Errorf("Retry-After %q, want whole seconds (%q)", ra, retryAfter)
	}
	if c := r.Header.Get("WWW-Authenticate"); c != "" {
		t.Errorf("a dependency outage answered with a challenge %q", c)
	}
}

// logLine returns the first line of the gateway's log holding every one of
// parts, or "".
func logLine(g *gateway, parts ...string) string {
	for _, line := range strings.Split(g.Logs(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return line
		}
	}
	return ""
}

// tokenLog collects the access tokens a test sent, to check that none
// was logged.
type tokenLog struct {
	mu     sync.Mutex
	tokens []string
}

func (l *tokenLog) add(token string) string {
	l.mu.Lock()
	l.tokens = append(l.tokens, token)
	l.mu.Unlock()
	return token
}

// check fails the test if the gateway's log holds a whole token.
func (l *tokenLog) check(t *testing.T, g *gateway) {
	t.Helper()
	logs := g.Logs()
	for _, token := range l.tokens {
		if strings.Contains(logs, token) {
			t.Errorf("the log holds a whole access token (%.20s...)", token)
		}
	}
}

// jwksCase is one route of a JWKS fault test: its JWKS behind a faulty
// server, and its upstream.
type jwksCase struct {
	depFault
	path     string
	jwks     *testkit.JWKSServer
	server   *testkit.FaultyServer
	upstream *testkit.Upstream
}

// startJWKSCases runs one Caddy with a route per fault, /cN/, whose issuer
// fetches its JWKS from that fault's server with the short time-outs, and
// whose second issuer, certIssuer, has a static certificate of
// Keys().RSA2. Caching of validated tokens is off, so every request needs
// the keys. breakFirst applies the faults before Caddy starts. It returns
// the site's directives too, to reload them changed.
func startJWKSCases(t *testing.T, faults []depFault, breakFirst bool) (*gateway, []*jwksCase, string) {
	k := testkit.Keys()
	certFile := writeFile(t, "issuer.pem", testkit.CertificatePEM(t, k.RSA2, "issuer"))
	var site strings.Builder
	cases := make([]*jwksCase, len(faults))
	for i, f := range faults {
		c := &jwksCase{depFault: f, path: fmt.Sprintf("/c%d/", i), upstream: testkit.NewUpstream(t)}
		c.jwks = testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
		c.server = testkit.NewFaultyServer(t, c.jwks.Config.Handler)
		fmt.Fprintf(&site, `
	handle %s* {
		backend_jwt {
			issuer %s {
				jwks_url %s
			}
			issuer %s {
				certificate %s
			}
			jwks_timeout %s
			jwks_min_refresh 200ms
			jwks_refresh 200ms
			validation_cache 0
		}
		reverse_proxy %s {
			header_up X-User {http.auth.user.id}
		}
	}`, c.path, wso2Issuer, c.server.URL, certIssuer, certFile, f.fetchTimeout(), c.upstream.Listener.Addr())
		cases[i] = c
	}
	if breakFirst {
		// Once every server listens, so that none takes a refused port.
		for _, c := range cases {
			c.break_(c.server, c.jwks.Config.Handler)
		}
	}
	// The gateway's ports are picked last: a server started after could
	// take one of them.
	g := newGateway(t)
	g.Start(site.String())
	return g, cases, site.String()
}

// wantPassed checks that r is the upstream's answer to a request with
// token, and what the upstream received.
func wantPassed(t *testing.T, r testcaddy.Response, up *testkit.Upstream, token string) {
	t.Helper()
	if r.Status != 200 || r.Body != "upstream ok" {
		t.Fatalf("status %d body %q, want the upstream's answer", r.Status, r.Body)
	}
	got := up.Last().Header
	if got.Get("X-User") != "admin@carbon.super" || got.Get("Authorization") != "Bearer "+token {
		t.Fatalf("the upstream received X-User %q and another Authorization", got.Get("X-User"))
	}
}

// TestJWKSDownAtStart: an issuer whose JWKS cannot be fetched when Caddy
// starts. Caddy starts anyway; that issuer's tokens, whatever their kid,
// get 503 900900 with Retry-After (never a 401: an outage is not the
// caller's fault) within the bound, and reach no upstream, while the
// tokens of another issuer of the same handler pass; a fetch failure is
// logged, an enormous body is cut at the cap; once the JWKS answers, the
// same token passes.
func TestJWKSDownAtStart(t *testing.T) {
	k := testkit.Keys()
	var tokens tokenLog
	g, cases, _ := startJWKSCases(t, jwksFaults(t), true)
	t.Run("faults", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				token := tokens.add(testkit.AccessToken(t, wso2Issuer, nil))
				otherKid := tokens.add(testkit.Sign(t, "RS256", k.RSA, hdr("RS256", "other"), accessClaims(wso2Issuer)))
				for _, tok := range []string{token, otherKid, token} {
					wantUnavailable(t, timedGet(t, g, c.bound(), c.path+"x", tok), "1")
				}
				if n := c.upstream.Count(); n != 0 {
					t.Fatalf("%d refused requests reached the upstream", n)
				}
				certToken := tokens.add(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", ""), accessClaims(certIssuer)))
				wantPassed(t, timedGet(t, g, c.bound(), c.path+"x", certToken), c.upstream, certToken)
				testkit.WaitFor(t, "the fetch failure's warning", func() bool {
					return logLine(g, `"msg":"JWKS fetch failed"`, `"url":"`+c.server.URL+`"`) != ""
				})
				if line := logLine(g, `"msg":"JWKS fetch failed"`, `"url":"`+c.server.URL+`"`); !strings.Contains(line, c.log) {
					t.Errorf("the warning does not say %q: %s", c.log, line)
				}
				if c.huge != nil && c.huge.Complete() != 0 {
					t.Errorf("the gateway read %d enormous answers whole (%d bytes sent)", c.huge.Complete(), c.huge.Sent())
				}

				heal(t, c.depFault, c.server)
				testkit.WaitFor(t, "a 200 once the JWKS answers", func() bool {
					r, err := g.TryGet(c.path+"x", bearer(token)...)
					return err == nil && r.Status == 200
				})
				wantPassed(t, timedGet(t, g, c.bound(), c.path+"x", token), c.upstream, token)
			})
		}
	})
	tokens.check(t, g)
}

// TestJWKSDownAfterGoodFetch: once an issuer's JWKS was fetched, a
// failing refresh keeps the last good keys serving (a new token with a
// known kid passes, within the bound), while a kid the last good set does
// not hold is refused with 401 900901 as soon as the one refetch it may
// cause fails. Once the endpoint answers again with a rotated key set, the
// new kid passes.
func TestJWKSDownAfterGoodFetch(t *testing.T) {
	k := testkit.Keys()
	var tokens tokenLog
	g, cases, _ := startJWKSCases(t, jwksFaults(t), false)
	t.Run("faults", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				first := tokens.add(testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "first"}))
				testkit.WaitFor(t, "the first JWKS fetch", func() bool { return c.jwks.Fetches.Load() > 0 })
				wantPassed(t, timedGet(t, g, c.bound(), c.path+"x", first), c.upstream, first)

				c.break_(c.server, c.jwks.Config.Handler)
				testkit.WaitFor(t, "a failed refresh", func() bool {
					return logLine(g, `"msg":"JWKS fetch failed"`, `"url":"`+c.server.URL+`"`) != ""
				})
				fresh := tokens.add(testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "during the outage"}))
				wantPassed(t, timedGet(t, g, c.bound(), c.path+"x", fresh), c.upstream, fresh)

				before := c.upstream.Count()
				rotated := tokens.add(testkit.Sign(t, "RS256", k.RSA2, hdr("RS256", "rotated"), accessClaims(wso2Issuer)))
				r := timedGet(t, g, c.bound(), c.path+"x", rotated)
				wantFault(t, r, 401, 900901)
				if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
					t.Errorf("challenge %q", ch)
				}
				if c.upstream.Count() != before {
					t.Fatal("the refused request reached the upstream")
				}
				if line := logLine(g, `"msg":"JWKS fetch failed"`, `"url":"`+c.server.URL+`"`); !strings.Contains(line, c.log) {
					t.Errorf("the warning does not say %q: %s", c.log, line)
				}
				if c.huge != nil && c.huge.Complete() != 0 {
					t.Errorf("the gateway read %d enormous answers whole (%d bytes sent)", c.huge.Complete(), c.huge.Sent())
				}

				c.jwks.SetKeys(t, testkit.JWK{KID: "rotated", Key: k.RSA2})
				heal(t, c.depFault, c.server)
				testkit.WaitFor(t, "the rotated key once the JWKS answers", func() bool {
					r, err := g.TryGet(c.path+"x", bearer(rotated)...)
					return err == nil && r.Status == 200
				})
			})
		}
	})
	tokens.check(t, g)
}

// TestJWKSOutageSurvivesReload: a config reload (here an unrelated
// change of jwks_refresh, through the admin API) while an issuer's JWKS
// endpoint is down must not drop that issuer's traffic: the last good keys
// fetched by the previous config keep serving, as they do without the
// reload (TestJWKSDownAfterGoodFetch), and no 503 is answered for an
// issuer whose keys were fetched. Once the endpoint answers again, the new
// config fetches the set itself.
func TestJWKSOutageSurvivesReload(t *testing.T) {
	var tokens tokenLog
	var faults []depFault
	for _, f := range jwksFaults(t) {
		if f.name == "connection refused" || f.name == "HTML page with 200" {
			faults = append(faults, f)
		}
	}
	g, cases, site := startJWKSCases(t, faults, false)
	for _, c := range cases {
		testkit.WaitFor(t, "the first JWKS fetch", func() bool { return c.jwks.Fetches.Load() > 0 })
		token := tokens.add(testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "before " + c.name}))
		wantPassed(t, timedGet(t, g, c.bound(), c.path+"x", token), c.upstream, token)
		c.break_(c.server, c.jwks.Config.Handler)
	}
	cfg, err := adapt(g.Caddyfile(strings.ReplaceAll(site, "jwks_refresh 200ms", "jwks_refresh 250ms")))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Load("application/json", cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := tokens.add(testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "after " + c.name}))
			r := timedGet(t, g, c.bound(), c.path+"x", token)
			heal(t, c.depFault, c.server)
			testkit.WaitFor(t, "a 200 once the JWKS answers", func() bool {
				r, err := g.TryGet(c.path+"x", bearer(token)...)
				return err == nil && r.Status == 200
			})
			if r.Status != 200 {
				t.Fatalf("after a reload during the outage: status %d %s, want the last good keys to serve (200)", r.Status, r.Body)
			}
			wantPassed(t, r, c.upstream, token)
		})
	}
	tokens.check(t, g)
}

// claimsFaults are commonFaults plus the key manager's own refusals, a
// redirect to another host (whose target must never be called) and JSON
// that is not a claims answer.
func claimsFaults(t *testing.T) []depFault {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the redirect target was called (Authorization %q)", r.Header.Get("Authorization"))
	}))
	t.Cleanup(other.Close)
	return append(commonFaults(t, `{"count":1,"list":[{"uri":"http://wso2.org/claims/givenname","value":"`,
		"the key manager's answer is larger than 1048576 bytes"),
		setFault("404 user not found", testkit.Respond(404, "application/json", []byte(`{"code":404}`))),
		setFault("401 unauthorized", testkit.Respond(401, "text/plain", []byte("who?"))),
		setFault("redirect to another host", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		})),
		setFault("truncated JSON", testkit.Respond(200, "application/json", []byte(`{"count":1,"list":[{"uri":`))),
		setFault("JSON that is not a claims answer", testkit.Respond(200, "application/json", []byte(`{"keys":[]}`))),
	)
}

// TestClaimsEndpointFaults: the claims endpoint of an issuer with
// remote_claims fails. With on_error continue the request passes, within
// the retriever's timeout and the bound, with a backend JWT that verifies
// and holds the token's claims but none of the retrieved ones; with
// on_error fail it gets 503 900900 with Retry-After and reaches no
// upstream. Three failures make one (sampled) warning, an enormous body is
// cut at the cap, and once the endpoint answers, the same token gets the
// claims (a backend JWT made without them was not cached).
func TestClaimsEndpointFaults(t *testing.T) {
	k := testkit.Keys()
	var tokens tokenLog
	type claimsCase struct {
		depFault
		onError  string
		path     string
		km       *keyManager
		server   *testkit.FaultyServer
		upstream *testkit.Upstream
	}
	t.Setenv("KM_PASSWORD", "s3cret")
	certFile := writeFile(t, "issuer.pem", testkit.CertificatePEM(t, k.RSA, "issuer"))
	signingKey := keyFile(t, k.P256)
	var site strings.Builder
	var cases []*claimsCase
	for _, onError := range []string{"continue", "fail"} {
		for i, f := range claimsFaults(t) {
			c := &claimsCase{depFault: f, onError: onError, path: fmt.Sprintf("/%s%d/", onError, i),
				km: newKeyManager(t), upstream: testkit.NewUpstream(t)}
			c.server = testkit.NewFaultyServer(t, c.km.Config.Handler)
			fmt.Fprintf(&site, `
	handle %s* {
		backend_jwt {
			issuer %s {
				certificate %s
				remote_claims
			}
			generate {
				algorithm ES256
				signing_key %s
			}
			claims wso2 {
				server_url %s
				username admin
				password {env.KM_PASSWORD}
				timeout %s
				on_error %s
			}
		}
		reverse_proxy %s
	}`, c.path, wso2Issuer, certFile, signingKey, c.server.URL, f.fetchTimeout(), onError, c.upstream.Listener.Addr())
			cases = append(cases, c)
		}
	}
	g := newGateway(t) // its ports picked after every other server listens
	g.Start(site.String())

	// backendClaims checks that r passed with a backend JWT for sub and
	// returns its verified claims.
	backendClaims := func(t *testing.T, r testcaddy.Response, up *testkit.Upstream, sub string) map[string]any {
		t.Helper()
		if r.Status != 200 || r.Body != "upstream ok" {
			t.Fatalf("status %d body %q, want the upstream's answer", r.Status, r.Body)
		}
		claims := testkit.Verify(t, up.Last().Header.Get("X-Jwt-Assertion"), k.P256.Public(), false).Claims
		if claims["sub"] != sub || claims["iss"] != "wso2.org/products/am" {
			t.Fatalf("backend JWT claims %v, want sub %q", claims, sub)
		}
		return claims
	}
	t.Run("faults", func(t *testing.T) {
		for _, c := range cases {
			t.Run("on_error "+c.onError+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				path := c.path + "x"
				// The route retrieves claims while the endpoint answers.
				baseUser := fmt.Sprintf("base-%s@carbon.super", strings.Trim(c.path, "/"))
				base := tokens.add(tokenFor(t, wso2Issuer, baseUser))
				if got := backendClaims(t, timedGet(t, g, c.bound(), path, base), c.upstream, baseUser); got["http://wso2.org/claims/givenname"] != "John" {
					t.Fatalf("claims before the fault: %v", got)
				}

				c.break_(c.server, c.km.Config.Handler)
				user := fmt.Sprintf("user-%s@carbon.super", strings.Trim(c.path, "/"))
				token := tokens.add(tokenFor(t, wso2Issuer, user))
				for range 3 {
					before := c.upstream.Count()
					r := timedGet(t, g, c.bound(), path, token)
					if c.onError == "fail" {
						wantUnavailable(t, r, "")
						if c.upstream.Count() != before {
							t.Fatal("the refused request reached the upstream")
						}
						continue
					}
					claims := backendClaims(t, r, c.upstream, user)
					for _, name := range []string{"http://wso2.org/claims/givenname", "http://wso2.org/claims/emailaddress"} {
						if _, ok := claims[name]; ok {
							t.Fatalf("retrieved claim %s in a backend JWT made during the fault", name)
						}
					}
				}
				warnings := 0
				var warning string
				for _, line := range strings.Split(g.Logs(), "\n") {
					if strings.Contains(line, `"msg":"claims retrieval failed"`) && strings.Contains(line, `"sub":"`+user+`"`) {
						warnings++
						warning = line
					}
				}
				if warnings < 1 || warnings > 2 {
					t.Errorf("%d warnings for 3 failures, want 1 (2 if a 10 s tick fell between them)", warnings)
				}
				if !strings.Contains(warning, c.log) || !strings.Contains(warning, fmt.Sprintf(`"fail":%t`, c.onError == "fail")) {
					t.Errorf("the warning does not say %q: %s", c.log, warning)
				}
				if c.huge != nil && c.huge.Complete() != 0 {
					t.Errorf("the gateway read %d enormous answers whole (%d bytes sent)", c.huge.Complete(), c.huge.Sent())
				}

				heal(t, c.depFault, c.server)
				if got := backendClaims(t, timedGet(t, g, c.bound(), path, token), c.upstream, user); got["http://wso2.org/claims/givenname"] != "John" {
					t.Fatalf("the same token once the endpoint answers: %v", got)
				}
			})
		}
	})
	tokens.check(t, g)
	if strings.Contains(g.Logs(), "s3cret") {
		t.Error("the log holds the key manager's password")
	}
}
