package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/retriever"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// errRevokedByOperator is behind the 401 of a token revoked through the admin API.
var errRevokedByOperator = errors.New("the token is revoked (admin API)")

// errScopes is behind the 403 of a token without a required scope.
var errScopes = errors.New("the access token lacks a scope of require_scopes")

// clientIP is the request's client address as Caddy determined it (with
// trusted_proxies, the forwarded one); the zero Addr when unknown.
func clientIP(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if s == "" {
		s, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	addr, _ := netip.ParseAddr(s)
	return addr.Unmap()
}

// ServeHTTP implements caddyhttp.MiddlewareHandler: SPEC 5, step by step.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// 1. Strip: the backend never sees a backend header this handler did not set.
	stripHeader(r.Header, h.header)
	stripHeader(r.Trailer, h.header)

	// The config runs: its background work has started (see runApp)
	// unless this request came first.
	if err := h.start(); err != nil {
		return h.refuse(w, r, faultUnavailable, err, nil)
	}

	// 2. The public keys of the backend JWT, for backends to verify it.
	if h.JWKSPath != "" && r.URL.Path == h.JWKSPath {
		return h.serveJWKS(w, r)
	}

	// 3. The credential: an access token (a JWT or an opaque token) or an
	// API key, from the one place of the request that holds one.
	cred, err := h.findCredential(r)
	if err != nil {
		f := faultInvalid
		if err == errNoToken {
			f = faultMissing
		}
		return h.refuse(w, r, f, err, nil)
	}

	// 4-5. Validate and check the subscription.
	start := time.Now()
	var tok *validator.Token
	var validationCached bool
	if cred.at.apiKey {
		tok, validationCached, err = h.validator.ValidateAPIKey(cred.value)
	} else {
		tok, validationCached, err = h.validator.ValidateCached(cred.value)
	}
	hitOrMiss(validationCached, h.metrics.validationHit, h.metrics.validationMiss)
	if err != nil {
		return h.refuse(w, r, faultFor(err), err, tok)
	}
	if revocations.Revoked(tok.JTI, tok.Signature) || revocations.RevokedDigest(tok.Digest) ||
		revocations.RevokedBefore(tok.ConsumerKey, tok.Subject, tok.IssuedAt) {
		h.forget(tok)
		return h.refuse(w, r, faultInvalid, errRevokedByOperator, tok)
	}
	if tok.Restrictions != nil {
		// An API key's permittedIP and permittedReferer.
		if err := tok.Restrictions.Permits(clientIP(r), r.Header.Get("Referer")); err != nil {
			return h.refuse(w, r, faultRestricted, err, tok)
		}
	}
	var data apimdata.Result
	if h.apim != nil {
		var f *fault
		if data, f, err = h.checkAPIManager(r.Context(), tok); f != nil {
			return h.refuse(w, r, f, err, tok)
		}
	}
	// API keys carry no scopes and are not checked against them (as WSO2).
	if len(h.RequireScopes) > 0 && !cred.at.apiKey && !tok.HasScopes(h.RequireScopes) {
		return h.refuse(w, r, faultScope, errScopes, tok)
	}
	ph := &placeholders{tok: tok}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Map(ph.lookup)

	switch {
	case tok.HasBackendJWT:
		// 6. Pass through a backend JWT the access token already carries.
		ph.backendJWT = tok.BackendJWT
	case h.generation != nil:
		// 8. Generate, or take the token made for this inbound token and API.
		var generationCached bool
		ph.backendJWT, generationCached, err = h.backendJWT(tok, repl, data.Application, data.Mapping, data.Subscription)
		hitOrMiss(generationCached, h.metrics.generationHit, h.metrics.generationMiss)
		switch {
		case errors.Is(err, jwtgen.ErrNotAfter):
			// Accepted within clock_skew of its exp, the access token
			// has no time left for a backend JWT to live in.
			return h.refuse(w, r, faultExpired, err, tok)
		case errors.Is(err, errClaimsUnavailable):
			// on_error fail of the claims retriever: not the caller's fault.
			return h.refuse(w, r, faultUnavailable, err, tok)
		case err != nil:
			if !h.generation.failOpen {
				return h.refuse(w, r, faultGeneration, err, tok)
			}
			if c := h.warnings.Check(zapcore.WarnLevel, "backend JWT not generated; forwarding without it"); c != nil {
				c.Write(zap.String("issuer", tok.Issuer.Issuer), zap.String("sub", tok.Subject), zap.String("jti", tok.JTI), zap.Error(err))
			}
		}
	}
	if ph.backendJWT != "" {
		r.Header[h.header] = []string{ph.backendJWT}
	}

	// 9. Forward.
	if h.StripAuthorization {
		cred.strip(r)
	}
	h.metrics.ok.Inc()
	if c := h.logger.Check(zapcore.DebugLevel, "request authenticated"); c != nil {
		c.Write(zap.String("issuer", tok.Issuer.Issuer), zap.String("sub", tok.Subject), zap.String("jti", tok.JTI),
			zap.Bool("validation_cached", validationCached), zap.Bool("backend_jwt", ph.backendJWT != ""),
			zap.Duration("duration", time.Since(start)))
	}
	return next.ServeHTTP(w, r)
}

// stripHeader deletes every field of hdr that a server or framework could
// take for name: any case, and '_' for '-' (CGI-style servers map both to
// one variable).
func stripHeader(hdr http.Header, name string) {
	if len(hdr) == 0 {
		return
	}
	delete(hdr, name)
	for field := range hdr {
		if len(field) == len(name) && sameHeaderName(field, name) {
			delete(hdr, field)
		}
	}
}

func sameHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

// foldHeaderByte lower-cases an ASCII letter and turns '_' into '-'.
func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// placeholders serves {http.auth.user.id}, {http.auth.user.issuer},
// {http.auth.user.claims.<name>} and {http.backend_jwt.token} for one
// request, computed only when a placeholder is used.
type placeholders struct {
	tok        *validator.Token
	backendJWT string
}

func (p *placeholders) lookup(key string) (any, bool) {
	switch key {
	case "http.auth.user.id":
		return p.tok.Subject, true
	case "http.auth.user.issuer":
		return p.tok.Issuer.Issuer, true
	case "http.backend_jwt.token":
		return p.backendJWT, true
	}
	name, ok := strings.CutPrefix(key, "http.auth.user.claims.")
	if !ok {
		return nil, false
	}
	raw, ok := p.tok.CopiedClaims()[name]
	if !ok {
		return nil, false
	}
	return claimText(raw), true
}

// claimText renders a raw claim for a placeholder: strings as they are,
// other values as their JSON.
func claimText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// claimsRetrieval is the provisioned claims retriever.
type claimsRetrieval struct {
	cache      *retriever.Cached
	failClosed bool // on_error fail
}

// maxClaimsWait is the longest a request waits for claims, whatever the
// retriever module.
const maxClaimsWait = 30 * time.Second

// errClaimsUnavailable is behind the 503 of a failed retrieval with
// on_error fail.
var errClaimsUnavailable = errors.New("claims retrieval failed")

// backendJWT returns the backend JWT for the validated token: from the
// cache when one made for the same inbound token and API has more than
// clock_skew of its life left, else newly generated, with the user's
// retrieved claims when the issuer has remote_claims. app, mapping and sub
// are what API Manager's data holds for a token without subscribedAPIs
// (each may be nil); the static claims with placeholders are rendered with
// repl, and a token made with other values is another cache entry.
func (h *Handler) backendJWT(tok *validator.Token, repl *caddy.Replacer, app *apimdata.Application, mapping *apimdata.KeyMapping, sub *apimdata.Subscription) (jwt string, cached bool, err error) {
	g := h.generation
	now := time.Now()
	static, rendered := g.staticClaims(repl)
	degraded := false // made without the claims a failed retrieval would have added
	mint := func() (string, time.Time, error) {
		in := &jwtgen.Input{
			Claims:       tok.Claims,
			Copied:       tok.Copied,
			API:          h.jwtAPI,
			Subscription: subscriptionOf(tok),
			UserType:     tok.UserType,
			Static:       static,
			Now:          now,
			NotAfter:     tok.Expires,
		}
		if h.apim != nil && app != nil {
			h.apim.fill(in, app, mapping, sub)
		}
		if h.claims != nil && tok.Issuer.RemoteClaims {
			var err error
			if in.Retrieved, err = h.retrieveClaims(tok); err != nil {
				if h.claims.failClosed {
					return "", time.Time{}, err
				}
				degraded = true
			}
		}
		started := time.Now()
		jwt, exp, err := g.signer().gen.Generate(in)
		metrics.generation.Observe(time.Since(started).Seconds())
		if err == nil {
			h.logGenerated(tok, jwt)
		}
		return jwt, exp, err
	}
	if g.cache == nil {
		jwt, _, err = mint()
		return jwt, false, err
	}
	key := jwtgen.CacheKeyDigest(tok.Digest, h.apiName, h.apiVersion, rendered...)
	jwt, cached, err = g.cache.Get(key, now, g.minRemaining, mint)
	if degraded {
		// Serve it this once, but let the next request try the retrieval again.
		g.cache.Delete(key)
	}
	return jwt, cached, err
}

// logGenerated logs, at DEBUG, the claims of a backend JWT just made (the
// payload only: never the token).
func (h *Handler) logGenerated(tok *validator.Token, jwt string) {
	c := h.logger.Check(zapcore.DebugLevel, "backend JWT generated")
	if c == nil {
		return
	}
	parts := strings.SplitN(jwt, ".", 3)
	payload, err := h.generation.decodePart(parts[1])
	if err != nil {
		payload = []byte(`"unreadable"`)
	}
	c.Write(zap.String("issuer", tok.Issuer.Issuer), zap.String("sub", tok.Subject), zap.String("jti", tok.JTI),
		zap.Any("claims", json.RawMessage(payload)))
}

// retrieveClaims asks the claims retriever (through its cache) for the
// user's claims. A failure is logged as a warning and returned wrapping
// errClaimsUnavailable.
func (h *Handler) retrieveClaims(tok *validator.Token) (map[string]any, error) {
	req := &retriever.Request{
		Claims:   tok.Claims,
		Issuer:   tok.Issuer.Issuer,
		Subject:  tok.Subject,
		Username: retriever.Username(tok.Subject),
	}
	// The call is shared by every request waiting on this user (single
	// flight), so it runs on the config's context rather than one caller's
	// request, bounded by the retriever's own timeout; maxClaimsWait also
	// bounds the wait for a retriever module that has none.
	ctx, cancel := context.WithTimeout(h.ctx, maxClaimsWait)
	defer cancel()
	started := time.Now()
	claims, hit, err := h.claims.cache.Retrieve(ctx, req)
	hitOrMiss(hit, h.metrics.claimsHit, h.metrics.claimsMiss)
	if !hit {
		metrics.claimsRetrieval.Observe(time.Since(started).Seconds())
	}
	if err == nil {
		return claims, nil
	}
	metrics.claimsErrors.Inc()
	if c := h.warnings.Check(zapcore.WarnLevel, "claims retrieval failed"); c != nil {
		c.Write(zap.String("issuer", req.Issuer), zap.String("sub", tok.Subject), zap.String("jti", tok.JTI),
			zap.Bool("fail", h.claims.failClosed), zap.Error(err))
	}
	return nil, fmt.Errorf("%w: %w", errClaimsUnavailable, err)
}

// subscriptionOf returns the tier claims' source, or nil.
func subscriptionOf(tok *validator.Token) *jwtgen.Subscription {
	if tok.Subscription == nil {
		return nil
	}
	return &jwtgen.Subscription{Tier: tok.Subscription.SubscriptionTier, TenantDomain: tok.Subscription.SubscriberTenantDomain}
}

// serveJWKS answers the jwks_path request with the signing keys' JWKS.
func (h *Handler) serveJWKS(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, errors.New("the JWKS is read with GET"))
	}
	body, err := h.generation.jwksBody()
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", h.generation.jwksMaxAge)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(body)
	return err
}
