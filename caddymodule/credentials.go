package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// TokenSource is one more place to take an access token from, after the
// Authorization header: the whole value, without a "Bearer " prefix.
type TokenSource struct {
	// Source is header, query or cookie.
	Source string `json:"source"`
	// Name is the header field, query parameter or cookie name.
	Name string `json:"name"`
}

// APIKeysConfig accepts WSO2 API keys: JWTs that API Manager signs for an
// application, sent in a header or a query parameter (SPEC 13).
type APIKeysConfig struct {
	// Header is where API keys are taken from; "off" for nowhere.
	// Default: apikey.
	Header string `json:"header,omitempty"`
	// Query is the query parameter API keys are taken from; "off" for
	// none. Default: apikey.
	Query string `json:"query,omitempty"`
	// Certificates are PEM files of API Manager's API-key signing
	// certificates (or public keys); an API key must verify (RS256) with
	// one of them. At least one is required.
	Certificates []string `json:"certificates,omitempty"`
	// ValidateSubscription refuses (403, 900908) keys whose subscribedAPIs
	// hold no entry for the configured API (or, with api_manager and no
	// subscribedAPIs, that API Manager's data does not subscribe).
	ValidateSubscription bool `json:"validate_subscription,omitempty"`
}

// IntrospectionConfig validates an issuer's opaque access tokens at its
// key manager's RFC 7662 introspection endpoint (WSO2: the key manager's
// "Token Validation Method" set to introspection, "token handling options"
// REFERENCE).
type IntrospectionConfig struct {
	// URL is the introspection endpoint; https, except for a loopback host.
	URL string `json:"url"`
	// ClientID and ClientSecret authenticate the gateway with HTTP Basic
	// (client_secret_basic); both optional. Placeholders such as
	// {env.INTROSPECTION_SECRET} are replaced at provision.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// CACert is a PEM file of the CAs the endpoint's certificate is checked
	// against; none means the system roots.
	CACert string `json:"ca_cert,omitempty"`
	// Timeout bounds waiting for a free call and the call. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// TokenPattern, a regular expression, routes the opaque tokens it
	// matches to this issuer; without one, this issuer takes the opaque
	// tokens no pattern matched (one issuer at most may have none).
	TokenPattern string `json:"token_pattern,omitempty"`
	// CacheTTL is how long an active answer is reused, never past the
	// token's exp. Default: 5m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// NegativeTTL is how long an inactive answer is reused. Default: 10s.
	NegativeTTL caddy.Duration `json:"negative_ttl,omitempty"`
	// MaxConcurrent bounds the calls in flight to this endpoint. Default: 32.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// The values of TokenSource.Source.
const (
	sourceHeader = "header"
	sourceQuery  = "query"
	sourceCookie = "cookie"
)

// defaultAPIKeyName is the api_keys header and query parameter by default.
const defaultAPIKeyName = "apikey"

// place is where a credential may be found.
type place struct {
	source string // header, query or cookie; "" for Authorization: Bearer
	name   string // canonical header name, parameter or cookie
	apiKey bool   // what is found here is an API key
}

// credentialPlaces are the places a handler reads, Authorization first.
func (h *Handler) credentialPlaces() ([]place, error) {
	places := []place{{}}
	for _, ts := range h.TokenFrom {
		p := place{source: ts.Source, name: ts.Name}
		switch {
		case ts.Name == "":
			return nil, fmt.Errorf("token_from %s: needs a name", ts.Source)
		case ts.Source == sourceHeader:
			if p.name = http.CanonicalHeaderKey(ts.Name); p.name == "Authorization" || p.name == h.header {
				return nil, fmt.Errorf("token_from header %s: the Authorization header is read anyway and the backend header is never a credential", ts.Name)
			}
		case ts.Source == sourceQuery, ts.Source == sourceCookie:
		default:
			return nil, fmt.Errorf("token_from %q: want header, query or cookie", ts.Source)
		}
		places = append(places, p)
	}
	if k := h.APIKeys; k != nil {
		header, query := k.Header, k.Query
		if header == "" {
			header = defaultAPIKeyName
		}
		if query == "" {
			query = defaultAPIKeyName
		}
		if header != "off" {
			places = append(places, place{source: sourceHeader, name: http.CanonicalHeaderKey(header), apiKey: true})
		}
		if query != "off" {
			places = append(places, place{source: sourceQuery, name: query, apiKey: true})
		}
	}
	for i, p := range places {
		for _, q := range places[:i] {
			if p.source == q.source && p.name == q.name && p.source != "" {
				return nil, fmt.Errorf("the %s %q is named twice as a place of credentials", p.source, p.name)
			}
		}
	}
	return places, nil
}

// credential is the one credential of a request and where it was found.
type credential struct {
	value string
	at    *place
}

// Errors behind the faults of a request without a usable credential.
var (
	errNoToken         = errors.New("no credential: no Bearer token in the Authorization header, nor in another place read")
	errManyAuthHeader  = errors.New("more than one Authorization header")
	errManyCredentials = errors.New("more than one credential in the request")
	errMalformedQuery  = errors.New("the query string is malformed")
)

// findCredential returns the request's one credential (SPEC 13, "Which
// credential"): every place is read, and two different values are
// refused, as is the same value found both as an API key and as an
// access token.
func (h *Handler) findCredential(r *http.Request) (credential, error) {
	var found credential
	for i := range h.places {
		p := &h.places[i]
		v, err := p.read(r)
		switch {
		case err != nil:
			return credential{}, err
		case v == "":
			continue
		case found.at == nil:
			found = credential{value: v, at: p}
		case v != found.value || p.apiKey != found.at.apiKey:
			return credential{}, errManyCredentials
		}
	}
	if found.at == nil {
		return credential{}, errNoToken
	}
	return found, nil
}

// read returns what the request holds at p: "" when nothing.
func (p *place) read(r *http.Request) (string, error) {
	switch p.source {
	case "":
		return bearerToken(r.Header)
	case sourceHeader:
		return single(r.Header[p.name])
	case sourceQuery:
		// Most requests have no such parameter: skip parsing the query.
		if !strings.Contains(r.URL.RawQuery, p.name) {
			return "", nil
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "", errMalformedQuery
		}
		return single(q[p.name])
	default: // cookie
		if len(r.Header["Cookie"]) == 0 {
			return "", nil
		}
		var values []string
		for _, c := range r.CookiesNamed(p.name) {
			values = append(values, c.Value)
		}
		return single(values)
	}
}

// single is the one value of a header, query parameter or cookie; ""
// when it is absent or empty. Several values are several credentials.
func single(values []string) (string, error) {
	if len(values) > 1 {
		return "", errManyCredentials
	}
	if len(values) == 0 {
		return "", nil
	}
	return values[0], nil
}

// bearerToken returns the token of the request's only Authorization
// header; "" when there is none or it is not a Bearer token (another
// scheme is not a credential).
func bearerToken(hdr http.Header) (string, error) {
	values := hdr["Authorization"]
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", errManyAuthHeader
	}
	v := values[0]
	const scheme = "Bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", nil
	}
	// A second credential ("Bearer a.b.c d.e.f") is left to the strict
	// parser, which refuses any byte outside the base64url alphabet and '.'.
	return strings.TrimLeft(v[len(scheme):], " "), nil
}

// strip removes the credential from where it was found, before the
// request is forwarded: other query parameters and cookies stay as sent.
func (c credential) strip(r *http.Request) {
	p := c.at
	switch p.source {
	case "", sourceHeader:
		name := p.name
		if name == "" {
			name = "Authorization"
		}
		delete(r.Header, name)
	case sourceQuery:
		r.URL.RawQuery = withoutPairs(r.URL.RawQuery, "&", func(pair string) bool {
			name, _, _ := strings.Cut(pair, "=")
			unescaped, err := url.QueryUnescape(name)
			return err == nil && unescaped == p.name
		})
	case sourceCookie:
		var kept []string
		for _, line := range r.Header["Cookie"] {
			line = withoutPairs(line, ";", func(pair string) bool {
				name, _, _ := strings.Cut(strings.TrimSpace(pair), "=")
				return name == p.name
			})
			if strings.TrimSpace(line) != "" {
				kept = append(kept, strings.TrimSpace(line))
			}
		}
		if len(kept) == 0 {
			delete(r.Header, "Cookie")
		} else {
			r.Header["Cookie"] = kept
		}
	}
}

// withoutPairs drops from a sep-separated list the elements drop is true for.
func withoutPairs(list, sep string, drop func(string) bool) string {
	parts := strings.Split(list, sep)
	kept := parts[:0]
	for _, part := range parts {
		if !drop(part) {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, sep)
}
