package validator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/rawjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
)

// maxTimestamp is 9999-12-31T23:59:59Z, the largest exp, nbf or iat accepted.
const maxTimestamp = 253402300799

// Token is a validated access token. It is shared between requests (the
// validated-token cache hands out the same value) and must not be changed.
type Token struct {
	// Issuer is the trusted issuer the token was validated against.
	Issuer *Issuer
	// Algorithm and KeyID are the header's alg and kid.
	Algorithm, KeyID string
	// Subject, JTI and Audience are the sub, jti and aud claims ("" or nil when absent).
	Subject, JTI string
	Audience     []string
	// Expires is the exp claim: always set for an access token, zero for an
	// API key without exp (one that never expires). NotBefore and IssuedAt
	// are zero when absent.
	Expires, NotBefore, IssuedAt time.Time
	// Claims holds every top-level claim of the payload as the raw JSON it was
	// written as. Every check reads these (consumer key, subscription, aut,
	// scopes, revocation).
	Claims map[string]json.RawMessage
	// Copied holds the claims as they are copied into the backend JWT and
	// shown by placeholders: Claims with the issuer's claim map applied
	// (IssuerConfig.ClaimMap; for API keys APIKeyConfig.ClaimMap), each
	// remote name under its local name with its value unchanged, replacing
	// a claim of that name; renames do not chain. It is made once, when the
	// token is validated, and is nil when the issuer has no claim map:
	// callers then use Claims (see CopiedClaims).
	Copied map[string]json.RawMessage
	// Subscription is the subscribedAPIs entry that matches the configured
	// API, or nil when there is none or no API is configured.
	Subscription *Subscription
	// Digest is the SHA-256 of the whole token as received: the key of the
	// validated-token cache, reusable for keys derived from the token.
	Digest [32]byte
	// Signature is the token's third part as received: API Manager's
	// revoked list names tokens by it.
	Signature string
	// ConsumerKey is the OAuth client ID the token was issued to (see
	// IssuerConfig.ConsumerKeyClaim); "" when the token names none.
	ConsumerKey string
	// UserType is, for an introspected token, APPLICATION or
	// APPLICATION_USER (its answer's aut; the latter when absent): the
	// backend JWT's usertype. Empty for JWTs and API keys.
	UserType string
	// BackendJWT is the value of a string backendJwt claim, and HasBackendJWT
	// tells whether the token carries one.
	BackendJWT    string
	HasBackendJWT bool
	// Scopes are the token's scopes, from its scope claim, else its scp
	// claim: a space-separated string or an array of strings (any other
	// type gives none). API keys carry no scopes: nil. See HasScopes.
	Scopes []string
	// Restrictions are an API key's permittedIP and permittedReferer; nil
	// when it has neither (always for an access token). The caller checks
	// each request with Restrictions.Permits.
	Restrictions *Restrictions
}

// Subscription is one entry of the token's subscribedAPIs claim.
type Subscription struct {
	Name                   string `json:"name"`
	Version                string `json:"version"`
	Context                string `json:"context"`
	Publisher              string `json:"publisher"`
	SubscriptionTier       string `json:"subscriptionTier"`
	SubscriberTenantDomain string `json:"subscriberTenantDomain"`
}

// compact is a token split into its parts and decoded, not yet verified.
type compact struct {
	signingInput []byte // header.payload as transmitted
	signature    []byte
	alg, kid     string
	claims       map[string]json.RawMessage
}

// strictBase64URL decodes the unpadded base64url alphabet, refusing
// non-zero trailing bits.
var strictBase64URL = base64.RawURLEncoding.Strict()

// strictPaddedBase64URL decodes base64url with its "=" padding, refusing
// missing or extra padding and non-zero trailing bits: the encoding of
// java.util.Base64.getUrlEncoder(), in which API Manager writes API keys.
var strictPaddedBase64URL = base64.URLEncoding.Strict()

// splitToken parses a compact JWS strictly: three parts in the base64url
// alphabet without padding or white space, a header and a payload that are
// strict JSON objects, an alg string, no crit, no nested token. The result
// keeps slices of token.
func splitToken(token []byte) (*compact, error) {
	return splitEncoded(token, strictBase64URL)
}

// splitAPIKey is splitToken for an API key, which may also be written as
// API Manager writes them (java.util.Base64.getUrlEncoder(): every part
// padded with "=" to a multiple of four characters). A key holding a "="
// must have every part so padded; one without is read as splitToken
// reads tokens. The signature covers the parts as transmitted, padding
// included.
func splitAPIKey(token []byte) (*compact, error) {
	if bytes.IndexByte(token, '=') >= 0 {
		return splitEncoded(token, strictPaddedBase64URL)
	}
	return splitEncoded(token, strictBase64URL)
}

// splitEncoded is splitToken with the parts in the encoding enc.
func splitEncoded(token []byte, enc *base64.Encoding) (*compact, error) {
	h, p, sig, err := splitParts(token)
	if err != nil {
		return nil, err
	}
	// One buffer for the three decoded parts.
	buf := make([]byte, 0, enc.DecodedLen(len(h))+enc.DecodedLen(len(p))+enc.DecodedLen(len(sig)))
	hb, buf, err := decodePart(enc, buf, h, "header")
	if err != nil {
		return nil, err
	}
	pb, buf, err := decodePart(enc, buf, p, "payload")
	if err != nil {
		return nil, err
	}
	sb, _, err := decodePart(enc, buf, sig, "signature")
	if err != nil {
		return nil, err
	}
	n := len(h) + 1 + len(p)
	c := &compact{signingInput: token[:n:n], signature: sb}
	if c.alg, c.kid, err = readHeader(hb); err != nil {
		return nil, err
	}
	if c.claims, err = strictjson.ParseObject(pb); err != nil {
		return nil, invalidf("payload: %v", err)
	}
	return c, nil
}

// splitParts returns the three parts of a compact JWS, each non-empty and
// without a line break (decodePart checks the rest of the alphabet).
func splitParts(token []byte) (h, p, sig []byte, err error) {
	first := bytes.IndexByte(token, '.')
	if first < 0 {
		return nil, nil, nil, invalidf("not a JWT: no '.'")
	}
	second := bytes.IndexByte(token[first+1:], '.')
	if second < 0 {
		return nil, nil, nil, invalidf("not a JWT: two parts")
	}
	second += first + 1
	if bytes.IndexByte(token[second+1:], '.') >= 0 {
		return nil, nil, nil, invalidf("not a signed JWT: more than three parts")
	}
	h, p, sig = token[:first], token[first+1:second], token[second+1:]
	if len(h) == 0 || len(p) == 0 || len(sig) == 0 {
		return nil, nil, nil, invalidf("empty JWT part")
	}
	// The strict decoder refuses every other byte outside the alphabet,
	// padding included, but skips these two.
	if bytes.IndexByte(token, '\n') >= 0 || bytes.IndexByte(token, '\r') >= 0 {
		return nil, nil, nil, invalidf("JWT part not in the unpadded base64url alphabet")
	}
	return h, p, sig, nil
}

// decodePart decodes part, named what in errors, with enc into the free
// capacity of buf and returns it (capped) and buf grown by it. Any byte
// outside enc's alphabet but a line break (which splitParts refuses), and
// non-zero trailing bits, are refused.
func decodePart(enc *base64.Encoding, buf, part []byte, what string) (decoded, grown []byte, err error) {
	free := buf[len(buf):cap(buf)]
	n, err := enc.Decode(free, part)
	if err != nil {
		return nil, nil, invalidf("bad base64url in %s", what)
	}
	return free[:n:n], buf[:len(buf)+n], nil
}

// readHeader reads the JOSE header strictly and returns its alg and kid. It
// refuses a crit member (no extension is understood) and cty JWT.
func readHeader(data []byte) (alg, kid string, err error) {
	var algRaw, kidRaw, ctyRaw []byte
	crit := false
	err = strictjson.WalkObject(data, func(name, value []byte) {
		switch string(name) {
		case "alg":
			algRaw = value
		case "kid":
			kidRaw = value
		case "cty":
			ctyRaw = value
		case "crit":
			crit = true
		}
	})
	switch {
	case err != nil:
		return "", "", invalidf("header: %v", err)
	case algRaw == nil:
		return "", "", invalidf("alg missing")
	}
	algBytes, ok := jsonStringBytes(algRaw)
	if !ok {
		return "", "", invalidf("alg is not a string")
	}
	if kidRaw != nil {
		if kid, err = stringValue(kidRaw, "kid"); err != nil {
			return "", "", err
		}
	}
	if crit {
		return "", "", invalidf("crit header present: no extension is understood")
	}
	if cty, ok := jsonString(ctyRaw); ok && strings.EqualFold(cty, "JWT") {
		return "", "", invalidf("nested JWT (cty JWT) not accepted")
	}
	return algName(algBytes), kid, nil
}

// supportedAlgs are the names of algKeyTypes.
var supportedAlgs = SupportedAlgorithms()

// algName returns alg as a string: the allowed alg's own name when it is
// one, so that no string is made for it.
func algName(alg []byte) string {
	for _, name := range supportedAlgs {
		if string(alg) == name {
			return name
		}
	}
	return string(alg)
}

// stringMember returns the string member name of obj, "" when it is absent
// and not required.
func stringMember(obj map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := obj[name]
	if !ok {
		if required {
			return "", invalidf("%s missing", name)
		}
		return "", nil
	}
	return stringValue(raw, name)
}

// stringValue returns the JSON string raw, the value of name.
func stringValue(raw []byte, name string) (string, error) {
	s, ok := jsonString(raw)
	if !ok {
		return "", invalidf("%s is not a string", name)
	}
	return s, nil
}

// jsonString returns the value of raw when it is a JSON string the strict
// reader accepted.
func jsonString(raw []byte) (string, bool) {
	b, ok := jsonStringBytes(raw)
	return string(b), ok
}

// jsonStringBytes is jsonString without a copy when raw has no escape: the
// result is then a slice of raw.
func jsonStringBytes(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	body := raw[1 : len(raw)-1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body, true
	}
	return strictjson.AppendUnescaped(make([]byte, 0, len(body)), body)
}

// timeClaim returns the NumericDate claim name: a JSON integer, no fraction
// or exponent, from 0 to maxTimestamp. present is false when it is absent.
func timeClaim(claims map[string]json.RawMessage, name string) (t time.Time, present bool, err error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	if len(raw) == 0 || len(raw) > 12 {
		return time.Time{}, true, invalidf("%s is not an integer from 0 to %d", name, maxTimestamp)
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return time.Time{}, true, invalidf("%s is not an integer from 0 to %d", name, maxTimestamp)
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > maxTimestamp {
		return time.Time{}, true, invalidf("%s is not an integer from 0 to %d", name, maxTimestamp)
	}
	return time.Unix(v, 0), true, nil
}

// audienceClaim returns aud as a list: a string or an array of strings.
func audienceClaim(claims map[string]json.RawMessage) ([]string, error) {
	raw, ok := claims["aud"]
	if !ok {
		return nil, nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		s, err := stringValue(raw, "aud")
		return []string{s}, err
	}
	list := []string{}
	allStrings := true
	err := rawjson.EachElement(raw, func(item []byte) {
		s, ok := jsonString(item)
		allStrings = allStrings && ok
		list = append(list, s)
	})
	if err != nil || !allStrings {
		return nil, invalidf("aud is neither a string nor an array of strings")
	}
	return list, nil
}
