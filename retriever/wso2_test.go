package retriever

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWSO2Request(t *testing.T) {
	km := newKM(t, answer(http.StatusOK, okBody))
	w := newWSO2(t, km.URL, nil)

	claims, err := w.Retrieve(t.Context(), request("https://localhost:9443/oauth2/token", "admin@carbon.super"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(claims, okClaims) {
		t.Errorf("claims = %v, want %v", claims, okClaims)
	}
	reqs := km.requests()
	if len(reqs) != 1 {
		t.Fatalf("the key manager saw %d requests, want 1", len(reqs))
	}
	want := recorded{
		Method:      http.MethodPost,
		Path:        ClaimsPath,
		Auth:        "Basic " + basicCredential(),
		ContentType: "application/json",
		Accept:      "application/json",
		Body:        `{"username":"admin"}`,
	}
	if reqs[0] != want {
		t.Errorf("the key manager saw\n%+v\nwant\n%+v", reqs[0], want)
	}
}

func TestWSO2RequestVariants(t *testing.T) {
	tests := []struct {
		name      string
		serverURL func(base string) string
		user      string // WSO2Config.Username
		password  string
		req       *Request
		wantPath  string
		wantAuth  string
		wantUser  string // the username in the body
	}{
		{
			name:      "trailing slash",
			serverURL: func(b string) string { return b + "/" },
			user:      testUser, password: testPassword,
			req:      request("iss", "admin@carbon.super"),
			wantPath: ClaimsPath, wantAuth: "Basic " + basicCredential(), wantUser: "admin",
		},
		{
			name:      "path prefix",
			serverURL: func(b string) string { return b + "/km/" },
			user:      testUser, password: testPassword,
			req:      request("iss", "admin"),
			wantPath: "/km" + ClaimsPath, wantAuth: "Basic " + basicCredential(), wantUser: "admin",
		},
		{
			name:      "username derived from sub",
			serverURL: func(b string) string { return b },
			user:      testUser, password: testPassword,
			req:      &Request{Issuer: "iss", Subject: "a@b.com@carbon.super"},
			wantPath: ClaimsPath, wantAuth: "Basic " + basicCredential(), wantUser: "a@b.com",
		},
		{
			name:      "characters that JSON escapes",
			serverURL: func(b string) string { return b },
			user:      testUser, password: testPassword,
			req:      request("iss", "o\"brien\\<x>\u2028ü\n@tenant"),
			wantPath: ClaimsPath, wantAuth: "Basic " + basicCredential(), wantUser: "o\"brien\\<x>\u2028ü\n",
		},
		{
			name:      "no credentials",
			serverURL: func(b string) string { return b },
			req:       request("iss", "admin"),
			wantPath:  ClaimsPath, wantAuth: "", wantUser: "admin",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, answer(http.StatusOK, okBody))
			w := newWSO2(t, tc.serverURL(km.URL), func(c *WSO2Config) {
				c.Username, c.Password = tc.user, tc.password
			})
			if _, err := w.Retrieve(t.Context(), tc.req); err != nil {
				t.Fatal(err)
			}
			got := km.requests()[0]
			if got.Path != tc.wantPath {
				t.Errorf("path %q, want %q", got.Path, tc.wantPath)
			}
			if got.Auth != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", got.Auth, tc.wantAuth)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(got.Body), &body); err != nil {
				t.Fatalf("body %q: %v", got.Body, err)
			}
			if want := map[string]any{"username": tc.wantUser}; !reflect.DeepEqual(body, want) {
				t.Errorf("body %q decodes to %v, want %v", got.Body, body, want)
			}
		})
	}
}

func TestWSO2Answers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]any
	}{
		{"two claims and an entry without uri", okBody, okClaims},
		{"empty list", `{"count":0,"list":[]}`, map[string]any{}},
		{"null list", `{"count":0,"list":null}`, map[string]any{}},
		{"no count", `{"list":[{"uri":"u","value":"v"}]}`, map[string]any{"u": "v"}},
		{"null and empty uri skipped", `{"list":[{"uri":null,"value":"a"},{"uri":"","value":"b"},{"uri":"u","value":"v"}]}`, map[string]any{"u": "v"}},
		{"missing and null value skipped", `{"list":[{"uri":"a"},{"uri":"b","value":null},{"uri":"c","value":""}]}`, map[string]any{"c": ""}},
		{"last duplicate wins", `{"list":[{"uri":"u","value":"1"},{"uri":"u","value":"2"}]}`, map[string]any{"u": "2"}},
		{"unknown members ignored", `{"count":1,"extra":{"x":[1]},"list":[{"uri":"u","value":"v","display":"V"}]}`, map[string]any{"u": "v"}},
		{"surrounding whitespace", " \n{\"list\":[{\"uri\":\"u\",\"value\":\"v\"}]}\n ", map[string]any{"u": "v"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, answerType(http.StatusOK, "application/json; charset=UTF-8", tc.body))
			w := newWSO2(t, km.URL, nil)
			got, err := w.Retrieve(t.Context(), request("iss", "admin"))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("claims = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestWSO2Failures(t *testing.T) {
	const maxBody = 1024
	bodyOfSize := func(n int) string {
		prefix, suffix := `{"list":[{"uri":"u","value":"`, `"}]}`
		return prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error  // nil: success
		wantIn  string // in the error's text
	}{
		{"404", answer(http.StatusNotFound, `{"code":404,"message":"user not found"}`), ErrUserNotFound, "404"},
		{"401", answer(http.StatusUnauthorized, `{"code":401}`), ErrUnavailable, "401"},
		{"403", answer(http.StatusForbidden, ``), ErrUnavailable, "403"},
		{"500", answer(http.StatusInternalServerError, `{"code":500,"message":"boom"}`), ErrUnavailable, "500"},
		{"503", answer(http.StatusServiceUnavailable, ``), ErrUnavailable, "503"},
		{"400", answer(http.StatusBadRequest, `{}`), ErrUnavailable, "400"},
		{"204", answer(http.StatusNoContent, ``), ErrUnavailable, "204"},
		{"malformed JSON", answer(http.StatusOK, `{"count":1,"list":[{"uri":`), ErrUnavailable, "malformed"},
		{"HTML page", answerType(http.StatusOK, "text/html", "<!DOCTYPE html><html><body>Login</body></html>"), ErrUnavailable, "malformed"},
		{"empty body", answer(http.StatusOK, ``), ErrUnavailable, "malformed"},
		{"null", answer(http.StatusOK, `null`), ErrUnavailable, "malformed"},
		{"array", answer(http.StatusOK, `[{"uri":"u","value":"v"}]`), ErrUnavailable, "malformed"},
		{"no list", answer(http.StatusOK, `{"count":0}`), ErrUnavailable, `no "list"`},
		{"list not an array", answer(http.StatusOK, `{"list":{"uri":"u"}}`), ErrUnavailable, `"list"`},
		{"entry not an object", answer(http.StatusOK, `{"list":["u"]}`), ErrUnavailable, `"list"`},
		{"null entry", answer(http.StatusOK, `{"list":[null]}`), ErrUnavailable, "entry 0"},
		{"uri not a string", answer(http.StatusOK, `{"list":[{"uri":7,"value":"v"}]}`), ErrUnavailable, `"uri"`},
		{"value not a string", answer(http.StatusOK, `{"list":[{"uri":"u","value":{"a":1}}]}`), ErrUnavailable, `"value"`},
		{"count not a number", answer(http.StatusOK, `{"count":"1","list":[]}`), ErrUnavailable, `"count"`},
		{"trailing data", answer(http.StatusOK, `{"list":[]} {}`), ErrUnavailable, "malformed"},
		{"oversized body", answer(http.StatusOK, bodyOfSize(maxBody+1)), ErrUnavailable, "larger than 1024"},
		{"much larger body", answer(http.StatusOK, bodyOfSize(4<<20)), ErrUnavailable, "larger than 1024"},
		{"body of exactly the cap", answer(http.StatusOK, bodyOfSize(maxBody)), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, tc.handler)
			w := newWSO2(t, km.URL, func(c *WSO2Config) { c.MaxBodyBytes = maxBody })
			claims, err := w.Retrieve(t.Context(), request("iss", "admin@carbon.super"))
			checkErr(t, err, tc.want)
			checkNoSecret(t, err)
			if err == nil {
				return
			}
			if claims != nil {
				t.Errorf("claims %v with an error", claims)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not mention %q", err, tc.wantIn)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error of %d bytes quotes too much: %q", len(err.Error()), err)
			}
		})
	}
}

func TestWSO2Timeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	stallBody := func(t *testing.T) http.HandlerFunc {
		block := blocking(t)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"list":[`))
			w.(http.Flusher).Flush()
			block(w, r)
		}
	}
	tests := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc
	}{
		{"no answer", blocking},
		{"headers then a stalled body", stallBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, tc.handler(t))
			w := newWSO2(t, km.URL, func(c *WSO2Config) { c.Timeout = timeout })
			var err error
			within(t, timeout+margin, func() {
				_, err = w.Retrieve(context.Background(), request("iss", "admin"))
			})
			checkErr(t, err, ErrUnavailable)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), timeout.String()) {
				t.Errorf("error %q does not name the timeout", err)
			}
		})
	}
}

func TestWSO2CallerContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"caller deadline shorter than the timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, blocking(t))
			w := newWSO2(t, km.URL, func(c *WSO2Config) { c.Timeout = time.Minute })
			ctx, cancel := tc.ctx()
			defer cancel()
			var err error
			within(t, 100*time.Millisecond+margin, func() {
				_, err = w.Retrieve(ctx, request("iss", "admin"))
			})
			checkErr(t, err, ErrUnavailable)
			checkErr(t, err, tc.want)
		})
	}
}

func TestWSO2Redirects(t *testing.T) {
	tests := []struct {
		name string
		// target is where the key manager redirects, given its own URL and
		// the other server's.
		target     func(self, other string) string
		status     int
		want       error
		wantCalls  int64 // requests the key manager sees
		wantOther  int64 // requests the other server sees
		wantSecond string
	}{
		{
			name:   "307 to another host",
			target: func(_, other string) string { return other + ClaimsPath },
			status: http.StatusTemporaryRedirect, want: ErrUnavailable, wantCalls: 1,
		},
		{
			name:   "302 to another host",
			target: func(_, other string) string { return other + "/elsewhere" },
			status: http.StatusFound, want: ErrUnavailable, wantCalls: 1,
		},
		{
			name:   "same port under another host name",
			target: func(self, _ string) string { return strings.Replace(self, "127.0.0.1", "localhost", 1) + "/moved" },
			status: http.StatusTemporaryRedirect, want: ErrUnavailable, wantCalls: 1,
		},
		{
			name:   "to https on the same host",
			target: func(self, _ string) string { return strings.Replace(self, "http:", "https:", 1) + "/moved" },
			status: http.StatusPermanentRedirect, want: ErrUnavailable, wantCalls: 1,
		},
		{
			name:   "same host, another path",
			target: func(_, _ string) string { return "/moved" },
			status: http.StatusTemporaryRedirect, want: nil, wantCalls: 2,
		},
		{
			name:   "same host, endless",
			target: func(_, _ string) string { return ClaimsPath },
			status: http.StatusTemporaryRedirect, want: ErrUnavailable, wantCalls: 1 + MaxRedirects,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			other := newKM(t, answer(http.StatusOK, okBody))
			var km *kmServer
			km = newKM(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/moved" {
					answer(http.StatusOK, okBody)(w, r)
					return
				}
				http.Redirect(w, r, tc.target(km.URL, other.URL), tc.status)
			})
			w := newWSO2(t, km.URL, nil)
			claims, err := w.Retrieve(t.Context(), request("iss", "admin@carbon.super"))
			checkErr(t, err, tc.want)
			checkNoSecret(t, err)
			if n := km.calls.Load(); n != tc.wantCalls {
				t.Errorf("the key manager saw %d requests, want %d", n, tc.wantCalls)
			}
			if n := other.calls.Load(); n != 0 {
				t.Errorf("the other host saw %d requests: %+v", n, other.requests())
			}
			if tc.want != nil {
				return
			}
			if !reflect.DeepEqual(claims, okClaims) {
				t.Errorf("claims = %v, want %v", claims, okClaims)
			}
			// A followed same-host redirect keeps the method, body and
			// credentials.
			last := km.requests()[len(km.requests())-1]
			if last.Method != http.MethodPost || last.Body != `{"username":"admin"}` || last.Auth != "Basic "+basicCredential() {
				t.Errorf("the redirected request was %+v", last)
			}
		})
	}
}

func TestWSO2RefusedConnection(t *testing.T) {
	km := newKM(t, answer(http.StatusOK, okBody))
	url := km.URL
	km.Close()
	w := newWSO2(t, url, func(c *WSO2Config) { c.Timeout = time.Second })
	var err error
	within(t, time.Second+margin, func() {
		_, err = w.Retrieve(t.Context(), request("iss", "admin"))
	})
	checkErr(t, err, ErrUnavailable)
	checkNoSecret(t, err)
}

func TestWSO2TLS(t *testing.T) {
	km := newTLSKM(t, answer(http.StatusOK, okBody))
	own := x509.NewCertPool()
	own.AddCert(km.Certificate())
	fromPEM, err := ParseCertPoolPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: km.Certificate().Raw}))
	if err != nil {
		t.Fatal(err)
	}
	unrelated, err := ParseCertPoolPEM(testCertPEM(t, "unrelated CA"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pool   *x509.CertPool
		want   error
		wantIn string
	}{
		{"its certificate", own, nil, ""},
		{"its certificate from PEM", fromPEM, nil, ""},
		{"system roots", nil, ErrUnavailable, "certificate"},
		{"an unrelated CA", unrelated, ErrUnavailable, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWSO2(t, km.URL, func(c *WSO2Config) { c.RootCAs = tc.pool })
			claims, err := w.Retrieve(t.Context(), request("iss", "admin@carbon.super"))
			checkErr(t, err, tc.want)
			checkNoSecret(t, err)
			if err != nil {
				if !strings.Contains(err.Error(), tc.wantIn) {
					t.Errorf("error %q does not mention %q", err, tc.wantIn)
				}
				return
			}
			if !reflect.DeepEqual(claims, okClaims) {
				t.Errorf("claims = %v, want %v", claims, okClaims)
			}
		})
	}
}

func TestParseCertPoolPEM(t *testing.T) {
	certA, certB := testCertPEM(t, "A"), testCertPEM(t, "B")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not really a key")})
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name      string
		data      []byte
		wantCerts int // 0: an error
	}{
		{"one certificate", certA, 1},
		{"a bundle", cat(certA, certB), 2},
		{"text around the blocks", cat([]byte("Subject: A\n"), certA, []byte("\ncomment\n"), certB), 2},
		{"a key beside the certificate", cat(keyPEM, certA), 1},
		{"empty", nil, 0},
		{"blank", []byte(" \n\t\n"), 0},
		{"not PEM", []byte("-----BEGIN NOTHING\nxyz"), 0},
		{"only a key", keyPEM, 0},
		{"a certificate block that is not DER", badCert, 0},
		{"a good and a bad certificate", cat(certA, badCert), 0},
		{"DER instead of PEM", mustDER(t, certA), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := ParseCertPoolPEM(tc.data)
			if tc.wantCerts == 0 {
				if err == nil {
					t.Fatal("no error")
				}
				if pool != nil {
					t.Error("a pool with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !pool.Equal(poolOf(t, tc.data, tc.wantCerts)) {
				t.Error("the pool does not hold the certificates")
			}
		})
	}
}

// mustDER returns the DER of the first PEM block of data.
func mustDER(t *testing.T, data []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

// poolOf builds, independently of ParseCertPoolPEM, the pool of the
// CERTIFICATE blocks of data, checking there are want of them.
func poolOf(t *testing.T, data []byte, want int) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	n := 0
	for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(c)
		n++
	}
	if n != want {
		t.Fatalf("the test data has %d certificates, want %d", n, want)
	}
	return pool
}

func TestNewWSO2(t *testing.T) {
	tests := []struct {
		name         string
		cfg          WSO2Config
		wantErr      string // in the error; "" for success
		wantEndpoint string
	}{
		{"https", WSO2Config{ServerURL: "https://localhost:9443"}, "", "https://localhost:9443" + ClaimsPath},
		{"trailing slash", WSO2Config{ServerURL: "https://km.example:9443/"}, "", "https://km.example:9443" + ClaimsPath},
		{"path prefix", WSO2Config{ServerURL: "http://km.example/a/b/"}, "", "http://km.example/a/b" + ClaimsPath},
		{"upper-case scheme", WSO2Config{ServerURL: "HTTPS://km.example"}, "", "https://km.example" + ClaimsPath},
		{"IPv6", WSO2Config{ServerURL: "https://[::1]:9443"}, "", "https://[::1]:9443" + ClaimsPath},
		{"empty", WSO2Config{}, "scheme", ""},
		{"no scheme", WSO2Config{ServerURL: "localhost:9443"}, "scheme", ""},
		{"ftp", WSO2Config{ServerURL: "ftp://km.example"}, "scheme", ""},
		{"no host", WSO2Config{ServerURL: "https://"}, "no host", ""},
		{"only a port", WSO2Config{ServerURL: "https://:9443"}, "no host", ""},
		{"opaque", WSO2Config{ServerURL: "https:km.example"}, "no host", ""},
		{"credentials in the URL", WSO2Config{ServerURL: "https://admin:s3cr3t@km.example"}, "credentials", ""},
		{"unparsable credentials in the URL", WSO2Config{ServerURL: "https://admin:" + testPassword + "@km.example"}, "credentials", ""},
		{"query", WSO2Config{ServerURL: "https://km.example?a=b"}, "query", ""},
		{"fragment", WSO2Config{ServerURL: "https://km.example#x"}, "fragment", ""},
		{"unparsable", WSO2Config{ServerURL: "https://admin:" + testPassword + "@[::1"}, "parse", ""},
		{"colon in the username", WSO2Config{ServerURL: "https://km.example", Username: "a:b", Password: testPassword}, "username", ""},
		{"negative timeout", WSO2Config{ServerURL: "https://km.example", Timeout: -time.Second}, "timeout", ""},
		{"negative body cap", WSO2Config{ServerURL: "https://km.example", MaxBodyBytes: -1}, "body cap", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWSO2(tc.cfg)
			checkNoSecret(t, err)
			if err != nil && (strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "w0rd")) {
				t.Errorf("error %q quotes a password from the URL", err)
			}
			if tc.wantErr != "" {
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.endpoint != tc.wantEndpoint {
				t.Errorf("endpoint %q, want %q", w.endpoint, tc.wantEndpoint)
			}
		})
	}
}

func TestNewWSO2Defaults(t *testing.T) {
	w, err := NewWSO2(WSO2Config{ServerURL: "https://km.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.timeout != DefaultTimeout || w.maxBody != DefaultMaxBodyBytes {
		t.Errorf("timeout %s, body cap %d; want %s, %d", w.timeout, w.maxBody, DefaultTimeout, DefaultMaxBodyBytes)
	}
	if w.client == http.DefaultClient || w.client.Transport == nil || w.client.Transport == http.DefaultTransport {
		t.Error("the retriever uses the default client or transport")
	}
	if w.transport.TLSClientConfig.InsecureSkipVerify {
		t.Error("TLS verification is off")
	}
}

// TestNoErrorContainsPassword makes every kind of failure, with a key
// manager that echoes the credentials into its answers, and checks that no
// error text holds them.
func TestNoErrorContainsPassword(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			user, pass, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(r.Header.Get("Authorization") + " " + user + ":" + pass + " " + pass))
		}
	}
	tests := []struct {
		name    string
		handler func(t *testing.T) http.HandlerFunc
	}{
		{"echo 500", func(*testing.T) http.HandlerFunc { return echo(http.StatusInternalServerError) }},
		{"echo 401", func(*testing.T) http.HandlerFunc { return echo(http.StatusUnauthorized) }},
		{"echo 404", func(*testing.T) http.HandlerFunc { return echo(http.StatusNotFound) }},
		{"echo 200 malformed", func(*testing.T) http.HandlerFunc { return echo(http.StatusOK) }},
		{"redirect elsewhere", func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://localhost:1/"+testPassword, http.StatusTemporaryRedirect)
			}
		}},
		{"timeout", blocking},
		{"oversized", func(*testing.T) http.HandlerFunc { return answer(http.StatusOK, strings.Repeat(testPassword, 200)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			km := newKM(t, tc.handler(t))
			w := newWSO2(t, km.URL, func(c *WSO2Config) {
				c.Timeout = 300 * time.Millisecond
				c.MaxBodyBytes = 1024
			})
			_, err := w.Retrieve(t.Context(), request("iss", "admin"))
			if err == nil {
				t.Fatal("no error")
			}
			checkNoSecret(t, err)
		})
	}
}

// TestWSO2ReusesConnections checks that answers, failed ones included, are
// drained and closed so that the connection goes back to the pool.
func TestWSO2ReusesConnections(t *testing.T) {
	handlers := []http.HandlerFunc{
		answer(http.StatusOK, okBody),
		answer(http.StatusNotFound, `{"message":"`+strings.Repeat("n", 2000)+`"}`),
		answer(http.StatusInternalServerError, strings.Repeat("e", 4000)),
		answer(http.StatusOK, `{"list":`+strings.Repeat(" ", 3000)+`7}`),
	}
	var n atomic.Int64
	km := newKM(t, func(w http.ResponseWriter, r *http.Request) {
		handlers[(n.Add(1)-1)%int64(len(handlers))](w, r)
	})
	w := newWSO2(t, km.URL, nil)
	const calls = 12
	for range calls {
		_, _ = w.Retrieve(t.Context(), request("iss", "admin"))
	}
	// A connection may be dialled while the last one is still on its way
	// back to the pool, so only demand reuse, not exactly one connection.
	if got := km.newConns.Load(); got >= calls/2 {
		t.Errorf("%d connections for %d sequential calls", got, calls)
	}
	w.Close()
}
