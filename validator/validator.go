// Package validator validates self-contained JWT access tokens against a set
// of trusted issuers, as an API gateway does before it calls a backend: the
// issuer is chosen by the token's iss, the key by its kid from the issuer's
// JWKS or from static certificates, the alg from a per-issuer allowlist;
// exp, nbf, iat and aud are checked with a clock skew, and the token's
// subscription to the API is looked up. Validated tokens are cached until
// they expire. WSO2 API keys (ValidateAPIKey) are validated against the
// api_keys certificates and end as the same *Token, with the restrictions
// they carry (Restrictions.Permits); access tokens also carry their scopes
// (Token.HasScopes).
//
// The package does not depend on Caddy: inputs are plain structs built once,
// and Validate takes the token and returns a *Token or an error wrapping one
// of ErrInvalid, ErrExpired, ErrNotSubscribed or ErrKeysUnavailable.
package validator

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/rawjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/ttlcache"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
)

// now is the clock; tests replace it.
var now = time.Now

// Defaults for the fields of Config left zero.
const (
	DefaultClockSkew      = 5 * time.Second
	DefaultJWKSRefresh    = 15 * time.Minute
	DefaultJWKSMinRefresh = 30 * time.Second
	DefaultMaxTokenSize   = 64 << 10
	DefaultCacheSize      = 10000
	DefaultFetchTimeout   = 10 * time.Second
)

// validationCacheEviction is the share of the validated-token cache dropped,
// soonest-expiring first, when it is full: as for the generated-token
// cache, a quarter, so that under a stream of new tokens the cost of
// finding the soonest-expiring entries is paid once per quarter capacity.
const validationCacheEviction = 0.25

// IssuerConfig describes one trusted issuer (a WSO2 [[jwtTokenConfig]]).
type IssuerConfig struct {
	// Issuer must equal the token's iss.
	Issuer string
	// Audiences, when not empty, must include one of the token's aud values.
	Audiences []string
	// JWKSURL is where the issuer publishes its keys; optional.
	JWKSURL string
	// PublicKeys are static keys, tried in order for tokens without a kid
	// or when there is no JWKSURL.
	PublicKeys []crypto.PublicKey
	// Algorithms is the allowlist; empty means DefaultAlgorithms.
	Algorithms []string
	// ValidateSubscription refuses tokens not subscribed to the API.
	ValidateSubscription bool
	// RemoteClaims asks for the user's claims from a claims retriever.
	RemoteClaims bool
	// ConsumerKeyClaim names the claim that holds the OAuth client ID (a
	// string, or an array whose first string is used). Empty means azp,
	// falling back to the first aud value, as WSO2's MGW 3.2 does; for an
	// introspected token, client_id.
	ConsumerKeyClaim string
	// Introspection, if set, validates this issuer's opaque access tokens
	// at its introspection endpoint. Its Issuer, Audiences, ClockSkew and
	// CacheSize are taken from this issuer and the Config.
	Introspection *introspection.Config
	// TokenPattern routes the opaque tokens it matches to this issuer's
	// introspection; nil takes those no other issuer's pattern matches.
	TokenPattern *regexp.Regexp
	// ClaimMap renames this issuer's token claims (remote name → local
	// name, at most MaxClaimMap pairs, no two to one local name) in
	// Token.Copied: what is copied into the backend JWT and shown by
	// placeholders. The checks read Token.Claims, as issued.
	ClaimMap map[string]string
}

// API is the API a route serves.
type API struct {
	Name, Version, Context string
}

// Config is everything a Validator needs, built once.
type Config struct {
	Issuers        []IssuerConfig
	API            *API // nil: no API configured
	ClockSkew      time.Duration
	JWKSRefresh    time.Duration
	JWKSMinRefresh time.Duration
	MaxTokenSize   int
	// CacheSize is the number of validated tokens kept; 0 turns the cache off
	// (use DefaultCacheSize for the default).
	CacheSize int
	// FetchTimeout bounds one JWKS fetch when HTTPClient is nil; 0 means
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// HTTPClient fetches JWKS; nil means a client with FetchTimeout.
	HTTPClient *http.Client
	// OnFetch, if set, is told the result of every JWKS fetch.
	OnFetch func(FetchResult)
	// ExternalSubscriptions leaves tokens without a subscribedAPIs claim to
	// the caller's own subscription check (API Manager's data): authorize
	// refuses only tokens whose subscribedAPIs has no entry for the API.
	ExternalSubscriptions bool
	// KeySets, if set, seeds each JWKS issuer with the last good set
	// fetched for the same issuer and URL (by an earlier Validator) and
	// keeps this Validator's good fetches for the next one.
	KeySets *KeySets
	// APIKeys, if set, makes ValidateAPIKey accept WSO2 API keys; nil
	// refuses them all.
	APIKeys *APIKeyConfig
}

// Issuer is a trusted issuer as the Validator holds it.
type Issuer struct {
	IssuerConfig
	jwks         *jwksSource // nil without JWKSURL
	staticKeys   []publicKey
	introspector *introspection.Introspector[*Token] // nil without Introspection
	claimMap     *claimMap                           // nil without ClaimMap
}

// Validator validates access tokens. It is safe for concurrent use.
type Validator struct {
	issuers      map[string]*Issuer
	api          *API
	skew         time.Duration
	maxTokenSize int
	cache        *ttlcache.Cache[*Token] // nil when off
	ctx          context.Context
	external     bool          // Config.ExternalSubscriptions
	client       *http.Client  // fetches the JWKS
	apiKeys      *apiKeySource // nil without Config.APIKeys
	opaque       *opaqueTokens // nil when no issuer has introspection
}

// New builds a Validator bound to ctx: a token with an unknown kid may
// make it fetch its issuer's JWKS, on ctx. It starts nothing in the
// background and makes no network call: Start does, so a config that is
// only checked (caddy validate) stays off the network. A JWKS issuer
// answers ErrKeysUnavailable until a fetch succeeds.
func New(ctx context.Context, cfg Config) (*Validator, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("no trusted issuer configured")
	}
	cfg = withDefaults(cfg)
	v := &Validator{
		issuers:      make(map[string]*Issuer, len(cfg.Issuers)),
		api:          cfg.API,
		skew:         cfg.ClockSkew,
		maxTokenSize: cfg.MaxTokenSize,
		ctx:          ctx,
		external:     cfg.ExternalSubscriptions,
		client:       cfg.HTTPClient,
	}
	for i, ic := range cfg.Issuers {
		iss, err := newIssuer(ic, cfg)
		if err != nil {
			return nil, fmt.Errorf("issuer %d (%q): %w", i+1, ic.Issuer, err)
		}
		if _, dup := v.issuers[ic.Issuer]; dup {
			return nil, fmt.Errorf("issuer %q configured twice", ic.Issuer)
		}
		v.issuers[ic.Issuer] = iss
	}
	if cfg.APIKeys != nil {
		var err error
		if v.apiKeys, err = newAPIKeySource(*cfg.APIKeys); err != nil {
			return nil, fmt.Errorf("api_keys: %w", err)
		}
	}
	var err error
	if v.opaque, err = v.newOpaqueTokens(cfg); err != nil {
		return nil, err
	}
	if cfg.CacheSize > 0 {
		v.cache = ttlcache.New[*Token](cfg.CacheSize, validationCacheEviction)
	}
	return v, nil
}

// Start starts, bound to the ctx given to New, one goroutine per JWKS
// issuer that fetches its set at once and refreshes it in the background,
// plus the cache janitor. Cancel that ctx to stop them all. Call it once.
func (v *Validator) Start() {
	ctx := v.ctx
	if v.cache != nil {
		go v.cache.Run(ctx, time.Minute)
	}
	jwks := false
	for _, iss := range v.issuers {
		if iss.jwks != nil {
			jwks = true
			go iss.jwks.run(ctx)
		}
		if iss.introspector != nil {
			iss.introspector.Start(ctx)
		}
	}
	if jwks {
		go func() {
			<-ctx.Done()
			v.client.CloseIdleConnections()
		}()
	}
}

func withDefaults(cfg Config) Config {
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.JWKSRefresh <= 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.JWKSMinRefresh <= 0 {
		cfg.JWKSMinRefresh = DefaultJWKSMinRefresh
	}
	if cfg.MaxTokenSize <= 0 {
		cfg.MaxTokenSize = DefaultMaxTokenSize
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.HTTPClient == nil {
		// Its own transport, so its idle connections can be closed when
		// the Validator's context ends without touching anyone else's.
		cfg.HTTPClient = &http.Client{
			Timeout:   cfg.FetchTimeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
		}
	}
	return cfg
}

func newIssuer(ic IssuerConfig, cfg Config) (*Issuer, error) {
	if ic.Issuer == "" {
		return nil, errors.New("issuer name is empty")
	}
	if ic.JWKSURL == "" && len(ic.PublicKeys) == 0 && ic.Introspection == nil {
		return nil, errors.New("needs a JWKS URL, at least one certificate or introspection")
	}
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = DefaultAlgorithms
	}
	for _, alg := range ic.Algorithms {
		if err := CheckAlgorithm(alg); err != nil {
			return nil, err
		}
	}
	cm, err := newClaimMap(ic.ClaimMap)
	if err != nil {
		return nil, err
	}
	iss := &Issuer{IssuerConfig: ic, claimMap: cm}
	for i, pub := range ic.PublicKeys {
		typ, err := typeOf(pub)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		iss.staticKeys = append(iss.staticKeys, publicKey{typ: typ, key: pub})
	}
	if ic.JWKSURL != "" {
		iss.jwks = &jwksSource{
			issuer:     ic.Issuer,
			url:        ic.JWKSURL,
			client:     cfg.HTTPClient,
			refresh:    cfg.JWKSRefresh,
			minRefresh: cfg.JWKSMinRefresh,
			observe:    cfg.OnFetch,
			shared:     cfg.KeySets,
		}
		if set := cfg.KeySets.load(ic.Issuer, ic.JWKSURL); set != nil {
			iss.jwks.set.Store(set)
		}
	}
	return iss, nil
}

// IssuerStatus is what Status tells of one issuer.
type IssuerStatus struct {
	Issuer  string `json:"issuer"`
	JWKSURL string `json:"jwks_url,omitempty"`
	// Keys is the number of keys in the JWKS in use (0: none fetched yet)
	// plus the certificates.
	Keys int `json:"keys"`
	// Fetched is when the JWKS in use was fetched; zero when none was.
	Fetched time.Time `json:"jwks_fetched,omitzero"`
	// Introspection tells of the issuer's introspection endpoint; nil
	// without one.
	Introspection *IntrospectionStatus `json:"introspection,omitempty"`
}

// IntrospectionStatus is what an issuer's introspection has done.
type IntrospectionStatus struct {
	URL string `json:"url"`
	// Cached and Negative are the active and the inactive answers cached.
	Cached   int `json:"cached"`
	Negative int `json:"negative"`
	// Calls are the calls made, by outcome (active, inactive, invalid, error).
	Calls map[string]int64 `json:"calls"`
}

// Status returns each issuer's keys, sorted by issuer, and the number of
// tokens in the validated-token cache.
func (v *Validator) Status() (issuers []IssuerStatus, cached int) {
	for _, iss := range v.issuers {
		st := IssuerStatus{Issuer: iss.Issuer, JWKSURL: iss.JWKSURL, Keys: len(iss.staticKeys)}
		if iss.jwks != nil {
			if set := iss.jwks.set.Load(); set != nil {
				st.Keys += set.keys
				st.Fetched = set.fetchedAt
			}
		}
		if in := iss.introspector; in != nil {
			s := in.Stats()
			st.Introspection = &IntrospectionStatus{URL: iss.Introspection.URL, Cached: s.Cached, Negative: s.Negative, Calls: s.Calls}
		}
		issuers = append(issuers, st)
	}
	slices.SortFunc(issuers, func(a, b IssuerStatus) int { return strings.Compare(a.Issuer, b.Issuer) })
	if v.cache != nil {
		cached = v.cache.Len()
	}
	return issuers, cached
}

// Flush empties the validated-token cache.
func (v *Validator) Flush() {
	if v.cache != nil {
		v.cache.Clear()
	}
	for _, iss := range v.issuers {
		if iss.introspector != nil {
			iss.introspector.Flush()
		}
	}
}

// Forget drops the token with this digest (Token.Digest) from the cache,
// whether it was validated as an access token or as an API key.
func (v *Validator) Forget(digest [32]byte) {
	if v.cache != nil {
		v.cache.Delete(cacheKey(&digest, false))
		v.cache.Delete(cacheKey(&digest, true))
	}
	for _, iss := range v.issuers {
		if iss.introspector != nil {
			iss.introspector.Forget(digest)
		}
	}
}

// Issuer returns the trusted issuer named iss, or nil.
func (v *Validator) Issuer(iss string) *Issuer { return v.issuers[iss] }

// Validate validates a compact JWS access token and returns what it says.
func (v *Validator) Validate(token string) (*Token, error) {
	t, _, err := v.ValidateCached(token)
	return t, err
}

// ValidateCached is Validate that also tells whether the token came from
// the validated-token cache (only its exp checked again).
func (v *Validator) ValidateCached(token string) (t *Token, cached bool, err error) {
	return v.validateCached(token, false)
}

// validateCached validates an access token, or an API key when apiKey is
// set, through the validated-token cache.
func (v *Validator) validateCached(token string, apiKey bool) (t *Token, cached bool, err error) {
	if len(token) > v.maxTokenSize {
		return nil, false, invalidf("token of %d bytes is larger than the %d allowed", len(token), v.maxTokenSize)
	}
	if !apiKey && v.opaque != nil && !isCompactJWS(token) {
		return v.validateOpaque(token)
	}
	// Hashed in place: Sum256 only reads, and strings do not change. The
	// copy that a miss parses and keeps slices of is made only then.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	var key string
	if v.cache != nil {
		key = cacheKey(&sum, apiKey)
		if t, _, ok := v.cache.Get(key); ok {
			// An API key without exp never expires; the cache drops it
			// after apiKeyCacheTTL.
			if !t.Expires.IsZero() && now().After(t.Expires.Add(v.skew)) {
				v.cache.Delete(key)
				return nil, true, fmt.Errorf("%w at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
			}
			t, err := v.authorize(t)
			return t, true, err
		}
	}
	raw := []byte(token)
	if apiKey {
		t, err = v.validateAPIKey(raw)
	} else {
		t, err = v.validate(raw)
	}
	if err != nil {
		return nil, false, err
	}
	t.Digest = sum
	t.Signature = strings.Clone(token[strings.LastIndexByte(token, '.')+1:])
	if v.cache != nil {
		v.cache.Set(key, t, v.cacheExpiry(t, apiKey))
	}
	t, err = v.authorize(t)
	return t, false, err
}

// authorize applies the subscription rule to a validated token.
func (v *Validator) authorize(t *Token) (*Token, error) {
	if t.Issuer.ValidateSubscription && v.api != nil && t.Subscription == nil {
		if _, listed := t.Claims["subscribedAPIs"]; v.external && !listed {
			return t, nil
		}
		return t, fmt.Errorf("%w: no subscription to %s %s", ErrNotSubscribed, v.api.Name, v.api.Version)
	}
	return t, nil
}

// validate does the full check of a token not in the cache.
func (v *Validator) validate(token []byte) (*Token, error) {
	c, err := splitToken(token)
	if err != nil {
		return nil, err
	}
	if _, ok := algKeyTypes[c.alg]; !ok {
		return nil, invalidf("alg %.32q is not allowed", c.alg)
	}
	t, err := readClaims(c)
	if err != nil {
		return nil, err
	}
	iss := v.issuers[string(t.issuerName)]
	if iss == nil {
		return nil, invalidf("unknown issuer %.64q", t.issuerName)
	}
	t.Issuer = iss
	if !slices.Contains(iss.Algorithms, c.alg) {
		return nil, invalidf("alg %s is not allowed for issuer %s", c.alg, iss.Issuer)
	}
	if err := v.verify(iss, c); err != nil {
		return nil, err
	}
	if len(iss.Audiences) > 0 && !overlaps(iss.Audiences, t.Audience) {
		return nil, invalidf("aud does not name an accepted audience")
	}
	if err := v.checkTimes(&t.Token); err != nil {
		return nil, err
	}
	t.ConsumerKey = consumerKey(t.Claims, iss.ConsumerKeyClaim, t.Audience)
	if v.api != nil {
		t.Subscription = matchSubscription(t.Claims["subscribedAPIs"], v.api)
	}
	t.Copied = iss.claimMap.apply(t.Claims)
	return &t.Token, nil
}

// checkTimes checks a verified token's nbf and iat, when it has them, and
// its exp, unless it is an API key without one, all with the clock skew.
// An exp that has passed is ErrExpired, but only when nothing else is
// wrong.
func (v *Validator) checkTimes(t *Token) error {
	n := now()
	if !t.NotBefore.IsZero() && n.Add(v.skew).Before(t.NotBefore) {
		return invalidf("not valid before %s (nbf)", t.NotBefore.UTC().Format(time.RFC3339))
	}
	if !t.IssuedAt.IsZero() && n.Add(v.skew).Before(t.IssuedAt) {
		return invalidf("issued in the future (iat %s)", t.IssuedAt.UTC().Format(time.RFC3339))
	}
	if !t.Expires.IsZero() && n.After(t.Expires.Add(v.skew)) {
		return fmt.Errorf("%w at %s", ErrExpired, t.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// verify checks the signature with the issuer's key for the token.
func (v *Validator) verify(iss *Issuer, c *compact) error {
	candidates := iss.staticKeys
	if c.kid != "" && iss.jwks != nil {
		keys, err := iss.jwks.lookup(v.ctx, c.kid)
		if err != nil {
			return err
		}
		candidates = keys
	} else if len(candidates) == 0 {
		return invalidf("token has no kid and issuer %s has no certificate", iss.Issuer)
	}
	verifier := verifiers[c.alg]
	fitting := 0
	for i := range candidates {
		k := &candidates[i]
		if !k.fits(c.alg) {
			continue
		}
		fitting++
		if verifier.Verify(c.signingInput, c.signature, k.key) == nil {
			return nil
		}
	}
	if fitting == 0 {
		return invalidf("no key of issuer %s fits alg %s", iss.Issuer, c.alg)
	}
	return invalidf("signature does not verify")
}

// parsedToken is a Token with the iss still to be resolved.
type parsedToken struct {
	Token
	issuerName []byte // the iss claim's value
}

// readClaims checks the types of an access token's registered claims and
// fills a Token, its scopes included.
func readClaims(c *compact) (*parsedToken, error) {
	return readCredential(c, false)
}

// readAPIKeyClaims is readClaims for an API key: iss and exp are optional,
// a token_type of InternalKey is refused, the restrictions are read and
// there are no scopes.
func readAPIKeyClaims(c *compact) (*parsedToken, error) {
	return readCredential(c, true)
}

// internalKeyType is the token_type of the internal keys API Manager gives
// its gateways, which are not API keys.
const internalKeyType = "InternalKey"

// readCredential is readClaims, or readAPIKeyClaims when apiKey is set.
func readCredential(c *compact, apiKey bool) (*parsedToken, error) {
	t := &parsedToken{Token: Token{Algorithm: c.alg, KeyID: c.kid, Claims: c.claims}}
	var err error
	if _, hasIss := c.claims["iss"]; hasIss || !apiKey {
		if t.issuerName, err = issuerClaim(c.claims); err != nil {
			return nil, err
		}
	}
	if t.Subject, err = stringMember(c.claims, "sub", false); err != nil {
		return nil, err
	}
	if t.JTI, err = stringMember(c.claims, "jti", false); err != nil {
		return nil, err
	}
	if t.Audience, err = audienceClaim(c.claims); err != nil {
		return nil, err
	}
	var present bool
	if t.Expires, present, err = timeClaim(c.claims, "exp"); err != nil {
		return nil, err
	} else if !present && !apiKey {
		return nil, invalidf("exp missing")
	}
	if t.NotBefore, _, err = timeClaim(c.claims, "nbf"); err != nil {
		return nil, err
	}
	if t.IssuedAt, _, err = timeClaim(c.claims, "iat"); err != nil {
		return nil, err
	}
	if _, ok := c.claims["backendJwt"]; ok {
		if t.BackendJWT, err = stringMember(c.claims, "backendJwt", true); err != nil {
			return nil, err
		}
		if strings.ContainsFunc(t.BackendJWT, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, invalidf("backendJwt holds a control character")
		}
		t.HasBackendJWT = true
	}
	if !apiKey {
		t.Scopes = scopesClaim(c.claims)
		return t, nil
	}
	if typ, err := stringMember(c.claims, "token_type", false); err != nil {
		return nil, err
	} else if typ == internalKeyType {
		return nil, invalidf("token_type %s: an internal key is not an API key", internalKeyType)
	}
	if t.Restrictions, err = readRestrictions(c.claims); err != nil {
		return nil, err
	}
	return t, nil
}

func overlaps(accepted, aud []string) bool {
	for _, a := range aud {
		if slices.Contains(accepted, a) {
			return true
		}
	}
	return false
}

// issuerClaim returns the iss claim, which is required and a string.
func issuerClaim(claims map[string]json.RawMessage) ([]byte, error) {
	raw, ok := claims["iss"]
	if !ok {
		return nil, invalidf("iss missing")
	}
	iss, ok := jsonStringBytes(raw)
	if !ok {
		return nil, invalidf("iss is not a string")
	}
	return iss, nil
}

// consumerKey returns the OAuth client ID of a token: the claim named, a
// string or the first string of an array; by default azp, else the first
// aud value. "" when there is none.
func consumerKey(claims map[string]json.RawMessage, claim string, aud []string) string {
	if claim == "" {
		if azp, ok := jsonString(claims["azp"]); ok && azp != "" {
			return azp
		}
		if len(aud) > 0 {
			return aud[0]
		}
		return ""
	}
	raw := claims[claim]
	if s, ok := jsonString(raw); ok {
		return s
	}
	first := ""
	_ = rawjson.EachElement(raw, func(item []byte) {
		if s, ok := jsonString(item); ok && first == "" {
			first = s
		}
	})
	return first
}
