package caddyfile_test

// The tests of SPEC 11 and 12's "Holding up" lists: revocations and API
// Manager's data under reloads, concurrency and failing dependencies.

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// signatureOf is a compact JWS's third part.
func signatureOf(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }

// revoke posts a revocation to the admin API and fails unless it is taken.
func revoke(t *testing.T, g *gateway, member, value string, exp int64) {
	t.Helper()
	status, v := admin(t, g, "POST", "/backend_jwt/revocations", fmt.Sprintf(`{%q:%q,"exp":%d}`, member, value, exp))
	if status != http.StatusCreated {
		t.Fatalf("POST revocation: %d %v", status, v)
	}
}

// TestReloadKeepsChecks: requests still running while their config is
// unloaded are checked completely. Reloads come one after another while
// clients send a token whose subscription is BLOCKED, one in API Manager's
// revoked list, one revoked through the admin API, and a good one.
func TestReloadKeepsChecks(t *testing.T) {
	const reloads = 12
	s := newAPIMSite(t, false)
	tokens := map[string]string{
		"good":          apimToken(t, map[string]any{"azp": "UNBLOCKED-prod", "jti": "reload-good"}),
		"blocked":       apimToken(t, map[string]any{"azp": "BLOCKED-prod", "jti": "reload-blocked"}),
		"apim revoked":  apimToken(t, map[string]any{"azp": "UNBLOCKED-prod", "jti": "reload-apim-revoked"}),
		"admin revoked": apimToken(t, map[string]any{"azp": "UNBLOCKED-prod", "jti": "reload-admin-revoked"}),
	}
	exp := time.Now().Add(time.Hour)
	s.apim.Update(func(d *apimfake.Data) {
		d.Revoked = append(d.Revoked, apimfake.Revoked(signatureOf(tokens["apim revoked"]), exp.UnixMilli()))
	})
	revoke(t, s.g, "jti", "reload-admin-revoked", exp.Unix())
	testkit.WaitFor(t, "API Manager's revoked list", func() bool {
		return s.g.Get("/", bearer(tokens["apim revoked"])...).Status == http.StatusUnauthorized
	})
	for name, want := range map[string]int{"good": 200, "blocked": 403, "admin revoked": 401} {
		if r := s.g.Get("/", bearer(tokens[name])...); r.Status != want {
			t.Fatalf("%s before the reloads: %d %s", name, r.Status, r.Body)
		}
	}

	kinds := []string{"good", "blocked", "apim revoked", "admin revoked"}
	load := s.g.StartLoad(testcaddy.LoadSpec{
		Clients:      6,
		FreshClients: 2,
		Path:         "/",
		Next: func(client, seq int) (string, []string) {
			kind := kinds[(client+seq)%len(kinds)]
			return kind, bearer(tokens[kind])
		},
		Classify: func(a testcaddy.Answer) string {
			if a.Err != nil {
				return a.Label + ": no answer"
			}
			return a.Label + ": " + strconv.Itoa(a.Status)
		},
	})
	for i := range reloads {
		s.reload(t, i+1)
	}
	counts := load.Stop()
	t.Logf("answers during %d reloads:\n%s", reloads, testcaddy.FormatCounts(counts))
	for _, kind := range kinds[1:] {
		if n := counts[kind+": 200"]; n > 0 {
			t.Errorf("%d requests with the %s token passed; first: %v", n, kind, load.Examples(kind+": 200"))
		}
	}
	if counts["good: 200"] == 0 {
		t.Error("no request with the good token passed")
	}
}

// TestRevokedUntilExpPlusSkew: with no clock_skew set the validator accepts
// a token until 5s after its exp, so a revocation stays in force that long.
func TestRevokedUntilExpPlusSkew(t *testing.T) {
	k := testkit.Keys()
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		revocation_sync 1s
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr()))
	exp := time.Now().Unix() + 2
	tok := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "short-and-revoked", "exp": exp})
	revoke(t, g, "jti", "short-and-revoked", exp)
	polls := 0
	for until := time.Unix(exp+6, 0); time.Now().Before(until); polls++ {
		if r := g.Get("/", bearer(tok)...); r.Status == http.StatusOK {
			t.Fatalf("the revoked token passed %v after its exp", time.Since(time.Unix(exp, 0)).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if upstream.Count() != 0 || polls < 20 {
		t.Fatalf("upstream reached %d times in %d polls", upstream.Count(), polls)
	}
}

// lateApp adds to API Manager an application that Caddy has not read:
// consumer key late-prod, subscribed to PizzaShackAPI.
func lateApp(d *apimfake.Data) {
	d.Applications = append(d.Applications, apimfake.Application(900, "late", "bob", "Unlimited"))
	d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(900, "late-prod", "PRODUCTION", "Resident Key Manager"))
	d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(990, 7, 900, "Gold", "UNBLOCKED"))
}

const lateKeyRead = "/application-key-mappings?consumerKey=late-prod&keymanager=Resident+Key+Manager"

// TestTargetedReadFailure: a read of an unknown consumer key that fails is
// an outage (503), not remembered: the next request reads again and
// passes, long before the next full read.
func TestTargetedReadFailure(t *testing.T) {
	s := startAPIMSite(t, false, "refresh 10m\ntimeout 2s")
	known := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool { return s.g.Get("/", bearer(known)...).Status == 200 })
	s.apim.Update(lateApp)
	late := apimToken(t, map[string]any{"azp": "late-prod"})

	s.apim.SetStatus(http.StatusInternalServerError)
	wantUnavailable(t, s.g.Get("/", bearer(late)...), "")
	s.apim.SetStatus(0)
	if r := s.g.Get("/", bearer(late)...); r.Status != 200 {
		t.Fatalf("after API Manager recovered: %d %s", r.Status, r.Body)
	}
	if n := s.apim.Calls(lateKeyRead); n != 2 {
		t.Fatalf("%d targeted reads, want 2", n)
	}
	if r := s.g.Get("/", bearer(late)...); r.Status != 200 || s.apim.Calls(lateKeyRead) != 2 {
		t.Fatalf("a key read once is not read again: %d, %d reads", r.Status, s.apim.Calls(lateKeyRead))
	}
}

// TestRequestsDoNotWaitForOtherReads: while API Manager hangs on a full
// read and on the read of one unknown key, requests with known keys pass,
// and a request with another unknown key is read on its own.
func TestRequestsDoNotWaitForOtherReads(t *testing.T) {
	s := startAPIMSite(t, false, "refresh 10m\ntimeout 1m")
	known := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool { return s.g.Get("/", bearer(known)...).Status == 200 })
	s.apim.Update(lateApp)

	// Hang every read but late-prod's.
	release := s.apim.HoldMatching(func(r *http.Request) bool {
		return r.URL.Query().Get("consumerKey") != "late-prod" && r.URL.Query().Get("appId") != "900"
	})
	var wg sync.WaitGroup
	defer func() { release(); wg.Wait() }()
	wg.Go(func() { _, _, _ = s.g.Admin("POST", "/backend_jwt/api_manager/refresh", "", nil) })
	wg.Go(func() { _, _ = s.g.TryGet("/", bearer(apimToken(t, map[string]any{"azp": "hanging-key"}))...) })
	testkit.WaitFor(t, "a full read and a targeted read to hang", func() bool {
		return s.apim.Waiting() >= 2 && s.apim.Calls("/application-key-mappings?consumerKey=hanging-key&keymanager=Resident+Key+Manager") == 1
	})

	done := make(chan []int)
	go func() {
		var statuses []int
		for _, tok := range []string{known, known, apimToken(t, map[string]any{"azp": "late-prod"})} {
			r, err := s.g.TryGet("/", bearer(tok)...)
			if err != nil {
				r.Status = -1
			}
			statuses = append(statuses, r.Status)
		}
		done <- statuses
	}()
	select {
	case statuses := <-done:
		if fmt.Sprint(statuses) != "[200 200 200]" {
			t.Fatalf("known, known, late-prod: %v, want 200s", statuses)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("requests waited for API Manager reads of other keys")
	}
}

// TestTargetedReadsOnlyWhenChecked: a made-up consumer key makes no read
// for an issuer without validate_subscription, and one over 256 bytes is
// refused without a read.
func TestTargetedReadsOnlyWhenChecked(t *testing.T) {
	const other = "https://other-idp.example.org"
	k := testkit.Keys()
	apim, apimSrv := newAPIManager(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %[1]s {
			jwks_url %[2]s
			validate_subscription
		}
		issuer %[3]s {
			jwks_url %[2]s
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		api_manager {
			server_url %[4]s
			username %[5]s
			password %[6]s
		}
	}
	reverse_proxy %[7]s`, wso2Issuer, jwks.URL, other, apimSrv.URL, apimUser, apimPass, upstream.Listener.Addr()))
	known := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool { return g.Get("/", bearer(known)...).Status == 200 })

	for i := range 20 {
		tok := testkit.AccessToken(t, other, map[string]any{"azp": fmt.Sprintf("made-up-%d", i), "application": nil, "subscribedAPIs": nil})
		if r := g.Get("/", bearer(tok)...); r.Status != 200 {
			t.Fatalf("unchecked issuer: %d %s", r.Status, r.Body)
		}
	}
	long := strings.Repeat("k", 257)
	wantFault(t, g.Get("/", bearer(apimToken(t, map[string]any{"azp": long}))...), 403, 900908)
	for _, path := range []string{"made-up-0", "made-up-19", long} {
		if n := apim.Calls("/application-key-mappings?consumerKey=" + path); n != 0 {
			t.Errorf("%d reads of consumer key %.20s…", n, path)
		}
	}
}

// TestAPIManagerEndlessAnswers: API Manager answering without end on all
// five endpoints costs Caddy at most about twice max_data_size of memory,
// and the last good data stays in use. Caddy runs in a process of its own
// so its peak resident memory can be read.
func TestAPIManagerEndlessAnswers(t *testing.T) {
	const maxData = 16 << 20
	k := testkit.Keys()
	apim, apimSrv := newAPIManager(t)
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	g.StartChild(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
			validate_subscription
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		api_manager {
			server_url %s
			username %s
			password %s
			refresh 1s
			max_data_size %d
		}
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, apimSrv.URL, apimUser, apimPass, maxData, upstream.Listener.Addr()))
	known := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool {
		r, err := g.TryGet("/", bearer(known)...)
		return err == nil && r.Status == 200
	})
	waitReads := func(n int) {
		from := apim.Calls("/revokedjwt")
		deadline := time.Now().Add(30 * time.Second)
		for apim.Calls("/revokedjwt") < from+n {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d full reads in 30s", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitReads(2)
	before := peakRSS(t, g.ChildPID)

	apim.SetEndless(true)
	waitReads(4)
	after := peakRSS(t, g.ChildPID)
	t.Logf("Caddy's peak RSS: %d MiB before the endless answers, %d MiB after", before>>20, after>>20)
	// The bound holds for Caddy as built; .ci/run also runs this test
	// without -race, whose shadow memory more than doubles the figure.
	bound := 2 * maxData
	if raceDetector {
		bound = 4 * maxData
	}
	if after-before > bound {
		t.Errorf("peak RSS rose by %d MiB, more than %d MiB (max_data_size is %d MiB)", (after-before)>>20, bound>>20, maxData>>20)
	}
	if r := g.Get("/", bearer(known)...); r.Status != 200 {
		t.Fatalf("the last good data is not in use: %d %s", r.Status, r.Body)
	}
}

// peakRSS is a process's peak resident memory (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestValidateStaysOffTheNetwork: caddy validate of a config with a
// managed signing key, a JWKS issuer and api_manager makes no request,
// writes nothing to storage and prints no warning.
func TestValidateStaysOffTheNetwork(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	apim, apimSrv := newAPIManager(t)
	storage, home := t.TempDir(), t.TempDir()
	text := fmt.Sprintf(`{
	admin off
	storage file_system %s
}

http://127.0.0.1:%d {
	backend_jwt {
		issuer %s {
			jwks_url %s
			validate_subscription
		}
		api PizzaShackAPI 1.0.0 /pizzashack
		api_manager {
			server_url %s
			username %s
			password %s
		}
		generate
		jwks_path /jwks
	}
	reverse_proxy 127.0.0.1:9
}
`, storage, testcaddy.FreePort(t), wso2Issuer, jwks.URL, apimSrv.URL, apimUser, apimPass)
	file := writeFile(t, "Caddyfile", caddyfile.Format([]byte(text)))
	env := []string{"XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home}
	stdout, stderr, code := testcaddy.Command(t, env, "validate", "--config", file, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(stdout+stderr, "Valid configuration") {
		t.Fatalf("caddy validate: exit %d\n%s%s", code, stdout, stderr)
	}
	for line := range strings.Lines(stdout + stderr) {
		if strings.Contains(line, `"level":"warn"`) || strings.Contains(line, `"level":"error"`) || strings.Contains(line, "\tWARN\t") || strings.Contains(line, "\tERROR\t") {
			t.Errorf("caddy validate printed: %s", line)
		}
	}
	if n := jwks.Fetches.Load(); n != 0 {
		t.Errorf("%d JWKS fetches", n)
	}
	for _, path := range []string{"/apis", "/applications", "/application-key-mappings", "/subscriptions", "/revokedjwt"} {
		if n := apim.Calls(path); n != 0 {
			t.Errorf("%d reads of %s", n, path)
		}
	}
	_ = filepath.WalkDir(storage, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != storage {
			t.Errorf("caddy validate wrote %s", path)
		}
		return err
	})
}

// TestRevocationStorageOutage: a revocation posted while storage fails is
// in force at once on the instance that took it (503 with "local":true)
// and written when storage is back.
func TestRevocationStorageOutage(t *testing.T) {
	g, _ := adminSite(t)
	folder := filepath.Join(g.Storage, "backend_jwt", "revocations")
	// A file where storage wants the folder: every write under it fails.
	if err := os.MkdirAll(filepath.Dir(folder), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(folder, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tok := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "revoked-while-storage-fails"})
	if r := g.Get("/", bearer(tok)...); r.Status != 200 {
		t.Fatalf("before: %d %s", r.Status, r.Body)
	}
	status, v := admin(t, g, "POST", "/backend_jwt/revocations",
		fmt.Sprintf(`{"jti":"revoked-while-storage-fails","exp":%d}`, time.Now().Add(time.Hour).Unix()))
	if status != http.StatusServiceUnavailable || v["local"] != true || v["error"] == nil {
		t.Fatalf("POST while storage fails: %d %v, want 503 with local true", status, v)
	}
	wantFault(t, g.Get("/", bearer(tok)...), 401, 900901)
	if _, st := admin(t, g, "GET", "/backend_jwt/status", ""); st["revocations_unstored"] != 1.0 {
		t.Fatalf("status: %v", st)
	}

	if err := os.Remove(folder); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the revocation to be written", func() bool {
		_, st := admin(t, g, "GET", "/backend_jwt/status", "")
		return st["revocations_unstored"] == 0.0
	})
	if entries, _ := os.ReadDir(folder); len(entries) != 1 {
		t.Fatalf("storage holds %d revocations, want 1", len(entries))
	}
	if _, st := admin(t, g, "GET", "/backend_jwt/status", ""); st["revocations"] != 1.0 {
		t.Fatalf("status after storage came back: %v", st)
	}
	wantFault(t, g.Get("/", bearer(tok)...), 401, 900901)
}

// TestRevocationRepostedOnTwoInstances: a jti posted again, to another
// instance, with a later exp keeps being refused by both instances after
// the first exp has passed.
func TestRevocationRepostedOnTwoInstances(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	upstream := testkit.NewUpstream(t)
	a, b := newGateway(t), newGateway(t)
	b.Storage = a.Storage
	site := fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
		clock_skew 1s
		revocation_sync 1s
	}
	reverse_proxy %s`, wso2Issuer, jwks.URL, upstream.Listener.Addr())
	b.StartChild(site)
	a.Start(site)
	tok := testkit.AccessToken(t, wso2Issuer, map[string]any{"jti": "reposted"})
	refused := func(g *gateway) bool {
		r, err := g.TryGet("/", bearer(tok)...)
		return err == nil && r.Status == http.StatusUnauthorized
	}
	testkit.WaitFor(t, "B to answer", func() bool { _, err := b.TryGet("/"); return err == nil })

	first := time.Now().Unix() + 3
	revoke(t, a, "jti", "reposted", first)
	testkit.WaitFor(t, "both instances to refuse the token", func() bool { return refused(a) && refused(b) })
	revoke(t, b, "jti", "reposted", time.Now().Add(time.Hour).Unix())
	// The first entry is pruned at first + 1s; give both instances two
	// more syncs after that.
	for until := time.Unix(first+4, 0); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		for name, g := range map[string]*gateway{"A": a, "B": b} {
			if !refused(g) {
				t.Fatalf("instance %s let the re-posted token pass %v after the first exp", name, time.Since(time.Unix(first, 0)).Round(time.Millisecond))
			}
		}
	}
	_, list := admin(t, a, "GET", "/backend_jwt/revocations", "")
	entries, _ := list["revocations"].([]any)
	if len(entries) != 1 || entries[0].(map[string]any)["exp"].(float64) < float64(first+3000) {
		t.Fatalf("A lists %v, want the entry with the later exp", list)
	}
}

// TestStatusRedactsJWKSURL: status shows a JWKS URL without its userinfo
// or query, which may hold secrets.
func TestStatusRedactsJWKSURL(t *testing.T) {
	k := testkit.Keys()
	jwks := testkit.NewJWKSServer(t, testkit.JWK{KID: "rsa", Key: k.RSA})
	g, upstream := newGateway(t), testkit.NewUpstream(t)
	secretURL := strings.Replace(jwks.URL, "http://", "http://jwks-user:pa55word@", 1) + "/keys?api_key=s3cr3t"
	g.Start(fmt.Sprintf(`
	backend_jwt {
		issuer %s {
			jwks_url %s
		}
	}
	reverse_proxy %s`, wso2Issuer, secretURL, upstream.Listener.Addr()))
	if r := g.Get("/", bearer(testkit.AccessToken(t, wso2Issuer, nil))...); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	_, st := admin(t, g, "GET", "/backend_jwt/status", "")
	body, _ := json.Marshal(st)
	if strings.Contains(string(body), "pa55word") || strings.Contains(string(body), "s3cr3t") || strings.Contains(string(body), "jwks-user") {
		t.Fatalf("status shows a secret of the JWKS URL: %s", body)
	}
	if !strings.Contains(string(body), strings.TrimPrefix(jwks.URL, "http://")+"/keys") {
		t.Fatalf("status does not show the JWKS URL's host and path: %s", body)
	}
}

// TestAPIManagerSettingsFromFailedLoad: a config that fails to load
// changes nothing of the running reader: a refresh of 1h in it does not
// slow down the reads of the running config (every second).
func TestAPIManagerSettingsFromFailedLoad(t *testing.T) {
	s := newAPIMSite(t, false)
	testkit.WaitFor(t, "API Manager's data", func() bool {
		return s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"}))...).Status == 200
	})
	cfg, err := adapt(s.g.Caddyfile(s.site))
	if err != nil {
		t.Fatal(err)
	}
	// Every handler takes a refresh of 1h, and a last route's handler,
	// provisioned after them, makes the config fail.
	var doc map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(cfg), `"refresh":1000000000`, `"refresh":3600000000000`)), &doc); err != nil {
		t.Fatal(err)
	}
	srv := doc["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)
	srv["routes"] = append(srv["routes"].([]any), map[string]any{"handle": []any{map[string]any{
		"handler": "backend_jwt", "error_response": "bogus", "issuers": []any{map[string]any{"issuer": "x", "jwks_url": "http://127.0.0.1:1/"}},
	}}})
	bad, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.g.Load("application/json", bad); err == nil || !strings.Contains(err.Error(), "want wso2 or caddy") {
		t.Fatalf("/load: %v, want the error_response error", err)
	}
	from := s.apim.Calls("/revokedjwt")
	testkit.WaitFor(t, "three more full reads a second apart", func() bool { return s.apim.Calls("/revokedjwt") >= from+3 })
}

// TestAPIManagerCredentialChange: a reload with new credentials, while API
// Manager is down, keeps answering from the data read with the old ones.
func TestAPIManagerCredentialChange(t *testing.T) {
	s := newAPIMSite(t, false)
	tok := apimToken(t, map[string]any{"azp": "UNBLOCKED-prod"})
	testkit.WaitFor(t, "API Manager's data", func() bool { return s.g.Get("/", bearer(tok)...).Status == 200 })
	s.apim.SetStatus(http.StatusServiceUnavailable)
	s.apim.SetCredentials(apimUser, "rotated-"+apimPass)
	t.Setenv("APIM_PASSWORD", "rotated-"+apimPass)
	s.reload(t, 1)
	for _, tc := range []struct {
		azp    string
		status int
	}{{"UNBLOCKED-prod", 200}, {"BLOCKED-prod", 403}} {
		if r := s.g.Get("/", bearer(apimToken(t, map[string]any{"azp": tc.azp}))...); r.Status != tc.status {
			t.Fatalf("%s after the reload, API Manager down: %d %s, want %d", tc.azp, r.Status, r.Body, tc.status)
		}
	}
	s.apim.SetStatus(0)
	from := s.apim.Calls("/revokedjwt")
	testkit.WaitFor(t, "a read with the new credentials", func() bool { return s.apim.Calls("/revokedjwt") > from })
	_, st := admin(t, s.g, "GET", "/backend_jwt/status", "")
	if body, _ := json.Marshal(st); strings.Contains(string(body), "rotated-") {
		t.Fatalf("status shows the password: %s", body)
	}
}
