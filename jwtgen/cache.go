package jwtgen

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/ttlcache"
)

// DefaultJanitorInterval is how often Run removes expired tokens.
const DefaultJanitorInterval = time.Minute

// TokenCache holds generated tokens under CacheKey keys, each until its exp.
// It holds at most its capacity; when full, it drops the evictionFactor
// share of tokens that expire soonest before adding one. It is safe for
// concurrent use.
type TokenCache struct {
	c *ttlcache.Cache[string]
}

// NewTokenCache returns a cache of at most capacity tokens (at least 1)
// that, when full, drops the evictionFactor share of them (at least one)
// that expire soonest. Start Run to remove expired tokens.
func NewTokenCache(capacity int, evictionFactor float64) *TokenCache {
	if capacity < 1 {
		capacity = 1
	}
	return &TokenCache{c: ttlcache.New[string](capacity, evictionFactor)}
}

// CacheKey returns the cache key of a generated token: the raw SHA-256
// digest (as a string) of the inbound token, the API name and the API
// version, each preceded by its length as 8 bytes, so that no two different
// triples share an encoding.
func CacheKey(inboundToken, apiName, apiVersion string) string {
	h := sha256.New()
	var buf [512]byte // strings are copied through this, not converted
	for _, part := range [...]string{inboundToken, apiName, apiVersion} {
		binary.BigEndian.PutUint64(buf[:8], uint64(len(part)))
		n := 8 + copy(buf[8:], part)
		h.Write(buf[:n])
		for part = part[n-8:]; len(part) > 0; part = part[n:] {
			n = copy(buf[:], part)
			h.Write(buf[:n])
		}
	}
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0]))
}

// digestMarker opens the encoding hashed by CacheKeyDigest: a length no
// inbound token can have, so its keys never equal CacheKey's.
const digestMarker = ^uint64(0)

// CacheKeyDigest is CacheKey for a caller that already holds the SHA-256
// digest of the inbound token (the validated-token cache key, say), so the
// token is not hashed twice per request. Its keys differ from CacheKey's for
// the same token: a cache must be used with one of the two. more are further
// values the token depends on (static claims rendered from the request),
// each kept apart from the others.
func CacheKeyDigest(tokenDigest [sha256.Size]byte, apiName, apiVersion string, more ...string) string {
	var buf [8 + sha256.Size + 8 + 256]byte
	b := binary.BigEndian.AppendUint64(buf[:0], digestMarker)
	b = append(b, tokenDigest[:]...)
	h := sha256.New()
	parts := [...]string{apiName, apiVersion}
	for i := range len(parts) + len(more) {
		part := ""
		if i < len(parts) {
			part = parts[i]
		} else {
			part = more[i-len(parts)]
		}
		b = binary.BigEndian.AppendUint64(b, uint64(len(part)))
		if len(b)+len(part) > len(buf) {
			h.Write(b)
			b = buf[:0]
			for ; len(part) > len(buf); part = part[len(buf):] {
				h.Write(buf[:copy(buf[:], part)])
			}
		}
		b = append(b, part...)
	}
	h.Write(b)
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0]))
}

// Get returns the token cached under key when more than minRemaining of its
// life is left at now (minRemaining is the clock skew); otherwise it calls
// mint, once for all concurrent callers of the same key, caches the token
// until the expiry mint returns, and returns it. hit tells whether the token
// came from the cache without waiting on mint.
func (c *TokenCache) Get(key string, now time.Time, minRemaining time.Duration, mint func() (string, time.Time, error)) (token string, hit bool, err error) {
	if tok, exp, ok := c.c.Get(key); ok && exp.Sub(now) >= minRemaining {
		return tok, true, nil
	}
	fresh := func(exp time.Time) bool { return exp.Sub(now) >= minRemaining }
	tok, err := c.c.Load(key, fresh, mint)
	if err != nil {
		return "", false, fmt.Errorf("mint backend JWT: %w", err)
	}
	return tok, false, nil
}

// Delete removes the token under key.
func (c *TokenCache) Delete(key string) { c.c.Delete(key) }

// Clear drops every cached token.
func (c *TokenCache) Clear() { c.c.Clear() }

// Len returns the number of tokens held, expired ones not yet removed
// included.
func (c *TokenCache) Len() int { return c.c.Len() }

// Run removes expired tokens every DefaultJanitorInterval until ctx is
// done. It blocks; start it with go.
func (c *TokenCache) Run(ctx context.Context) { c.c.Run(ctx, DefaultJanitorInterval) }

// RunEvery is Run with another interval.
func (c *TokenCache) RunEvery(ctx context.Context, interval time.Duration) { c.c.Run(ctx, interval) }
