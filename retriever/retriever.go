// Package retriever gets more claims for the user of a validated access
// token from a key manager, as the WSO2 API Microgateway's claim retriever
// ([jwtGeneratorConfig.claimRetrieval], retrieverImpl) does. The claims it
// returns are added to the backend JWT.
//
// A Retriever is the plug-in interface; WSO2 is the built-in one, which asks
// the WSO2 key manager's claims API; Cached puts a per-issuer-and-user
// claims cache with single flight in front of any Retriever.
//
// The package does not import Caddy, and it never logs.
package retriever

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// Request is what a retriever is given for one validated access token.
type Request struct {
	// Claims are the validated token's top-level claims, raw JSON. They
	// are shared: a retriever must not modify them.
	Claims map[string]json.RawMessage
	// Issuer is the token's iss.
	Issuer string
	// Subject is the token's sub.
	Subject string
	// Username is Username(Subject): the user the claims are asked for.
	Username string
}

// user returns the request's user name: Username, or, when that is empty,
// the one derived from Subject.
func (r *Request) user() string {
	if r.Username != "" {
		return r.Username
	}
	return Username(r.Subject)
}

// Retriever returns more claims for a user. Implementations must honour ctx
// (deadline, cancel) and be safe for concurrent use. The returned map may be
// kept in a cache and shared between callers, so neither the retriever nor
// its callers may modify it after it is returned.
//
// An error should wrap ErrUserNotFound when the key manager does not know
// the user and ErrUnavailable when it could not answer.
type Retriever interface {
	Retrieve(ctx context.Context, req *Request) (map[string]any, error)
}

// Sentinel errors: the kinds of failure a caller must tell apart (test with
// errors.Is). Every error of WSO2.Retrieve wraps one of them, except the
// one for a nil request. Cached.Retrieve wraps ErrUnavailable when its
// caller gives up or the retriever panics, and otherwise returns the
// retriever's own error.
var (
	// ErrUserNotFound means the key manager does not know the user (it
	// answered 404), or the token names no user.
	ErrUserNotFound = errors.New("retriever: user not found")

	// ErrUnavailable means the key manager failed: it answered another 4xx
	// or 5xx status, did not answer in time, refused the connection,
	// redirected to another host, or sent a malformed or oversized body.
	// A caller that gave up (its context was cancelled) also gets it.
	ErrUnavailable = errors.New("retriever: key manager unavailable")
)

// errNilRequest is returned for a nil *Request, a programming error.
var errNilRequest = errors.New("retriever: nil request")

// Username is sub without its last "@tenant" part, which is how a WSO2 key
// manager names the user of a token: "admin@carbon.super" -> "admin",
// "a@b.com@carbon.super" -> "a@b.com", "admin" -> "admin". A sub ending in
// "@" loses only that "@"; an empty sub gives "".
func Username(sub string) string {
	if i := strings.LastIndexByte(sub, '@'); i >= 0 {
		return sub[:i]
	}
	return sub
}
