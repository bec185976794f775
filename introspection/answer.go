package introspection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/strictjson"
)

// MaxAnswerSize is the largest introspection answer read, in bytes.
const MaxAnswerSize = 64 << 10

// maxTimestamp is 9999-12-31T23:59:59Z, the largest exp, nbf or iat
// accepted (as for JWTs).
const maxTimestamp = 253402300799

// Answer is an active, valid introspection answer (RFC 7662 section 2.2).
// It is handed to the convert function of New and not kept afterwards.
type Answer struct {
	// Claims holds every member of the answer but active, token_type and
	// token_use, each as the raw JSON it was written as.
	Claims map[string]json.RawMessage
	// Issuer is iss ("" when absent).
	Issuer string
	// Subject is username when it is present and not empty, else sub (""
	// when neither).
	Subject string
	// ClientID is client_id ("" when absent).
	ClientID string
	// JTI is jti ("" when absent).
	JTI string
	// Audience is aud, a string or a list of strings (nil when absent).
	Audience []string
	// Scopes come from scope: a string of space-separated scopes (RFC
	// 7662), or a JSON list of strings. Empty scopes are dropped.
	Scopes []string
	// Expires, IssuedAt and NotBefore are exp, iat and nbf; zero when
	// absent.
	Expires, IssuedAt, NotBefore time.Time
	// Digest is the SHA-256 of the token the answer is about, as given to
	// Introspect.
	Digest [32]byte
}

// parseAnswer reads an introspection answer. The error wraps
// ErrUnavailable when body is not one strict JSON object with a boolean
// active (the server did not answer the question); ErrInactive when active
// is false or token_use names another kind of token; ErrInvalid when a
// registered member has the wrong type. No error means active is true.
// The claims are slices of body, which must not change afterwards (each
// answer is read into a buffer of its own).
func parseAnswer(body []byte) (*Answer, error) {
	members, err := strictjson.ParseObject(body)
	if err != nil {
		return nil, fmt.Errorf("%w: answer is not a strict JSON object: %w", ErrUnavailable, err)
	}
	switch string(members["active"]) {
	case "true":
	case "false":
		return nil, fmt.Errorf("%w: active is false", ErrInactive)
	case "":
		return nil, fmt.Errorf("%w: answer has no active member", ErrUnavailable)
	default:
		return nil, fmt.Errorf("%w: active is not a boolean", ErrUnavailable)
	}
	if raw, ok := members["token_use"]; ok {
		if use, err := jsonString(raw); err != nil || use != "access_token" {
			// Hydra answers active for refresh tokens, telling them apart
			// only here.
			return nil, fmt.Errorf("%w: token_use %.32s is not access_token", ErrInactive, raw)
		}
	}
	delete(members, "active")
	delete(members, "token_type")
	delete(members, "token_use")

	a := &Answer{Claims: members}
	var sub, username string
	for _, m := range []struct {
		name string
		dst  *string
	}{{"iss", &a.Issuer}, {"sub", &sub}, {"username", &username}, {"client_id", &a.ClientID}, {"jti", &a.JTI}} {
		if *m.dst, err = stringMember(members, m.name); err != nil {
			return nil, err
		}
	}
	a.Subject = sub
	if username != "" {
		a.Subject = username
	}
	for _, m := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &a.Expires}, {"iat", &a.IssuedAt}, {"nbf", &a.NotBefore}} {
		if *m.dst, err = timeMember(members, m.name); err != nil {
			return nil, err
		}
	}
	if a.Audience, err = stringsMember(members, "aud", false); err != nil {
		return nil, err
	}
	if a.Scopes, err = stringsMember(members, "scope", true); err != nil {
		return nil, err
	}
	return a, nil
}

// jsonString returns the value of raw, which must be a JSON string that
// the strict parser accepted.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errors.New("not a string")
	}
	body := raw[1 : len(raw)-1]
	if !bytes.ContainsRune(body, '\\') {
		return string(body), nil
	}
	s, ok := strictjson.AppendUnescaped(nil, body)
	if !ok {
		return "", errors.New("not a string")
	}
	return string(s), nil
}

// stringMember returns the string member name, "" when absent.
func stringMember(members map[string]json.RawMessage, name string) (string, error) {
	raw, ok := members[name]
	if !ok {
		return "", nil
	}
	s, err := jsonString(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not a string", ErrInvalid, name)
	}
	return s, nil
}

// timeMember returns the NumericDate member name: a JSON integer without
// fraction or exponent from 0 to maxTimestamp. Zero when absent.
func timeMember(members map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := members[name]
	if !ok {
		return time.Time{}, nil
	}
	bad := len(raw) == 0 || len(raw) > len("253402300799")
	for _, c := range raw {
		bad = bad || c < '0' || c > '9'
	}
	var v int64
	if !bad {
		var err error
		v, err = strconv.ParseInt(string(raw), 10, 64)
		bad = err != nil || v > maxTimestamp
	}
	if bad {
		return time.Time{}, fmt.Errorf("%w: %s is not an integer from 0 to %d", ErrInvalid, name, maxTimestamp)
	}
	return time.Unix(v, 0), nil
}

// stringsMember returns the member name, a string or a list of strings, as
// a list: the string as one element, or, when split is set, cut at each
// space. Empty strings are dropped. nil when absent.
func stringsMember(members map[string]json.RawMessage, name string, split bool) ([]string, error) {
	raw, ok := members[name]
	if !ok {
		return nil, nil
	}
	wrong := fmt.Errorf("%w: %s is neither a string nor a list of strings", ErrInvalid, name)
	if len(raw) > 0 && raw[0] == '"' {
		s, err := jsonString(raw)
		if err != nil {
			return nil, wrong
		}
		if !split {
			return []string{s}, nil
		}
		var list []string
		for part := range strings.SplitSeq(s, " ") {
			if part != "" {
				list = append(list, part)
			}
		}
		return list, nil
	}
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, wrong
	}
	list := make([]string, 0, len(items))
	for _, item := range items {
		s, err := jsonString(item)
		if err != nil {
			return nil, wrong
		}
		if s != "" || !split {
			list = append(list, s)
		}
	}
	return list, nil
}
