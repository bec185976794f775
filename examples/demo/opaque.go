package main

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The demo key manager's introspection endpoint (RFC 7662) and the client
// credentials the gateway's introspection block authenticates with.
const (
	introspectPath     = "/introspect"
	introspectClientID = "gateway"
	introspectSecret   = "gateway-secret"
)

// revokePath is where an opaque token is made inactive (RFC 7009's shape:
// a POST of token=…).
const revokePath = "/revoke"

// maxOpaqueTokens bounds the opaque tokens the issuer remembers; expired
// ones are dropped to make room.
const maxOpaqueTokens = 10000

// maxFormBody bounds the body of the introspection and revocation calls.
const maxFormBody = 4096

// opaqueToken is what the issuer remembers of an opaque access token: what
// its introspection answer says.
type opaqueToken struct {
	user, clientID, scope string
	iat, exp              time.Time
}

// opaqueStore holds the opaque tokens minted and not revoked.
type opaqueStore struct {
	mu     sync.Mutex
	tokens map[string]opaqueToken
}

// add remembers t under a new random UUID and returns it.
func (s *opaqueStore) add(t opaqueToken, now time.Time) (string, error) {
	token, err := randomUUID()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = make(map[string]opaqueToken)
	}
	if len(s.tokens) >= maxOpaqueTokens {
		for k, v := range s.tokens {
			if !now.Before(v.exp) {
				delete(s.tokens, k)
			}
		}
	}
	if len(s.tokens) >= maxOpaqueTokens {
		return "", fmt.Errorf("issuer: %d opaque tokens are live; revoke some or wait for them to expire", maxOpaqueTokens)
	}
	s.tokens[token] = t
	return token, nil
}

// get returns the token's record, if it was minted and not revoked.
func (s *opaqueStore) get(token string) (opaqueToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[token]
	return t, ok
}

// revoke forgets token: from now on it is inactive.
func (s *opaqueStore) revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// mintOpaque makes an opaque (UUID) access token of the demo application
// whose subscription is in req.State: its introspection answer's client_id
// is that application's consumer key in API Manager's data, as a WSO2 key
// manager answers for a token issued to that application.
func (i *issuer) mintOpaque(req tokenRequest, now time.Time) (string, error) {
	iat, exp := tokenTimes(req, now)
	return i.opaque.add(opaqueToken{
		user:     req.User + "@carbon.super",
		clientID: consumerKeyFor(req.State),
		scope:    scopeOf(req.Scopes),
		iat:      iat,
		exp:      exp,
	}, now)
}

// serveIntrospect answers RFC 7662 introspection, as a WSO2 key manager
// does: HTTP Basic client credentials, a POST of token (token_type_hint
// optional), and {"active":false} for a token unknown, revoked or expired.
func (i *issuer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(introspectClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(introspectSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		http.Error(w, `{"error":"invalid_request","error_description":"want a form with token"}`, http.StatusBadRequest)
		return
	}
	answer := map[string]any{"active": false}
	now := time.Now()
	if t, ok := i.opaque.get(r.PostForm.Get("token")); ok && now.Before(t.exp) {
		answer = map[string]any{
			"active":     true,
			"token_type": "Bearer",
			"client_id":  t.clientID,
			"username":   t.user,
			"scope":      t.scope,
			"iss":        i.url + "/token",
			"iat":        t.iat.Unix(),
			"nbf":        t.iat.Unix(),
			"exp":        t.exp.Unix(),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(answer)
}

// serveRevoke makes an opaque token inactive: a POST of token=… answers 200
// whether or not the token was known (RFC 7009). The gateway sees it when
// its cached answer expires (cache_ttl), or at once after POST
// /backend_jwt/flush on its admin API.
func (i *issuer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		http.Error(w, "want a form with token: curl -X POST -d \"token=$TOKEN\" ...", http.StatusBadRequest)
		return
	}
	i.opaque.revoke(r.PostForm.Get("token"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
