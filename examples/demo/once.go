package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// step is one numbered line of -once: an example request and the answer
// it should get, or a short sequence of them. run returns a summary of
// the answer ("HTTP 403, fault 900908 Resource forbidden") and writes
// details (the backend JWT of a 200) to w.
type step struct {
	what string
	run  func(d demo, ctx context.Context, client *http.Client, w io.Writer) (got string, err error)
}

// check is one example request and the answer it should get.
type check struct {
	what string
	// credential is the demo issuer's endpoint and query that give the
	// credential ("/token?user=alice"); "" sends none.
	credential string
	apiKey     bool   // send the credential in the apikey header, not as a Bearer token
	method     string // "" is GET
	path       string // of the API; "" is /pizzashack/menu
	referer    string // the Referer header; "" sends none
	wantStatus int
	wantFault  int // the fault code; 0 for a 200 from the backend
	// wantClaims are claims the backend JWT of a 200 must hold.
	wantClaims map[string]string
}

// request is the step of one example request.
func request(c check) step {
	return step{c.what, func(d demo, ctx context.Context, client *http.Client, w io.Writer) (string, error) {
		return d.checkOne(ctx, client, w, c)
	}}
}

// v32Path is the route whose subscriptions come from API Manager's data.
const v32Path = "/v32/pizzashack/menu"

// Claims the backend JWT of each 200 must hold, by route and credential.
var (
	jwtClaims = map[string]string{
		"sub":                            "alice@carbon.super",
		"http://wso2.org/claims/apiname": "PizzaShackAPI",
		"http://wso2.org/claims/tier":    "Gold",
		// from the demo key manager's claims API (remote_claims)
		"http://wso2.org/claims/givenname": "Alice",
	}
	v32Claims = map[string]string{
		"sub": "alice@carbon.super",
		// from API Manager's data (api_manager)
		"http://wso2.org/claims/applicationname": "DemoApp-UNBLOCKED",
		"http://wso2.org/claims/subscriber":      "alice",
		"http://wso2.org/claims/tier":            "Gold",
		"http://wso2.org/claims/keytype":         "PRODUCTION",
	}
	apiKeyClaims = map[string]string{
		"sub":                                    "alice@carbon.super",
		"http://wso2.org/claims/apiname":         "PizzaShackAPI",
		"http://wso2.org/claims/applicationname": "DemoApp-UNBLOCKED",
		"http://wso2.org/claims/tier":            "Gold",
		"http://wso2.org/claims/keytype":         "PRODUCTION",
	}
	scopedClaims = map[string]string{
		"sub":                            "alice@carbon.super",
		"http://wso2.org/claims/apiname": "PizzaShackAPI",
	}
)

// The Referer patterns of the demo's API key with a permittedReferer, and
// a site it permits and one it does not.
const (
	permittedReferer = "https://*.example.com/*"
	goodReferer      = "https://shop.example.com/order"
	badReferer       = "https://evil.example.org/"
)

// exampleSteps are the examples that the demo prints as curl commands, in
// the same order.
func exampleSteps() []step {
	var opaque opaqueFlow
	return []step{
		request(check{what: "a valid token", credential: "/token?user=alice",
			wantStatus: http.StatusOK, wantClaims: jwtClaims}),
		request(check{what: "a token subscribed to another API only", credential: "/token?user=alice&api=OtherAPI",
			wantStatus: http.StatusForbidden, wantFault: 900908}),
		request(check{what: "an expired token", credential: "/token?user=alice&expires_in=-60",
			wantStatus: http.StatusUnauthorized, wantFault: 900903}),
		request(check{what: "no token",
			wantStatus: http.StatusUnauthorized, wantFault: 900902}),
		request(check{what: "an API Manager 3.2+ token", credential: "/token?user=alice&format=3.2", path: v32Path,
			wantStatus: http.StatusOK, wantClaims: v32Claims}),
		request(check{what: "a 3.2+ token whose subscription is BLOCKED in API Manager", credential: "/token?user=alice&format=3.2&state=BLOCKED", path: v32Path,
			wantStatus: http.StatusForbidden, wantFault: 900907}),
		request(check{what: "a 3.2+ token whose subscription is ON_HOLD in API Manager", credential: "/token?user=alice&format=3.2&state=ON_HOLD", path: v32Path,
			wantStatus: http.StatusForbidden, wantFault: 900909}),
		{"revocation through the admin API", demo.checkRevocation},
		{"an opaque token, introspected", opaque.use},
		{"the same opaque token, revoked at the issuer (then POST /backend_jwt/flush)", opaque.revokeAndUse},
		request(check{what: "an API key in the apikey header", credential: apiKeyPath + "?user=alice", apiKey: true,
			wantStatus: http.StatusOK, wantClaims: apiKeyClaims}),
		request(check{what: "an API key for " + permittedReferer + " from " + goodReferer,
			credential: apiKeyPath + "?user=alice&permitted_referer=" + url.QueryEscape(permittedReferer), apiKey: true, referer: goodReferer,
			wantStatus: http.StatusOK, wantClaims: apiKeyClaims}),
		request(check{what: "an API key for " + permittedReferer + " from " + badReferer,
			credential: apiKeyPath + "?user=alice&permitted_referer=" + url.QueryEscape(permittedReferer), apiKey: true, referer: badReferer,
			wantStatus: http.StatusForbidden, wantFault: 900908}),
		request(check{what: "a POST with a token without the scope menu:write", credential: "/token?user=alice", method: http.MethodPost,
			wantStatus: http.StatusForbidden, wantFault: 900910}),
		request(check{what: "a POST with a token with the scope menu:write", credential: "/token?user=alice&scope=menu:write", method: http.MethodPost,
			wantStatus: http.StatusOK, wantClaims: scopedClaims}),
		request(check{what: "a 3.2+ token of " + revokedUser + ", issued before API Manager revoked all their tokens",
			credential: "/token?user=" + revokedUser + "&format=3.2&issued_ago=3600", path: v32Path,
			wantStatus: http.StatusUnauthorized, wantFault: 900901}),
		request(check{what: "a 3.2+ token of " + revokedUser + ", issued after it",
			credential: "/token?user=" + revokedUser + "&format=3.2", path: v32Path,
			wantStatus: http.StatusOK}),
	}
}

// checkAll sends the example requests, prints each answer and returns an
// error naming every answer that was not as expected.
func (d demo) checkAll(ctx context.Context, w io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := d.waitForAPIManagerData(ctx, client); err != nil {
		return err
	}
	steps := exampleSteps()
	var problems []string
	for n, s := range steps {
		var details strings.Builder
		got, err := s.run(d, ctx, client, &details)
		if err != nil {
			fmt.Fprintf(w, "%d. %s: %s: NOT AS EXPECTED: %v\n%s", n+1, s.what, got, err, details.String())
			problems = append(problems, fmt.Sprintf("%s: %s: %v", s.what, got, err))
			continue
		}
		fmt.Fprintf(w, "%d. %s: %s, as expected\n%s", n+1, s.what, got, details.String())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d answers were not as expected:\n  %s", len(problems), len(steps), strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "\nall %d answers are as expected\n", len(steps))
	return nil
}

// opaqueFlow is the opaque token of two steps: the first gets it and uses
// it, the second revokes it at the issuer and uses it again.
type opaqueFlow struct {
	token string
}

// opaqueCheck is the request both steps make with the opaque token: on the
// route with API Manager's data, which maps its client_id to an application.
var opaqueCheck = check{path: v32Path, wantStatus: http.StatusOK, wantClaims: v32Claims}

// use gets an opaque token from the issuer and calls the API with it.
func (f *opaqueFlow) use(d demo, ctx context.Context, client *http.Client, w io.Writer) (string, error) {
	token, err := d.credential(ctx, client, "/token?user=alice&format=opaque")
	if err != nil {
		return "no token", err
	}
	f.token = token
	return d.call(ctx, client, w, opaqueCheck, token)
}

// revokeAndUse makes the opaque token inactive at the issuer, empties the
// gateway's caches (else the active answer is reused up to cache_ttl) and
// calls the API with it again: 401, 900901.
func (f *opaqueFlow) revokeAndUse(d demo, ctx context.Context, client *http.Client, w io.Writer) (string, error) {
	if f.token == "" {
		return "no token", errors.New("the step before got no opaque token")
	}
	if status, answer, err := post(ctx, client, d.issuer+revokePath, "application/x-www-form-urlencoded",
		url.Values{"token": {f.token}}.Encode()); err != nil || status != http.StatusOK {
		return "not revoked", fmt.Errorf("POST %s: HTTP %d %.200s %v", revokePath, status, answer, err)
	}
	fmt.Fprintf(w, "   POST %s%s token=…: HTTP 200\n", d.issuer, revokePath)
	admin := fmt.Sprintf("http://127.0.0.1:%d", d.gw.AdminPort)
	status, answer, err := post(ctx, client, admin+"/backend_jwt/flush", "application/json", "")
	if err != nil || status != http.StatusOK {
		return "not flushed", fmt.Errorf("POST /backend_jwt/flush: HTTP %d %.200s %v", status, answer, err)
	}
	fmt.Fprintf(w, "   POST %s/backend_jwt/flush: HTTP 200 %s", admin, answer)
	c := opaqueCheck
	c.wantStatus, c.wantFault = http.StatusUnauthorized, 900901
	return d.call(ctx, client, w, c, f.token)
}

// checkRevocation revokes a token that works through the admin API, as the
// README's curl line does, and checks that it is refused at once, and that
// the status, flush and api_manager/refresh routes answer.
func (d demo) checkRevocation(ctx context.Context, client *http.Client, w io.Writer) (string, error) {
	token, err := d.credential(ctx, client, "/token?user=bob&jti=stolen-1")
	if err != nil {
		return "no token", err
	}
	if status, body, err := d.send(ctx, client, check{}, token); err != nil || status != http.StatusOK {
		return "not revoked", fmt.Errorf("before revocation: HTTP %d %.200s %v", status, body, err)
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", d.gw.AdminPort)
	body := fmt.Sprintf(`{"jti":"stolen-1","exp":%d}`, time.Now().Unix()+3600)
	status, answer, err := post(ctx, client, admin+"/backend_jwt/revocations", "application/json", body)
	if err != nil || status != http.StatusCreated {
		return "not revoked", fmt.Errorf("POST /backend_jwt/revocations: HTTP %d %.200s %v", status, answer, err)
	}
	fmt.Fprintf(w, "   POST %s/backend_jwt/revocations %s: HTTP 201 %s", admin, body, answer)
	status, refused, err := d.send(ctx, client, check{}, token)
	if err != nil {
		return "revoked", err
	}
	if code, _, err := faultOf(refused); err != nil || status != http.StatusUnauthorized || code != 900901 {
		return "revoked", fmt.Errorf("after revocation: HTTP %d %.200s", status, refused)
	}
	if status, st, err := get(ctx, client, admin+"/backend_jwt/status", ""); err != nil || status != http.StatusOK || !strings.Contains(string(st), `"revocations":1`) {
		return "revoked, then refused", fmt.Errorf("GET /backend_jwt/status: HTTP %d %.300s %v", status, st, err)
	}
	for _, route := range []string{"/backend_jwt/flush", "/backend_jwt/api_manager/refresh"} {
		status, answer, err := post(ctx, client, admin+route, "application/json", "")
		if err != nil || status != http.StatusOK {
			return "revoked, then refused", fmt.Errorf("POST %s: HTTP %d %.200s %v", route, status, answer, err)
		}
		fmt.Fprintf(w, "   POST %s%s: HTTP 200 %s", admin, route, answer)
	}
	return "201, then HTTP 401, fault 900901; status, flush and api_manager/refresh 200", nil
}

// waitForAPIManagerData waits until the gateway has read the demo's API
// Manager data once: until then the api_manager route answers 503.
func (d demo) waitForAPIManagerData(ctx context.Context, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, token, err := get(ctx, client, d.issuer+"/token?user=alice&format=3.2", "")
	if err != nil {
		return err
	}
	for {
		status, _, err := get(ctx, client, d.gw.url()+v32Path, string(token))
		if err == nil && status != http.StatusServiceUnavailable {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway did not read the demo's API Manager data: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkOne gets the credential c names, calls the API with it and
// compares the answer with c.
func (d demo) checkOne(ctx context.Context, client *http.Client, w io.Writer, c check) (string, error) {
	var cred string
	if c.credential != "" {
		var err error
		if cred, err = d.credential(ctx, client, c.credential); err != nil {
			return "no credential", err
		}
	}
	return d.call(ctx, client, w, c, cred)
}

// credential gets a token or an API key from the demo issuer's endpoint
// and query.
func (d demo) credential(ctx context.Context, client *http.Client, endpoint string) (string, error) {
	status, body, err := get(ctx, client, d.issuer+endpoint, "")
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("the issuer's %s: HTTP %d %.200s %v", endpoint, status, body, err)
	}
	return string(body), nil
}

// call calls the API with cred as c says and compares the answer with c.
// It returns a summary of the answer ("HTTP 403, fault 900908") and
// writes the backend JWT of a 200 to w.
func (d demo) call(ctx context.Context, client *http.Client, w io.Writer, c check, cred string) (string, error) {
	status, body, err := d.send(ctx, client, c, cred)
	if err != nil {
		return "no answer", err
	}
	got := fmt.Sprintf("HTTP %d", status)
	if c.wantFault != 0 {
		code, msg, err := faultOf(body)
		if err != nil {
			return got, err
		}
		got += fmt.Sprintf(", fault %d %s", code, msg)
		if status != c.wantStatus || code != c.wantFault {
			return got, fmt.Errorf("want HTTP %d with fault %d", c.wantStatus, c.wantFault)
		}
		return got, nil
	}
	if status != c.wantStatus {
		return got, fmt.Errorf("want HTTP %d; body %.300s", c.wantStatus, body)
	}
	var answer backendAnswer
	if err := json.Unmarshal(body, &answer); err != nil {
		return got, fmt.Errorf("the backend's answer: %w", err)
	}
	printBackendJWT(w, answer.BackendJWT)
	return got, checkBackendAnswer(answer, c.wantClaims)
}

// send calls the gateway's API as c says, with cred (unless "") as a
// Bearer token or, with c.apiKey, in the apikey header, and returns the
// status and body.
func (d demo) send(ctx context.Context, client *http.Client, c check, cred string) (int, []byte, error) {
	method := orDefault(c.method, http.MethodGet)
	u := d.gw.url() + orDefault(c.path, "/pizzashack/menu")
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	switch {
	case cred == "":
	case c.apiKey:
		req.Header.Set("apikey", cred)
	default:
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	if c.referer != "" {
		req.Header.Set("Referer", c.referer)
	}
	return do(client, req)
}

// checkBackendAnswer checks what the backend saw of a valid request.
func checkBackendAnswer(a backendAnswer, want map[string]string) error {
	j := a.BackendJWT
	var errs []error
	switch {
	case j == nil:
		errs = append(errs, errors.New("the backend got no X-JWT-Assertion"))
	case !j.Verified:
		errs = append(errs, fmt.Errorf("the backend JWT did not verify: %s", j.Error))
	default:
		for name, want := range want {
			if got := j.Claims[name]; got != want {
				errs = append(errs, fmt.Errorf("claim %s = %v, want %q", name, got, want))
			}
		}
	}
	if a.AuthorizationReceived {
		errs = append(errs, errors.New("the backend got the Authorization header (strip_authorization)"))
	}
	if a.APIKeyReceived {
		errs = append(errs, errors.New("the backend got the API key (strip_authorization)"))
	}
	return errors.Join(errs...)
}

// printBackendJWT prints the backend JWT's header, claims (sorted) and
// whether it verified.
func printBackendJWT(w io.Writer, j *decodedJWT) {
	if j == nil {
		return
	}
	hdr, _ := json.Marshal(j.Header)
	fmt.Fprintf(w, "   the backend got this backend JWT in %s\n   header: %s\n   claims:\n", assertionHeader, hdr)
	names := make([]string, 0, len(j.Claims))
	for name := range j.Claims {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, _ := json.Marshal(j.Claims[name])
		fmt.Fprintf(w, "     %-44s %s\n", name, v)
	}
	fmt.Fprintf(w, "   signature verified with the keys at %s: %v\n", j.VerifiedWith, j.Verified)
}

// faultOf reads a WSO2 fault body.
func faultOf(body []byte) (int, string, error) {
	var f struct {
		Fault struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"fault"`
	}
	if err := json.Unmarshal(body, &f); err != nil || f.Fault.Code == 0 {
		return 0, "", fmt.Errorf("not a fault body: %.200s", body)
	}
	return f.Fault.Code, f.Fault.Message, nil
}

// get sends a GET, with a Bearer token unless token is empty, and returns
// the status and body.
func get(ctx context.Context, client *http.Client, target, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", target, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(client, req)
}

// post sends a POST of body ("" for none) of contentType and returns the
// status and body.
func post(ctx context.Context, client *http.Client, target, contentType, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s: %w", target, err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(client, req)
}

// do sends req and returns the status and at most 1 MiB of the body.
func do(client *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("%s %s: reading the body: %w", req.Method, req.URL, err)
	}
	return resp.StatusCode, body, nil
}
