package validator

import (
	"bytes"
	"encoding/json"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/rawjson"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
)

// The members of a subscribedAPIs entry that Subscription holds, indexes
// into subscriptionFields.
const (
	fieldName = iota
	fieldVersion
	fieldContext
	fieldPublisher
	fieldSubscriptionTier
	fieldSubscriberTenantDomain
	numFields
)

// subscriptionFields are the raw JSON strings of one entry's fields, nil
// for a field that is absent or null.
type subscriptionFields [numFields][]byte

// matchSubscription returns the subscribedAPIs entry for api: the same name,
// and the same version or "*"; the first such entry when several are. A
// claim that is absent or not a list of objects matches nothing.
//
// It reads the claim as encoding/json reads it into a []Subscription, but
// for member names, which must be written exactly as Subscription's JSON
// tags (encoding/json ignores their case, which the issuer's own reader
// does not): entries are objects or null (an entry with no field), fields
// are strings or null (absent), other members are ignored, and any entry or
// field of another type makes the whole claim match nothing.
func matchSubscription(raw json.RawMessage, api *API) *Subscription {
	if len(raw) == 0 {
		return nil
	}
	var match subscriptionFields
	matched, wellFormed := false, true
	err := rawjson.EachElement(raw, func(entry []byte) {
		f, ok := readSubscription(entry)
		wellFormed = wellFormed && ok
		if ok && !matched && f.matches(api) {
			match, matched = f, true
		}
	})
	if err != nil || !wellFormed || !matched {
		return nil
	}
	return match.subscription(api)
}

// readSubscription reads one entry of subscribedAPIs; false when it has a
// shape encoding/json would refuse.
func readSubscription(entry []byte) (f subscriptionFields, ok bool) {
	switch {
	case string(entry) == "null":
		return f, true
	case len(entry) == 0 || entry[0] != '{':
		return f, false
	}
	ok = true
	err := rawjson.EachMember(entry, func(name, value []byte) {
		i := subscriptionField(name)
		switch {
		case i < 0 || string(value) == "null":
		case value[0] == '"':
			f[i] = value
		default:
			ok = false
		}
	})
	return f, ok && err == nil
}

// subscriptionField returns the index of the field a member name literal
// stands for, or -1.
func subscriptionField(literal []byte) int {
	name, ok := jsonStringBytes(literal)
	if !ok {
		return -1
	}
	switch string(name) {
	case "name":
		return fieldName
	case "version":
		return fieldVersion
	case "context":
		return fieldContext
	case "publisher":
		return fieldPublisher
	case "subscriptionTier":
		return fieldSubscriptionTier
	case "subscriberTenantDomain":
		return fieldSubscriberTenantDomain
	}
	return -1
}

// matches reports whether the entry is for api.
func (f *subscriptionFields) matches(api *API) bool {
	return stringEquals(f[fieldName], api.Name) &&
		(stringEquals(f[fieldVersion], api.Version) || stringEquals(f[fieldVersion], "*"))
}

// subscription returns the entry as a Subscription; it matches api, whose
// name and version (or "*") it reuses.
func (f *subscriptionFields) subscription(api *API) *Subscription {
	version := "*"
	if stringEquals(f[fieldVersion], api.Version) {
		version = api.Version
	}
	field := func(i int) string {
		v, _ := jsonStringBytes(f[i])
		return string(v)
	}
	return &Subscription{
		Name:                   api.Name,
		Version:                version,
		Context:                field(fieldContext),
		Publisher:              field(fieldPublisher),
		SubscriptionTier:       field(fieldSubscriptionTier),
		SubscriberTenantDomain: field(fieldSubscriberTenantDomain),
	}
}

// stringEquals reports whether the JSON string raw (nil: "") has the value s.
func stringEquals(raw []byte, s string) bool {
	if raw == nil {
		return s == ""
	}
	if len(raw) < 2 {
		return false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body) == s
	}
	var buf [128]byte
	v, ok := strictjson.AppendUnescaped(buf[:0], body)
	return ok && string(v) == s
}
