package introspection

import (
	"errors"
	"fmt"
	"regexp"
)

// Route is an issuer's introspector and the pattern of its tokens.
type Route[T any] struct {
	// Pattern matches the opaque tokens of the issuer (its token_pattern);
	// nil when it has none.
	Pattern *regexp.Regexp
	// Introspector validates them.
	Introspector *Introspector[T]
}

// Router picks the introspector of an opaque token (SPEC 13, "JWT or
// opaque"). It is safe for concurrent use.
type Router[T any] struct {
	patterned []Route[T]       // in config order
	catchAll  *Introspector[T] // the route without a pattern, or nil
}

// NewRouter returns a router over routes, in config order. At most one
// route may have no Pattern.
func NewRouter[T any](routes []Route[T]) (*Router[T], error) {
	r := &Router[T]{}
	for i, rt := range routes {
		switch {
		case rt.Introspector == nil:
			return nil, fmt.Errorf("introspection route %d has no introspector", i+1)
		case rt.Pattern != nil:
			r.patterned = append(r.patterned, rt)
		case r.catchAll != nil:
			return nil, errors.New("more than one issuer has introspection without a token_pattern: " +
				"which one an opaque token goes to would be ambiguous")
		default:
			r.catchAll = rt.Introspector
		}
	}
	return r, nil
}

// Route returns the introspector of the first route whose Pattern matches
// token; else that of the route without a Pattern; else nil, and the token
// is refused without a call.
func (r *Router[T]) Route(token string) *Introspector[T] {
	for _, rt := range r.patterned {
		if rt.Pattern.MatchString(token) {
			return rt.Introspector
		}
	}
	return r.catchAll
}
