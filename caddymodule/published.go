package caddymodule

import (
	"slices"
	"sync"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// retiredKeys remembers, across config reloads in this process, the signing
// keys that configs no longer in use signed with, until every token they may
// have signed has expired, so that jwks_path keeps publishing them. Keys are
// scoped by JWKS path and backend JWT issuer, so one site never publishes
// another's keys.
var retiredKeys = struct {
	sync.Mutex
	byScope map[string][]retiredKey
}{byScope: make(map[string][]retiredKey)}

type retiredKey struct {
	key   jwtgen.PublicKey
	until time.Time
}

// retire records that key stops being used now, and that no token it
// signed is valid after until.
func retire(scope string, key jwtgen.PublicKey, until time.Time) {
	now := time.Now()
	retiredKeys.Lock()
	defer retiredKeys.Unlock()
	keep := retiredKeys.byScope[scope][:0]
	for _, rk := range retiredKeys.byScope[scope] {
		if rk.until.After(now) && rk.key.KeyID != key.KeyID {
			keep = append(keep, rk)
		}
	}
	retiredKeys.byScope[scope] = append(keep, retiredKey{key: key, until: until})
}

// stillPublished returns the retired keys of scope whose tokens may still
// be valid, leaving out those in current.
func stillPublished(scope string, current []jwtgen.PublicKey) []jwtgen.PublicKey {
	now := time.Now()
	retiredKeys.Lock()
	defer retiredKeys.Unlock()
	var keys []jwtgen.PublicKey
	for _, rk := range retiredKeys.byScope[scope] {
		if rk.until.After(now) && !slices.ContainsFunc(current, func(k jwtgen.PublicKey) bool { return k.KeyID == rk.key.KeyID }) {
			keys = append(keys, rk.key)
		}
	}
	return keys
}
