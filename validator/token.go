package validator

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
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
	// Expires is the exp claim; NotBefore and IssuedAt are zero when absent.
	Expires, NotBefore, IssuedAt time.Time
	// Claims holds every top-level claim of the payload as the raw JSON it was
	// written as.
	Claims map[string]json.RawMessage
	// Subscription is the subscribedAPIs entry that matches the configured
	// API, or nil when there is none or no API is configured.
	Subscription *Subscription
	// Digest is the SHA-256 of the whole token as received: the key of the
	// validated-token cache, reusable for keys derived from the token.
	Digest [32]byte
	// BackendJWT is the value of a string backendJwt claim, and HasBackendJWT
	// tells whether the token carries one.
	BackendJWT    string
	HasBackendJWT bool
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
	signingInput string // header.payload as transmitted
	signature    []byte
	header       map[string]json.RawMessage
	alg, kid     string
	claims       map[string]json.RawMessage
}

// splitToken parses a compact JWS strictly: three parts in the base64url
// alphabet without padding or white space, a header and a payload that are
// strict JSON objects, an alg string, no crit, no nested token.
func splitToken(token string) (*compact, error) {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return nil, invalidf("not a JWT: no '.'")
	}
	second := strings.IndexByte(token[first+1:], '.')
	if second < 0 {
		return nil, invalidf("not a JWT: two parts")
	}
	second += first + 1
	if strings.IndexByte(token[second+1:], '.') >= 0 {
		return nil, invalidf("not a signed JWT: more than three parts")
	}
	h, p, sig := token[:first], token[first+1:second], token[second+1:]
	if h == "" || p == "" || sig == "" {
		return nil, invalidf("empty JWT part")
	}
	for _, part := range [...]string{h, p, sig} {
		if !isBase64URL(part) {
			return nil, invalidf("JWT part not in the unpadded base64url alphabet")
		}
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil {
		return nil, invalidf("bad base64url in header")
	}
	pb, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil {
		return nil, invalidf("bad base64url in payload")
	}
	sb, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return nil, invalidf("bad base64url in signature")
	}
	c := &compact{signingInput: token[:second], signature: sb}
	if c.header, err = parseObject(hb); err != nil {
		return nil, invalidf("header: %v", err)
	}
	if c.alg, err = stringMember(c.header, "alg", true); err != nil {
		return nil, err
	}
	if c.kid, err = stringMember(c.header, "kid", false); err != nil {
		return nil, err
	}
	if _, ok := c.header["crit"]; ok {
		return nil, invalidf("crit header present: no extension is understood")
	}
	if cty, _ := stringMember(c.header, "cty", false); strings.EqualFold(cty, "JWT") {
		return nil, invalidf("nested JWT (cty JWT) not accepted")
	}
	if c.claims, err = parseObject(pb); err != nil {
		return nil, invalidf("payload: %v", err)
	}
	return c, nil
}

// isBase64URL reports whether s holds only the unpadded base64url alphabet.
// (Go's decoder skips '\r' and '\n', so it cannot be the only check.)
func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
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
	if len(raw) == 0 || raw[0] != '"' {
		return "", invalidf("%s is not a string", name)
	}
	if !strings.Contains(string(raw), `\`) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalidf("%s is not a string", name)
	}
	return s, nil
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
		s, err := stringMember(claims, "aud", true)
		return []string{s}, err
	}
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalidf("aud is neither a string nor an array of strings")
	}
	list := make([]string, len(items))
	for i, item := range items {
		if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &list[i]) != nil {
			return nil, invalidf("aud is neither a string nor an array of strings")
		}
	}
	return list, nil
}
