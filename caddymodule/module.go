// Package caddymodule is the Caddy glue of caddy-backend-jwt: it registers
// the http.handlers.backend_jwt handler and its backend_jwt Caddyfile
// directive, turns their configuration into the pure validator package's
// inputs at provision time, and on every request validates the caller's
// access token and hands the request on with the backend JWT header set.
package caddymodule

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/retriever"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("backend_jwt", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("backend_jwt", httpcaddyfile.After, "forward_auth")
}

// DefaultHeader is the request header that carries the backend JWT.
const DefaultHeader = "X-JWT-Assertion"

// Handler validates the caller's access token against trusted issuers and
// passes end-user attributes to the next handler (normally reverse_proxy) in
// a backend JWT header, as the WSO2 API Microgateway does.
type Handler struct {
	// Issuers are the trusted access-token issuers (WSO2 [[jwtTokenConfig]]).
	// At least one is required; a token is checked against the one whose
	// issuer equals its iss claim.
	Issuers []*IssuerConfig `json:"issuers,omitempty"`

	// ClockSkew is the leeway for exp, nbf and iat (WSO2 timestampSkew).
	// Default: 5s.
	ClockSkew caddy.Duration `json:"clock_skew,omitempty"`

	// JWKSRefresh is how often every JWKS is fetched again in the
	// background. Default: 15m.
	JWKSRefresh caddy.Duration `json:"jwks_refresh,omitempty"`

	// JWKSMinRefresh bounds how often a token with an unknown kid may make
	// the handler fetch an issuer's JWKS, and how soon a failed fetch is
	// retried. Default: 30s.
	JWKSMinRefresh caddy.Duration `json:"jwks_min_refresh,omitempty"`

	// JWKSTimeout bounds one JWKS fetch, connection to last byte. A request
	// waiting for a fetch caused by an unknown kid waits at most this long.
	// Default: 10s.
	JWKSTimeout caddy.Duration `json:"jwks_timeout,omitempty"`

	// MaxTokenSize is the largest access token accepted, in bytes; larger
	// ones are refused with 900901. Default: 65536.
	MaxTokenSize int `json:"max_token_size,omitempty"`

	// ValidationCache is the number of validated tokens kept until they
	// expire, so that later requests with one only re-check its exp. 0 turns
	// the cache off. Default: 10000.
	ValidationCache *int `json:"validation_cache,omitempty"`

	// API is the API this route serves: used by subscription validation and
	// the api claims of the backend JWT.
	API *APIConfig `json:"api,omitempty"`

	// Header is the request header that carries the backend JWT to the next
	// handler (WSO2 [jwtConfig] header). Any copy of it sent by the client
	// is always removed. Default: X-JWT-Assertion.
	Header string `json:"header,omitempty"`

	// StripAuthorization removes the caller's credential from where it was
	// taken (the Authorization or other header, the query parameter, the
	// cookie) before the request is handed on.
	StripAuthorization bool `json:"strip_authorization,omitempty"`

	// TokenFrom are more places to take an access token from (the whole
	// value, no Bearer prefix), read with the Authorization header: a
	// request must hold one credential in all of them together.
	TokenFrom []TokenSource `json:"token_from,omitempty"`

	// APIKeys, when set, accepts WSO2 API keys from a header and a query
	// parameter (default apikey for both).
	APIKeys *APIKeysConfig `json:"api_keys,omitempty"`

	// RequireScopes are scopes every access token must hold (in its scope
	// or scp claim, or its introspection answer's scope), else 403 900910.
	// API keys are not checked against them.
	RequireScopes []string `json:"require_scopes,omitempty"`

	// ErrorResponse chooses how refusals are answered: "wso2" (default)
	// writes the WSO2 fault body; "caddy" writes nothing and returns the
	// error, so the site's handle_errors renders it with the placeholders
	// {http.backend_jwt.error.code}, {http.backend_jwt.error.message} and
	// {http.backend_jwt.error.description}.
	ErrorResponse string `json:"error_response,omitempty"`

	// Generate, when present, makes the handler generate a signed backend
	// JWT (WSO2 jwtGeneratorEnabled); without it only a backendJwt claim
	// of the access token is passed on.
	Generate *GenerateConfig `json:"generate,omitempty"`

	// ClaimsRaw is the claims retriever module (namespace
	// http.backend_jwt.retrievers, inline key retriever), asked for more
	// user claims for tokens of issuers with remote_claims (WSO2
	// [jwtGeneratorConfig.claimRetrieval]). The built-in one is wso2.
	ClaimsRaw json.RawMessage `json:"claims,omitempty" caddy:"namespace=http.backend_jwt.retrievers inline_key=retriever"`

	// APIManager, when set, reads API Manager's data (3.2 and later): it
	// checks the subscriptions of tokens without subscribedAPIs, gives the
	// backend JWT its application claims and refuses revoked tokens.
	APIManager *APIManagerConfig `json:"api_manager,omitempty"`

	// RevocationSync is how often the revocations in Caddy's storage
	// (posted to any instance's admin API) are read. Default: 10s.
	RevocationSync caddy.Duration `json:"revocation_sync,omitempty"`

	// JWKSPath, when set, serves the public keys of the backend JWT's
	// signing key as a JWKS at this request path (no token needed), so
	// backends can verify the tokens. Needs generate.
	JWKSPath string `json:"jwks_path,omitempty"`

	validator   *validator.Validator
	generation  *generation      // nil without generate
	claims      *claimsRetrieval // nil without claims
	apim        *apimBinding     // nil without api_manager
	jwtAPI      *jwtgen.API      // the api claims; nil without api
	apiName     string
	apiVersion  string
	header      string  // canonical form of Header
	places      []place // where credentials are taken from, Authorization first
	caddyError  bool
	retryAfter  string        // seconds, for 503 answers
	skew        time.Duration // clock_skew, or its default
	syncEvery   time.Duration // revocation_sync, or its default
	storage     certmagic.Storage
	logger      *zap.Logger
	warnings    *zap.Logger // logger, sampled: one line per message per warnEvery
	metrics     *handlerMetrics
	ctx         context.Context // the config's lifetime; background calls use it
	cancel      context.CancelFunc
	starting    *startState
	keySetsHeld bool              // a reference to keySetsPool is held
	syncer      *revocationSyncer // from revocationSyncPool, held until Cleanup
}

// keySetsPool holds the last good JWKS key sets of the process, shared by
// the handlers of successive configs: Caddy provisions a new config before
// it cleans up the old one, so the count never drops to zero across a
// reload, and a reload during a JWKS outage keeps the last good keys.
var keySetsPool = caddy.NewUsagePool()

const keySetsPoolKey = "backend_jwt.jwks_key_sets"

type keySetsHolder struct{ *validator.KeySets }

func (keySetsHolder) Destruct() error { return nil }

// IssuerConfig is one trusted access-token issuer.
type IssuerConfig struct {
	// Issuer must equal the token's iss claim.
	Issuer string `json:"issuer"`

	// Audience, when set, must contain one of the token's aud values; a
	// token without aud is then refused.
	Audience []string `json:"audience,omitempty"`

	// JWKSURL is where the issuer publishes its signing keys. Tokens with a
	// kid are verified with the key of that kid.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Certificates are PEM files holding certificates or public keys, tried
	// in order for tokens without a kid or when there is no JWKS URL.
	Certificates []string `json:"certificates,omitempty"`

	// Algorithms allowed for this issuer's tokens: any of RS256 RS384 RS512
	// PS256 PS384 PS512 ES256 ES384 ES512 EdDSA. HMAC algorithms and none
	// are refused. Default: RS256 PS256 ES256 EdDSA.
	Algorithms []string `json:"algorithms,omitempty"`

	// ValidateSubscription refuses (403, 900908) tokens whose subscribedAPIs
	// claim holds no entry for the configured API (WSO2 validateSubscription).
	ValidateSubscription bool `json:"validate_subscription,omitempty"`

	// RemoteClaims retrieves more user claims for this issuer's tokens from
	// the claims retriever (WSO2 remoteUserClaimRetrievalEnabled).
	RemoteClaims bool `json:"remote_claims,omitempty"`

	// Introspection validates this issuer's opaque access tokens at its
	// RFC 7662 introspection endpoint.
	Introspection *IntrospectionConfig `json:"introspection,omitempty"`

	// ClaimMap renames this issuer's token claims (remote name → local
	// name) in what the backend JWT copies and the placeholders show
	// (MGW 3.2 [[jwtTokenConfig.claims]]); the checks read the token as
	// issued.
	ClaimMap map[string]string `json:"claim_map,omitempty"`

	// ConsumerKeyClaim names the claim holding the OAuth client ID that
	// API Manager's key mappings are looked up by. Default: azp, falling
	// back to the first aud value (as WSO2's MGW 3.2 does).
	ConsumerKeyClaim string `json:"consumer_key_claim,omitempty"`
}

// APIConfig names the API a route serves.
type APIConfig struct {
	// Name must equal a subscribedAPIs entry's name.
	Name string `json:"name"`
	// Version must equal that entry's version, unless the entry's is "*".
	Version string `json:"version"`
	// Context is the API's context path, as in the apicontext claim.
	Context string `json:"context,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.backend_jwt",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision checks the configuration, reads the certificate and key files
// and builds what requests use. It makes no network call and writes
// nothing to storage: what needs either (JWKS fetches, API Manager reads,
// revocation syncs, the managed signing key) starts when the config runs
// (see runApp), so a config that is only checked stays off the network.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.starting = new(startState)
	h.logger = ctx.Logger()
	h.warnings = h.logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, warnEvery, 1, 0)
	}))
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.metrics = newHandlerMetrics()
	h.header = DefaultHeader
	if h.Header != "" {
		h.header = h.Header
	}
	h.header = http.CanonicalHeaderKey(h.header)
	var err error
	if h.places, err = h.credentialPlaces(); err != nil {
		return err
	}
	if slices.Contains(h.RequireScopes, "") {
		return errors.New("require_scopes: a scope is empty")
	}
	switch h.ErrorResponse {
	case "", "wso2":
	case "caddy":
		h.caddyError = true
	default:
		return fmt.Errorf("error_response %q: want wso2 or caddy", h.ErrorResponse)
	}
	cfg, err := h.validatorConfig()
	if err != nil {
		return err
	}
	// The skew the validator applies: revocations and cached backend JWTs
	// must use the same one, or a token is accepted again within it.
	h.skew = cfg.ClockSkew
	if h.skew == 0 {
		h.skew = validator.DefaultClockSkew
	}
	h.retryAfter = fmt.Sprint(int(math.Ceil(cfg.JWKSMinRefresh.Seconds())))
	if h.JWKSPath != "" && (h.Generate == nil || !strings.HasPrefix(h.JWKSPath, "/")) {
		return fmt.Errorf("jwks_path %q: needs a generate block and a path starting with /", h.JWKSPath)
	}
	h.storage = storageOf(ctx)
	if h.Generate != nil {
		if h.generation, err = h.provisionGeneration(ctx, h.skew); err != nil {
			return err
		}
	}
	if h.claims, err = h.provisionClaims(ctx); err != nil {
		return err
	}
	if err := h.provisionRevocations(); err != nil {
		return err
	}
	if h.apim, err = h.provisionAPIManager(); err != nil {
		return err
	}
	cfg.ExternalSubscriptions = h.apim != nil
	h.ctx, h.cancel = context.WithCancel(ctx)
	pooled, _, err := keySetsPool.LoadOrNew(keySetsPoolKey, func() (caddy.Destructor, error) {
		return keySetsHolder{validator.NewKeySets()}, nil
	})
	if err != nil {
		return err
	}
	h.keySetsHeld = true
	cfg.KeySets = pooled.(keySetsHolder).KeySets
	if h.validator, err = validator.New(h.ctx, cfg); err != nil {
		return err
	}
	return whenRunning(ctx, h.start)
}

// startState is whether, and how, a handler's background work started.
type startState struct {
	once    sync.Once
	err     error
	started atomic.Bool // run ran, and succeeded
}

// start starts the handler's background work, once: when its config runs,
// or at its first request should that come first.
func (h *Handler) start() error {
	st := h.starting
	st.once.Do(func() {
		if st.err = h.run(); st.err == nil {
			st.started.Store(true)
		}
	})
	return st.err
}

// run gets the managed signing key and starts the JWKS fetches, the
// caches' janitors, the API Manager reader and the revocation syncs, all
// bound to the config's lifetime, and lists the handler for the admin API.
func (h *Handler) run() error {
	if h.generation != nil {
		if err := h.generation.start(h.ctx, h.warnRotation); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	h.validator.Start()
	if h.claims != nil {
		go h.claims.cache.Run(h.ctx)
	}
	if h.apim != nil {
		h.apim.start()
	}
	liveHandlers.Store(h, struct{}{})
	h.syncer.use(h.storage)
	return nil
}

// flush empties the handler's validation, generated-token and claims caches.
func (h *Handler) flush() {
	h.validator.Flush()
	if h.generation != nil && h.generation.cache != nil {
		h.generation.cache.Clear()
	}
	if h.claims != nil {
		h.claims.cache.Clear()
	}
}

// forget drops a revoked token from the validation cache and its backend
// JWT from the generated-token cache.
func (h *Handler) forget(tok *validator.Token) {
	h.validator.Forget(tok.Digest)
	if h.generation != nil && h.generation.cache != nil {
		h.generation.cache.Delete(jwtgen.CacheKeyDigest(tok.Digest, h.apiName, h.apiVersion))
	}
}

// provisionClaims loads the claims retriever module, if any, and checks
// that remote_claims and claims go together.
func (h *Handler) provisionClaims(ctx caddy.Context) (*claimsRetrieval, error) {
	wanted := false
	for _, ic := range h.Issuers {
		wanted = wanted || ic.RemoteClaims
	}
	if h.ClaimsRaw == nil {
		if wanted {
			return nil, fmt.Errorf("remote_claims needs a claims retriever (claims wso2 { ... })")
		}
		return nil, nil
	}
	if h.Generate == nil {
		return nil, fmt.Errorf("claims needs a generate block: retrieved claims go into the generated backend JWT")
	}
	mod, err := ctx.LoadModule(h, "ClaimsRaw")
	if err != nil {
		return nil, fmt.Errorf("loading the claims retriever: %w", err)
	}
	cr, ok := mod.(ClaimsRetriever)
	if !ok {
		return nil, fmt.Errorf("module %T is not a caddymodule.ClaimsRetriever", mod)
	}
	opts := cr.Options()
	if err := opts.check(); err != nil {
		return nil, err
	}
	expiry, capacity := time.Duration(opts.CacheExpiry), opts.CacheCapacity
	if expiry == 0 {
		expiry = defaultClaimsCacheExpiry
	}
	if capacity == 0 {
		capacity = defaultClaimsCacheCapacity
	}
	return &claimsRetrieval{
		cache:      retriever.NewCached(cr, expiry, capacity),
		failClosed: opts.OnError == "fail",
	}, nil
}

// Validate checks what Provision does not need to read: the header name.
func (h *Handler) Validate() error {
	return checkBackendJWTHeader(h.header)
}

// checkBackendJWTHeader refuses a header name that is not one or that
// cannot carry the backend JWT.
func checkBackendJWTHeader(name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("header %q is not a valid header field name", name)
	}
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Host", "Connection", "Content-Length", "Transfer-Encoding":
		return fmt.Errorf("header %q cannot carry the backend JWT", name)
	}
	return nil
}

// validatorConfig builds the validator's input from the JSON config.
func (h *Handler) validatorConfig() (validator.Config, error) {
	cfg := validator.Config{
		ClockSkew:      time.Duration(h.ClockSkew),
		JWKSRefresh:    time.Duration(h.JWKSRefresh),
		JWKSMinRefresh: time.Duration(h.JWKSMinRefresh),
		FetchTimeout:   time.Duration(h.JWKSTimeout),
		MaxTokenSize:   h.MaxTokenSize,
		CacheSize:      validator.DefaultCacheSize,
		OnFetch:        h.logFetch,
	}
	if cfg.JWKSMinRefresh == 0 {
		cfg.JWKSMinRefresh = validator.DefaultJWKSMinRefresh
	}
	if h.ValidationCache != nil {
		if *h.ValidationCache < 0 {
			return cfg, fmt.Errorf("validation_cache %d: must be 0 (off) or more", *h.ValidationCache)
		}
		cfg.CacheSize = *h.ValidationCache
	}
	if k := h.APIKeys; k != nil {
		if len(k.Certificates) == 0 {
			return cfg, errors.New("api_keys needs a certificate: API Manager's API-key signing certificate")
		}
		keys, err := loadPublicKeys(k.Certificates)
		if err != nil {
			return cfg, fmt.Errorf("api_keys: %w", err)
		}
		cfg.APIKeys = &validator.APIKeyConfig{Certificates: keys, ValidateSubscription: k.ValidateSubscription}
	}
	if h.API != nil {
		if h.API.Name == "" || h.API.Version == "" {
			return cfg, fmt.Errorf("api needs a name and a version")
		}
		cfg.API = &validator.API{Name: h.API.Name, Version: h.API.Version, Context: h.API.Context}
		h.jwtAPI = &jwtgen.API{Name: h.API.Name, Version: h.API.Version, Context: h.API.Context}
		h.apiName, h.apiVersion = h.API.Name, h.API.Version
	}
	if len(h.Issuers) == 0 {
		return cfg, fmt.Errorf("no issuer configured: at least one is required")
	}
	for _, ic := range h.Issuers {
		if ic == nil {
			return cfg, fmt.Errorf("an issuer entry is null")
		}
		keys, err := loadPublicKeys(ic.Certificates)
		if err != nil {
			return cfg, fmt.Errorf("issuer %q: %w", ic.Issuer, err)
		}
		for _, alg := range ic.Algorithms {
			if err := validator.CheckAlgorithm(alg); err != nil {
				return cfg, fmt.Errorf("issuer %q: %w", ic.Issuer, err)
			}
		}
		vic := validator.IssuerConfig{
			Issuer:               ic.Issuer,
			Audiences:            ic.Audience,
			JWKSURL:              ic.JWKSURL,
			PublicKeys:           keys,
			Algorithms:           ic.Algorithms,
			ValidateSubscription: ic.ValidateSubscription,
			RemoteClaims:         ic.RemoteClaims,
			ConsumerKeyClaim:     ic.ConsumerKeyClaim,
			ClaimMap:             ic.ClaimMap,
		}
		if ic.Introspection != nil {
			if vic.Introspection, vic.TokenPattern, err = introspectionConfig(ic.Issuer, ic.Introspection); err != nil {
				return cfg, fmt.Errorf("issuer %q: introspection: %w", ic.Issuer, err)
			}
		}
		cfg.Issuers = append(cfg.Issuers, vic)
	}
	return cfg, nil
}

// introspectionConfig turns an issuer's introspection block into the
// validator's input: placeholders in the credentials replaced, the CA
// read, the pattern compiled, the calls counted in the metrics.
func introspectionConfig(issuer string, c *IntrospectionConfig) (*introspection.Config, *regexp.Regexp, error) {
	var pattern *regexp.Regexp
	if c.TokenPattern != "" {
		var err error
		if pattern, err = regexp.Compile(c.TokenPattern); err != nil {
			return nil, nil, fmt.Errorf("token_pattern: %w", err)
		}
	}
	if c.MaxConcurrent < 0 {
		return nil, nil, fmt.Errorf("max_concurrent %d: must be positive", c.MaxConcurrent)
	}
	transport, err := tlsTransport(c.CACert)
	if err != nil {
		return nil, nil, err
	}
	repl := caddy.NewReplacer()
	calls := map[string]prometheus.Counter{}
	for _, outcome := range []string{introspection.OutcomeActive, introspection.OutcomeInactive, introspection.OutcomeInvalid, introspection.OutcomeError} {
		calls[outcome] = metrics.introspections.WithLabelValues(issuer, outcome)
	}
	return &introspection.Config{
		URL:           c.URL,
		ClientID:      repl.ReplaceKnown(c.ClientID, ""),
		ClientSecret:  repl.ReplaceKnown(c.ClientSecret, ""),
		Transport:     transport,
		Timeout:       time.Duration(c.Timeout),
		CacheTTL:      time.Duration(c.CacheTTL),
		NegativeTTL:   time.Duration(c.NegativeTTL),
		MaxConcurrent: c.MaxConcurrent,
		OnCall:        func(call introspection.Call) { calls[call.Outcome].Inc() },
	}, pattern, nil
}

// loadPublicKeys reads every key of the PEM files, in order.
func loadPublicKeys(files []string) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading certificate: %w", err)
		}
		k, err := validator.ParsePublicKeysPEM(data)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", file, err)
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// warnEvery is how often a warning with the same message may be logged:
// a dead JWKS or claims endpoint must not flood the log.
const warnEvery = 10 * time.Second

// logFetch counts JWKS fetches and logs failed ones as (sampled) warnings,
// the rest at DEBUG.
func (h *Handler) logFetch(r validator.FetchResult) {
	result := "ok"
	if r.Err != nil {
		result = "error"
	}
	metrics.jwksFetches.WithLabelValues(r.Issuer, result).Inc()
	if r.Err != nil {
		if c := h.warnings.Check(zapcore.WarnLevel, "JWKS fetch failed"); c != nil {
			c.Write(zap.String("issuer", r.Issuer), zap.String("url", r.URL), zap.Bool("forced", r.Forced), zap.Error(r.Err))
		}
		return
	}
	if c := h.logger.Check(zapcore.DebugLevel, "JWKS fetched"); c != nil {
		c.Write(zap.String("issuer", r.Issuer), zap.String("url", r.URL), zap.Bool("forced", r.Forced),
			zap.Int("keys", r.Keys), zap.Int("dropped", r.Dropped))
	}
}

// Cleanup stops the background work that Provision and start began and
// releases the shared state. It clears no field: Caddy stops a config's
// servers without waiting for their requests, and a request keeps the
// state it started with until it ends.
func (h *Handler) Cleanup() error {
	liveHandlers.Delete(h)
	if h.cancel != nil {
		h.cancel()
	}
	if h.syncer != nil {
		_, _ = revocationSyncPool.Delete(revocationSyncKey)
	}
	if h.keySetsHeld {
		_, _ = keySetsPool.Delete(keySetsPoolKey)
	}
	if h.generation != nil && h.starting.started.Load() {
		h.generation.retire()
	}
	if h.apim != nil {
		_, _ = apimPool.Delete(h.apim.src.key)
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)

// warnRotation logs a failed key rotation step as a (sampled) warning: the
// keys last read keep signing and being published.
func (h *Handler) warnRotation(err error) {
	if c := h.warnings.Check(zapcore.WarnLevel, "signing key rotation failed"); c != nil {
		c.Write(zap.Error(err))
	}
}
