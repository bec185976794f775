package introspection

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// testToken is an opaque access token as WSO2 issues them.
const testToken = "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"

func TestIntrospectAnswers(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	testClock.fix(t, t0)
	n := t0.Unix()
	later := n + 3600
	// padded is an active answer of exactly size bytes.
	padded := func(size int) string {
		head := strings.TrimSuffix(active(later, `"pad":"`), "}")
		return head + strings.Repeat("x", size-len(head)-2) + `"}`
	}

	tests := []struct {
		name   string
		config func(*Config)
		answer http.HandlerFunc
		want   error // nil: active
		check  func(*testing.T, *Answer)
	}{
		{
			name: "active: claims, username as subject, scope string",
			answer: respond(fmt.Sprintf(`{"active":true,"iss":%q,"username":"admin@carbon.super","sub":"u-1",
				"client_id":"ck","scope":"read  write ","token_type":"Bearer","exp":%d,"iat":%d,"nbf":%d,
				"jti":"j-1","aud":"gw","aut":"APPLICATION_USER","nested":{"a":[1,2]}}`, testIssuer, later, n-10, n-10)),
			check: func(t *testing.T, a *Answer) {
				if a.Subject != "admin@carbon.super" || a.ClientID != "ck" || a.JTI != "j-1" || a.Issuer != testIssuer {
					t.Errorf("subject %q, client %q, jti %q, issuer %q", a.Subject, a.ClientID, a.JTI, a.Issuer)
				}
				if !slices.Equal(a.Scopes, []string{"read", "write"}) || !slices.Equal(a.Audience, []string{"gw"}) {
					t.Errorf("scopes %q, audience %q", a.Scopes, a.Audience)
				}
				if a.Expires.Unix() != later || a.IssuedAt.Unix() != n-10 || a.NotBefore.Unix() != n-10 {
					t.Errorf("times %v %v %v", a.Expires, a.IssuedAt, a.NotBefore)
				}
				for _, gone := range []string{"active", "token_type", "token_use"} {
					if _, ok := a.Claims[gone]; ok {
						t.Errorf("claims hold %s", gone)
					}
				}
				if string(a.Claims["sub"]) != `"u-1"` || string(a.Claims["aut"]) != `"APPLICATION_USER"` ||
					string(a.Claims["nested"]) != `{"a":[1,2]}` || len(a.Claims) != 12 {
					t.Errorf("claims %s", a.Claims)
				}
			},
		},
		{
			name:   "active: sub as subject without username, scope list",
			answer: respond(active(later, `"scope":["read","write:all"]`)),
			check: func(t *testing.T, a *Answer) {
				if a.Subject != "admin@carbon.super" || !slices.Equal(a.Scopes, []string{"read", "write:all"}) {
					t.Errorf("subject %q, scopes %q", a.Subject, a.Scopes)
				}
			},
		},
		{
			name:   "active: empty username falls back to sub",
			answer: respond(active(later, `"username":""`)),
			check: func(t *testing.T, a *Answer) {
				if a.Subject != "admin@carbon.super" {
					t.Errorf("subject %q", a.Subject)
				}
			},
		},
		{
			name:   "active: no exp, no sub",
			answer: respond(`{"active":true}`),
			check: func(t *testing.T, a *Answer) {
				if a.Subject != "" || !a.Expires.IsZero() || len(a.Claims) != 0 || a.Scopes != nil {
					t.Errorf("answer %+v", a)
				}
			},
		},
		{name: "inactive", answer: respond(`{"active":false}`), want: ErrInactive},
		{name: "inactive with claims", answer: respond(`{"active":false,"sub":"admin","exp":1}`), want: ErrInactive},
		{name: "expired", answer: respond(active(n-60, "")), want: ErrExpired},
		{name: "expired within the clock skew", answer: respond(active(n-2, ""))},
		{name: "expired beyond a larger clock skew", config: func(c *Config) { c.ClockSkew = time.Minute }, answer: respond(active(n-61, "")), want: ErrExpired},
		{name: "another iss", answer: respond(`{"active":true,"iss":"https://evil.example/"}`), want: ErrInvalid},
		{name: "iss empty", answer: respond(`{"active":true,"iss":""}`), want: ErrInvalid},
		{name: "iss absent", answer: respond(fmt.Sprintf(`{"active":true,"exp":%d}`, later))},
		{name: "iss not a string", answer: respond(`{"active":true,"iss":null}`), want: ErrInvalid},
		{name: "aud not accepted", config: audiences("gw"), answer: respond(active(later, `"aud":"other"`)), want: ErrInvalid},
		{name: "aud accepted in a list", config: audiences("api", "gw"), answer: respond(active(later, `"aud":["x","gw"]`))},
		{name: "aud accepted as a string", config: audiences("gw"), answer: respond(active(later, `"aud":"gw"`))},
		{name: "aud absent with audiences", config: audiences("gw"), answer: respond(active(later, "")), want: ErrInvalid},
		{name: "aud absent without audiences", answer: respond(active(later, ""))},
		{name: "aud list with a number", answer: respond(active(later, `"aud":["gw",1]`)), want: ErrInvalid},
		{name: "nbf in the future", answer: respond(active(later, fmt.Sprintf(`"nbf":%d`, n+60))), want: ErrInvalid},
		{name: "nbf within the clock skew", answer: respond(active(later, fmt.Sprintf(`"nbf":%d`, n+3)))},
		{name: "iat in the future", answer: respond(active(later, fmt.Sprintf(`"iat":%d`, n+60))), want: ErrInvalid},
		{name: "exp with a fraction", answer: respond(`{"active":true,"exp":1900000000.5}`), want: ErrInvalid},
		{name: "exp with an exponent", answer: respond(`{"active":true,"exp":19e8}`), want: ErrInvalid},
		{name: "exp as a string", answer: respond(fmt.Sprintf(`{"active":true,"exp":"%d"}`, later)), want: ErrInvalid},
		{name: "exp negative", answer: respond(`{"active":true,"exp":-1}`), want: ErrInvalid},
		{name: "exp after year 9999", answer: respond(`{"active":true,"exp":253402300800}`), want: ErrInvalid},
		{name: "sub not a string", answer: respond(`{"active":true,"sub":42}`), want: ErrInvalid},
		{name: "username not a string", answer: respond(`{"active":true,"username":["a"]}`), want: ErrInvalid},
		{name: "client_id not a string", answer: respond(`{"active":true,"client_id":true}`), want: ErrInvalid},
		{name: "scope list with a number", answer: respond(`{"active":true,"scope":["a",1]}`), want: ErrInvalid},
		{name: "scope an object", answer: respond(`{"active":true,"scope":{"a":1}}`), want: ErrInvalid},
		{name: "refused by convert", answer: respond(`{"active":true,"sub":"refuse-me"}`), want: ErrInvalid},
		{name: "token_use refresh_token", answer: respond(active(later, `"token_use":"refresh_token"`)), want: ErrInactive},
		{name: "token_use not a string", answer: respond(active(later, `"token_use":1`)), want: ErrInactive},
		{name: "token_use access_token", answer: respond(active(later, `"token_use":"access_token"`))},
		{name: "missing active", answer: respond(`{"sub":"admin"}`), want: ErrUnavailable},
		{name: "active in another case", answer: respond(`{"Active":true}`), want: ErrUnavailable},
		{name: "active a string", answer: respond(`{"active":"true"}`), want: ErrUnavailable},
		{name: "active a number", answer: respond(`{"active":1}`), want: ErrUnavailable},
		{name: "active null", answer: respond(`{"active":null}`), want: ErrUnavailable},
		{name: "duplicate active, false then true", answer: respond(`{"active":false,"active":true}`), want: ErrUnavailable},
		{name: "duplicate active, true then false", answer: respond(`{"active":true,"active":false}`), want: ErrUnavailable},
		{name: "duplicate active through an escape", answer: respond(`{"active":false,"\u0061ctive":true}`), want: ErrUnavailable},
		{name: "duplicate nested member", answer: respond(`{"active":true,"x":[{"a":1,"a":2}]}`), want: ErrUnavailable},
		{name: "lone surrogate", answer: respond(`{"active":true,"sub":"\ud800"}`), want: ErrUnavailable},
		{name: "a JSON array", answer: respond(`[{"active":true}]`), want: ErrUnavailable},
		{name: "data after the object", answer: respond(`{"active":true} {"active":false}`), want: ErrUnavailable},
		{name: "non-JSON body", answer: respond(`active=true`), want: ErrUnavailable},
		{name: "empty body", answer: respond(``), want: ErrUnavailable},
		{name: "HTML content type", answer: contentType("text/html; charset=utf-8", `{"active":true}`), want: ErrUnavailable},
		{name: "no content type", answer: contentType("", `{"active":true}`), want: ErrUnavailable},
		{name: "+json content type", answer: contentType("application/token-introspection+json", `{"active":true}`)},
		{name: "answer of exactly 64 KiB", answer: respond(padded(MaxAnswerSize))},
		{name: "answer over 64 KiB", answer: respond(padded(MaxAnswerSize + 1)), want: ErrUnavailable},
		{name: "500", answer: status(http.StatusInternalServerError), want: ErrUnavailable},
		{name: "204", answer: status(http.StatusNoContent), want: ErrUnavailable},
		{
			name: "redirect not followed",
			answer: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			},
			want: ErrUnavailable,
		},
		{
			name:   "401 from bad client credentials",
			config: func(c *Config) { c.ClientSecret = "wrong" },
			answer: respond(active(later, "")),
			want:   ErrUnavailable,
		},
		{
			name:   "hang past the timeout",
			config: func(c *Config) { c.Timeout = 50 * time.Millisecond },
			answer: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			want:   ErrUnavailable,
		},
		{
			name:   "no client authentication without a client_id",
			config: func(c *Config) { c.ClientID, c.ClientSecret = "", "" },
			answer: respond(active(later, "")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKM(t, tc.answer)
			cfg := k.config()
			if tc.config != nil {
				tc.config(&cfg)
				if cfg.ClientID == "" {
					k.id = ""
				}
			}
			var calls []Call
			cfg.OnCall = func(c Call) { calls = append(calls, c) }
			in := newAnswers(t, cfg)
			a, cached, err := introspect(in, testToken)
			noSecrets(t, err, testToken)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("got %v, want an active answer", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			case cached:
				t.Errorf("first answer reported cached")
			}
			if exclusive := countKinds(err); err != nil && exclusive != 1 {
				t.Errorf("error %v wraps %d of the sentinel errors, want 1", err, exclusive)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
			if len(calls) != 1 || calls[0].Outcome != outcomeOf(tc.want) ||
				(calls[0].Err == nil) != (tc.want == nil || tc.want == ErrInactive) {
				t.Errorf("OnCall told %+v, want one call of outcome %s", calls, outcomeOf(tc.want))
			}
			if st := in.Stats(); st.Calls[outcomeOf(tc.want)] != 1 {
				t.Errorf("stats %+v", st)
			}

			// Asked again: from the cache, unless unavailable.
			a2, cached, err2 := introspect(in, testToken)
			wantCalls := int64(1)
			if tc.want == ErrUnavailable {
				wantCalls = 2
			}
			if got := k.calls.Load(); got != wantCalls {
				t.Errorf("%d calls for two requests, want %d", got, wantCalls)
			}
			if cached != (tc.want != ErrUnavailable) || !errors.Is(err2, kindOf(err)) || (tc.want == nil && a2 != a) {
				t.Errorf("second answer: cached %v, %v; first %v", cached, err2, err)
			}
		})
	}
}

func audiences(a ...string) func(*Config) { return func(c *Config) { c.Audiences = a } }

func contentType(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = nil // no sniffing
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		_, _ = w.Write([]byte(body))
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, code, `{"error":"server_error"}`) }
}

var sentinels = []error{ErrInactive, ErrInvalid, ErrExpired, ErrUnavailable}

// countKinds is the number of sentinel errors err wraps.
func countKinds(err error) int {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// kindOf is the sentinel error err wraps, nil for none.
func kindOf(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

func outcomeOf(want error) string {
	switch want {
	case nil:
		return OutcomeActive
	case ErrInactive:
		return OutcomeInactive
	case ErrUnavailable:
		return OutcomeError
	}
	return OutcomeInvalid
}

func TestNewChecksConfig(t *testing.T) {
	ok := Config{Issuer: testIssuer, URL: "https://km.example.com:9443/oauth2/introspect"}
	with := func(change func(*Config)) Config {
		c := ok
		change(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for none
	}{
		{"https", ok, ""},
		{"http on localhost", with(func(c *Config) { c.URL = "http://localhost:4445/admin/oauth2/introspect" }), ""},
		{"http on 127.0.0.5", with(func(c *Config) { c.URL = "http://127.0.0.5/introspect" }), ""},
		{"http on ::1", with(func(c *Config) { c.URL = "http://[::1]:8080/introspect" }), ""},
		{"http on another host", with(func(c *Config) { c.URL = "http://km.example.com/introspect" }), "want https"},
		{"http on a name that starts like localhost", with(func(c *Config) { c.URL = "http://localhost.evil.example/" }), "want https"},
		{"another scheme", with(func(c *Config) { c.URL = "ftp://km.example.com/" }), "want an https URL"},
		{"no host", with(func(c *Config) { c.URL = "https:///introspect" }), "no host"},
		{"credentials in the URL", with(func(c *Config) { c.URL = "https://gw:secret@km.example.com/" }), "must not hold credentials"},
		{"fragment", with(func(c *Config) { c.URL = "https://km.example.com/#x" }), "no fragment"},
		{"empty URL", with(func(c *Config) { c.URL = "" }), "want an https URL"},
		{"no issuer", with(func(c *Config) { c.Issuer = "" }), "issuer is empty"},
		{"negative timeout", with(func(c *Config) { c.Timeout = -time.Second }), "timeout"},
		{"negative cache_ttl", with(func(c *Config) { c.CacheTTL = -time.Second }), "cache_ttl"},
		{"negative negative_ttl", with(func(c *Config) { c.NegativeTTL = -time.Second }), "negative_ttl"},
		{"negative clock skew", with(func(c *Config) { c.ClockSkew = -time.Second }), "clock_skew"},
		{"negative max_concurrent", with(func(c *Config) { c.MaxConcurrent = -1 }), "max_concurrent"},
		{"negative cache size", with(func(c *Config) { c.CacheSize = -1 }), "cache size"},
		{
			"TLS verification off",
			with(func(c *Config) {
				c.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // refused
			}),
			"skips TLS verification",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := New(tc.cfg, func(a *Answer) (*Answer, error) { return a, nil })
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New: got %v, want an error about %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "gw:secret"):
				t.Errorf("error %q repeats credentials", err)
			}
			if err == nil && (in.cfg.Timeout != DefaultTimeout || in.cfg.CacheTTL != DefaultCacheTTL ||
				in.cfg.NegativeTTL != DefaultNegativeTTL || cap(in.slots) != DefaultMaxConcurrent ||
				in.cfg.ClockSkew != DefaultClockSkew || in.pos != nil) {
				t.Errorf("defaults not applied: %+v", in.cfg)
			}
		})
	}
	if _, err := New[*Answer](ok, nil); err == nil {
		t.Errorf("New without convert: no error")
	}
}

// TestIntrospectOverTLS checks that a verified TLS endpoint works with the
// caller's transport (as with ca_cert), and that one whose certificate is
// not trusted is unavailable.
func TestIntrospectOverTLS(t *testing.T) {
	k := newKM(t, respond(`{"active":true,"sub":"admin"}`))
	k.srv.Close()
	k.srv = newTLSServer(t, k)
	cfg := k.config()
	cfg.URL = k.srv.URL // https://127.0.0.1:port
	cfg.Transport = k.srv.Client().Transport
	if a, _, err := introspect(newAnswers(t, cfg), testToken); err != nil || a.Subject != "admin" {
		t.Fatalf("trusted endpoint: %v", err)
	}
	cfg.Transport = nil // the system roots do not hold the test certificate
	_, _, err := introspect(newAnswers(t, cfg), testToken)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted endpoint: got %v, want ErrUnavailable for the certificate", err)
	}
}
