package validator

import (
	"errors"
	"fmt"
)

// The kinds of validation failure. Every error Validate returns wraps
// exactly one of them, so a caller maps errors to answers with errors.Is.
var (
	// ErrInvalid: the token is malformed, too large, badly signed, signed with
	// an alg that is not allowed or does not fit the key, from an unknown
	// issuer or key, for another audience, or not yet valid.
	ErrInvalid = errors.New("invalid token")
	// ErrExpired: the token is valid in every respect but its exp has passed.
	ErrExpired = errors.New("token expired")
	// ErrNotSubscribed: the token is valid but not subscribed to the API.
	ErrNotSubscribed = errors.New("not subscribed to the API")
	// ErrKeysUnavailable: no key set could ever be fetched for the token's
	// issuer, so the token cannot be judged. This is never the caller's fault.
	ErrKeysUnavailable = errors.New("issuer key set unavailable")
)

// invalidf returns an error wrapping ErrInvalid with a reason. Reasons that
// quote token content truncate it (%.64q), so no log line carries a whole
// token.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
