package testkit

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// APIKeyClaims are the claims of a WSO2 API key for PizzaShackAPI, as API
// Manager 4.x's DefaultApiKeyGenerator writes them (carbon-apimgt), valid
// for an hour; a nil "exp" in changes makes a key that never expires.
func APIKeyClaims(changes map[string]any) map[string]any {
	n := time.Now().Unix()
	return With(map[string]any{
		"sub": "admin@carbon.super", "iss": "https://localhost:9443/oauth2/token", "iat": n, "exp": n + 3600,
		"jti": "4f3e2d1c-0b9a-4877-a665-544332211000", "keytype": "PRODUCTION", "token_type": "apiKey",
		"application": map[string]any{"owner": "admin", "tier": "Unlimited", "name": "KeyApp", "id": 42,
			"uuid": "9c8b7a6f-5e4d-4c3b-a291-807f6e5d4c3b"},
		"subscribedAPIs": []any{map[string]any{"subscriberTenantDomain": "carbon.super", "name": "PizzaShackAPI",
			"context": "/pizzashack/1.0.0", "publisher": "admin", "version": "1.0.0", "subscriptionTier": "Gold"}},
		"tierInfo":         map[string]any{"Gold": map[string]any{"stopOnQuotaReach": true, "spikeArrestLimit": 0}},
		"permittedIP":      "",
		"permittedReferer": "",
	}, changes)
}

// APIKey is a WSO2 API key of claims signed RS256 by key, whose
// certificate is certPEM, in API Manager's layout: a header with typ,
// alg, x5t (base64url, padded, of the hex SHA-1 of the certificate) and
// kid; JSON with "/" escaped as json-smart writes it; every part base64url
// with '=' padding (java.util.Base64.getUrlEncoder).
func APIKey(t testing.TB, key *rsa.PrivateKey, certPEM []byte, claims map[string]any) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	sum := sha1.Sum(block.Bytes)
	enc := func(b []byte) string { return base64.URLEncoding.EncodeToString(b) }
	smart := func(v any) []byte { return bytes.ReplaceAll(MustJSON(t, v), []byte("/"), []byte(`\/`)) }
	header := map[string]any{"typ": "JWT", "alg": "RS256", "x5t": enc([]byte(hex.EncodeToString(sum[:]))), "kid": "gateway_certificate_alias"}
	input := enc(smart(header)) + "." + enc(smart(claims))
	return input + "." + enc(Signature(t, "RS256", key, []byte(input)))
}

// IntrospectionServer is an RFC 7662 introspection endpoint on 127.0.0.1:
// it checks HTTP Basic client credentials, answers each token with the
// answer the test set for it ({"active":false} for others) and counts its
// calls. Its Handler field, when set, answers instead.
type IntrospectionServer struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu      sync.Mutex
	answers map[string]map[string]any
	calls   map[string]int
	handler http.Handler
}

// NewIntrospectionServer starts an introspection endpoint that stops with
// the test.
func NewIntrospectionServer(t testing.TB, clientID, clientSecret string) *IntrospectionServer {
	t.Helper()
	s := &IntrospectionServer{ClientID: clientID, ClientSecret: clientSecret,
		answers: map[string]map[string]any{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Answer sets the answer for token.
func (s *IntrospectionServer) Answer(token string, answer map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[token] = answer
}

// SetHandler makes h answer every call (nil: the answers again).
func (s *IntrospectionServer) SetHandler(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Calls is how many times token was introspected; "" counts every call.
func (s *IntrospectionServer) Calls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[token]
}

func (s *IntrospectionServer) serve(w http.ResponseWriter, r *http.Request) {
	token := r.PostFormValue("token")
	s.mu.Lock()
	s.calls[token]++
	s.calls[""]++
	answer, known := s.answers[token]
	h := s.handler
	s.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	switch {
	case r.Method != http.MethodPost || r.PostFormValue("token_type_hint") != "access_token":
		http.Error(w, "want a POST of token and token_type_hint=access_token", http.StatusBadRequest)
		return
	case !ok || id != s.ClientID || secret != s.ClientSecret:
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, "client authentication failed", http.StatusUnauthorized)
		return
	case h != nil:
		h.ServeHTTP(w, r)
		return
	case !known:
		answer = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

var (
	apiKeySignerOnce sync.Once
	apiKeySigner     *rsa.PrivateKey
)

// APIKeySigner is a key standing for API Manager's API-key signing key
// (its apikeysign keystore), made once per test binary.
func APIKeySigner() *rsa.PrivateKey {
	apiKeySignerOnce.Do(func() {
		var err error
		if apiKeySigner, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return apiKeySigner
}
