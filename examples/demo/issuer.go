package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

// demoClientID is the OAuth client of the demo application: the access
// token's aud and azp, as a WSO2 key manager sets them.
const demoClientID = "JzCLuJq6kHIpMhK7C5OhiWN7cPsa"

// nameRE is what the token endpoint accepts for a user, API or version.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9._*-]{1,64}$`)

// issuer stands in for a WSO2 key manager: it mints self-contained access
// tokens signed with a key made at start and publishes that key as a JWKS;
// it mints opaque access tokens and answers their introspection; and it
// mints API keys as API Manager does, signed with an API-key signing key
// made at start.
//
//	GET  /token?user=alice&api=PizzaShackAPI&version=1.0.0&expires_in=3600
//	GET  /token?user=alice&format=3.2&state=BLOCKED
//	GET  /token?user=bob&jti=stolen-1
//	GET  /token?user=alice&scope=menu:write
//	GET  /token?user=mallory&format=3.2&issued_ago=3600
//	GET  /token?user=alice&format=opaque
//	POST /introspect            RFC 7662, HTTP Basic gateway:gateway-secret
//	POST /revoke                token=…: the opaque token becomes inactive
//	GET  /apikey?user=alice&permitted_referer=https://*.example.com/*
//	GET  /jwks
//	GET  /internal/data/v1/...  API Manager's internal data API
//
// The token and API-key endpoints answer the bare token, so
// `TOKEN=$(curl -s ...)` works. A negative expires_in gives a token that
// has already expired. scope grants scopes (space separated) besides
// am_application_scope and default. format=3.2 gives a token as API
// Manager 3.2 and later issue them, without application or subscribedAPIs;
// its azp is the consumer key of the demo application whose subscription
// to PizzaShackAPI is in state (default UNBLOCKED), as the data API tells
// the gateway. format=opaque gives a UUID whose introspection answer's
// client_id is that consumer key.
type issuer struct {
	server
	key         *rsa.PrivateKey
	kid         string
	jwks        []byte
	jwksFetches atomic.Int64
	opaque      opaqueStore
	apiKeys     *apiKeySigner
}

// startIssuer makes the signing key and starts the issuer on port of
// 127.0.0.1 (0: a free one).
func startIssuer(port int) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer: making the signing key: %w", err)
	}
	pub, err := jwk.FromRaw(key.Public())
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("issuer: key thumbprint: %w", err)
	}
	i := &issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(thumb)}
	if i.apiKeys, err = newAPIKeySigner(); err != nil {
		return nil, err
	}
	for name, value := range map[string]any{jwk.KeyIDKey: i.kid, jwk.AlgorithmKey: jwa.RS256, jwk.KeyUsageKey: "sig"} {
		if err := pub.Set(name, value); err != nil {
			return nil, fmt.Errorf("issuer: setting %s: %w", name, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if i.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("issuer: encoding the JWKS: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /token", i.serveToken)
	mux.HandleFunc("GET /jwks", i.serveJWKS)
	mux.HandleFunc("POST "+introspectPath, i.serveIntrospect)
	mux.HandleFunc("POST "+revokePath, i.serveRevoke)
	mux.HandleFunc("GET "+apiKeyPath, i.serveAPIKey)
	mux.HandleFunc("POST "+claimsPath, i.serveClaims)
	mux.Handle("GET "+apimfakePath, apimfake.New(claimsUser, claimsPassword, "carbon.super", demoAPIMData(time.Now())))
	if err := i.start("issuer", port, mux); err != nil {
		return nil, err
	}
	return i, nil
}

// serveJWKS answers the public key set.
func (i *issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.jwksFetches.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(i.jwks)
}

// The demo key manager's claims API, as a WSO2 key manager serves it, and
// the credentials the gateway's claims block uses for it.
const (
	claimsPath     = "/keymanager-operations/user-info/claims/generate"
	claimsUser     = "admin"
	claimsPassword = "admin"
)

// apimfakePath is where the demo issuer answers as API Manager's internal
// data API, with the claims API's credentials.
const apimfakePath = "/internal/data/v1/"

// demoStates are the subscription states of the demo applications, one
// application each, subscribed to PizzaShackAPI 1.0.0.
var demoStates = []string{"UNBLOCKED", "BLOCKED", "ON_HOLD"}

// consumerKeyFor is the demo consumer key of the application whose
// subscription is in state.
func consumerKeyFor(state string) string { return "demo-client-" + strings.ToLower(state) }

// revokedUser is the demo user all of whose tokens issued until a minute
// before the demo started API Manager has revoked (API Manager 4.x's bulk
// revocation).
const revokedUser = "mallory"

// demoAPIMData is what the demo data API holds: PizzaShackAPI, per state
// an application with a production key and that subscription, and the
// revocation of every token of revokedUser issued until a minute before
// start.
func demoAPIMData(start time.Time) apimfake.Data {
	d := apimfake.Data{APIs: []apimfake.Record{apimfake.API(1, "PizzaShackAPI", "1.0.0", "/pizzashack/1.0.0", "PUBLISHED")}}
	for n, state := range demoStates {
		app := n + 1
		d.Applications = append(d.Applications, apimfake.Application(app, "DemoApp-"+state, "alice", "Unlimited"))
		d.KeyMappings = append(d.KeyMappings, apimfake.KeyMapping(app, consumerKeyFor(state), "PRODUCTION", "Resident Key Manager"))
		d.Subscriptions = append(d.Subscriptions, apimfake.Subscription(app, 1, app, "Gold", state))
	}
	// A minute before the start, so that a token minted at once after it
	// (iat in whole seconds) is not covered.
	revokedAt := start.Add(-time.Minute).UnixMilli()
	d.RevokedSubjects = []apimfake.Record{apimfake.RevokedSubjectEntity(revokedUser+"@carbon.super", apimfake.EntityUserID, revokedAt)}
	return d
}

// serveClaims answers the gateway's claims retriever: a few claims for any
// user, from the user name in the request.
func (i *issuer) serveClaims(w http.ResponseWriter, r *http.Request) {
	if user, pass, ok := r.BasicAuth(); !ok || user != claimsUser || pass != claimsPassword {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	var req struct {
		Username string `json:"username"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Username == "" {
		http.Error(w, `{"error":"want {\"username\":\"...\"}"}`, http.StatusBadRequest)
		return
	}
	type claim struct {
		URI   string `json:"uri"`
		Value string `json:"value"`
	}
	name := strings.ToUpper(req.Username[:1]) + req.Username[1:]
	list := []claim{
		{"http://wso2.org/claims/givenname", name},
		{"http://wso2.org/claims/lastname", "Example"},
		{"http://wso2.org/claims/emailaddress", req.Username + "@example.org"},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"count": len(list), "list": list})
}

// serveToken mints an access token from the query parameters.
func (i *issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	req, problem := parseTokenRequest(r)
	if problem != "" {
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	var token string
	var err error
	if req.Format == "opaque" {
		if req.JTI != "" {
			http.Error(w, "jti: an opaque token has none", http.StatusBadRequest)
			return
		}
		token, err = i.mintOpaque(req, time.Now())
	} else {
		token, err = i.mint(req, time.Now())
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeCredential(w, token)
}

// writeCredential answers with a minted token or API key, as text that no
// cache keeps.
func writeCredential(w http.ResponseWriter, credential string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, credential)
}

// maxScopes bounds the scopes a caller may ask for.
const maxScopes = 8

// scopeRE is what the token endpoint accepts for one scope.
var scopeRE = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,64}$`)

// defaultScope is the scope a WSO2 key manager grants an application that
// asks for none.
const defaultScope = "am_application_scope default"

// parseTokenRequest reads the query parameters of the token and API-key
// endpoints; problem, when not "", says what is wrong with them.
func parseTokenRequest(r *http.Request) (req tokenRequest, problem string) {
	q := r.URL.Query()
	req = tokenRequest{
		User:      orDefault(q.Get("user"), "alice"),
		API:       orDefault(q.Get("api"), "PizzaShackAPI"),
		Version:   orDefault(q.Get("version"), "1.0.0"),
		ExpiresIn: time.Hour,
	}
	for _, v := range []string{req.User, req.API, req.Version} {
		if !nameRE.MatchString(v) {
			return req, fmt.Sprintf("%q: want 1 to 64 letters, digits or ._*-", v)
		}
	}
	switch req.Format = q.Get("format"); req.Format {
	case "", "3.2", "opaque":
	default:
		return req, "format: want 3.2 (an API Manager 3.2+ token), opaque (a UUID, for introspection) or nothing"
	}
	if req.JTI = q.Get("jti"); req.JTI != "" && !nameRE.MatchString(req.JTI) {
		return req, "jti: want 1 to 64 letters, digits or ._*-"
	}
	req.State = orDefault(q.Get("state"), "UNBLOCKED")
	if !slices.Contains(demoStates, req.State) {
		return req, fmt.Sprintf("state: want one of %s", strings.Join(demoStates, " "))
	}
	if s := q.Get("expires_in"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil || secs == 0 || secs < -86400 || secs > 86400 {
			return req, "expires_in: want seconds from -86400 to 86400, not 0 (negative: already expired)"
		}
		req.ExpiresIn = time.Duration(secs) * time.Second
	}
	if s := q.Get("issued_ago"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil || secs < 0 || secs > 86400 {
			return req, "issued_ago: want seconds from 0 to 86400 (the token's iat that long ago)"
		}
		req.IssuedAgo = time.Duration(secs) * time.Second
	}
	req.Scopes = strings.Fields(q.Get("scope"))
	if len(req.Scopes) > maxScopes {
		return req, fmt.Sprintf("scope: at most %d scopes", maxScopes)
	}
	for _, s := range req.Scopes {
		if !scopeRE.MatchString(s) {
			return req, fmt.Sprintf("scope %q: want 1 to 64 letters, digits or ._:/-", s)
		}
	}
	return req, ""
}

// tokenRequest is what a caller of the token endpoint chooses.
type tokenRequest struct {
	User, API, Version string
	// Format "3.2" mints an API Manager 3.2+ token, and "opaque" an
	// opaque one, of the application whose subscription is in State.
	Format, State string
	// JTI is the token's jti; "" makes a random one.
	JTI string
	// Scopes are granted besides am_application_scope and default.
	Scopes []string
	// ExpiresIn is the time from now to exp; negative: already expired.
	ExpiresIn time.Duration
	// IssuedAgo puts iat that long before now (a token issued earlier).
	IssuedAgo time.Duration
}

// mint signs an access token with the claims a WSO2 API Manager 3.x key
// manager puts in a self-contained token (SPEC's worked example).
func (i *issuer) mint(req tokenRequest, now time.Time) (string, error) {
	iat, exp := tokenTimes(req, now)
	jti := req.JTI
	if jti == "" {
		var err error
		if jti, err = randomUUID(); err != nil {
			return "", err
		}
	}
	claims := map[string]any{
		"iss":     i.url + "/token",
		"sub":     req.User + "@carbon.super",
		"aud":     demoClientID,
		"azp":     demoClientID,
		"scope":   scopeOf(req.Scopes),
		"keytype": "PRODUCTION",
		"iat":     iat.Unix(),
		"nbf":     iat.Unix(),
		"exp":     exp.Unix(),
		"jti":     jti,
		"application": map[string]any{
			"owner": req.User,
			"tier":  "Unlimited",
			"name":  "DefaultApplication",
			"id":    1,
			"uuid":  stableUUID("application/" + req.User),
		},
		"tierInfo": map[string]any{
			"Gold": map[string]any{"stopOnQuotaReach": true, "spikeArrestLimit": 0, "spikeArrestUnit": nil},
		},
		"subscribedAPIs": []map[string]any{{
			"subscriberTenantDomain": "carbon.super",
			"name":                   req.API,
			"context":                apiContext(req.API, req.Version),
			"publisher":              "admin",
			"version":                req.Version,
			"subscriptionTier":       "Gold",
		}},
	}
	if req.Format == "3.2" {
		for _, name := range []string{"application", "tierInfo", "subscribedAPIs", "keytype"} {
			delete(claims, name)
		}
		claims["azp"] = consumerKeyFor(req.State)
		claims["aud"] = consumerKeyFor(req.State)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("issuer: encoding the claims: %w", err)
	}
	hdr := jws.NewHeaders()
	for name, value := range map[string]any{jws.TypeKey: "JWT", jws.KeyIDKey: i.kid} {
		if err := hdr.Set(name, value); err != nil {
			return "", fmt.Errorf("issuer: setting header %s: %w", name, err)
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(jwa.RS256, i.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("issuer: signing: %w", err)
	}
	return string(token), nil
}

// tokenTimes are the iat and exp of the token req asks for: it expires
// ExpiresIn from now (an expired one was issued an hour before its exp)
// and was issued IssuedAgo before now.
func tokenTimes(req tokenRequest, now time.Time) (iat, exp time.Time) {
	exp = now.Add(req.ExpiresIn)
	if req.ExpiresIn < 0 {
		return exp.Add(-time.Hour), exp
	}
	return now.Add(-req.IssuedAgo), exp
}

// scopeOf is the scope claim of a token granted extra scopes.
func scopeOf(extra []string) string {
	return strings.Join(append([]string{defaultScope}, extra...), " ")
}

// waitForJWKSFetch waits until the gateway has fetched the issuer's keys
// once, so the first request finds them.
func (i *issuer) waitForJWKSFetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i.jwksFetches.Load() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway did not fetch the issuer's JWKS: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// apiContext is the context WSO2 gives an API: PizzaShackAPI 1.0.0 →
// /pizzashack/1.0.0.
func apiContext(api, version string) string {
	return "/" + strings.ToLower(strings.TrimSuffix(api, "API")) + "/" + version
}

// randomUUID returns a random (version 4) UUID.
func randomUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a UUID: %w", err)
	}
	return formatUUID(b), nil
}

// stableUUID returns a UUID derived from name, the same on every run.
func stableUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	var b [16]byte
	copy(b[:], sum[:])
	return formatUUID(b)
}

// formatUUID sets the version 4 and variant bits and formats b.
func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
