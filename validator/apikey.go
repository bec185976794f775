package validator

import (
	"crypto"
	"errors"
	"fmt"
	"sync"
	"time"
)

// apiKeyCacheTTL is the longest an API key stays in the validated-token
// cache, so that a key is verified against the configured certificates
// again at least this often even when it never expires (it has no exp). A
// key with an exp leaves the cache at its exp when that comes sooner. The
// cache's capacity bounds API keys as it bounds access tokens; revocation
// and the restrictions are checked by the caller on every request, cached
// or not, so this bounds nothing else.
const apiKeyCacheTTL = time.Hour

// apiKeyAlgorithm is the only alg an API key may be signed with: API
// Manager signs them SHA256withRSA.
const apiKeyAlgorithm = "RS256"

// apiKeyAlgorithms is the Algorithms of the Issuer of every API key.
var apiKeyAlgorithms = []string{apiKeyAlgorithm}

// maxAPIKeyIssuers bounds the number of Issuers kept for the distinct iss
// values of API keys (one API Manager signs its keys with one iss); keys
// of further iss values get an Issuer of their own.
const maxAPIKeyIssuers = 16

// apiKeyCacheTag starts the validated-token cache key of an API key: the
// tag and the key's SHA-256 make 33 bytes, so an API key's entry can never
// be taken for an access token's (32 bytes, the SHA-256 alone), even for
// the same string.
const apiKeyCacheTag = 'k'

// APIKeyConfig describes how API keys are validated (the api_keys block):
// WSO2 API keys, JWTs that API Manager signs for an application with its
// API-key signing key.
type APIKeyConfig struct {
	// Certificates are the public keys of API Manager's API-key signing
	// certificates (RSA, at least 2048 bits), tried in order; the key's
	// kid and x5t are not used to choose or trust one.
	Certificates []crypto.PublicKey
	// ValidateSubscription refuses keys not subscribed to the API, as
	// IssuerConfig.ValidateSubscription does for access tokens.
	ValidateSubscription bool
	// ClaimMap renames the keys' claims in Token.Copied, as
	// IssuerConfig.ClaimMap does for an issuer's tokens.
	ClaimMap map[string]string
}

// apiKeySource is the api_keys block as the Validator holds it.
type apiKeySource struct {
	cfg      APIKeyConfig
	keys     []crypto.PublicKey
	claimMap *claimMap // nil without ClaimMap

	mu      sync.Mutex
	issuers map[string]*Issuer // by iss value, at most maxAPIKeyIssuers
}

// newAPIKeySource checks an APIKeyConfig: at least one certificate, each an
// RSA key of at least 2048 bits.
func newAPIKeySource(cfg APIKeyConfig) (*apiKeySource, error) {
	if len(cfg.Certificates) == 0 {
		return nil, errors.New("needs at least one certificate")
	}
	for i, pub := range cfg.Certificates {
		typ, err := typeOf(pub)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		if typ != keyRSA {
			return nil, fmt.Errorf("certificate %d: API keys are signed RS256, which needs an RSA key, not %T", i+1, pub)
		}
	}
	cm, err := newClaimMap(cfg.ClaimMap)
	if err != nil {
		return nil, err
	}
	return &apiKeySource{
		cfg:      cfg,
		keys:     cfg.Certificates,
		claimMap: cm,
		issuers:  make(map[string]*Issuer),
	}, nil
}

// issuer returns the Issuer standing for the api_keys block for a key whose
// iss claim is iss (nil when it has none): the same one for every key of
// the same iss, up to maxAPIKeyIssuers of them.
func (s *apiKeySource) issuer(iss []byte) *Issuer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.issuers[string(iss)]; ok {
		return i
	}
	i := &Issuer{IssuerConfig: IssuerConfig{
		Issuer:               string(iss),
		PublicKeys:           s.cfg.Certificates,
		Algorithms:           apiKeyAlgorithms,
		ValidateSubscription: s.cfg.ValidateSubscription,
		ClaimMap:             s.cfg.ClaimMap,
	}, claimMap: s.claimMap}
	if len(s.issuers) < maxAPIKeyIssuers {
		s.issuers[i.Issuer] = i
	}
	return i
}

// verify checks an API key's RS256 signature with each certificate in turn.
func (s *apiKeySource) verify(c *compact) error {
	verifier := verifiers[apiKeyAlgorithm]
	for _, key := range s.keys {
		if verifier.Verify(c.signingInput, c.signature, key) == nil {
			return nil
		}
	}
	return invalidf("API key signature does not verify with any api_keys certificate")
}

// ValidateAPIKey validates a WSO2 API key, a credential taken from the
// api_keys header or query parameter, and returns what it says, and
// whether it came from the validated-token cache (only its exp, when it
// has one, checked again). It fails with ErrInvalid when the Validator has
// no APIKeyConfig.
//
// The key is parsed as strictly as an access token, except that its parts
// may also be padded as API Manager writes them (see splitAPIKey). Its alg
// must be RS256 and its signature verify with one of the configured
// certificates. exp is optional (keys that never expire have none) and
// checked when present (ErrExpired); nbf and iat are checked as for access
// tokens, and iss, when present, must be a string. A key whose token_type
// is InternalKey (a gateway's internal key) is refused. The claims are then
// read as an access token's (sub, jti, aud, subscribedAPIs for the
// configured API, backendJwt), and permittedIP and permittedReferer into
// Token.Restrictions, which the caller checks on every request; an entry
// of either that cannot be read makes the key invalid. API keys carry no
// scopes.
//
// Token.Issuer stands for the api_keys block: its Issuer is the key's iss
// ("" without one), ValidateSubscription is the APIKeyConfig's, and it
// never asks for remote claims. The subscription rule is the access
// tokens'.
//
// API keys share the validated-token cache with access tokens, under keys
// that cannot collide with theirs: the same string validated as an access
// token and as an API key is validated twice, once each way. A key stays
// cached until its exp and at most apiKeyCacheTTL (an hour).
func (v *Validator) ValidateAPIKey(key string) (t *Token, cached bool, err error) {
	if v.apiKeys == nil {
		return nil, false, invalidf("API keys are not accepted (no api_keys configured)")
	}
	return v.validateCached(key, true)
}

// validateAPIKey does the full check of an API key not in the cache.
func (v *Validator) validateAPIKey(key []byte) (*Token, error) {
	c, err := splitAPIKey(key)
	if err != nil {
		return nil, err
	}
	if c.alg != apiKeyAlgorithm {
		return nil, invalidf("alg %.32q is not allowed for API keys (RS256 only)", c.alg)
	}
	t, err := readAPIKeyClaims(c)
	if err != nil {
		return nil, err
	}
	if err := v.apiKeys.verify(c); err != nil {
		return nil, err
	}
	if err := v.checkTimes(&t.Token); err != nil {
		return nil, err
	}
	t.Issuer = v.apiKeys.issuer(t.issuerName)
	t.ConsumerKey = consumerKey(t.Claims, "", t.Audience)
	if v.api != nil {
		t.Subscription = matchSubscription(t.Claims["subscribedAPIs"], v.api)
	}
	t.Copied = v.apiKeys.claimMap.apply(t.Claims)
	return &t.Token, nil
}

// cacheKey returns the validated-token cache key of a credential whose
// SHA-256 is sum: the sum for an access token, the tagged sum for an API
// key.
func cacheKey(sum *[32]byte, apiKey bool) string {
	if !apiKey {
		return string(sum[:])
	}
	var tagged [1 + len(sum)]byte
	tagged[0] = apiKeyCacheTag
	copy(tagged[1:], sum[:])
	return string(tagged[:])
}

// cacheExpiry returns when a validated credential leaves the cache: at its
// exp (with the clock skew), and for an API key at most apiKeyCacheTTL from
// now.
func (v *Validator) cacheExpiry(t *Token, apiKey bool) time.Time {
	if !apiKey {
		return t.Expires.Add(v.skew)
	}
	until := now().Add(apiKeyCacheTTL)
	if !t.Expires.IsZero() {
		if exp := t.Expires.Add(v.skew); exp.Before(until) {
			until = exp
		}
	}
	return until
}
