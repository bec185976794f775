package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// Errors behind the faults of a request without a usable Authorization header.
var (
	errNoToken        = errors.New("no Bearer token in the Authorization header")
	errManyAuthHeader = errors.New("more than one Authorization header")
	errManyCredential = errors.New("more than one credential in the Authorization header")
)

// ServeHTTP implements caddyhttp.MiddlewareHandler: SPEC 5, step by step.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// 1. Strip: the backend never sees a backend header this handler did not set.
	stripHeader(r.Header, h.header)
	stripHeader(r.Trailer, h.header)

	// 3. Token.
	token, err := bearerToken(r.Header)
	if err != nil {
		f := faultInvalid
		if err == errNoToken {
			f = faultMissing
		}
		return h.refuse(w, r, f, err, nil)
	}

	// 4-5. Validate and check the subscription.
	tok, err := h.validator.Validate(token)
	if err != nil {
		return h.refuse(w, r, faultFor(err), err, tok)
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	repl.Map(userPlaceholders(tok))

	// 6. Pass through a backend JWT the access token already carries.
	if tok.HasBackendJWT {
		r.Header.Set(h.header, tok.BackendJWT)
	}

	// 9. Forward.
	if h.StripAuthorization {
		r.Header.Del("Authorization")
	}
	return next.ServeHTTP(w, r)
}

// bearerToken returns the token of the request's only Authorization header.
// It returns errNoToken when there is none or it is not a Bearer token.
func bearerToken(hdr http.Header) (string, error) {
	values := hdr["Authorization"]
	switch {
	case len(values) == 0:
		return "", errNoToken
	case len(values) > 1:
		return "", errManyAuthHeader
	}
	v := values[0]
	const scheme = "Bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", errNoToken
	}
	token := strings.TrimLeft(v[len(scheme):], " ")
	if token == "" {
		return "", errNoToken
	}
	if strings.ContainsAny(token, " \t,") {
		return "", errManyCredential
	}
	return token, nil
}

// stripHeader deletes every field of hdr that a server or framework could
// take for name: any case, and '_' for '-' (CGI-style servers map both to
// one variable).
func stripHeader(hdr http.Header, name string) {
	if len(hdr) == 0 {
		return
	}
	delete(hdr, name)
	for field := range hdr {
		if len(field) == len(name) && sameHeaderName(field, name) {
			delete(hdr, field)
		}
	}
}

func sameHeaderName(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if foldHeaderByte(a[i]) != foldHeaderByte(b[i]) {
			return false
		}
	}
	return true
}

// foldHeaderByte lower-cases an ASCII letter and turns '_' into '-'.
func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// userPlaceholders serves {http.auth.user.id}, {http.auth.user.issuer} and
// {http.auth.user.claims.<name>} from the validated token, computed only
// when a placeholder is used.
func userPlaceholders(tok *validator.Token) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		switch key {
		case "http.auth.user.id":
			return tok.Subject, true
		case "http.auth.user.issuer":
			return tok.Issuer.Issuer, true
		}
		name, ok := strings.CutPrefix(key, "http.auth.user.claims.")
		if !ok {
			return nil, false
		}
		raw, ok := tok.Claims[name]
		if !ok {
			return nil, false
		}
		return claimText(raw), true
	}
}

// claimText renders a raw claim for a placeholder: strings as they are,
// other values as their JSON.
func claimText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}
