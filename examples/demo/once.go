package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// check is one example request and the answer it should get.
type check struct {
	what       string
	tokenQuery string // the token endpoint's query; "" sends no token
	path       string // of the API; "" is /pizzashack/menu
	wantStatus int
	wantFault  int // the fault code; 0 for a 200 from the backend
}

// checks are the examples that the demo prints as curl commands.
var checks = []check{
	{"a valid token", "user=alice", "", http.StatusOK, 0},
	{"a token subscribed to another API only", "user=alice&api=OtherAPI", "", http.StatusForbidden, 900908},
	{"an expired token", "user=alice&expires_in=-60", "", http.StatusUnauthorized, 900903},
	{"no token", "", "", http.StatusUnauthorized, 900902},
	{"an API Manager 3.2+ token", "user=alice&format=3.2", v32Path, http.StatusOK, 0},
	{"a 3.2+ token whose subscription is BLOCKED in API Manager", "user=alice&format=3.2&state=BLOCKED", v32Path, http.StatusForbidden, 900907},
	{"a 3.2+ token whose subscription is ON_HOLD in API Manager", "user=alice&format=3.2&state=ON_HOLD", v32Path, http.StatusForbidden, 900909},
}

// v32Path is the route whose subscriptions come from API Manager's data.
const v32Path = "/v32/pizzashack/menu"

// wantClaims are claims the backend JWT of each 200 must hold, by path.
var wantClaims = map[string]map[string]string{
	"": {
		"sub":                            "alice@carbon.super",
		"http://wso2.org/claims/apiname": "PizzaShackAPI",
		"http://wso2.org/claims/tier":    "Gold",
		// from the demo key manager's claims API (remote_claims)
		"http://wso2.org/claims/givenname": "Alice",
	},
	v32Path: {
		"sub": "alice@carbon.super",
		// from API Manager's data (api_manager)
		"http://wso2.org/claims/applicationname": "DemoApp-UNBLOCKED",
		"http://wso2.org/claims/subscriber":      "alice",
		"http://wso2.org/claims/tier":            "Gold",
		"http://wso2.org/claims/keytype":         "PRODUCTION",
	},
}

// checkAll sends the example requests, prints each answer and returns an
// error naming every answer that was not as expected.
func (d demo) checkAll(ctx context.Context, w io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := d.waitForAPIManagerData(ctx, client); err != nil {
		return err
	}
	var problems []string
	for n, c := range checks {
		var details strings.Builder
		got, err := d.checkOne(ctx, client, &details, c)
		if err != nil {
			fmt.Fprintf(w, "%d. %s: %s: NOT AS EXPECTED: %v\n%s", n+1, c.what, got, err, details.String())
			problems = append(problems, fmt.Sprintf("%s: %s: %v", c.what, got, err))
			continue
		}
		fmt.Fprintf(w, "%d. %s: %s, as expected\n%s", n+1, c.what, got, details.String())
	}
	if err := d.checkRevocation(ctx, client, w); err != nil {
		fmt.Fprintf(w, "%d. revocation through the admin API: NOT AS EXPECTED: %v\n", len(checks)+1, err)
		problems = append(problems, fmt.Sprintf("revocation through the admin API: %v", err))
	} else {
		fmt.Fprintf(w, "%d. revocation through the admin API: 201, then HTTP 401, fault 900901; status, flush and api_manager/refresh 200, as expected\n", len(checks)+1)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d answers were not as expected:\n  %s", len(problems), len(checks)+1, strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "\nall %d answers are as expected\n", len(checks)+1)
	return nil
}

// checkRevocation revokes a token that works through the admin API, as the
// README's curl line does, and checks that it is refused at once, and that
// the status route answers.
func (d demo) checkRevocation(ctx context.Context, client *http.Client, w io.Writer) error {
	_, token, err := get(ctx, client, d.issuer+"/token?user=bob&jti=stolen-1", "")
	if err != nil {
		return err
	}
	if status, body, err := get(ctx, client, d.gw.url()+"/pizzashack/menu", string(token)); err != nil || status != http.StatusOK {
		return fmt.Errorf("before revocation: HTTP %d %.200s %v", status, body, err)
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", d.gw.AdminPort)
	body := fmt.Sprintf(`{"jti":"stolen-1","exp":%d}`, time.Now().Unix()+3600)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, admin+"/backend_jwt/revocations", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /backend_jwt/revocations: HTTP %d %s", resp.StatusCode, answer)
	}
	fmt.Fprintf(w, "   POST %s/backend_jwt/revocations %s: HTTP 201 %s", admin, body, answer)
	status, refused, err := get(ctx, client, d.gw.url()+"/pizzashack/menu", string(token))
	if err != nil {
		return err
	}
	if code, _, err := faultOf(refused); err != nil || status != http.StatusUnauthorized || code != 900901 {
		return fmt.Errorf("after revocation: HTTP %d %.200s", status, refused)
	}
	if status, st, err := get(ctx, client, admin+"/backend_jwt/status", ""); err != nil || status != http.StatusOK || !strings.Contains(string(st), `"revocations":1`) {
		return fmt.Errorf("GET /backend_jwt/status: HTTP %d %.300s %v", status, st, err)
	}
	for _, route := range []string{"/backend_jwt/flush", "/backend_jwt/api_manager/refresh"} {
		resp, err := client.Post(admin+route, "application/json", nil)
		if err != nil {
			return err
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: HTTP %d %s", route, resp.StatusCode, answer)
		}
		fmt.Fprintf(w, "   POST %s%s: HTTP 200 %s", admin, route, answer)
	}
	return nil
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

// checkOne gets a token, calls the API with it and compares the answer
// with c. It returns a summary of the answer ("HTTP 403, fault 900908") and
// writes the backend JWT of a 200 to w.
func (d demo) checkOne(ctx context.Context, client *http.Client, w io.Writer, c check) (string, error) {
	var token string
	if c.tokenQuery != "" {
		status, body, err := get(ctx, client, d.issuer+"/token?"+c.tokenQuery, "")
		if err != nil || status != http.StatusOK {
			return "no token", fmt.Errorf("the token endpoint: HTTP %d %s %v", status, body, err)
		}
		token = string(body)
	}
	status, body, err := get(ctx, client, d.gw.url()+orDefault(c.path, "/pizzashack/menu"), token)
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
		return got, fmt.Errorf("want HTTP %d; body %s", c.wantStatus, body)
	}
	var answer backendAnswer
	if err := json.Unmarshal(body, &answer); err != nil {
		return got, fmt.Errorf("the backend's answer: %w", err)
	}
	printBackendJWT(w, answer.BackendJWT)
	return got, checkBackendAnswer(answer, wantClaims[c.path])
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
func get(ctx context.Context, client *http.Client, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return resp.StatusCode, body, nil
}
