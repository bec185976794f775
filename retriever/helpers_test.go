package retriever

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// The key manager's credentials in the tests. The password is distinctive
// so that a leak into an error is easy to find.
const (
	testUser     = "admin"
	testPassword = "Pa55 w0rd/never-leaks!"
)

// margin is what a call may take beyond its timeout on a loaded machine.
const margin = 2 * time.Second

// okBody is a claims answer with two claims and an entry without a uri.
const okBody = `{"count":3,"list":[` +
	`{"uri":"http://wso2.org/claims/givenname","value":"John"},` +
	`{"uri":"http://wso2.org/claims/lastname","value":"Doe"},` +
	`{"value":"no uri"}]}`

// okClaims are the claims of okBody.
var okClaims = map[string]any{
	"http://wso2.org/claims/givenname": "John",
	"http://wso2.org/claims/lastname":  "Doe",
}

// basicCredential is the base64 part of the test Authorization header.
func basicCredential() string {
	return base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
}

// recorded is what the fake key manager saw of one request.
type recorded struct {
	Method, Path, Auth, ContentType, Accept string
	Body                                    string
}

// kmServer is a fake key manager on 127.0.0.1 that records every request
// and counts its connections.
type kmServer struct {
	*httptest.Server
	calls    atomic.Int64
	newConns atomic.Int64
	first    chan struct{} // closed when the first request arrives
	once     sync.Once

	mu   sync.Mutex
	reqs []recorded
}

// newKM starts a plain HTTP key manager answering with h; it stops with the
// test.
func newKM(t *testing.T, h http.HandlerFunc) *kmServer {
	t.Helper()
	s := &kmServer{first: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(s.wrap(h))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.newConns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// newTLSKM starts an HTTPS key manager answering with h; it stops with the
// test.
func newTLSKM(t *testing.T, h http.HandlerFunc) *kmServer {
	t.Helper()
	s := &kmServer{first: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(s.wrap(h))
	// Failed handshakes are what some tests want; do not log them.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// wrap records each request before h answers it.
func (s *kmServer) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{
			Method:      r.Method,
			Path:        r.URL.Path,
			Auth:        r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"),
			Accept:      r.Header.Get("Accept"),
			Body:        string(body),
		})
		s.mu.Unlock()
		s.calls.Add(1)
		s.once.Do(func() { close(s.first) })
		h(w, r)
	}
}

// requests returns a copy of the recorded requests.
func (s *kmServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

// answer returns a handler that writes status and body as JSON.
func answer(status int, body string) http.HandlerFunc {
	return answerType(status, "application/json", body)
}

// answerType returns a handler that writes status and body with the given
// Content-Type.
func answerType(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// blocking returns a handler that answers nothing until the client goes
// away or the test ends.
func blocking(t *testing.T) http.HandlerFunc {
	release := make(chan struct{})
	// Cleanups run last-registered first: this one runs before the
	// server's Close, which waits for the handler.
	t.Cleanup(func() { close(release) })
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// newWSO2 returns a retriever for the server at url with the test
// credentials; change may adjust the config. It is closed with the test.
func newWSO2(t *testing.T, url string, change func(*WSO2Config)) *WSO2 {
	t.Helper()
	cfg := WSO2Config{ServerURL: url, Username: testUser, Password: testPassword}
	if change != nil {
		change(&cfg)
	}
	w, err := NewWSO2(cfg)
	if err != nil {
		t.Fatalf("NewWSO2: %v", err)
	}
	t.Cleanup(w.Close)
	return w
}

// request is the retriever request for a token with sub and iss.
func request(iss, sub string) *Request {
	return &Request{Issuer: iss, Subject: sub, Username: Username(sub)}
}

// testCertPEM is a new self-signed certificate in PEM.
func testCertPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.CertificatePEM(t, key, cn)
}

// fakeRetriever counts its calls and answers with fn.
type fakeRetriever struct {
	calls atomic.Int64
	fn    func(ctx context.Context, req *Request) (map[string]any, error)
}

// Retrieve counts the call and returns fn's answer.
func (f *fakeRetriever) Retrieve(ctx context.Context, req *Request) (map[string]any, error) {
	f.calls.Add(1)
	return f.fn(ctx, req)
}

// claimsOf returns a fake retriever that answers with one claim naming the
// user and issuer.
func claimsOf() *fakeRetriever {
	return &fakeRetriever{fn: func(_ context.Context, req *Request) (map[string]any, error) {
		return map[string]any{"user": req.Username, "iss": req.Issuer}, nil
	}}
}

// checkErr fails the test unless err wraps want (nil: no error).
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error %v, want one wrapping %v", err, want)
	}
}

// checkNoSecret fails the test if err's text holds the password or the
// Basic credential.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, testPassword) || strings.Contains(msg, basicCredential()) {
		t.Fatalf("error leaks a credential: %s", msg)
	}
}

// within runs f and fails the test if it takes longer than limit.
func within(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > limit {
		t.Fatalf("took %s, want at most %s", took, limit)
	}
}
