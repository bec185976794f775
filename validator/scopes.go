package validator

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/rawjson"
)

// HasScopes reports whether every scope in required is among the token's
// Scopes; true when required is empty. It does not allocate. A caller that
// requires scopes answers 403 (WSO2 code 900910) when it is false.
func (t *Token) HasScopes(required []string) bool {
	for _, scope := range required {
		if !slices.Contains(t.Scopes, scope) {
			return false
		}
	}
	return true
}

// scopesClaim returns an access token's scopes: those of its scope claim
// when it has one, else those of its scp claim. Either is a string of
// scopes separated by spaces (runs of spaces count as one) or an array of
// strings (empty ones skipped); a claim of any other type, or an array
// holding anything but strings, gives no scope, and so does a scope claim
// of the wrong type even when scp is right (scope decides when present).
func scopesClaim(claims map[string]json.RawMessage) []string {
	raw, ok := claims["scope"]
	if !ok {
		if raw, ok = claims["scp"]; !ok {
			return nil
		}
	}
	switch {
	case len(raw) == 0:
		return nil
	case raw[0] == '"':
		s, ok := jsonString(raw)
		if !ok {
			return nil
		}
		return splitScopes(s)
	case raw[0] != '[':
		return nil
	}
	var scopes []string
	allStrings := true
	err := rawjson.EachElement(raw, func(item []byte) {
		s, ok := jsonString(item)
		allStrings = allStrings && ok
		if ok && s != "" {
			scopes = append(scopes, s)
		}
	})
	if err != nil || !allStrings {
		return nil
	}
	return scopes
}

// splitScopes splits a space-separated scope string, ignoring empty fields;
// nil when there is none. The scopes are substrings of s.
func splitScopes(s string) []string {
	n := 0
	for field := range strings.SplitSeq(s, " ") {
		if field != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	scopes := make([]string, 0, n)
	for field := range strings.SplitSeq(s, " ") {
		if field != "" {
			scopes = append(scopes, field)
		}
	}
	return scopes
}
