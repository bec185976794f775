package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOnce runs the demo as `-once -port 0` does, in this process, and
// checks that every answer was as expected and that it cleaned up.
func TestOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var out bytes.Buffer
	if err := run(ctx, options{Port: 0, AdminPort: 0, Once: true}, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"1. a valid token: HTTP 200, as expected",
		`sub                                          "alice@carbon.super"`,
		"/.well-known/backend-jwks.json: true",
		"2. a token subscribed to another API only: HTTP 403, fault 900908 Resource forbidden, as expected",
		"3. an expired token: HTTP 401, fault 900903 Access Token Expired, as expected",
		"4. no token: HTTP 401, fault 900902 Missing Credentials, as expected",
		"5. an API Manager 3.2+ token: HTTP 200, as expected",
		`http://wso2.org/claims/applicationname       "DemoApp-UNBLOCKED"`,
		"6. a 3.2+ token whose subscription is BLOCKED in API Manager: HTTP 403, fault 900907 The requested API is temporarily blocked, as expected",
		"7. a 3.2+ token whose subscription is ON_HOLD in API Manager: HTTP 403, fault 900909 The subscription to the API is inactive, as expected",
		"8. revocation through the admin API: 201, then HTTP 401, fault 900901; status, flush and api_manager/refresh 200, as expected",
		"9. an opaque token, introspected: HTTP 200, as expected",
		`username                                     "alice@carbon.super"`,
		"10. the same opaque token, revoked at the issuer (then POST /backend_jwt/flush): HTTP 401, fault 900901 Invalid Credentials, as expected",
		"11. an API key in the apikey header: HTTP 200, as expected",
		`token_type                                   "apiKey"`,
		"12. an API key for https://*.example.com/* from https://shop.example.com/order: HTTP 200, as expected",
		"13. an API key for https://*.example.com/* from https://evil.example.org/: HTTP 403, fault 900908 Resource forbidden, as expected",
		"14. a POST with a token without the scope menu:write: HTTP 403, fault 900910 The access token does not allow you to access the requested resource, as expected",
		"15. a POST with a token with the scope menu:write: HTTP 200, as expected",
		"16. a 3.2+ token of mallory, issued before API Manager revoked all their tokens: HTTP 401, fault 900901 Invalid Credentials, as expected",
		"17. a 3.2+ token of mallory, issued after it: HTTP 200, as expected",
		"all 17 answers are as expected",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q; it is:\n%s", want, text)
		}
	}

	// Everything stopped: the gateway's port is closed, the storage gone.
	if m := regexp.MustCompile(`gateway \(Caddy \+ backend_jwt\)\s+http://(\S+)`).FindStringSubmatch(text); m == nil {
		t.Error("the output does not name the gateway's address")
	} else if conn, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		conn.Close()
		t.Errorf("the gateway still listens on %s", m[1])
	}
	if m := regexp.MustCompile(`storage \(managed signing key\)\s+(\S+)`).FindStringSubmatch(text); m == nil {
		t.Error("the output does not name the storage folder")
	} else if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the storage folder %s is still there (%v)", m[1], err)
	}
}

// TestTryThisMatchesChecks keeps the printed curl examples and the checks
// of -once numbered alike.
func TestTryThisMatchesChecks(t *testing.T) {
	var out bytes.Buffer
	d := demo{gw: gatewayConfig{Port: 8787, AdminPort: 2019}, issuer: "http://127.0.0.1:8788"}
	d.printTryThis(&out)
	steps := exampleSteps()
	numbered := regexp.MustCompile(`(?m)^# (\d+)\. `).FindAllStringSubmatch(out.String(), -1)
	if len(numbered) != len(steps) {
		t.Fatalf("%d numbered curl examples, %d checks:\n%s", len(numbered), len(steps), out.String())
	}
	for n, m := range numbered {
		if m[1] != strconv.Itoa(n+1) {
			t.Errorf("curl example %d is numbered %s", n+1, m[1])
		}
	}
}

// TestParseFlags checks the port defaults.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args                        []string
		port, adminPort, issuerPort int
		once                        bool
	}{
		{nil, 8787, 2019, 8788, false},
		{[]string{"-once"}, 8787, 2019, 8788, true},
		{[]string{"-port", "0"}, 0, 0, 0, false},
		{[]string{"-port", "0", "-admin-port", "2020"}, 0, 2020, 0, false},
		{[]string{"-port", "0", "-issuer-port", "9443"}, 0, 0, 9443, false},
		{[]string{"-port", "9000", "-admin-port", "0"}, 9000, 0, 8788, false},
	} {
		opts, err := parseFlags(tc.args)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if opts != (options{Port: tc.port, AdminPort: tc.adminPort, IssuerPort: tc.issuerPort, Once: tc.once}) {
			t.Errorf("%v: got %+v", tc.args, opts)
		}
	}
}
