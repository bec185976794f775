package jwtgen

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
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
// keytype, else in.KeyType, else PRODUCTION; D/usertype, in.UserType or
// else Application_User; D/enduserTenantId from in.TenantID and
// D/applicationAttributes from in.ApplicationAttributes, when set. Values
// taken from the access token keep their JSON form, but D/applicationid,
// which is always a JSON string: the id's string, or its number's digits
// (an id of another type gives no D/applicationid).
//
// D/enduser is the sub, unless the access token has a string aut claim
// and the subscriber's tenant is known (in.SubscriberTenant, else
// in.Subscription's TenantDomain): then, as API Manager's gateway writes it,
// for aut APPLICATION (compared case-insensitively) the application's
// owner (the application object's owner, else in.Application's
// Subscriber; the sub when neither is known), with "@carbon.super" added
// when the tenant is carbon.super; for any other aut, the sub with
// "@<tenant>" added unless it already ends so.
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

	var id, uuid, owner, name, tier []byte
	app, hasApp := in.Claims["application"]
	if hasApp {
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
	}
	sub, hasSub := in.Claims["sub"]
	if hasSub {
		c.setRaw("sub", sub)
	}
	c.setEnduser(in, sub, owner)

	if hasApp {
		if id != nil {
			c.setApplicationID(s.names[nameApplicationID], id)
		}
		for _, kv := range [...]struct {
			n int
			v []byte
		}{
			{nameApplicationUUID, uuid}, {nameSubscriber, owner},
			{nameApplicationName, name}, {nameApplicationTier, tier},
		} {
			if kv.v != nil {
				c.setRaw(s.names[kv.n], kv.v)
			}
		}
	} else if app := in.Application; app != nil {
		if off, ok := c.begin(s.names[nameApplicationID]); ok {
			c.data = append(c.data, '"')
			c.data = strconv.AppendInt(c.data, app.ID, 10)
			c.data = append(c.data, '"')
			c.add(s.names[nameApplicationID], off)
		}
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
	if in.UserType != "" {
		c.SetString(s.names[nameUsertype], in.UserType)
	} else {
		c.SetString(s.names[nameUsertype], "Application_User")
	}
	if in.TenantID != "" {
		c.SetString(s.names[nameEnduserTenantID], in.TenantID)
	}
	if nonEmptyObject(in.ApplicationAttributes) {
		c.setRaw(s.names[nameApplicationAttributes], in.ApplicationAttributes)
	}
	return nil
}

// superTenant is the tenant domain of API Manager's super tenant.
const superTenant = "carbon.super"

// autApplication is the aut of an application (client credentials) token.
var autApplication = []byte("APPLICATION")

// setEnduser sets D/enduser by the rules of StandardClaims, from the
// access token's sub and its application object's owner (nil when absent).
func (c *Claims) setEnduser(in *Input, sub, owner []byte) {
	name := c.s.names[nameEnduser]
	tenant := in.SubscriberTenant
	if tenant == "" && in.Subscription != nil {
		tenant = in.Subscription.TenantDomain
	}
	var scratch [32]byte
	aut, isString := stringValue(in.Claims["aut"], scratch[:0])
	if !isString || tenant == "" {
		if sub != nil {
			c.setRaw(name, sub)
		}
		return
	}
	if bytes.EqualFold(aut, autApplication) {
		suffix := ""
		if tenant == superTenant {
			suffix = superTenant
		}
		if body, ok := stringBody(owner); ok {
			c.setSuffixed(name, body, "", suffix)
			return
		}
		if app := in.Application; app != nil && app.Subscriber != "" {
			c.setSuffixed(name, nil, app.Subscriber, suffix)
			return
		}
		if sub != nil {
			c.setRaw(name, sub)
		}
		return
	}
	body, ok := stringBody(sub)
	if !ok {
		if sub != nil {
			c.setRaw(name, sub)
		}
		return
	}
	c.setSuffixed(name, body, "", tenant)
}

// setSuffixed sets the string claim name to a user name, given as the
// escaped body of a JSON string (body) or as a string (plain), with
// "@"+tenant added unless tenant is empty or the user name already ends
// with it.
func (c *Claims) setSuffixed(name string, body []byte, plain, tenant string) {
	off, ok := c.begin(name)
	if !ok {
		return
	}
	if tenant != "" {
		var user []byte
		if body != nil {
			var scratch [64]byte
			if user, ok = unescape(body, scratch[:0]); !ok {
				user = body
			}
		}
		if endsWithTenant(user, plain, tenant) {
			tenant = ""
		}
	}
	c.data = append(c.data, '"')
	if body != nil {
		c.data = append(c.data, body...)
	} else {
		c.data = appendJSONStringBody(c.data, plain)
	}
	if tenant != "" {
		c.data = append(c.data, '@')
		c.data = appendJSONStringBody(c.data, tenant)
	}
	c.data = append(c.data, '"')
	c.add(name, off)
}

// endsWithTenant reports whether the user name (user, else plain) ends with
// "@"+tenant.
func endsWithTenant(user []byte, plain, tenant string) bool {
	n := len(tenant)
	if user != nil {
		return len(user) > n && user[len(user)-n-1] == '@' && string(user[len(user)-n:]) == tenant
	}
	return len(plain) > n && plain[len(plain)-n-1] == '@' && plain[len(plain)-n:] == tenant
}

// setApplicationID sets D/applicationid from the application object's id:
// a JSON string as it is, a number as the JSON string of its digits.
func (c *Claims) setApplicationID(name string, id []byte) {
	id = bytes.TrimSpace(id)
	if len(id) == 0 {
		return
	}
	switch b := id[0]; {
	case b == '"':
		c.setRaw(name, id)
	case b == '-' || ('0' <= b && b <= '9'):
		if off, ok := c.begin(name); ok {
			c.data = append(c.data, '"')
			c.data = append(c.data, id...) // digits, sign, '.', 'e', '+': nothing to escape
			c.data = append(c.data, '"')
			c.add(name, off)
		}
	}
}

// stringBody returns the body (between the quotes, still escaped) of raw
// when raw is a JSON string.
func stringBody(raw []byte) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

// stringValue returns the value of raw when raw is a JSON string: a slice of
// raw when it holds no escape, else unescaped into scratch.
func stringValue(raw, scratch []byte) ([]byte, bool) {
	body, ok := stringBody(raw)
	if !ok {
		return nil, false
	}
	return unescape(body, scratch)
}

// unescape returns the value of a JSON string body: body itself when it
// holds no escape, else unescaped into scratch.
func unescape(body, scratch []byte) ([]byte, bool) {
	if bytes.IndexByte(body, '\\') < 0 {
		return body, true
	}
	return strictjson.AppendUnescaped(scratch, body)
}

// nonEmptyObject reports whether raw is a JSON object with at least one
// member.
func nonEmptyObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return false
	}
	if len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0 {
		return false
	}
	return json.Valid(raw)
}

// Ranks of the custom claims: a claim replaces one of the same name set
// with a lower rank (or the same rank and a higher prio). A converted claim
// ranks one above its source.
const (
	rankCopied    uint8 = 1   // copied from the access token; 2 converted
	rankRetrieved uint8 = 3   // from the retriever; 4 converted
	rankSet       uint8 = 200 // set by a ClaimsGenerator through Set
	rankStatic    uint8 = 255 // Input.Static
)

// CustomClaims copies every claim of the access token (in.Copied, else
// in.Claims), then every retrieved claim: a claim restricted or of SPEC
// section 6's table (StandardClaimNames) is dropped; with
// Config.ConvertDialect, a claim of an OIDC name is renamed to its dialect
// name, then dropped if that name is restricted or standard; with
// Config.IncludeClaims, a claim whose name (after conversion) is not listed
// is dropped. A retrieved claim replaces a copied one of the same name, a
// converted claim one of the same name from the same source, and nothing
// replaces a claim already set by StandardClaims or through Set.
func (WSO2Claims) CustomClaims(in *Input, c *Claims) error {
	copied := in.Copied
	if copied == nil {
		copied = in.Claims
	}
	s := c.s
	for name, raw := range copied {
		to, rank, prio, ok := s.route(name, rankCopied)
		if !ok {
			continue
		}
		if i, ok := c.slot(to, rank, prio); ok {
			off := len(c.data)
			c.data = append(c.data, bytes.TrimSpace(raw)...)
			c.commit(i, to, off, rank, prio)
		}
	}
	for name, v := range in.Retrieved {
		to, rank, prio, ok := s.route(name, rankRetrieved)
		if !ok {
			continue
		}
		if i, ok := c.slot(to, rank, prio); ok {
			off := len(c.data)
			if c.data, ok = appendValue(c.data, v); !ok {
				c.data = c.data[:off]
				continue
			}
			c.commit(i, to, off, rank, prio)
		}
	}
	return nil
}

// Steps of Generate, which decide what Set refuses.
const (
	phaseStandard = iota
	phaseCustom
	phaseDone
)

// entry is one claim: its name and its JSON value, data[off:end]; rank and
// prio decide whether a later custom claim of the same name replaces it.
type entry struct {
	name     string
	off, end int
	rank     uint8
	prio     uint16
}

// Claims is the claim set of one token under construction, handed to a
// ClaimsGenerator. Set and its variants refuse (return false) a name that is
// already set, so the first value of a name stands; during CustomClaims they
// also refuse restricted names. (WSO2Claims.CustomClaims and the static
// claims follow their own order of precedence, but never replace a claim
// set in StandardClaims or through Set, except that a static claim replaces
// a custom one.) iat and exp are set only by SetTimes, to the Generator's
// values. Claims are written in the order they were set during
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
	order   []int32 // the custom entries in name order
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
func (c *Claims) Has(name string) bool { return c.index(name) >= 0 }

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
	c.entries = append(c.entries, entry{name: name, off: off, end: len(c.data), rank: rankSet})
}

// begin returns where the value of name starts in data when name may be
// set now; the caller appends the value and calls add.
func (c *Claims) begin(name string) (off int, ok bool) {
	if !c.settable(name) {
		return 0, false
	}
	return len(c.data), true
}

// index returns the index of the entry of name, or -1.
func (c *Claims) index(name string) int {
	for i := range c.entries {
		if c.entries[i].name == name {
			return i
		}
	}
	return -1
}

// slot tells whether a custom claim name of rank and prio is written: as a
// new entry (i is -1) or replacing entry i, which is neither a standard
// claim nor one that outranks it.
func (c *Claims) slot(name string, rank uint8, prio uint16) (i int, ok bool) {
	i = c.index(name)
	if i < 0 {
		return -1, true
	}
	if i < c.nStandard {
		return i, false
	}
	e := &c.entries[i]
	return i, rank > e.rank || (rank == e.rank && prio < e.prio)
}

// commit records the value written to data since off as the claim name, in
// the slot i that slot returned.
func (c *Claims) commit(i int, name string, off int, rank uint8, prio uint16) {
	e := entry{name: name, off: off, end: len(c.data), rank: rank, prio: prio}
	if i < 0 {
		c.entries = append(c.entries, e)
		return
	}
	c.entries[i] = e
}

// setStatic writes the static claims, each replacing a custom claim of the
// same name; one of a standard name, or of a name set in the standard step,
// is skipped, as is one with an empty value.
func (c *Claims) setStatic(static []StaticClaim) error {
	for _, st := range static {
		if st.Name == "" {
			return errors.New("a static claim without a name")
		}
		v := bytes.TrimSpace(st.Value)
		if len(v) == 0 {
			continue
		}
		if _, std := c.s.standard[st.Name]; std {
			continue
		}
		if !json.Valid(v) {
			return fmt.Errorf("static claim %q: the value is not one JSON value", st.Name)
		}
		if i, ok := c.slot(st.Name, rankStatic, 0); ok || (i >= c.nStandard && c.entries[i].rank == rankStatic) {
			off := len(c.data)
			c.data = append(c.data, v...)
			c.commit(i, st.Name, off, rankStatic, 0)
		}
	}
	return nil
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
	off, ok := c.begin(name)
	if !ok {
		return false
	}
	if c.data, ok = appendValue(c.data, v); !ok {
		c.data = c.data[:off]
		return false
	}
	c.add(name, off)
	return true
}

// appendValue appends v encoded as JSON, as Set describes. It reports
// false, having appended nothing, when v cannot be encoded.
func appendValue(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), true
	case json.RawMessage:
		if !json.Valid(v) {
			return b, false
		}
		return append(b, bytes.TrimSpace(v)...), true
	case []string:
		return appendJSONStrings(b, v), true
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case int32:
		return strconv.AppendInt(b, int64(v), 10), true
	case bool:
		return strconv.AppendBool(b, v), true
	case nil:
		return append(b, "null"...), true
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, enc...), true
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
// the order set, then the custom ones sorted by name. It sorts indexes, not
// the entries, which hold pointers (no write barriers while sorting).
func (c *Claims) appendPayload(b []byte) []byte {
	c.order = c.order[:0]
	for i := c.nStandard; i < len(c.entries); i++ {
		c.order = append(c.order, int32(i))
	}
	if len(c.order) > 1 {
		entries := c.entries
		slices.SortFunc(c.order, func(x, y int32) int { return cmp.Compare(entries[x].name, entries[y].name) })
	}
	b = append(b, '{')
	for i := range c.nStandard {
		b = c.appendMember(b, i)
	}
	for _, i := range c.order {
		b = c.appendMember(b, int(i))
	}
	return append(b, '}')
}

// appendMember appends entry i as an object member, after a comma unless
// it is the first.
func (c *Claims) appendMember(b []byte, i int) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	e := &c.entries[i]
	b = appendJSONString(b, e.name)
	b = append(b, ':')
	return append(b, c.data[e.off:e.end]...)
}
