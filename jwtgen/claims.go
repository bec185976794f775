package jwtgen

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// ClaimsGenerator decides the claims of a backend JWT in the two steps of
// the WSO2 AbstractMGWJWTGenerator: StandardClaims first, then CustomClaims.
// Embedding WSO2Claims and overriding one method reuses the built-in other
// step. Implementations must be safe for concurrent use and must not keep c
// after returning.
type ClaimsGenerator interface {
	// StandardClaims sets the standard claims. Set refuses only a name
	// already set, and iat and exp (SetTimes sets those; the Generator
	// adds them after this step if it did not).
	StandardClaims(in *Input, c *Claims) error
	// CustomClaims adds further claims. Set refuses a name already set
	// (so a standard claim is never overwritten) or restricted.
	CustomClaims(in *Input, c *Claims) error
}

// WSO2Claims is the built-in ClaimsGenerator: the claims of SPEC section 6.
// It has no fields and reads its settings (issuer, audience, dialect) from
// the Claims it is given, so a custom generator that embeds it needs no
// initialisation.
type WSO2Claims struct{}

var _ ClaimsGenerator = WSO2Claims{}

// StandardClaims sets, in this order: iss; aud; jti; iat and exp; sub and
// D/enduser from the access token's sub; D/applicationid,
// D/applicationUUId, D/subscriber, D/applicationname and D/applicationtier
// from its application object's id, uuid, owner, name and tier, else from
// in.Application; D/apiname, D/version and D/apicontext from in.API; D/tier
// and D/enduserTenantDomain from in.Subscription; D/keytype from its
// keytype, else in.KeyType, else PRODUCTION; and D/usertype
// Application_User. Values taken from the access token keep their JSON form.
func (WSO2Claims) StandardClaims(in *Input, c *Claims) error {
	s := c.s
	c.SetString("iss", s.issuer)
	switch len(s.audience) {
	case 0:
	case 1:
		c.SetString("aud", s.audience[0])
	default:
		c.setStrings("aud", s.audience)
	}
	c.SetJTI()
	c.SetTimes()
	if sub, ok := in.Claims["sub"]; ok {
		c.setRaw("sub", sub)
		c.setRaw(s.names[nameEnduser], sub)
	}
	if app, ok := in.Claims["application"]; ok {
		var id, uuid, owner, name, tier []byte
		// An application claim that is not an object gives no claims.
		_ = eachMember(app, func(key, val []byte) {
			switch string(key) {
			case "id":
				id = val
			case "uuid":
				uuid = val
			case "owner":
				owner = val
			case "name":
				name = val
			case "tier":
				tier = val
			}
		})
		for _, kv := range [...]struct {
			n int
			v []byte
		}{
			{nameApplicationID, id}, {nameApplicationUUID, uuid}, {nameSubscriber, owner},
			{nameApplicationName, name}, {nameApplicationTier, tier},
		} {
			if kv.v != nil {
				c.setRaw(s.names[kv.n], kv.v)
			}
		}
	} else if app := in.Application; app != nil {
		c.SetInt(s.names[nameApplicationID], app.ID)
		c.SetString(s.names[nameApplicationUUID], app.UUID)
		c.SetString(s.names[nameSubscriber], app.Subscriber)
		c.SetString(s.names[nameApplicationName], app.Name)
		c.SetString(s.names[nameApplicationTier], app.Tier)
	}
	if api := in.API; api != nil {
		c.SetString(s.names[nameAPIName], api.Name)
		c.SetString(s.names[nameVersion], api.Version)
		c.SetString(s.names[nameAPIContext], api.Context)
	}
	if sub := in.Subscription; sub != nil {
		c.SetString(s.names[nameTier], sub.Tier)
		c.SetString(s.names[nameEnduserTenantDomain], sub.TenantDomain)
	}
	if kt, ok := in.Claims["keytype"]; ok {
		c.setRaw(s.names[nameKeytype], kt)
	} else if in.KeyType != "" {
		c.SetString(s.names[nameKeytype], in.KeyType)
	} else {
		c.SetString(s.names[nameKeytype], "PRODUCTION")
	}
	c.SetString(s.names[nameUsertype], "Application_User")
	return nil
}

// CustomClaims copies every claim of the access token, then every retrieved
// claim, by its name, unless it is restricted or already set; so on a clash
// the access token's claim wins over the retrieved one.
func (WSO2Claims) CustomClaims(in *Input, c *Claims) error {
	for name, raw := range in.Claims {
		c.setRaw(name, raw)
	}
	for name, v := range in.Retrieved {
		c.Set(name, v)
	}
	return nil
}

// Steps of Generate, which decide what Set refuses.
const (
	phaseStandard = iota
	phaseCustom
	phaseDone
)

// entry is one claim: its name and its JSON value, data[off:end].
type entry struct {
	name     string
	off, end int
}

// Claims is the claim set of one token under construction, handed to a
// ClaimsGenerator. Set and its variants refuse (return false) a name that is
// already set, so the first value of a name stands; during CustomClaims they
// also refuse restricted names. iat and exp are set only by SetTimes, to the
// Generator's values. Claims are written in the order they were set during
// StandardClaims, then the custom ones sorted by name.
//
// A Claims is valid only during the ClaimsGenerator call it was passed to.
type Claims struct {
	s         *settings
	phase     int
	iat, exp  int64
	timesSet  bool
	nStandard int
	entries   []entry
	data      []byte // the JSON values

	payload []byte // scratch buffers reused through the pool
	out     []byte
	sig     []byte
}

func (c *Claims) reset() {
	c.phase, c.iat, c.exp, c.timesSet, c.nStandard = phaseStandard, 0, 0, false, 0
	clear(c.entries) // drop name references
	c.entries = c.entries[:0]
	c.data = c.data[:0]
}

// Dialect returns the dialect as configured, e.g. "http://wso2.org/claims".
func (c *Claims) Dialect() string { return c.s.dialect }

// DialectClaim returns the name of a dialect claim: the dialect, a "/"
// unless the dialect is empty or ends in "/", then name.
func (c *Claims) DialectClaim(name string) string {
	for i, suffix := range dialectSuffixes {
		if suffix == name {
			return c.s.names[i]
		}
	}
	return c.s.prefix + name
}

// Issuer returns the configured iss.
func (c *Claims) Issuer() string { return c.s.issuer }

// Audience returns the configured audience (a copy).
func (c *Claims) Audience() []string { return slices.Clone(c.s.audience) }

// IssuedAt returns the iat of this token: the input's Now in whole seconds.
func (c *Claims) IssuedAt() time.Time { return time.Unix(c.iat, 0) }

// Expires returns the exp of this token: IssuedAt plus the lifetime, capped
// by the input's NotAfter.
func (c *Claims) Expires() time.Time { return time.Unix(c.exp, 0) }

// Restricted reports whether name is one of the claims never copied (the
// defaults and the configured ones). Set refuses these during CustomClaims.
func (c *Claims) Restricted(name string) bool { return c.restricted(name) }

func (c *Claims) restricted(name string) bool {
	_, ok := c.s.restricted[name]
	return ok
}

// Has reports whether a claim of that name is set.
func (c *Claims) Has(name string) bool {
	for i := range c.entries {
		if c.entries[i].name == name {
			return true
		}
	}
	return false
}

// Value returns a copy of the JSON value of the claim name, if it is set.
func (c *Claims) Value(name string) (json.RawMessage, bool) {
	for _, e := range c.entries {
		if e.name == name {
			return bytes.Clone(c.data[e.off:e.end]), true
		}
	}
	return nil, false
}

// Names returns the names of the claims set so far, in the order they were set.
func (c *Claims) Names() []string {
	names := make([]string, len(c.entries))
	for i, e := range c.entries {
		names[i] = e.name
	}
	return names
}

// Len returns the number of claims set.
func (c *Claims) Len() int { return len(c.entries) }

// settable reports whether name may be set now.
func (c *Claims) settable(name string) bool {
	switch c.phase {
	case phaseStandard:
		if name == "iat" || name == "exp" {
			return false
		}
	case phaseCustom:
		if c.restricted(name) {
			return false
		}
	default:
		return false
	}
	return !c.Has(name)
}

// add records the value written to data since off.
func (c *Claims) add(name string, off int) {
	c.entries = append(c.entries, entry{name: name, off: off, end: len(c.data)})
}

// SetString sets a string claim. It reports whether the claim was set.
func (c *Claims) SetString(name, v string) bool {
	if !c.settable(name) {
		return false
	}
	off := len(c.data)
	c.data = appendJSONString(c.data, v)
	c.add(name, off)
	return true
}

// setStrings sets an array of strings.
func (c *Claims) setStrings(name string, vs []string) bool {
	if !c.settable(name) {
		return false
	}
	off := len(c.data)
	c.data = appendJSONStrings(c.data, vs)
	c.add(name, off)
	return true
}

// SetInt sets an integer claim. It reports whether the claim was set.
func (c *Claims) SetInt(name string, v int64) bool {
	if !c.settable(name) {
		return false
	}
	off := len(c.data)
	c.data = strconv.AppendInt(c.data, v, 10)
	c.add(name, off)
	return true
}

// SetRaw sets a claim to a JSON value as it is. It reports whether the claim
// was set; raw that is not one valid JSON value is refused.
func (c *Claims) SetRaw(name string, raw json.RawMessage) bool {
	if !json.Valid(raw) {
		return false
	}
	return c.setRaw(name, raw)
}

// setRaw is SetRaw for values known to be valid JSON.
func (c *Claims) setRaw(name string, raw []byte) bool {
	if !c.settable(name) {
		return false
	}
	off := len(c.data)
	c.data = append(c.data, bytes.TrimSpace(raw)...)
	c.add(name, off)
	return true
}

// Set sets a claim to v encoded as JSON: strings, booleans, integers,
// []string, json.RawMessage and nil directly, anything else through
// json.Marshal. It reports whether the claim was set; a value that cannot be
// encoded is refused.
func (c *Claims) Set(name string, v any) bool {
	switch v := v.(type) {
	case string:
		return c.SetString(name, v)
	case json.RawMessage:
		return c.SetRaw(name, v)
	case []string:
		return c.setStrings(name, v)
	case int:
		return c.SetInt(name, int64(v))
	case int64:
		return c.SetInt(name, v)
	case int32:
		return c.SetInt(name, int64(v))
	case bool:
		if v {
			return c.setRaw(name, []byte("true"))
		}
		return c.setRaw(name, []byte("false"))
	case nil:
		return c.setRaw(name, []byte("null"))
	}
	if !c.settable(name) {
		return false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return c.setRaw(name, b)
}

// SetJTI sets jti to a fresh random (version 4) UUID. It reports whether
// the claim was set.
func (c *Claims) SetJTI() bool {
	if !c.settable("jti") {
		return false
	}
	off := len(c.data)
	c.data = append(c.data, '"')
	c.data = appendUUID(c.data)
	c.data = append(c.data, '"')
	c.add("jti", off)
	return true
}

// SetTimes sets iat and exp to IssuedAt and Expires, as JSON integers. Only
// StandardClaims may call it, once; otherwise it reports false. When
// StandardClaims does not call it, the Generator adds iat and exp after the
// standard claims.
func (c *Claims) SetTimes() bool {
	if c.phase != phaseStandard || c.timesSet || c.Has("iat") || c.Has("exp") {
		return false
	}
	c.timesSet = true
	off := len(c.data)
	c.data = strconv.AppendInt(c.data, c.iat, 10)
	c.add("iat", off)
	off = len(c.data)
	c.data = strconv.AppendInt(c.data, c.exp, 10)
	c.add("exp", off)
	return true
}

// appendPayload appends the claims as a JSON object: the standard ones in
// the order set, then the custom ones sorted by name.
func (c *Claims) appendPayload(b []byte) []byte {
	custom := c.entries[c.nStandard:]
	if len(custom) > 1 {
		slices.SortFunc(custom, func(x, y entry) int { return cmp.Compare(x.name, y.name) })
	}
	b = append(b, '{')
	for i, e := range c.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e.name)
		b = append(b, ':')
		b = append(b, c.data[e.off:e.end]...)
	}
	return append(b, '}')
}
