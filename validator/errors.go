package validator

import (
	"errors"
	"fmt"
)

// The kinds of validation failure. Every error Validate and ValidateAPIKey
// return wraps exactly one of ErrInvalid, ErrExpired, ErrNotSubscribed and
// ErrUnavailable, and every error
// Restrictions.Permits returns wraps ErrForbidden, so a caller maps errors
// to answers with errors.Is.
var (
	// ErrInvalid: the token is malformed, too large, badly signed, signed with
	// an alg that is not allowed or does not fit the key, from an unknown
	// issuer or key, for another audience, or not yet valid.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: the token is valid in every respect but its exp has passed.
	ErrExpired = errors.New("token expired")
	// ErrNotSubscribed: the token is valid but not subscribed to the API.
	ErrNotSubscribed = errors.New("not subscribed to the API")
	// ErrUnavailable: something the token is judged with (its issuer's key
	// set, its introspection endpoint) cannot be reached, so the token
	// cannot be judged. This is never the caller's fault.
	ErrUnavailable = errors.New("token validation unavailable")
	// ErrKeysUnavailable: no key set could ever be fetched for the token's
	// issuer. It wraps ErrUnavailable.
	ErrKeysUnavailable = fmt.Errorf("issuer key set unavailable: %w", ErrUnavailable)
	// ErrForbidden: the API key is valid, but a restriction it carries
	// (permittedIP, permittedReferer) does not permit this request; WSO2
	// gateways answer it 403 with code 900908.
	ErrForbidden = errors.New("forbidden by the API key's restrictions")
)

// invalidf returns an error wrapping ErrInvalid with a reason. Reasons that
// quote token content truncate it (%.64q), so no log line carries a whole
// token.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
