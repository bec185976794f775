package caddymodule

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// Defaults of the generate block.
const (
	defaultExpiry         = 15 * time.Minute
	defaultCacheCapacity  = 10000
	defaultEvictionFactor = 0.25
	jwksMaxAge            = 5 * time.Minute
)

// GenerateConfig makes the handler generate a signed backend JWT carrying
// the end-user's attributes (WSO2 jwtGeneratorEnabled and
// [jwtGeneratorConfig]). Without it no backend JWT is generated.
type GenerateConfig struct {
	// Issuer is the backend JWT's iss. Default: wso2.org/products/am.
	Issuer string `json:"issuer,omitempty"`

	// Audience is the aud: a string for one value, an array for several.
	// Default: none, as no WSO2 generator writes one (and a backend that
	// verifies with no audience refuses a token that has one).
	Audience []string `json:"audience,omitempty"`

	// Dialect is the prefix of the WSO2 claim names; a "/" is put between
	// it and the name unless it is empty or ends in "/".
	// Default: http://wso2.org/claims.
	Dialect *string `json:"dialect,omitempty"`

	// Algorithm signs the token: RS256 (alias SHA256withRSA), PS256, ES256,
	// EdDSA, or none (alias NONE). Default: RS256.
	Algorithm string `json:"algorithm,omitempty"`

	// SigningKey is a PEM private key file (PKCS#1, PKCS#8 or SEC 1) that
	// fits Algorithm. Without it, a managed key kept in Caddy's storage
	// under backend_jwt/ is used (created on first use), so every instance
	// sharing the storage signs with the same key.
	SigningKey string `json:"signing_key,omitempty"`

	// Certificate is a PEM file with the signing key's certificate (first)
	// and its chain: it gives the x5t and x5c headers.
	Certificate string `json:"certificate,omitempty"`

	// X5T is the format of the x5t header when a certificate is set: wso2
	// (base64url, padded, of the hex SHA-1, as WSO2 gateways send), rfc7515
	// or off. Default: wso2.
	X5T string `json:"x5t,omitempty"`

	// X5C adds the certificate chain as the x5c header (WSO2 EnableX5C).
	X5C bool `json:"x5c,omitempty"`

	// Expiry is the token lifetime when the cache is off (WSO2
	// tokenExpiry). Default: 15m.
	Expiry caddy.Duration `json:"expiry,omitempty"`

	// RestrictedClaims are never copied from the access token or a
	// retriever, besides iss sub aud exp nbf iat jti application tierInfo
	// subscribedAPIs keytype backendJwt.
	RestrictedClaims []string `json:"restricted_claims,omitempty"`

	// ConvertDialect renames copied and retrieved claims that use OIDC
	// names (email, given_name…) to the dialect's names (API Manager's
	// ConvertClaimsToConsumerDialect).
	ConvertDialect bool `json:"convert_dialect,omitempty"`

	// DialectMap adds or overrides pairs of that conversion: an OIDC name
	// and the local name it takes under the dialect.
	DialectMap map[string]string `json:"dialect_map,omitempty"`

	// IncludeClaims, when set, copies only these claims of the token and
	// of the retriever (App Manager's AddClaimsSelectively); the standard
	// and static claims are always written.
	IncludeClaims []string `json:"include_claims,omitempty"`

	// StaticClaims are added to every backend JWT, replacing a copied or
	// retrieved claim of the same name.
	StaticClaims []StaticClaimConfig `json:"static_claims,omitempty"`

	// Encoding of the three parts: base64url (RFC 7515, default) or base64
	// (standard alphabet, no padding, as WSO2 API Manager does).
	Encoding string `json:"encoding,omitempty"`

	// KeyRotation makes a new managed key every period (it needs the
	// managed key: no signing_key). The JWKS publishes each key before it
	// signs (half a period ahead, at most an hour) and until every token
	// it signed has expired. Default: 0, never.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`

	// Cache keeps generated tokens per inbound token and API. On by default.
	Cache *CacheConfig `json:"cache,omitempty"`

	// GeneratorRaw is the claims generator module (namespace
	// http.backend_jwt.generators, inline key generator; WSO2
	// generatorImpl). Default: the built-in wso2 generator.
	GeneratorRaw json.RawMessage `json:"generator,omitempty" caddy:"namespace=http.backend_jwt.generators inline_key=generator"`

	// OnError decides what a generation failure does: fail (default)
	// answers 500 with code 900900; continue forwards the request without
	// the header and logs a warning.
	OnError string `json:"on_error,omitempty"`
}

// CacheConfig is the generated-token cache.
type CacheConfig struct {
	// Enabled turns the cache off when false. Default: true.
	Enabled *bool `json:"enabled,omitempty"`
	// Expiry is the token lifetime, and so the cache lifetime, when the
	// cache is on. Default: 15m.
	Expiry caddy.Duration `json:"expiry,omitempty"`
	// Capacity is the most tokens kept. Default: 10000.
	Capacity int `json:"capacity,omitempty"`
	// EvictionFactor is the share of tokens dropped, soonest-expiring
	// first, when the cache is full. Default: 0.25.
	EvictionFactor float64 `json:"eviction_factor,omitempty"`
}

// enabled reports whether the cache is on.
func (c *CacheConfig) enabled() bool { return c == nil || c.Enabled == nil || *c.Enabled }

// generation is the provisioned generate block.
type generation struct {
	signing      atomic.Pointer[signingState]
	cache        *jwtgen.TokenCache // nil when off
	failOpen     bool               // on_error continue
	jwksMaxAge   string
	minRemaining time.Duration // clock_skew: re-mint when less is left

	base64Std bool          // encoding base64
	scope     string        // of retired keys: jwks_path and issuer
	lifetime  time.Duration // the longest a token lives

	config   jwtgen.Config     // of the generator, but for the key
	rotation *keyRotation      // nil without key_rotation
	managed  certmagic.Storage // holds the managed key; nil with signing_key, none or key_rotation

	static    []jwtgen.StaticClaim // the static claims without placeholders
	templates []staticTemplate     // those rendered per request
}

// staticTemplate is a string static claim with placeholders.
type staticTemplate struct{ name, text string }

// staticClaims returns the static claims of one request and the values
// rendered from it (for the generated-token cache key); a claim that
// renders empty is left out.
func (g *generation) staticClaims(repl *caddy.Replacer) ([]jwtgen.StaticClaim, []string) {
	if len(g.templates) == 0 {
		return g.static, nil
	}
	claims := slices.Clip(g.static)
	rendered := make([]string, 0, len(g.templates))
	for _, tpl := range g.templates {
		v := repl.ReplaceKnown(tpl.text, "")
		rendered = append(rendered, v)
		if v == "" {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			continue
		}
		claims = append(claims, jwtgen.StaticClaim{Name: tpl.name, Value: raw})
	}
	return claims, rendered
}

// signingState is the key that signs and the keys jwks_path publishes.
// It changes only with a key rotation.
type signingState struct {
	gen *jwtgen.Generator
	// published are the public keys, the signing one first; none for
	// algorithm none. until is when each stops being needed: zero while it
	// signs or has yet to.
	published []jwtgen.PublicKey
	until     []time.Time
	jwks      []byte    // the JWKS of published
	next      time.Time // when the next key of the rotation signs; zero: none
}

// provisionGeneration builds the generator, its key and its cache.
func (h *Handler) provisionGeneration(ctx caddy.Context, skew time.Duration) (*generation, error) {
	gc := h.Generate
	cfg := jwtgen.Config{
		Issuer:           gc.Issuer,
		Audience:         gc.Audience,
		Dialect:          jwtgen.DefaultDialect,
		Algorithm:        gc.Algorithm,
		X5T:              gc.X5T,
		X5C:              gc.X5C,
		RestrictedClaims: gc.RestrictedClaims,
		Encoding:         gc.Encoding,
		IncludeClaims:    gc.IncludeClaims,
		ConvertDialect:   gc.ConvertDialect,
		DialectMap:       gc.DialectMap,
	}
	if cfg.Issuer == "" {
		cfg.Issuer = jwtgen.DefaultIssuer
	}
	if gc.Dialect != nil {
		cfg.Dialect = *gc.Dialect
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = jwtgen.RS256
	}
	alg, err := jwtgen.CanonicalAlgorithm(cfg.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	cfg.Algorithm = alg
	switch gc.OnError {
	case "", "fail", "continue":
	default:
		return nil, fmt.Errorf("generate: on_error %q: want fail or continue", gc.OnError)
	}
	if gc.GeneratorRaw != nil {
		mod, err := ctx.LoadModule(gc, "GeneratorRaw")
		if err != nil {
			return nil, fmt.Errorf("generate: loading the claims generator: %w", err)
		}
		var ok bool
		if cfg.Claims, ok = mod.(jwtgen.ClaimsGenerator); !ok {
			return nil, fmt.Errorf("generate: module %T is not a jwtgen.ClaimsGenerator", mod)
		}
	}
	rotate := time.Duration(gc.KeyRotation)
	switch {
	case rotate == 0:
		if cfg.Key, err = signingKey(alg, gc.SigningKey); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	case rotate < minKeyRotation:
		return nil, fmt.Errorf("generate: key_rotation %s: want at least %s", rotate, minKeyRotation)
	case alg == jwtgen.None || gc.SigningKey != "":
		return nil, errors.New("generate: key_rotation rotates the managed key: it takes an algorithm that signs and no signing_key")
	}
	if gc.Certificate != "" {
		if gc.SigningKey == "" {
			return nil, errors.New("generate: certificate needs signing_key: a managed key has no certificate")
		}
		if cfg.Certificates, err = readCertificates(gc.Certificate); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
	g := &generation{failOpen: gc.OnError == "continue", minRemaining: skew, base64Std: gc.Encoding == "base64"}
	cfg.Lifetime = time.Duration(gc.Expiry)
	if gc.Cache.enabled() {
		cc := gc.Cache
		if cc == nil {
			cc = &CacheConfig{}
		}
		capacity, factor := cc.Capacity, cc.EvictionFactor
		if capacity == 0 {
			capacity = defaultCacheCapacity
		}
		if factor == 0 {
			factor = defaultEvictionFactor
		}
		if capacity < 0 || factor < 0 || factor > 1 {
			return nil, fmt.Errorf("generate: cache capacity %d and eviction_factor %g: want a positive capacity and a factor from 0 to 1", capacity, factor)
		}
		cfg.Lifetime = time.Duration(cc.Expiry)
		g.cache = jwtgen.NewTokenCache(capacity, factor)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = defaultExpiry
	}
	if cfg.Lifetime < time.Second {
		return nil, fmt.Errorf("generate: expiry %s: want at least 1s", cfg.Lifetime)
	}
	g.lifetime = cfg.Lifetime.Truncate(time.Second)
	g.scope = h.JWKSPath + "\x00" + cfg.Issuer
	g.config = cfg
	for _, c := range gc.StaticClaims {
		if err := checkStaticClaimName(gc, c.Name); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		raw, perRequest, err := c.staticValue()
		switch {
		case err != nil:
			return nil, fmt.Errorf("generate: %w", err)
		case perRequest:
			g.templates = append(g.templates, staticTemplate{name: c.Name, text: c.Value})
		default:
			g.static = append(g.static, jwtgen.StaticClaim{Name: c.Name, Value: raw})
		}
	}
	maxAge := jwksMaxAge
	switch {
	case rotate != 0:
		// The JWKS must not be cached for longer than a new key is
		// published before it signs.
		g.rotation = newKeyRotation(ctx.Storage(), alg, rotate, g.lifetime+skew)
		maxAge = min(maxAge, g.rotation.lead/2)
	case cfg.Key == nil && alg != jwtgen.None:
		g.managed = ctx.Storage()
	default:
		if err := g.useKeys([]ringKeyState{{key: cfg.Key}}, time.Time{}); err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
	g.jwksMaxAge = fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds()))
	return g, nil
}

// signer returns the signing state in use.
func (g *generation) signer() *signingState { return g.signing.Load() }

// useKeys makes keys (the signing one first) the signing state, keeping the
// generator when the signing key has not changed.
func (g *generation) useKeys(keys []ringKeyState, next time.Time) error {
	st := &signingState{next: next}
	for _, k := range keys {
		if k.key == nil {
			continue // algorithm none
		}
		kid, err := jwtgen.Thumbprint(k.key.Public())
		if err != nil {
			return err
		}
		st.published = append(st.published, jwtgen.PublicKey{Key: k.key.Public(), KeyID: kid, Algorithm: g.config.Algorithm})
		st.until = append(st.until, k.until)
	}
	if old := g.signing.Load(); old != nil && len(st.published) > 0 && old.gen.KeyID() == st.published[0].KeyID {
		st.gen = old.gen
	} else {
		cfg := g.config
		cfg.Key = keys[0].key
		gen, err := jwtgen.New(cfg)
		if err != nil {
			return err
		}
		st.gen = gen
	}
	jwks, err := jwtgen.JWKS(st.published)
	if err != nil {
		return err
	}
	st.jwks = jwks
	g.signing.Store(st)
	return nil
}

// syncRotation reads the key ring from storage (changing it when due) and
// uses what it says at now. A ring that cannot be read leaves the last one
// read in use.
func (g *generation) syncRotation(ctx context.Context, now time.Time) error {
	syncErr := g.rotation.sync(ctx, now)
	keys, next, err := g.rotation.state(now)
	if err != nil {
		return errors.Join(syncErr, err)
	}
	return errors.Join(syncErr, g.useKeys(keys, next))
}

// rotate keeps the signing state in step with the key rotation until ctx
// is done: it reads storage every poll, and wakes when the next key starts
// signing.
func (g *generation) rotate(ctx context.Context, warn func(error)) {
	for {
		wait := g.rotation.poll
		if next := g.signer().next; !next.IsZero() {
			wait = min(wait, max(time.Until(next), minRotationWait))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := g.syncRotation(ctx, time.Now()); err != nil && ctx.Err() == nil {
			warn(err)
		}
	}
}

// jwksBody is the JWKS at jwks_path: the signing key's public half, and
// the keys of replaced configs whose tokens may still be valid.
func (g *generation) jwksBody() ([]byte, error) {
	st := g.signer()
	retired := stillPublished(g.scope, st.published)
	if len(retired) == 0 {
		return st.jwks, nil
	}
	return jwtgen.JWKS(append(slices.Clip(st.published), retired...))
}

// retire keeps the keys that signed published after this config is
// unloaded, until every token they may have signed has expired.
func (g *generation) retire() {
	st := g.signer()
	for i, key := range st.published {
		switch {
		case i == 0:
			retire(g.scope, key, time.Now().Add(g.lifetime+g.minRemaining))
		case !st.until[i].IsZero():
			retire(g.scope, key, st.until[i])
		}
	}
}

// decodePart decodes one part of a backend JWT in the configured encoding.
func (g *generation) decodePart(part string) ([]byte, error) {
	if g.base64Std {
		return base64.RawStdEncoding.DecodeString(part)
	}
	return base64.RawURLEncoding.DecodeString(part)
}

// start gets the keys that storage holds (the managed key, made first if
// need be, or the rotation's ring) and starts the generation's background
// work, bound to ctx.
func (g *generation) start(ctx context.Context, warn func(error)) error {
	switch {
	case g.rotation != nil:
		if err := g.syncRotation(ctx, time.Now()); err != nil {
			return err
		}
		go g.rotate(ctx, warn)
	case g.managed != nil:
		key, err := managedKey(ctx, g.managed, g.config.Algorithm)
		if err == nil {
			err = g.useKeys([]ringKeyState{{key: key}}, time.Time{})
		}
		if err != nil {
			return err
		}
	}
	if g.cache != nil {
		go g.cache.Run(ctx)
	}
	return nil
}

// signingKey reads the configured key file; without one (the managed key,
// or algorithm none) it returns nil.
func signingKey(alg, file string) (crypto.Signer, error) {
	if alg == jwtgen.None && file != "" {
		return nil, errors.New("algorithm none takes no signing_key")
	}
	if file == "" {
		return nil, nil
	}
	key, err := readSigningKey(file)
	if err != nil {
		return nil, err
	}
	if err := jwtgen.CheckKey(alg, key); err != nil {
		return nil, fmt.Errorf("signing_key %s: %w", file, err)
	}
	return key, nil
}

func readSigningKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading signing_key: %w", err)
	}
	key, err := jwtgen.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("signing_key %s: %w", file, err)
	}
	return key, nil
}

func readCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	certs, err := jwtgen.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	return certs, nil
}

// managedKeyName is where the managed key of alg is kept in Caddy's storage.
func managedKeyName(alg string) string {
	return path.Join("backend_jwt", "signing_keys", strings.ToLower(alg)+".pem")
}

// managedKey loads the managed key of alg from Caddy's storage, creating it
// under the storage lock when it does not exist yet, so that every instance
// sharing the storage ends up with the same key.
func managedKey(ctx context.Context, storage certmagic.Storage, alg string) (crypto.Signer, error) {
	name := managedKeyName(alg)
	load := func() (crypto.Signer, error) {
		data, err := storage.Load(ctx, name)
		if err != nil {
			return nil, err
		}
		key, err := jwtgen.ParsePrivateKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("managed key %s in storage: %w", name, err)
		}
		if err := jwtgen.CheckKey(alg, key); err != nil {
			return nil, fmt.Errorf("managed key %s in storage: %w", name, err)
		}
		return key, nil
	}
	if key, err := load(); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	lock := "backend_jwt_signing_key_" + strings.ToLower(alg)
	if err := storage.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking storage for the managed key: %w", err)
	}
	defer func() { _ = storage.Unlock(ctx, lock) }()
	// Another instance may have created it while we waited for the lock.
	if key, err := load(); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err := jwtgen.GenerateKey(alg)
	if err != nil {
		return nil, fmt.Errorf("creating the managed key: %w", err)
	}
	data, err := jwtgen.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("creating the managed key: %w", err)
	}
	if err := stillLocked(ctx, storage, lock); err != nil {
		return nil, err
	}
	if err := storage.Store(ctx, name, data); err != nil {
		return nil, fmt.Errorf("storing the managed key: %w", err)
	}
	return key, nil
}

// lockLease is how long a storage lock is asked to last when its holder
// checks that it still holds it: enough for the one write that follows.
const lockLease = 10 * time.Second

// stillLocked checks, where storage can tell (certmagic.LockLeaseRenewer),
// that the lock taken earlier is still held, so that nothing is written
// under a lock whose lease ended (another instance may hold it now).
func stillLocked(ctx context.Context, storage certmagic.Storage, lock string) error {
	renewer, ok := storage.(certmagic.LockLeaseRenewer)
	if !ok {
		return nil
	}
	if err := renewer.RenewLockLease(ctx, lock, lockLease); err != nil {
		return fmt.Errorf("storage lock %s no longer held: %w", lock, err)
	}
	return nil
}
