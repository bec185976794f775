package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// assertionHeader is where the gateway puts the backend JWT (the default
// of the header sub-directive).
const assertionHeader = "X-JWT-Assertion"

// backend is the API behind the gateway. It answers every request with
// what it learned from the backend JWT, as a backend that trusts the
// gateway would.
type backend struct {
	server
	jwksURL string
	client  *http.Client
}

// backendAnswer is the backend's JSON answer.
type backendAnswer struct {
	Message string `json:"message"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	// AuthorizationReceived is false when the gateway stripped the
	// caller's access token (strip_authorization).
	AuthorizationReceived bool `json:"authorization_received"`
	// APIKeyReceived is false when the gateway stripped the caller's API
	// key from the apikey header or query parameter.
	APIKeyReceived bool `json:"apikey_received"`
	// BackendJWT is the decoded X-JWT-Assertion; nil when there was none.
	BackendJWT *decodedJWT `json:"backend_jwt"`
}

// decodedJWT is a backend JWT taken apart.
type decodedJWT struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
	// Verified tells whether the signature verifies with a key of the
	// gateway's JWKS (VerifiedWith); Error says why not.
	Verified     bool   `json:"verified"`
	VerifiedWith string `json:"verified_with"`
	Error        string `json:"error,omitempty"`
}

// startBackend starts the backend on a free port. It verifies backend JWTs
// with the keys published at jwksURL.
func startBackend(jwksURL string) (*backend, error) {
	b := &backend{jwksURL: jwksURL, client: &http.Client{Timeout: 5 * time.Second}}
	if err := b.start("backend", 0, http.HandlerFunc(b.serve)); err != nil {
		return nil, err
	}
	return b, nil
}

// serve answers any request with the decoded backend JWT.
func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	answer := backendAnswer{
		Message:               "Hello from the PizzaShack backend. This is the backend JWT the gateway sent me.",
		Method:                r.Method,
		Path:                  r.URL.Path,
		AuthorizationReceived: r.Header.Get("Authorization") != "",
		APIKeyReceived:        r.Header.Get("apikey") != "" || r.URL.Query().Has("apikey"),
	}
	if token := r.Header.Get(assertionHeader); token != "" {
		answer.BackendJWT = b.decode(r.Context(), token)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(answer)
}

// decode takes the token apart and verifies its signature against the
// gateway's JWKS, fetched for every request so a demo never shows stale
// keys (a real backend caches them).
func (b *backend) decode(ctx context.Context, token string) *decodedJWT {
	d := &decodedJWT{VerifiedWith: b.jwksURL}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		d.Error = fmt.Sprintf("not a JWS in compact form: %d parts", len(parts))
		return d
	}
	var err error
	if d.Header, err = decodePart(parts[0]); err != nil {
		d.Error = fmt.Sprintf("header: %v", err)
		return d
	}
	if d.Claims, err = decodePart(parts[1]); err != nil {
		d.Error = fmt.Sprintf("claims: %v", err)
		return d
	}
	set, err := jwk.Fetch(ctx, b.jwksURL, jwk.WithHTTPClient(b.client))
	if err != nil {
		d.Error = fmt.Sprintf("fetching the gateway's JWKS: %v", err)
		return d
	}
	// The key is the JWKS key with the token's kid, used with its alg.
	if _, err := jws.Verify([]byte(token), jws.WithKeySet(set)); err != nil {
		d.Error = fmt.Sprintf("signature: %v", err)
		return d
	}
	d.Verified = true
	return d
}

// decodePart decodes one base64url part of a JWT into a JSON object,
// keeping numbers as they were written.
func decodePart(part string) (map[string]any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("base64url: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("JSON: %w", err)
	}
	if m == nil {
		return nil, errors.New("JSON: not an object")
	}
	return m, nil
}
