package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

// fault is one of the WSO2 gateway's authentication failures (SPEC 8).
type fault struct {
	status      int
	code        int
	message     string
	description string
	body        []byte // the JSON fault body, built once
}

func newFault(status, code int, message, description string) *fault {
	f := &fault{status: status, code: code, message: message, description: description}
	type inner struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	}
	body, err := json.Marshal(struct {
		Fault inner `json:"fault"`
	}{inner{code, message, description}})
	if err != nil {
		panic(err)
	}
	f.body = body
	return f
}

// The faults, with WSO2's codes and messages.
var (
	faultMissing = newFault(http.StatusUnauthorized, 900902, "Missing Credentials",
		"Make sure your API invocation call has a header: 'Authorization: Bearer ACCESS_TOKEN'")
	faultInvalid = newFault(http.StatusUnauthorized, 900901, "Invalid Credentials",
		"Make sure you have given the correct access token")
	faultExpired = newFault(http.StatusUnauthorized, 900903, "Access Token Expired",
		"Renew the access token and try again")
	faultForbidden = newFault(http.StatusForbidden, 900908, "Resource forbidden",
		"The access token is not subscribed to this API")
	// faultRestricted is faultForbidden for an API key whose permittedIP
	// or permittedReferer does not permit the request.
	faultRestricted = newFault(http.StatusForbidden, 900908, "Resource forbidden",
		"The API key is not permitted from this client address or referer")
	faultScope = newFault(http.StatusForbidden, 900910, "The access token does not allow you to access the requested resource",
		"The access token lacks a scope this resource requires")
	faultBlocked = newFault(http.StatusForbidden, 900907, "The requested API is temporarily blocked",
		"The API or the subscription to it is blocked in API Manager")
	faultInactive = newFault(http.StatusForbidden, 900909, "The subscription to the API is inactive",
		"The subscription is on hold or was rejected in API Manager")
	faultGeneration = newFault(http.StatusInternalServerError, 900900, "Unclassified Authentication Failure",
		"The backend token could not be generated")
	faultUnavailable = newFault(http.StatusServiceUnavailable, 900900, "Unclassified Authentication Failure",
		"An authentication dependency is unavailable; try again later")
	// faultAPIMUnavailable is faultUnavailable before API Manager's data is
	// first read; its Retry-After is the reader's retry period.
	faultAPIMUnavailable = newFault(http.StatusServiceUnavailable, 900900, "Unclassified Authentication Failure",
		"An authentication dependency is unavailable; try again later")
)

// faultFor maps a validation error to its fault, in one place.
func faultFor(err error) *fault {
	switch {
	case errors.Is(err, validator.ErrExpired):
		return faultExpired
	case errors.Is(err, validator.ErrNotSubscribed):
		return faultForbidden
	case errors.Is(err, validator.ErrForbidden):
		return faultRestricted
	case errors.Is(err, validator.ErrUnavailable):
		return faultUnavailable
	default:
		return faultInvalid
	}
}

// refuse answers a request with f: the WSO2 fault body, or with
// error_response caddy, the error handed to Caddy's handle_errors. cause
// is logged, never sent.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, f *fault, cause error, tok *validator.Token) error {
	h.metrics.byCode[f.code].Inc()
	if c := h.logger.Check(zapcore.DebugLevel, "request refused"); c != nil {
		fields := []zap.Field{zap.Int("code", f.code), zap.Int("status", f.status), zap.Error(cause)}
		if tok != nil {
			fields = append(fields, zap.String("issuer", tok.Issuer.Issuer), zap.String("sub", tok.Subject), zap.String("jti", tok.JTI))
		}
		c.Write(fields...)
	}
	hdr := w.Header()
	switch f.status {
	case http.StatusUnauthorized:
		hdr.Set("WWW-Authenticate", challenge(r.Host, f))
	case http.StatusServiceUnavailable:
		if f == faultAPIMUnavailable {
			hdr.Set("Retry-After", h.apim.retryAfter)
		} else {
			hdr.Set("Retry-After", h.retryAfter)
		}
	}
	if h.caddyError {
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		repl.Set("http.backend_jwt.error.code", f.code)
		repl.Set("http.backend_jwt.error.message", f.message)
		repl.Set("http.backend_jwt.error.description", f.description)
		return caddyhttp.Error(f.status, errors.New(f.message))
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(f.status)
	_, err := w.Write(f.body)
	return err
}

// challenge is the RFC 6750 WWW-Authenticate value of a 401: the error
// attribute only when a token was given.
func challenge(host string, f *fault) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteSafe(host))
	b.WriteByte('"')
	if f != faultMissing {
		b.WriteString(`, error="invalid_token", error_description="`)
		b.WriteString(f.description)
		b.WriteByte('"')
	}
	return b.String()
}

// quoteSafe removes what could end an RFC 7230 quoted string early.
func quoteSafe(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return s
	}
	return strings.NewReplacer(`"`, "", `\`, "").Replace(s)
}
