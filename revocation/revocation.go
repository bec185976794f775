// Package revocation keeps the access tokens an operator revoked: an
// in-memory List that the request path asks without locks or allocations,
// and its copy in a certmagic.Storage (Caddy's storage), under Prefix, that
// every instance sharing the storage reads with Sync. An entry names a
// token by its jti, by its signature (the compact JWS's third part) or by
// the SHA-256 of the whole token (any token, opaque ones included), and is
// kept until the token's exp plus the clock skew.
//
// Stored entries are immutable: an entry's key (Entry.Key) names the token
// and the exp, so posting a token again with another exp makes another key,
// which every instance reads at its next Sync, and the token stays revoked
// while any of its entries is in force. An instance deletes a key only
// after reading it back and finding its exp plus the skew passed, so it
// never removes a newer entry.
package revocation

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Prefix is the storage folder of the entries, one key per entry.
const Prefix = "backend_jwt/revocations"

// MaxAhead bounds how far in the future an entry's exp may be.
const MaxAhead = 366 * 24 * time.Hour

// maxValue bounds a jti or a signature, in bytes.
const maxValue = 4096

// The kinds of token names, the first part of a storage key's name. A new
// identifying member (a token's SHA-256, a consumer key) is a new kind.
const (
	kindJTI       = "jti"
	kindSignature = "sig"
	kindDigest    = "sha"
)

// Entry is one revoked token: exactly one of JTI, Signature and
// TokenSHA256 is set.
type Entry struct {
	// JTI is the token's jti claim.
	JTI string `json:"jti,omitempty"`
	// Signature is the token's third part (base64url, no padding).
	Signature string `json:"signature,omitempty"`
	// TokenSHA256 is the SHA-256 of the whole token as sent, in lowercase
	// hex: it names any token, an opaque one or a JWT without a jti.
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// Exp is the token's exp, in seconds since the epoch: the entry is kept
	// until then plus the clock skew.
	Exp int64 `json:"exp"`
	// Added is when the entry was made, in seconds since the epoch.
	Added int64 `json:"added"`
}

// Check says what is wrong with e at now, or nil.
func (e Entry) Check(now time.Time) error {
	named := 0
	for _, v := range []string{e.JTI, e.Signature, e.TokenSHA256} {
		if v != "" {
			named++
		}
	}
	switch {
	case named == 0:
		return errors.New("give jti, signature or token_sha256")
	case named > 1:
		return errors.New("give one of jti, signature and token_sha256, not several")
	case e.TokenSHA256 != "" && !isDigest(e.TokenSHA256):
		return errors.New("token_sha256 is not 64 lowercase hex digits (the SHA-256 of the whole token)")
	case len(e.JTI) > maxValue || len(e.Signature) > maxValue:
		return fmt.Errorf("jti or signature longer than %d bytes", maxValue)
	case strings.ContainsFunc(e.JTI, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("jti holds a control character")
	case strings.ContainsFunc(e.Signature, func(r rune) bool { return !isBase64URL(r) }):
		return errors.New("signature is not base64url (the token's third part)")
	case e.Exp <= now.Unix():
		return fmt.Errorf("exp %d is in the past: the token has expired already", e.Exp)
	case e.Exp > now.Add(MaxAhead).Unix():
		return fmt.Errorf("exp %d is more than a year ahead", e.Exp)
	}
	return nil
}

// isDigest tells whether s is a SHA-256 in lowercase hex.
func isDigest(s string) bool {
	return len(s) == 2*sha256.Size && !strings.ContainsFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

func isBase64URL(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

// named tells how e names its token: the kind and the value. It is false
// for an entry that names no token or two.
func (e Entry) named() (kind, value string, ok bool) {
	switch {
	case e.JTI != "" && e.Signature == "" && e.TokenSHA256 == "":
		return kindJTI, e.JTI, true
	case e.Signature != "" && e.JTI == "" && e.TokenSHA256 == "":
		return kindSignature, e.Signature, true
	case e.TokenSHA256 != "" && e.JTI == "" && e.Signature == "":
		return kindDigest, e.TokenSHA256, true
	}
	return "", "", false
}

// tokenID tells a token apart from others of any kind.
type tokenID struct{ kind, value string }

// token is the token e revokes: the entries of one token differ only in
// their exp (and when they were added).
func (e Entry) token() tokenID {
	kind, value, _ := e.named()
	return tokenID{kind, value}
}

// Key is the storage key of e: Prefix, then the kind ("jti", "sig" or
// "sha"), the
// first 16 bytes of the value's SHA-256 in hex and the exp, as in
// backend_jwt/revocations/jti-<32 hex digits>-<exp>.json. The exp makes a
// key immutable: posting the token again with another exp is another key.
func (e Entry) Key() string {
	kind, value, _ := e.named()
	sum := sha256.Sum256([]byte(value))
	return Prefix + "/" + kind + "-" + hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(e.Exp, 10) + ".json"
}

// parseKey tells whether key has the form Key makes, and the exp it
// names. Sync passes over the keys of another form (a storage's temporary
// files, kinds of a later version); the exp only tells which keys may have
// expired, as what is deleted is read back first.
func parseKey(key string) (exp int64, ok bool) {
	name, ok := strings.CutPrefix(key, Prefix+"/")
	if !ok {
		return 0, false
	}
	if name, ok = strings.CutSuffix(name, ".json"); !ok {
		return 0, false
	}
	kind, rest, ok := strings.Cut(name, "-")
	if !ok || kind != kindJTI && kind != kindSignature && kind != kindDigest {
		return 0, false
	}
	hash, digits, ok := strings.Cut(rest, "-")
	if !ok || len(hash) != 32 || strings.ContainsFunc(hash, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
		return 0, false
	}
	if digits == "" || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return 0, false
	}
	exp, err := strconv.ParseInt(digits, 10, 64)
	return exp, err == nil
}

// expired tells whether an entry with this exp is no longer in force at
// now: it is held through exp plus skew and dropped after.
func expired(exp int64, now time.Time, skew time.Duration) bool {
	return time.Unix(exp, 0).Add(max(skew, 0)).Before(now)
}
