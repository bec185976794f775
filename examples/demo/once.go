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
	if len(problems) > 0 {
		return fmt.Errorf("%d of %d answers were not as expected:\n  %s", len(problems), len(checks), strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "\nall %d answers are as expected\n", len(checks))
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
