// Package jwtgen generates the backend JWT that an API gateway sends to the
// backend it protects: the end-user's attributes taken from a validated
// access token (the claims of the WSO2 API Microgateway's backend JWT), signed
// with RS256, PS256, ES256 or EdDSA, or unsigned with none, and cached per
// inbound token and API.
//
// A Generator is built once from a Config (keys parsed, header encoded,
// dialect claim names formatted) and is then safe for concurrent use; per
// request, Generate takes an Input and returns the token and its expiry.
// What the token carries is decided by a ClaimsGenerator in two steps,
// standard claims then custom claims; WSO2Claims is the built-in one.
//
// The package does not import Caddy.
package jwtgen

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Defaults of the generate block (SPEC section 3). New applies DefaultIssuer
// and DefaultLifetime to an empty Issuer and a zero Lifetime; an empty
// Audience or Dialect is meaningful (no aud claim, no prefix), so the
// configuration layer applies DefaultDialect itself. Nothing applies
// DefaultAudience by default: SPEC section 6 writes aud only when an
// audience is configured.
const (
	// DefaultIssuer is the iss claim when none is configured.
	DefaultIssuer = "wso2.org/products/am"
	// DefaultAudience is the audience the WSO2 API Microgateway documents
	// for its backend JWT. jwtgen never applies it; a caller may offer it
	// as a value to configure.
	DefaultAudience = "http://org.wso2.apimgt/gateway"
	// DefaultDialect is the claim-name prefix of the generate block's default.
	DefaultDialect = "http://wso2.org/claims"
	// DefaultLifetime is the token lifetime when Config.Lifetime is zero.
	DefaultLifetime = 15 * time.Minute
)

// Algorithm names as they appear in the JWS header. CanonicalAlgorithm maps
// the configuration aliases onto them.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RSA of at least 2048 bits).
	RS256 = "RS256"
	// PS256 is RSASSA-PSS with SHA-256 and a 32-byte salt.
	PS256 = "PS256"
	// ES256 is ECDSA P-256 with SHA-256, the signature as r||s.
	ES256 = "ES256"
	// EdDSA is Ed25519.
	EdDSA = "EdDSA"
	// None is an unsigned token, header.payload. with an empty signature.
	None = "none"
)

// X5T formats of the x5t header member.
const (
	// X5TWSO2 is base64url, with padding, of the lowercase hex SHA-1 of the
	// certificate DER: what WSO2 gateways send. The default when a
	// certificate is configured.
	X5TWSO2 = "wso2"
	// X5TRFC7515 is base64url, without padding, of the raw SHA-1 digest.
	X5TRFC7515 = "rfc7515"
	// X5TOff leaves x5t out.
	X5TOff = "off"
)

// Encodings of the three token parts.
const (
	// EncodingBase64URL is RFC 7515: the URL alphabet without padding. The default.
	EncodingBase64URL = "base64url"
	// EncodingBase64 is the standard alphabet without padding (WSO2 API
	// Manager era backends); the signature covers the parts as transmitted.
	EncodingBase64 = "base64"
)

// ErrNotAfter is returned by Generate when the access token expires at or
// before the current second, so no backend JWT can be issued that does not
// outlive it.
var ErrNotAfter = errors.New("jwtgen: the access token expires before a backend JWT could be issued")

// API is the API the route serves (the api directive).
type API struct {
	// Name is the API name, the D/apiname claim.
	Name string
	// Version is the API version, the D/version claim.
	Version string
	// Context is the API context, the D/apicontext claim.
	Context string
}

// Subscription is the subscribedAPIs entry of the access token that matched
// the API.
type Subscription struct {
	// Tier is the entry's subscriptionTier, the D/tier claim.
	Tier string
	// TenantDomain is the entry's subscriberTenantDomain, the
	// D/enduserTenantDomain claim.
	TenantDomain string
}

// Application is the application a consumer key belongs to, from API
// Manager's data (API Manager 3.2 and later, whose access tokens carry none).
type Application struct {
	// ID is the application's number in API Manager's data. The
	// D/applicationid claim is its decimal form as a JSON string ("42"),
	// as every WSO2 generator writes it.
	ID int64
	// UUID, Name, Subscriber and Tier are the D/applicationUUId,
	// D/applicationname, D/subscriber and D/applicationtier claims.
	UUID, Name, Subscriber, Tier string
}

// StaticClaim is a claim the configuration adds to every backend JWT (SPEC
// section 14, "Static claims"), with its value already typed and rendered
// by the caller.
type StaticClaim struct {
	// Name is the claim name. It must not be one of StandardClaimNames;
	// Generate skips such a claim.
	Name string
	// Value is the claim's JSON value (a string, number, boolean, object,
	// array or null); empty leaves the claim out, as a placeholder that
	// renders empty does.
	Value json.RawMessage
}

// Input is what one request supplies to Generate: the validated access token
// and the route's API.
type Input struct {
	// Claims are the access token's top-level claims as issued, each raw
	// JSON exactly as received. Each value must be one valid JSON value
	// (the validator parsed them); Generate copies them as bytes without
	// checking again. The standard claims read them (sub, application,
	// keytype, aut).
	Claims map[string]json.RawMessage
	// Copied, when not nil, are the claims copied into the token instead
	// of Claims: the token's claims after its issuer's claim map
	// (validator.Token.Copied). The same rules as for Claims hold.
	Copied map[string]json.RawMessage
	// API is the route's API; nil when there is no api directive.
	API *API
	// Subscription is the matching subscribedAPIs entry; nil when none
	// matched or subscriptions are not checked.
	Subscription *Subscription
	// Application, when the access token has no application object, is
	// the application API Manager's data maps its consumer key to; nil
	// when not known.
	Application *Application
	// KeyType is the key mapping's key type (PRODUCTION or SANDBOX), used
	// when the access token has no keytype claim; "" means PRODUCTION.
	KeyType string
	// TenantID, when not empty, is written as the string claim
	// D/enduserTenantId: the id of the subscriber's tenant ("-1234" for
	// carbon.super). The caller sets it on the API Manager data path only.
	TenantID string
	// ApplicationAttributes, when it is a JSON object with at least one
	// member, is written as the D/applicationAttributes claim (API
	// Manager's application attributes). The caller sets it on the API
	// Manager data path only; anything else is left out.
	ApplicationAttributes json.RawMessage
	// SubscriberTenant is the tenant domain of the application's
	// subscriber, which D/enduser follows for a token with an aut claim
	// (see WSO2Claims.StandardClaims); "" means Subscription's
	// TenantDomain, if any.
	SubscriberTenant string
	// UserType, when not empty, is the D/usertype claim instead of
	// Application_User (for introspected opaque tokens: APPLICATION or
	// APPLICATION_USER).
	UserType string
	// Retrieved are the claims from a claims retriever; may be nil. A
	// retrieved claim replaces a copied one of the same name.
	Retrieved map[string]any
	// Static are the static claims, written after the copied and retrieved
	// claims and replacing one of the same name; restricted claims and
	// Config.IncludeClaims do not apply to them. When two have the same
	// name, the last one stands.
	Static []StaticClaim
	// Now is the time of the request; iat and exp both come from it.
	Now time.Time
	// NotAfter is the access token's exp; the backend JWT never expires
	// later. The zero time sets no cap.
	NotAfter time.Time
}

// Config is the generate configuration, built once at provision time.
type Config struct {
	// Issuer is the iss claim; empty means DefaultIssuer.
	Issuer string
	// Audience is the aud claim: none when empty, a string for one value,
	// an array for several.
	Audience []string
	// Dialect is the prefix of the WSO2 claim names; a "/" is put between
	// it and the name unless it is empty or ends in "/".
	Dialect string
	// Algorithm is RS256 (alias SHA256withRSA), PS256, ES256, EdDSA or none
	// (alias NONE); empty means RS256.
	Algorithm string
	// Key signs the tokens. It must fit Algorithm (see CheckKey) and must
	// be nil for none. *rsa.PrivateKey, *ecdsa.PrivateKey and
	// ed25519.PrivateKey are used directly; another crypto.Signer (an HSM,
	// say) is used through its Sign method.
	Key crypto.Signer
	// Certificates optionally holds the signing key's certificate first,
	// then its chain; [0] gives x5t and the chain gives x5c.
	Certificates []*x509.Certificate
	// X5T is the x5t format: "wso2" (the default when a certificate is
	// set), "rfc7515" or "off". Without a certificate there is no x5t.
	X5T string
	// X5C adds the x5c header (the certificate chain); it needs a
	// certificate.
	X5C bool
	// Lifetime is the token lifetime in whole seconds (the cache expiry
	// when the cache is on, else the expiry); zero means DefaultLifetime.
	Lifetime time.Duration
	// RestrictedClaims are added to the default restricted claims, which
	// are never copied from the access token or a retriever; they apply to
	// a claim's name both before and after dialect conversion.
	RestrictedClaims []string
	// IncludeClaims, when not empty, are the only claims copied from the
	// access token and the retrieved claims, by their names after mapping
	// and conversion. The claims of SPEC section 6 and the static claims
	// are written whatever it holds.
	IncludeClaims []string
	// ConvertDialect renames copied and retrieved claims that have an OIDC
	// name to the dialect (API Manager's ConvertClaimsToConsumerDialect):
	// the pairs of DefaultDialectTable and DialectMap. A converted claim
	// replaces one of its new name from the same source (a retrieved claim
	// still replaces a copied one); when several claims convert to one
	// name, the one whose original name sorts first stands.
	ConvertDialect bool
	// DialectMap adds pairs to DefaultDialectTable or overrides its pairs
	// (OIDC name to local name, written under the dialect); used only with
	// ConvertDialect.
	DialectMap map[string]string
	// Encoding is "base64url" (the default) or "base64".
	Encoding string
	// Claims decides the claims; nil means the built-in WSO2Claims.
	Claims ClaimsGenerator
}

// defaultRestricted are the claims never copied (SPEC section 6).
var defaultRestricted = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"application", "tierInfo", "subscribedAPIs", "keytype", "backendJwt",
}

// DefaultRestrictedClaims returns the claims that are never copied from the
// access token or a retriever, before Config.RestrictedClaims.
func DefaultRestrictedClaims() []string { return slices.Clone(defaultRestricted) }

// Names of the dialect claims, indexes into settings.names.
const (
	nameEnduser = iota
	nameApplicationID
	nameApplicationUUID
	nameSubscriber
	nameApplicationName
	nameApplicationTier
	nameAPIName
	nameVersion
	nameAPIContext
	nameTier
	nameEnduserTenantDomain
	nameKeytype
	nameUsertype
	nameEnduserTenantID
	nameApplicationAttributes
	numNames
)

// dialectSuffixes are the names after the dialect, in the order above.
var dialectSuffixes = [numNames]string{
	"enduser", "applicationid", "applicationUUId", "subscriber", "applicationname",
	"applicationtier", "apiname", "version", "apicontext", "tier",
	"enduserTenantDomain", "keytype", "usertype", "enduserTenantId",
	"applicationAttributes",
}

// settings is what a Claims reads from its Generator; immutable after New.
type settings struct {
	issuer     string
	audience   []string
	dialect    string // as configured
	prefix     string // dialect with the "/" rule applied
	names      [numNames]string
	restricted map[string]struct{} // the defaults and Config.RestrictedClaims
	standard   map[string]struct{} // StandardClaimNames
	// rules are the names of copied and retrieved claims that are dropped,
	// converted or included; keepOthers tells whether the other names are
	// copied (no IncludeClaims).
	rules      map[string]rule
	keepOthers bool
}

// Generator makes backend JWTs. It is immutable after New and safe for
// concurrent use.
type Generator struct {
	pub      crypto.PublicKey // nil for none
	s        settings
	alg      string
	signer   signer
	enc      *base64.Encoding
	header   []byte // the encoded header followed by "."
	kid      string
	lifetime int64 // seconds
	claims   ClaimsGenerator
	pool     sync.Pool // *Claims
}

// New validates cfg and returns a Generator: the algorithm is known, the key
// fits it, the certificate (if any) is the key's, and the header is encoded
// and the dialect claim names (those of the conversion included) formatted
// once here.
func New(cfg Config) (*Generator, error) {
	name := cfg.Algorithm
	if name == "" {
		name = RS256
	}
	alg, err := CanonicalAlgorithm(name)
	if err != nil {
		return nil, fmt.Errorf("jwtgen: %w", err)
	}
	g := &Generator{alg: alg, claims: cfg.Claims}
	if g.claims == nil {
		g.claims = WSO2Claims{}
	}

	switch cfg.Encoding {
	case "", EncodingBase64URL:
		g.enc = base64.RawURLEncoding
	case EncodingBase64:
		g.enc = base64.RawStdEncoding
	default:
		return nil, fmt.Errorf("jwtgen: unknown encoding %q (want %s or %s)", cfg.Encoding, EncodingBase64URL, EncodingBase64)
	}

	switch {
	case cfg.Lifetime == 0:
		g.lifetime = int64(DefaultLifetime / time.Second)
	case cfg.Lifetime < time.Second:
		return nil, fmt.Errorf("jwtgen: lifetime %v is shorter than one second", cfg.Lifetime)
	default:
		g.lifetime = int64(cfg.Lifetime / time.Second)
	}

	switch cfg.X5T {
	case "", X5TWSO2, X5TRFC7515, X5TOff:
	default:
		return nil, fmt.Errorf("jwtgen: unknown x5t format %q (want %s, %s or %s)", cfg.X5T, X5TWSO2, X5TRFC7515, X5TOff)
	}

	if alg == None {
		if cfg.Key != nil {
			return nil, errors.New("jwtgen: algorithm none signs nothing, but a signing key is configured")
		}
		if len(cfg.Certificates) > 0 || cfg.X5C {
			return nil, errors.New("jwtgen: algorithm none takes no certificate and no x5c")
		}
	} else {
		if err := CheckKey(alg, cfg.Key); err != nil {
			return nil, fmt.Errorf("jwtgen: %w", err)
		}
		if len(cfg.Certificates) > 0 {
			if err := checkCertificate(cfg.Certificates[0], cfg.Key); err != nil {
				return nil, fmt.Errorf("jwtgen: %w", err)
			}
		} else if cfg.X5C {
			return nil, errors.New("jwtgen: x5c needs a certificate")
		}
		g.pub = cfg.Key.Public()
		if g.kid, err = Thumbprint(g.pub); err != nil {
			return nil, fmt.Errorf("jwtgen: key ID: %w", err)
		}
		if g.signer, err = newSigner(alg, cfg.Key); err != nil {
			return nil, fmt.Errorf("jwtgen: %w", err)
		}
	}

	hdr := appendHeader(nil, alg, g.kid, cfg.Certificates, cfg.X5T, cfg.X5C)
	g.header = append(g.enc.AppendEncode(nil, hdr), '.')

	issuer := cfg.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	g.s = settings{
		issuer:     issuer,
		audience:   slices.Clone(cfg.Audience),
		dialect:    cfg.Dialect,
		prefix:     dialectPrefix(cfg.Dialect),
		restricted: make(map[string]struct{}, len(defaultRestricted)+len(cfg.RestrictedClaims)),
	}
	for i, suffix := range dialectSuffixes {
		g.s.names[i] = g.s.prefix + suffix
	}
	for _, n := range defaultRestricted {
		g.s.restricted[n] = struct{}{}
	}
	for _, n := range cfg.RestrictedClaims {
		g.s.restricted[n] = struct{}{}
	}
	g.s.standard = make(map[string]struct{}, len(registeredStandard)+numNames)
	for _, n := range StandardClaimNames(cfg) {
		g.s.standard[n] = struct{}{}
	}
	if err := g.s.buildRules(cfg); err != nil {
		return nil, fmt.Errorf("jwtgen: %w", err)
	}
	g.pool.New = func() any { return &Claims{s: &g.s} }
	return g, nil
}

// dialectPrefix applies the "/" rule to a dialect.
func dialectPrefix(d string) string {
	if d == "" || d[len(d)-1] == '/' {
		return d
	}
	return d + "/"
}

// Algorithm returns the canonical algorithm name the Generator signs with.
func (g *Generator) Algorithm() string { return g.alg }

// KeyID returns the kid of the tokens: the RFC 7638 SHA-256 thumbprint of
// the signing public key, base64url without padding; "" for none.
func (g *Generator) KeyID() string { return g.kid }

// PublicKey returns the signing public key with the tokens' kid and alg,
// ready for JWKS; false for none.
func (g *Generator) PublicKey() (PublicKey, bool) {
	if g.pub == nil {
		return PublicKey{}, false
	}
	return PublicKey{Key: g.pub, KeyID: g.kid, Algorithm: g.alg}, true
}

// Lifetime returns the token lifetime, in whole seconds.
func (g *Generator) Lifetime() time.Duration { return time.Duration(g.lifetime) * time.Second }

// Generate builds, signs and encodes a backend JWT for in, and returns it
// with its expiry (the exp claim): the ClaimsGenerator's standard then
// custom claims, then in.Static.
func (g *Generator) Generate(in *Input) (token string, expires time.Time, err error) {
	if in == nil {
		return "", time.Time{}, errors.New("jwtgen: no input")
	}
	if in.Now.IsZero() {
		return "", time.Time{}, errors.New("jwtgen: input has no time (Now is zero)")
	}
	iat := in.Now.Unix()
	exp := iat + g.lifetime
	if !in.NotAfter.IsZero() {
		if na := in.NotAfter.Unix(); na < exp {
			exp = na
		}
	}
	if exp <= iat {
		return "", time.Time{}, ErrNotAfter
	}

	c := g.pool.Get().(*Claims)
	defer g.release(c)
	c.iat, c.exp = iat, exp

	c.phase = phaseStandard
	if err := g.claims.StandardClaims(in, c); err != nil {
		return "", time.Time{}, fmt.Errorf("jwtgen: standard claims: %w", err)
	}
	if !c.timesSet {
		c.SetTimes()
	}
	c.nStandard = len(c.entries)
	c.phase = phaseCustom
	if err := g.claims.CustomClaims(in, c); err != nil {
		return "", time.Time{}, fmt.Errorf("jwtgen: custom claims: %w", err)
	}
	if err := c.setStatic(in.Static); err != nil {
		return "", time.Time{}, fmt.Errorf("jwtgen: %w", err)
	}
	c.phase = phaseDone

	c.payload = c.appendPayload(c.payload[:0])
	buf := append(c.out[:0], g.header...)
	buf = g.enc.AppendEncode(buf, c.payload)
	if g.signer != nil {
		sig, err := g.signer.sign(buf, c.sig[:0])
		if err != nil {
			return "", time.Time{}, fmt.Errorf("jwtgen: sign %s: %w", g.alg, err)
		}
		c.sig = sig
		buf = append(buf, '.')
		buf = g.enc.AppendEncode(buf, sig)
	} else {
		buf = append(buf, '.')
	}
	c.out = buf
	return string(buf), time.Unix(exp, 0), nil
}

// maxPooled bounds the buffers a pooled Claims keeps, so one huge token does
// not pin memory.
const maxPooled = 64 << 10

func (g *Generator) release(c *Claims) {
	if cap(c.data) > maxPooled || cap(c.payload) > maxPooled || cap(c.out) > maxPooled {
		return
	}
	c.reset()
	g.pool.Put(c)
}

// appendHeader appends the JOSE header JSON.
func appendHeader(b []byte, alg, kid string, certs []*x509.Certificate, x5t string, x5c bool) []byte {
	b = append(b, `{"typ":"JWT","alg":`...)
	b = appendJSONString(b, alg)
	if kid != "" {
		b = append(b, `,"kid":`...)
		b = appendJSONString(b, kid)
	}
	if len(certs) > 0 && alg != None {
		switch x5t {
		case "", X5TWSO2:
			b = append(b, `,"x5t":`...)
			b = appendJSONString(b, X5TWSO2Value(certs[0]))
		case X5TRFC7515:
			b = append(b, `,"x5t":`...)
			b = appendJSONString(b, X5TRFC7515Value(certs[0]))
		}
		if x5c {
			b = append(b, `,"x5c":[`...)
			for i, c := range certs {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = base64.StdEncoding.AppendEncode(b, c.Raw)
				b = append(b, '"')
			}
			b = append(b, ']')
		}
	}
	return append(b, '}')
}
