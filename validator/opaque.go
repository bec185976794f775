package validator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/introspection"
)

// opaqueTokens are the introspection endpoints of the issuers that have
// one, and which of them takes which opaque token (SPEC 13).
type opaqueTokens = introspection.Router[*Token]

// newOpaqueTokens builds one introspector per issuer with an Introspection
// config, each turning active answers into Tokens of that issuer, and the
// router that picks one by the issuers' token patterns, in config order.
// It returns nil when no issuer has introspection.
func (v *Validator) newOpaqueTokens(cfg Config) (*opaqueTokens, error) {
	var routes []introspection.Route[*Token]
	for _, ic := range cfg.Issuers {
		if ic.Introspection == nil {
			continue
		}
		iss := v.issuers[ic.Issuer]
		icfg := *ic.Introspection
		icfg.Issuer, icfg.Audiences, icfg.ClockSkew, icfg.CacheSize = ic.Issuer, ic.Audiences, cfg.ClockSkew, cfg.CacheSize
		in, err := introspection.New(icfg, func(a *introspection.Answer) (*Token, error) { return v.fromAnswer(iss, a) })
		if err != nil {
			return nil, fmt.Errorf("issuer %q: introspection: %w", ic.Issuer, err)
		}
		iss.introspector = in
		routes = append(routes, introspection.Route[*Token]{Pattern: ic.TokenPattern, Introspector: in})
	}
	if len(routes) == 0 {
		return nil, nil
	}
	r, err := introspection.NewRouter(routes)
	if err != nil {
		return nil, fmt.Errorf("introspection: %w (give every issuer with introspection but one a token_pattern)", err)
	}
	return r, nil
}

// fromAnswer makes the Token of an active introspection answer for iss:
// its claims are the answer's members, its user the answer's username
// (else sub), its consumer key the issuer's consumer_key_claim when set,
// else client_id, its Copied the claims after the issuer's claim map.
func (v *Validator) fromAnswer(iss *Issuer, a *introspection.Answer) (*Token, error) {
	t := &Token{
		Issuer:    iss,
		Subject:   a.Subject,
		JTI:       a.JTI,
		Audience:  a.Audience,
		Expires:   a.Expires,
		NotBefore: a.NotBefore,
		IssuedAt:  a.IssuedAt,
		Claims:    a.Claims,
		Scopes:    a.Scopes,
		Digest:    a.Digest,
	}
	if a.Subject != "" {
		// The backend JWT's sub (and enduser) is the user the answer
		// names. The answer's map is the token's own from now on.
		sub, err := json.Marshal(a.Subject)
		if err != nil {
			return nil, err
		}
		t.Claims["sub"] = sub
	}
	t.UserType = userTypeApplicationUser
	if aut, ok := jsonString(a.Claims["aut"]); ok && strings.EqualFold(aut, userTypeApplication) {
		t.UserType = userTypeApplication
	}
	t.ConsumerKey = a.ClientID
	if iss.ConsumerKeyClaim != "" {
		t.ConsumerKey = consumerKey(t.Claims, iss.ConsumerKeyClaim, nil)
	}
	if v.api != nil {
		t.Subscription = matchSubscription(t.Claims["subscribedAPIs"], v.api)
	}
	t.Copied = iss.claimMap.apply(t.Claims)
	return t, nil
}

// The user types of an introspected token, as API Manager's key validation
// writes them (its answer's aut).
const (
	userTypeApplication     = "APPLICATION"
	userTypeApplicationUser = "APPLICATION_USER"
)

// isCompactJWS tells whether token has the shape of a JWT: three non-empty
// parts of the base64url alphabet separated by dots. Anything else is an
// opaque token.
func isCompactJWS(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			if i == 0 || token[i-1] == '.' || i == len(token)-1 {
				return false
			}
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// validateOpaque validates an opaque access token at the introspection
// endpoint of the issuer that takes it (its answer cached there); one no
// issuer takes is refused without a call.
func (v *Validator) validateOpaque(token string) (*Token, bool, error) {
	in := v.opaque.Route(token)
	if in == nil {
		return nil, false, invalidf("an opaque token that no issuer's token_pattern takes")
	}
	digest := sha256.Sum256([]byte(token))
	// The call is bounded by the introspection timeout; waiting for it
	// does not end with the config, so the caller makes it itself.
	t, cached, err := in.Introspect(context.WithoutCancel(v.ctx), token, digest)
	switch {
	case err == nil:
		t, err = v.authorize(t)
		return t, cached, err
	case errors.Is(err, introspection.ErrExpired):
		return nil, cached, fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, introspection.ErrUnavailable):
		return nil, cached, fmt.Errorf("%w: %w", ErrUnavailable, err)
	default:
		return nil, cached, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
}
