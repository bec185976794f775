package introspection

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxAnswerSize is the largest introspection answer read, in bytes.
const MaxAnswerSize = 64 << 10

// maxTimestamp is 9999-12-31T23:59:59Z, the largest exp, nbf or iat
// accepted (as for JWTs).
const maxTimestamp = 253402300799

// maxDepth bounds the nesting of an answer's objects and arrays.
const maxDepth = 32

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
func parseAnswer(body []byte) (*Answer, error) {
	members, err := strictObject(body)
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

// jsonString returns the value of raw, which must be a JSON string.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("not a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
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

// strictObject reads data as one JSON object and returns its members. Beyond
// what encoding/json checks it refuses invalid UTF-8, escapes of lone UTF-16
// surrogates, duplicate member names at any depth (compared after
// unescaping), nesting deeper than maxDepth and anything after the object:
// encoding/json takes the last of two members silently, and another parser
// of the same answer might take the first.
func strictObject(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	if err := walk(data); err != nil {
		return nil, err
	}
	if err := checkSurrogates(data); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	return members, nil
}

// frame is an object or an array being walked.
type frame struct {
	names map[string]struct{} // nil for an array
	key   bool                // an object's next token is a member name or its end
}

// walk checks that data is exactly one JSON object, no deeper than
// maxDepth, without duplicate member names in any of its objects.
func walk(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are checked, not converted
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	stack := []frame{{names: map[string]struct{}{}, key: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		top := &stack[len(stack)-1]
		if top.names != nil && top.key {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			name, ok := tok.(string)
			if !ok {
				return errors.New("expected a member name")
			}
			if _, dup := top.names[name]; dup {
				return fmt.Errorf("duplicate member %.64q", name)
			}
			top.names[name] = struct{}{}
			top.key = false
			continue
		}
		if top.names != nil {
			top.key = true // after this value
		}
		switch tok {
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return fmt.Errorf("nested deeper than %d", maxDepth)
			}
			f := frame{}
			if tok == json.Delim('{') {
				f = frame{names: map[string]struct{}{}, key: true}
			}
			stack = append(stack, f)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// checkSurrogates refuses \u escapes of lone UTF-16 surrogates, which
// encoding/json turns into U+FFFD. data must be valid JSON: a backslash is
// then always the start of an escape within a string.
func checkSurrogates(data []byte) error {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if data[i+1] != 'u' {
			i++
			continue
		}
		r := hex4(data[i+2 : i+6])
		switch {
		case !utf16.IsSurrogate(r):
			i += 5
		case r < 0xDC00 && i+12 <= len(data) && data[i+6] == '\\' && data[i+7] == 'u' &&
			hex4(data[i+8:i+12]) >= 0xDC00 && hex4(data[i+8:i+12]) <= 0xDFFF:
			i += 11
		default:
			return errors.New("escape of a lone UTF-16 surrogate")
		}
	}
	return nil
}

// hex4 reads four hex digits, -1 when they are not.
func hex4(b []byte) rune {
	v, err := strconv.ParseUint(string(b), 16, 16)
	if err != nil {
		return -1
	}
	return rune(v)
}
