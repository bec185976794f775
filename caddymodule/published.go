package caddymodule

import (
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

// retire records that key stops signing now, for tokens that live at most
// lifetime.
func retire(scope string, key jwtgen.PublicKey, lifetime time.Duration) {
	now := time.Now()
	retiredKeys.Lock()
	defer retiredKeys.Unlock()
	keep := retiredKeys.byScope[scope][:0]
	for _, rk := range retiredKeys.byScope[scope] {
		if rk.until.After(now) && rk.key.KeyID != key.KeyID {
			keep = append(keep, rk)
		}
	}
	retiredKeys.byScope[scope] = append(keep, retiredKey{key: key, until: now.Add(lifetime)})
}

// stillPublished returns the retired keys of scope whose tokens may still
// be valid, leaving out current.
func stillPublished(scope, current string) []jwtgen.PublicKey {
	now := time.Now()
	retiredKeys.Lock()
	defer retiredKeys.Unlock()
	var keys []jwtgen.PublicKey
	for _, rk := range retiredKeys.byScope[scope] {
		if rk.until.After(now) && rk.key.KeyID != current {
			keys = append(keys, rk.key)
		}
	}
	return keys
}
