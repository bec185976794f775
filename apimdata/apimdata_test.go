package apimdata_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

const (
	user, pass = "admin", "s3cret-pass"
	apiName    = "PizzaShackAPI"
	apiVersion = "1.0.0"
)

// fixture is API Manager with one API (id 7), one application (id 3) with
// a production and a sandbox key, subscribed in state.
func fixture(state string) apimfake.Data {
	return apimfake.Data{
		APIs: []apimfake.Record{
			apimfake.API(7, apiName, apiVersion, "/pizzashack/1.0.0", "PUBLISHED"),
			apimfake.API(8, "Blocked", "1", "/blocked/1", "BLOCKED"),
			apimfake.API(9, "Other", "1", "/other/1", "PUBLISHED"),
		},
		Applications: []apimfake.Record{apimfake.Application(3, "DefaultApplication", "admin", "Unlimited")},
		KeyMappings: []apimfake.Record{
			apimfake.KeyMapping(3, "prodKey", "PRODUCTION", "Resident Key Manager"),
			apimfake.KeyMapping(3, "sandKey", "SANDBOX", "Resident Key Manager"),
			apimfake.KeyMapping(3, "otherKM", "PRODUCTION", "Okta"),
		},
		Subscriptions: []apimfake.Record{
			apimfake.Subscription(11, 7, 3, "Gold", state),
			apimfake.Subscription(12, 8, 3, "Gold", "UNBLOCKED"),
		},
		Revoked: []apimfake.Record{apimfake.Revoked("revokedSig", 1893456000000)},
	}
}

type env struct {
	fake   *apimfake.Server
	srv    *httptest.Server
	store  *apimdata.Store
	clock  *clock
	reads  chan apimdata.ReadResult
	client *apimdata.Client
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newEnv(t *testing.T, data apimfake.Data, keyManager string) *env {
	t.Helper()
	return newEnvWith(t, data, keyManager, apimdata.ClientOptions{Timeout: 5 * time.Second})
}

// newEnvWith is newEnv with a client made with opts.
func newEnvWith(t *testing.T, data apimfake.Data, keyManager string, opts apimdata.ClientOptions) *env {
	t.Helper()
	e := &env{fake: apimfake.New(user, pass, "carbon.super", data), clock: &clock{t: time.Unix(1_800_000_000, 0)},
		reads: make(chan apimdata.ReadResult, 100)}
	e.srv = httptest.NewServer(e.fake)
	t.Cleanup(e.srv.Close)
	var err error
	e.client, err = apimdata.NewClient(apimdata.Source{ServerURL: e.srv.URL, Username: user, Password: pass, KeyManager: keyManager},
		opts)
	if err != nil {
		t.Fatal(err)
	}
	e.store = apimdata.NewStore(e.client, apimdata.StoreOptions{Refresh: 30 * time.Second, Now: e.clock.Now,
		OnRead: func(r apimdata.ReadResult) { e.reads <- r }})
	return e
}

func (e *env) reload(t *testing.T) {
	t.Helper()
	if err := e.store.Reload(context.Background()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

func (e *env) check(t *testing.T, key, name, version string) apimdata.Result {
	t.Helper()
	r, err := e.store.Check(context.Background(), key, name, version)
	if err != nil {
		t.Fatalf("Check(%s): %v", key, err)
	}
	return r
}

// readAll makes a client of the test's credentials for serverURL and reads
// everything once.
func readAll(t testing.TB, serverURL string, opts apimdata.ClientOptions) (*apimdata.Data, error) {
	t.Helper()
	c, err := apimdata.NewClient(apimdata.Source{ServerURL: serverURL, Username: user, Password: pass}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.ReadAll(context.Background())
}

func TestCheckStates(t *testing.T) {
	for _, tc := range []struct {
		state, key string
		want       apimdata.Outcome
	}{
		{"UNBLOCKED", "prodKey", apimdata.Pass},
		{"TIER_UPDATE_PENDING", "prodKey", apimdata.Pass},
		{"BLOCKED", "prodKey", apimdata.SubscriptionBlocked},
		{"BLOCKED", "sandKey", apimdata.SubscriptionBlocked},
		{"PROD_ONLY_BLOCKED", "prodKey", apimdata.SubscriptionBlocked},
		{"PROD_ONLY_BLOCKED", "sandKey", apimdata.Pass},
		{"ON_HOLD", "prodKey", apimdata.SubscriptionInactive},
		{"REJECTED", "sandKey", apimdata.SubscriptionInactive},
		{"SOMETHING_NEW", "prodKey", apimdata.SubscriptionInactive},
	} {
		t.Run(tc.state+"/"+tc.key, func(t *testing.T) {
			e := newEnv(t, fixture(tc.state), "")
			e.reload(t)
			r := e.check(t, tc.key, apiName, apiVersion)
			if r.Outcome != tc.want {
				t.Fatalf("outcome %v, want %v", r.Outcome, tc.want)
			}
			if r.Application == nil || r.Application.Name != "DefaultApplication" || r.Application.Subscriber != "admin" ||
				r.Application.UUID != "app-uuid-3" || r.Application.Policy != "Unlimited" {
				t.Errorf("application %+v", r.Application)
			}
			if r.Subscription == nil || r.Subscription.PolicyID != "Gold" || r.Subscription.State != tc.state {
				t.Errorf("subscription %+v", r.Subscription)
			}
		})
	}
}

func TestCheckRefusals(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "Resident Key Manager")
	e.reload(t)
	for _, tc := range []struct {
		name, key, api, version string
		want                    apimdata.Outcome
	}{
		{"API blocked in its lifecycle", "prodKey", "Blocked", "1", apimdata.APIBlocked},
		{"unknown API", "prodKey", "Nope", "1", apimdata.NoAPI},
		{"unknown version", "prodKey", apiName, "2.0.0", apimdata.NoAPI},
		{"not subscribed", "prodKey", "Other", "1", apimdata.NoSubscription},
		{"key of another key manager", "otherKM", apiName, apiVersion, apimdata.NoKeyMapping},
		{"unknown key", "nobody", apiName, apiVersion, apimdata.NoKeyMapping},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.check(t, tc.key, tc.api, tc.version); r.Outcome != tc.want {
				t.Fatalf("outcome %v, want %v", r.Outcome, tc.want)
			}
		})
	}
}

func TestNotReadyUntilFirstRead(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.fake.SetStatus(http.StatusServiceUnavailable)
	if _, err := e.store.Check(context.Background(), "prodKey", apiName, apiVersion); !errors.Is(err, apimdata.ErrNotReady) {
		t.Fatalf("before any read: %v, want ErrNotReady", err)
	}
	if err := e.store.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("Reload while down: %v", err)
	}
	if _, err := e.store.Check(context.Background(), "prodKey", apiName, apiVersion); !errors.Is(err, apimdata.ErrNotReady) {
		t.Fatalf("after a failed read: %v, want ErrNotReady", err)
	}
	e.fake.SetStatus(0)
	e.reload(t)
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
		t.Fatalf("once up: %v", r.Outcome)
	}
	if n := e.store.ReadErrors(); n != 1 {
		t.Errorf("ReadErrors %d, want 1", n)
	}
}

func TestFailedReloadKeepsSnapshot(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	before := e.store.Snapshot()
	e.fake.SetStatus(http.StatusInternalServerError)
	if err := e.store.Reload(context.Background()); err == nil {
		t.Fatal("Reload against a failing server succeeded")
	}
	if e.store.Snapshot() != before {
		t.Fatal("a failed read replaced the snapshot")
	}
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
		t.Fatalf("after a failed read: %v", r.Outcome)
	}
}

func TestUnknownKeyReadOnce(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	const q = "/application-key-mappings?consumerKey=newKey"
	if r := e.check(t, "newKey", apiName, apiVersion); r.Outcome != apimdata.NoKeyMapping {
		t.Fatalf("unknown key: %v", r.Outcome)
	}
	if n := e.fake.Calls(q); n != 1 {
		t.Fatalf("targeted reads %d, want 1", n)
	}
	// Created in API Manager now: not read again within refresh.
	e.fake.Update(func(d *apimfake.Data) {
		d.Applications = append(d.Applications, apimfake.Application(4, "NewApp", "alice", "10PerMin"))
		d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(4, "newKey", "SANDBOX", "Resident Key Manager"))
		d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(13, 7, 4, "Bronze", "UNBLOCKED"))
	})
	e.clock.Add(29 * time.Second)
	if r := e.check(t, "newKey", apiName, apiVersion); r.Outcome != apimdata.NoKeyMapping {
		t.Fatalf("within refresh: %v", r.Outcome)
	}
	if n := e.fake.Calls(q); n != 1 {
		t.Fatalf("targeted reads within refresh %d, want 1", n)
	}
	e.clock.Add(time.Second)
	r := e.check(t, "newKey", apiName, apiVersion)
	if r.Outcome != apimdata.Pass || r.Application.Name != "NewApp" || r.Subscription.PolicyID != "Bronze" || r.Mapping.KeyType != "SANDBOX" {
		t.Fatalf("after refresh: %v %+v", r.Outcome, r)
	}
	if n := e.fake.Calls(q); n != 2 {
		t.Fatalf("targeted reads %d, want 2", n)
	}
	if n := e.fake.Calls("/applications?appId=4") + e.fake.Calls("/subscriptions?appId=4"); n != 2 {
		t.Fatalf("application and subscription reads %d, want 2", n)
	}
	// Known now: no more reads.
	e.check(t, "newKey", apiName, apiVersion)
	if n := e.fake.Calls(q); n != 2 {
		t.Fatalf("targeted reads of a known key %d, want 2", n)
	}
}

func TestRevoked(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	e.reload(t)
	snap := e.store.Snapshot()
	if !snap.Revoked("revokedSig") || snap.Revoked("otherSig") {
		t.Fatal("revoked list not applied")
	}
	e.fake.Update(func(d *apimfake.Data) { d.Revoked = append(d.Revoked, apimfake.Revoked("otherSig", 1893456000000)) })
	e.reload(t)
	if !e.store.Snapshot().Revoked("otherSig") {
		t.Fatal("a signature revoked later is not seen after a re-read")
	}
	if c := e.store.Snapshot().Counts; c != (apimdata.Counts{APIs: 3, Applications: 1, KeyMappings: 3, Subscriptions: 2, Revoked: 2}) {
		t.Errorf("counts %+v", c)
	}
}

// TestRunRereadsEveryRefresh drives Run's clock: the wait it asks for is
// refresh, and a subscription blocked in API Manager is refused after the
// next tick.
func TestRunRereadsEveryRefresh(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	ticks := make(chan time.Time)
	waits := make(chan time.Duration, 10)
	e.store = apimdata.NewStore(e.client, apimdata.StoreOptions{Refresh: 30 * time.Second, Now: e.clock.Now,
		OnRead: func(r apimdata.ReadResult) { e.reads <- r },
		After:  func(d time.Duration) <-chan time.Time { waits <- d; return ticks }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.store.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if r := <-e.reads; r.Err != nil {
		t.Fatal(r.Err)
	}
	if d := <-waits; d != 30*time.Second {
		t.Fatalf("Run waits %v, want the refresh", d)
	}
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.Pass {
		t.Fatalf("before: %v", r.Outcome)
	}
	e.fake.Update(func(d *apimfake.Data) { d.Subscriptions[0]["subscriptionState"] = "BLOCKED" })
	ticks <- time.Time{}
	<-e.reads
	<-waits
	if r := e.check(t, "prodKey", apiName, apiVersion); r.Outcome != apimdata.SubscriptionBlocked {
		t.Fatalf("one refresh after blocking: %v", r.Outcome)
	}
	// A failure retries sooner and keeps the data.
	e.fake.SetStatus(http.StatusBadGateway)
	ticks <- time.Time{}
	if r := <-e.reads; r.Err == nil {
		t.Fatal("read against a failing server succeeded")
	}
	if d := <-waits; d != 5*time.Second {
		t.Fatalf("after a failure Run waits %v, want 5s", d)
	}
}

// TestRevokedShapes: /revokedjwt as API Manager 3.2 to 4.1 answer it (an
// array) and as later releases do (an object with revokedJWTList).
func TestRevokedShapes(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"array", `[{"jwt_signature":"sigA","expiry_time":1893456000000}]`},
		{"object", `{"revokedJWTList":[{"jwt_signature":"sigA","expiry_time":1893456000000}],` +
			`"revokedJWTConsumerKeyList":[{"consumer_key":"k","revocation_time":1}],"revokedJWTSubjectEntityList":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := apimfake.New(user, pass, "carbon.super", fixture("UNBLOCKED"))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == apimdata.DataPath+"/revokedjwt" {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(tc.body))
					return
				}
				fake.ServeHTTP(w, r)
			}))
			defer srv.Close()
			d, err := readAll(t, srv.URL, apimdata.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if snap := apimdata.NewSnapshot(d, "", time.Time{}); !snap.Revoked("sigA") || snap.Counts.Revoked != 1 {
				t.Fatalf("revoked %v", d.Revoked)
			}
		})
	}
}

func TestBadAnswers(t *testing.T) {
	good := `{"count":0,"list":[]}`
	for _, tc := range []struct {
		name, contentType, body string
		want                    string
	}{
		{"html", "text/html", "<html><body>Login</body></html>", "is not JSON"},
		{"malformed", "application/json", `{"count":1,"list":[{"apiId":`, "malformed answer"},
		{"wrong types", "application/json", `{"count":1,"list":[{"apiId":"seven"}]}`, "reading the list"},
		{"no list", "application/json", `{"count":0}`, "has no list"},
		{"count disagrees", "application/json", `{"count":2,"list":[{"apiId":1}]}`, "count 2 but 1 entries"},
		{"oversized", "application/json", `{"count":0,"list":[]` + strings.Repeat(" ", 2048) + `}`, "larger than max_data_size (1024 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/internal/data/v1/apis":
					w.Header().Set("Content-Type", tc.contentType)
					_, _ = w.Write([]byte(tc.body))
				case "/internal/data/v1/revokedjwt":
					_, _ = w.Write([]byte(`[]`))
				default:
					_, _ = w.Write([]byte(good))
				}
			}))
			defer srv.Close()
			_, err := readAll(t, srv.URL, apimdata.ClientOptions{MaxDataSize: 1024})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pass) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	var elsewhere sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Store(r.URL.Path, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"count":0,"list":[]}`))
	}))
	defer other.Close()
	for _, tc := range []struct {
		name, target string // where /subscriptions redirects to
		wantErr      string
	}{
		{"same origin: followed", "", ""},
		{"another origin: refused", other.URL, "redirect to another origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := apimfake.New(user, pass, "carbon.super", fixture("UNBLOCKED"))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/internal/data/v1/subscriptions" && r.URL.Query().Get("moved") == "" {
					http.Redirect(w, r, tc.target+"/internal/data/v1/subscriptions?moved=1", http.StatusFound)
					return
				}
				r.URL.RawQuery = ""
				fake.ServeHTTP(w, r)
			}))
			defer srv.Close()
			d, err := readAll(t, srv.URL, apimdata.ClientOptions{})
			if tc.wantErr == "" {
				if err != nil || len(d.Subscriptions) != 2 {
					t.Fatalf("ReadAll: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			elsewhere.Range(func(k, v any) bool {
				t.Errorf("the other host was called: %v (Authorization %q)", k, v)
				return true
			})
		})
	}
}

// TestNewClientServerURL: server_url is https, or http for a loopback
// host only; no error shows credentials.
func TestNewClientServerURL(t *testing.T) {
	for _, tc := range []struct {
		name, url, wantErr string
	}{
		{"https", "https://apim.example.com:9443", ""},
		{"https with a path", "https://apim.example.com/apim/", ""},
		{"http to localhost", "http://localhost:9763", ""},
		{"http to 127.0.0.1", "http://127.0.0.1:9763", ""},
		{"http to 127.0.0.0/8", "http://127.8.9.10", ""},
		{"http to ::1", "http://[::1]:9763", ""},
		{"http to another host", "http://apim.example.com:9763", "want https (http only for a loopback host)"},
		{"http to a private address", "http://10.0.0.5:9763", "want https"},
		{"http to a name ending in localhost", "http://evil-localhost:9763", "want https"},
		{"another scheme", "ftp://apim", "want an http or https URL"},
		{"no host", "https://", "no host"},
		{"credentials", "https://admin:pw@apim:9443", "must not hold credentials"},
		{"credentials and http", "http://admin:pw@apim:9443", "must not hold credentials"},
		{"query", "https://apim?x=1", "no query"},
		{"unparsable with credentials", "https://admin:pw@apim:port", "server_url"},
		{"no scheme", "::", "missing protocol scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apimdata.NewClient(apimdata.Source{ServerURL: tc.url}, apimdata.ClientOptions{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "pw"):
				t.Fatalf("error shows the credentials: %v", err)
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	e := newEnv(t, fixture("UNBLOCKED"), "")
	c, _ := apimdata.NewClient(apimdata.Source{ServerURL: e.srv.URL, Username: user, Password: "wrong-password"}, apimdata.ClientOptions{})
	_, err := c.ReadAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "status 401") || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("error %v", err)
	}
	c, _ = apimdata.NewClient(apimdata.Source{ServerURL: e.srv.URL, Username: user, Password: pass, Tenant: "wso2.com"}, apimdata.ClientOptions{})
	if _, err := c.ReadAll(context.Background()); err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Fatalf("another tenant: %v", err)
	}
}
