package caddyfile_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

const (
	apimUser, apimPass = "gateway", "apim-s3cret"
	claimsPrefix       = "http://wso2.org/claims/"
)

// apimData is API Manager with PizzaShackAPI (id 7), a BLOCKED API (id 8),
// and one application per subscription state, each with a production key
// "<state>-prod" and a sandbox key "<state>-sand".
func apimData() apimfake.Data {
	d := apimfake.Data{APIs: []apimfake.Record{
		apimfake.API(7, "PizzaShackAPI", "1.0.0", "/pizzashack/1.0.0", "PUBLISHED"),
		apimfake.API(8, "Blocked", "1.0.0", "/blocked/1.0.0", "BLOCKED"),
	}}
	for i, state := range []string{"UNBLOCKED", "TIER_UPDATE_PENDING", "BLOCKED", "PROD_ONLY_BLOCKED", "ON_HOLD", "REJECTED"} {
		app := 100 + i
		d.Applications = append(d.Applications, apimfake.Application(app, "app-"+state, "alice", "10PerMin"))
		d.KeyMappings = append(d.KeyMappings,
			apimfake.KeyMapping(app, state+"-prod", "PRODUCTION", "Resident Key Manager"),
			apimfake.KeyMapping(app, state+"-sand", "SANDBOX", "Resident Key Manager"))
		d.Subscriptions = append(d.Subscriptions,
			apimfake.Subscription(200+i, 7, app, "Gold", state), apimfake.Subscription(300+i, 8, app, "Gold", "UNBLOCKED"))
	}
	return d
}

// apimSite is a gateway whose routes check subscriptions against a fake
// API Manager: / for PizzaShackAPI (with generation) and /blocked/ for an
// API blocked in its lifecycle.
type apimSite struct {
	g        *gateway
	apim     *apimfake.Server
	apimSrv  *httptest.Server
	upstream *testkit.Upstream
	site     string
}

// newAPIManager starts a fake API Manager holding apimData on 127.0.0.1,
// stopped with the test.
func newAPIManager(t *testing.T) (*apimfake.Server, *httptest.Server) {
	apim := apimfake.New(apimUser, apimPass, "carbon.super", apimData())
	srv := httptest.NewServer(apim)
	t.Cleanup(srv.Close)
	return apim, srv
}

func newAPIMSite(t *testing.T, down bool) *apimSite {
	return startAPIMSite(t, down, "refresh 1s\ntimeout 2s")
}

// startAPIMSite is newAPIMSite with other api_manager settings (lines of
// the block after the credentials; reload needs a timeout of 2s).
func startAPIMSite(t *testing.T, down bool, settings string) *apimSite {
	k := testkit.Keys()
	s := &apimSite{g: newGateway(t), upstream: testkit.NewUpstream(t)}
	s.apim, s.apimSrv = newAPIManager(t)
	if down {
		s.apim.SetStatus(http.StatusServiceUnavailable)
	}
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	t.Setenv("APIM_PASSWORD", apimPass)
	apiManager := fmt.Sprintf(`api_manager {
				server_url %s
				username %s
				password {env.APIM_PASSWORD}
				key_manager "Resident Key Manager"
%s
			}`, s.apimSrv.URL, apimUser, indent(indent(indent(indent(settings)))))
	s.site = fmt.Sprintf(`
	handle /blocked/* {
		backend_jwt {
			issuer %[1]s {
				jwks_url %[2]s
				validate_subscription
			}
			api Blocked 1.0.0 /blocked
			%[3]s
		}
		reverse_proxy %[4]s
	}
	handle {
		backend_jwt {
			issuer %[1]s {
				jwks_url %[2]s
				validate_subscription
			}
			api PizzaShackAPI 1.0.0 /pizzashack
			%[3]s
			generate {
				signing_key %[5]s
			}
		}
		reverse_proxy %[4]s
	}`, wso2Issuer, jwks.URL, apiManager, s.upstream.Listener.Addr(), keyFile(t, k.RSA2))
	s.g.Start(s.site)
	return s
}

// reload loads the site again as JSON through /load, its timeout changed
// by variant nanoseconds so that Caddy really replaces the handlers.
func (s *apimSite) reload(t *testing.T, variant int) {
	t.Helper()
	cfg, err := adapt(s.g.Caddyfile(s.site))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(cfg), `"timeout":2000000000`, fmt.Sprintf(`"timeout":%d`, 2000000000+variant), 1)
	if err := s.g.Load("application/json", []byte(changed)); err != nil {
		t.Fatalf("reload %d: %v", variant, err)
	}
}

// token is an API Manager 3.2+ access token: no application, no
// subscribedAPIs, no keytype; the consumer key in azp.
func apimToken(t *testing.T, changes map[string]any) string {
	base := map[string]any{"application": nil, "subscribedAPIs": nil, "keytype": nil}
	for k, v := range changes {
		base[k] = v
	}
	return testkit.AccessToken(t, wso2Issuer, base)
}

func TestAPIManagerSubscriptions(t *testing.T) {
	s := newAPIMSite(t, false)
	testkit.WaitFor(t, "API Manager's data", func() bool {
		return s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"}))...).Status == 200
	})
	for _, tc := range []struct {
		name, path, key string
		status, code    int
	}{
		{"unblocked", "/", "UNBLOCKED-prod", 200, 0},
		{"tier update pending", "/", "TIER_UPDATE_PENDING-prod", 200, 0},
		{"blocked", "/", "BLOCKED-prod", 403, 900907},
		{"blocked, sandbox key", "/", "BLOCKED-sand", 403, 900907},
		{"production only blocked, production key", "/", "PROD_ONLY_BLOCKED-prod", 403, 900907},
		{"production only blocked, sandbox key", "/", "PROD_ONLY_BLOCKED-sand", 200, 0},
		{"on hold", "/", "ON_HOLD-prod", 403, 900909},
		{"rejected", "/", "REJECTED-sand", 403, 900909},
		{"unknown consumer key", "/", "nobody", 403, 900908},
		{"API blocked in its lifecycle", "/blocked/x", "UNBLOCKED-prod", 403, 900907},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.g.Get(tc.path, bearer(apimToken(t, map[string]any{"azp": tc.key}))...)
			if tc.status == 200 {
				if r.Status != 200 {
					t.Fatalf("status %d %s", r.Status, r.Body)
				}
				return
			}
			wantFault(t, r, tc.status, tc.code)
		})
	}
	if n := s.apim.Calls("/application-key-mappings?consumerKey=nobody&keymanager=Resident+Key+Manager"); n != 1 {
		t.Errorf("targeted reads of the unknown key: %d, want 1", n)
	}
	wantFault(t, s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": "nobody", "jti": "again"}))...), 403, 900908)
	if n := s.apim.Calls("/application-key-mappings?consumerKey=nobody&keymanager=Resident+Key+Manager"); n != 1 {
		t.Errorf("targeted reads of the unknown key within refresh: %d, want 1", n)
	}
}

// TestAPIManagerApplicationToken: a client-credentials token (aut
// APPLICATION) names the application's owner as the end user, as API
// Manager's gateway does; a user's token with aut keeps its sub.
func TestAPIManagerApplicationToken(t *testing.T) {
	s := newAPIMSite(t, false)
	for _, tc := range []struct{ aut, sub, enduser string }{
		{"APPLICATION", "service-account", "alice@carbon.super"},
		{"application", "service-account", "alice@carbon.super"},
		{"APPLICATION_USER", "bob", "bob@carbon.super"},
		{"APPLICATION_USER", "bob@carbon.super", "bob@carbon.super"},
	} {
		t.Run(tc.aut+" "+tc.sub, func(t *testing.T) {
			tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod", "aut": tc.aut, "sub": tc.sub})
			testkit.WaitFor(t, "a 200", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
			c := testkit.Verify(t, s.upstream.Last().Header.Get("X-JWT-Assertion"), testkit.Public(testkit.Keys().RSA2), false).Claims
			if c[claimsPrefix+"enduser"] != tc.enduser || c["sub"] != tc.sub || c["aut"] != tc.aut || c[claimsPrefix+"usertype"] != "Application_User" {
				t.Fatalf("enduser %v sub %v aut %v usertype %v; want enduser %s", c[claimsPrefix+"enduser"], c["sub"], c["aut"], c[claimsPrefix+"usertype"], tc.enduser)
			}
		})
	}
}

func TestAPIManagerBackendJWT(t *testing.T) {
	s := newAPIMSite(t, false)
	for _, tc := range []struct {
		name    string
		changes map[string]any
		keyType string
	}{
		{"azp", map[string]any{"azp": "UNBLOCKED-prod"}, "PRODUCTION"},
		{"aud string", map[string]any{"azp": nil, "aud": "PROD_ONLY_BLOCKED-sand"}, "SANDBOX"},
		{"aud array", map[string]any{"azp": nil, "aud": []string{"UNBLOCKED-sand", "other"}}, "SANDBOX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := apimToken(t, tc.changes)
			testkit.WaitFor(t, "a 200", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
			jwt := s.upstream.Last().Header.Get("X-JWT-Assertion")
			c := testkit.Verify(t, jwt, testkit.Public(testkit.Keys().RSA2), false).Claims
			for name, want := range map[string]any{
				"applicationname": "app-" + strings.TrimSuffix(strings.TrimSuffix(keyOf(tc.changes), "-prod"), "-sand"),
				"subscriber":      "alice", "applicationtier": "10PerMin", "tier": "Gold",
				"keytype": tc.keyType, "enduserTenantDomain": "carbon.super", "enduserTenantId": "-1234",
				"apiname": "PizzaShackAPI", "version": "1.0.0",
			} {
				if got := c[claimsPrefix+name]; got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if id, ok := c[claimsPrefix+"applicationid"].(string); !ok || !strings.HasPrefix(id, "10") || len(id) != 3 {
				t.Errorf("applicationid %v, want API Manager's id as a string", c[claimsPrefix+"applicationid"])
			}
			if uuid, _ := c[claimsPrefix+"applicationUUId"].(string); !strings.HasPrefix(uuid, "app-uuid-") {
				t.Errorf("applicationUUId %q", uuid)
			}
		})
	}
}

func keyOf(changes map[string]any) string {
	if azp, ok := changes["azp"].(string); ok {
		return azp
	}
	switch aud := changes["aud"].(type) {
	case string:
		return aud
	case []string:
		return aud[0]
	}
	return ""
}

// TestAPIManagerFreshness: API Manager down at start is a 503 with
// Retry-After, then 200 once it is up; a subscription blocked in API
// Manager and a revoked token are refused after the next re-read, the
// revoked one though it is in both caches; a failed re-read keeps the
// last data, across a reload through /load too.
func TestAPIManagerFreshness(t *testing.T) {
	s := newAPIMSite(t, true)
	tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	r := s.g.Get("/", bearer(tok)...)
	wantFault(t, r, 503, 900900)
	if ra := r.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (the refresh)", ra)
	}
	s.apim.SetStatus(0)
	testkit.WaitFor(t, "a 200 once API Manager is up", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })

	// Revoked in API Manager: refused though cached.
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	s.apim.Update(func(d *apimfake.Data) { d.Revoked = append(d.Revoked, apimfake.Revoked(sig, 4102444800000)) })
	testkit.WaitFor(t, "the revoked token refused", func() bool { return s.g.Get("/", bearer(tok)...).Status == 401 })
	wantFault(t, s.g.Get("/", bearer(tok)...), 401, 900901)

	// Blocked in API Manager: refused after a re-read.
	other := apimToken(t, map[string]any{"azp": "TIER_UPDATE_PENDING-prod"})
	if r := s.g.Get("/", bearer(other)...); r.Status != 200 {
		t.Fatalf("before blocking: %d", r.Status)
	}
	s.apim.Update(func(d *apimfake.Data) { d.Subscriptions[2]["subscriptionState"] = "BLOCKED" })
	testkit.WaitFor(t, "the blocked subscription refused", func() bool { return s.g.Get("/", bearer(other)...).Status == 403 })

	// Down again: the last data stays, across a reload through /load.
	s.apim.SetStatus(http.StatusInternalServerError)
	fresh := apimToken(t, map[string]any{"azp": "PROD_ONLY_BLOCKED-sand", "jti": "after-reload"})
	for i := range 2 {
		s.reload(t, i)
		if r := s.g.Get("/", bearer(fresh)...); r.Status != 200 {
			t.Fatalf("reload %d during an outage: %d %s", i, r.Status, r.Body)
		}
		wantFault(t, s.g.Get("/", bearer(other)...), 403, 900907)
	}
	_, metrics, err := s.g.Admin(http.MethodGet, "/metrics", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`caddy_backend_jwt_api_manager_records{kind="subscriptions",source="` + s.apimSrv.URL + ` carbon.super"} 12`,
		`caddy_backend_jwt_api_manager_records{kind="revoked_tokens",source="` + s.apimSrv.URL + ` carbon.super"} 1`,
		`caddy_backend_jwt_api_manager_data_age_seconds{source="` + s.apimSrv.URL + ` carbon.super"}`,
		`caddy_backend_jwt_api_manager_read_errors_total{source="` + s.apimSrv.URL + ` carbon.super"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	if !strings.Contains(s.g.Logs(), "API Manager data read failed") {
		t.Error("no warning for the failed re-reads")
	}
	if strings.Contains(s.g.Logs(), apimPass) {
		t.Error("the log shows API Manager's password")
	}
}

// TestAPIManagerBadJSON: the checks the Caddyfile parser makes are made
// again for JSON loaded through /load, which keeps the running config.
func TestAPIManagerBadJSON(t *testing.T) {
	s := newAPIMSite(t, false)
	cfg, err := adapt(s.g.Caddyfile(s.site))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"refresh under 1s", `"refresh":1000000000`, `"refresh":500000000`, "api_manager refresh 500ms: must be at least 1s"},
		{"no password", `"password":"{env.APIM_PASSWORD}"`, `"password":""`, "api_manager needs a username and a password"},
		{"credentials in server_url", `"server_url":"http://`, `"server_url":"http://u:p@`, "server_url must not hold credentials"},
		{"revocation_sync under 1s", `"api_manager":`, `"revocation_sync":100000000,"api_manager":`, "revocation_sync 100ms: must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(cfg), tc.from, tc.to, 1)
			if bad == string(cfg) {
				t.Fatalf("%s not in the config", tc.from)
			}
			err := s.g.Load("application/json", []byte(bad))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("/load: %v, want %q", err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), apimPass) {
				t.Fatal("the error shows the password")
			}
		})
	}
	tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "the running config to answer after the refused loads", func() bool {
		return s.g.Get("/", bearer(tok)...).Status == 200
	})
}

// TestAPIManagerSourceShared: two routes naming one API Manager share one
// reader (one source, one targeted read of an unknown key for both), the
// reader outlives reloads, and it ends when no config names it.
func TestAPIManagerSourceShared(t *testing.T) {
	s := newAPIMSite(t, false)
	testkit.WaitFor(t, "API Manager's data", func() bool {
		return s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"}))...).Status == 200
	})
	const unknownKey = "/application-key-mappings?consumerKey=shared-nobody&keymanager=Resident+Key+Manager"
	for _, path := range []string{"/", "/blocked/x"} {
		wantFault(t, s.g.Get(path, bearer(apimToken(t, map[string]any{"azp": "shared-nobody", "jti": path}))...), 403, 900908)
	}
	if n := s.apim.Calls(unknownKey); n != 1 {
		t.Errorf("targeted reads of a key unknown to both routes: %d, want 1", n)
	}
	sources := func() (int, []any) {
		status, v := admin(t, s.g, "POST", "/backend_jwt/api_manager/refresh", "")
		list, _ := v["sources"].([]any)
		return status, list
	}
	for i := range 3 {
		s.reload(t, i)
		if status, list := sources(); status != 200 || len(list) != 1 {
			t.Fatalf("after reload %d: %d, %d sources, want one shared by both routes", i, status, len(list))
		}
	}

	// A config without api_manager ends the reader.
	if err := s.g.Load("text/caddyfile", []byte(s.g.Caddyfile("respond 204"))); err != nil {
		t.Fatal(err)
	}
	if status, list := sources(); status != http.StatusNotFound {
		t.Fatalf("refresh with no api_manager left: %d %v, want 404", status, list)
	}
	reads := s.apim.Calls("/apis")
	time.Sleep(2500 * time.Millisecond) // two and a half refreshes
	if n := s.apim.Calls("/apis"); n != reads {
		t.Errorf("API Manager read %d more times after the last config naming it was unloaded", n-reads)
	}
}

// TestAPIManagerUnknownAPI: a route naming an API that API Manager does
// not know refuses every token 403 900908 and warns about the route.
func TestAPIManagerUnknownAPI(t *testing.T) {
	s := newAPIMSite(t, false)
	site := strings.Replace(s.site, "api Blocked 1.0.0 /blocked", "api Missing 1.0.0 /blocked", 1)
	if err := s.g.Load("text/caddyfile", []byte(s.g.Caddyfile(site))); err != nil {
		t.Fatal(err)
	}
	tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
	wantFault(t, s.g.Get("/blocked/x", bearer(tok)...), 403, 900908)
	if logs := s.g.Logs(); !strings.Contains(logs, "the route's api is not known to API Manager") || !strings.Contains(logs, `"api":"Missing"`) {
		t.Error("no warning naming the API that API Manager does not know")
	}
}
