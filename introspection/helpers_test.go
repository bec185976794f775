package introspection

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIssuer = "https://km.example.com:9443/oauth2/token"
	testClient = "gateway"
	// testSecret holds characters that RFC 6749's form encoding of Basic
	// credentials changes.
	testSecret = "s3cr:et/+% é"
)

// testClock is the clock of every test: the wall clock unless a test fixes
// it. It is installed once, in TestMain, so that no goroutine ever reads
// now while a test replaces it.
var testClock clock

type clock struct {
	mu    sync.Mutex
	fixed time.Time // zero: the wall clock
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed.IsZero() {
		return time.Now()
	}
	return c.fixed
}

// fix sets the clock to at until the test ends.
func (c *clock) fix(t testing.TB, at time.Time) {
	c.mu.Lock()
	c.fixed = at
	c.mu.Unlock()
	t.Cleanup(func() {
		c.mu.Lock()
		c.fixed = time.Time{}
		c.mu.Unlock()
	})
}

// advance moves a fixed clock on by d.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.fixed = c.fixed.Add(d)
	c.mu.Unlock()
}

func TestMain(m *testing.M) {
	now = testClock.Now
	os.Exit(m.Run())
}

// km is a key manager's introspection endpoint (RFC 7662). It checks every
// request as such an endpoint does: POST, a form of token and
// token_type_hint access_token, Accept application/json, and the client's
// HTTP Basic credentials (401 invalid_client when they are wrong), or no
// Authorization at all when it expects no client.
type km struct {
	t      testing.TB
	srv    *httptest.Server
	id     string // expected client_id; "" expects no client authentication
	secret string

	calls    atomic.Int64 // requests received
	inFlight atomic.Int64
	maxSeen  atomic.Int64

	mu     sync.Mutex
	answer http.HandlerFunc // answers a checked request; the token is r.PostForm
}

// newKM starts an endpoint expecting testClient and testSecret that
// answers with answer.
func newKM(t testing.TB, answer http.HandlerFunc) *km {
	k := &km{t: t, id: testClient, secret: testSecret, answer: answer}
	k.srv = httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	return k
}

// newTLSServer serves k over TLS with httptest's certificate.
func newTLSServer(t testing.TB, k *km) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// setAnswer replaces the answer.
func (k *km) setAnswer(answer http.HandlerFunc) {
	k.mu.Lock()
	k.answer = answer
	k.mu.Unlock()
}

func (k *km) serve(w http.ResponseWriter, r *http.Request) {
	k.calls.Add(1)
	n := k.inFlight.Add(1)
	defer k.inFlight.Add(-1)
	for m := k.maxSeen.Load(); n > m && !k.maxSeen.CompareAndSwap(m, n); m = k.maxSeen.Load() {
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		r.Header.Get("Accept") != "application/json" {
		k.t.Errorf("introspection request: %s with Content-Type %q and Accept %q", r.Method,
			r.Header.Get("Content-Type"), r.Header.Get("Accept"))
	}
	if err := r.ParseForm(); err != nil {
		k.t.Errorf("introspection form: %v", err)
	}
	if len(r.PostForm) != 2 || len(r.PostForm["token"]) != 1 || r.PostForm.Get("token") == "" ||
		r.PostForm.Get("token_type_hint") != "access_token" || len(r.URL.Query()) != 0 {
		k.t.Errorf("introspection form %q, query %q: want token and token_type_hint=access_token", r.PostForm, r.URL.RawQuery)
	}
	id, secret, hasAuth := r.BasicAuth()
	if k.id == "" {
		if _, ok := r.Header["Authorization"]; ok {
			k.t.Errorf("Authorization sent without a client: %q", r.Header.Get("Authorization"))
		}
	} else {
		id, err1 := url.QueryUnescape(id)
		secret, err2 := url.QueryUnescape(secret)
		if !hasAuth || err1 != nil || err2 != nil || id != k.id || secret != k.secret {
			w.Header().Set("WWW-Authenticate", `Basic realm="km"`)
			writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client"}`)
			return
		}
	}
	k.mu.Lock()
	answer := k.answer
	k.mu.Unlock()
	answer(w, r)
}

// writeJSON answers status with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// respond answers every request with body, 200, application/json.
func respond(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, body) }
}

// byToken answers each token with its entry of answers, and an inactive
// answer for any other.
func byToken(answers map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.PostForm.Get("token")]
		if !ok {
			body = `{"active":false}`
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// gate holds requests until it is opened.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// hold waits until g opens or the request ends, then answers with answer.
func (g *gate) hold(answer http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.ch:
			answer(w, r)
		case <-r.Context().Done():
		}
	}
}

// config is a Config for k's endpoint with the test client.
func (k *km) config() Config {
	return Config{Issuer: testIssuer, URL: k.srv.URL + "/oauth2/introspect", ClientID: testClient, ClientSecret: testSecret, CacheSize: 10000}
}

// newAnswers returns an Introspector that hands out the answers as they
// are.
func newAnswers(t testing.TB, cfg Config) *Introspector[*Answer] {
	t.Helper()
	in, err := New(cfg, func(a *Answer) (*Answer, error) {
		if a.Subject == "refuse-me" {
			return nil, errors.New("the converter refuses this subject")
		}
		return a, nil
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in.Start(ctx)
	return in
}

// introspect calls in.Introspect with token and its digest.
func introspect[T any](in *Introspector[T], token string) (T, bool, error) {
	return in.Introspect(context.Background(), token, sha256.Sum256([]byte(token)))
}

// active is an active answer's JSON for iss valid until exp, with the
// members of extra (raw JSON, a leading comma added).
func active(exp int64, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"active":true,"iss":%q,"sub":"admin@carbon.super","client_id":"ck","exp":%d%s}`, testIssuer, exp, extra)
}

// noSecrets fails t when err says token or the client secret.
func noSecrets(t testing.TB, err error, token string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range []string{token, testSecret, url.QueryEscape(testSecret)} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q holds a secret (%q)", msg, s)
		}
	}
}

// countingTransport counts the calls in flight on the client side, from
// RoundTrip until the body is closed, and the most at once.
type countingTransport struct {
	next              http.RoundTripper
	inFlight, maxSeen atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.inFlight.Add(1)
	for m := c.maxSeen.Load(); n > m && !c.maxSeen.CompareAndSwap(m, n); m = c.maxSeen.Load() {
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil {
		c.inFlight.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, done: func() { c.inFlight.Add(-1) }}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// newTransport is a transport of the test's own.
func newTransport() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }
