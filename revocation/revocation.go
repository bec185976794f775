// Package revocation keeps the access tokens an operator revoked: an
// in-memory List that the request path asks without locks or allocations,
// and its copy in a certmagic.Storage (Caddy's storage), under Prefix, that
// every instance sharing the storage reads with Sync. An entry names a
// token by its jti, by its signature (the compact JWS's third part) or by
// the SHA-256 of the whole token (any token, opaque ones included), and is
// kept until the token's exp plus the clock skew. A bulk entry names every
// token of a consumer key or of a subject (sub) issued at or before a
// time, Before, and is kept until Until plus the clock skew.
//
// Stored entries are immutable: an entry's key (Entry.Key) names the token
// and the exp (for a bulk entry, the consumer key or subject, Until and
// Before), so posting a token again with another exp makes another key,
// which every instance reads at its next Sync, and the token stays revoked
// while any of its entries is in force. An instance deletes a key only
// after reading it back and finding its exp (or Until) plus the skew
// passed, so it never removes a newer entry.
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

// MaxAhead bounds how far in the future an entry's exp may be. It is also
// how long after its Before a bulk entry is kept at most, and by default.
const MaxAhead = 366 * 24 * time.Hour

// maxValue bounds a jti, a signature, a consumer key or a subject, in bytes.
const maxValue = 4096

// The kinds of token names, the first part of a storage key's name. A new
// identifying member (a token's SHA-256, a consumer key) is a new kind.
const (
	kindJTI         = "jti"
	kindSignature   = "sig"
	kindDigest      = "sha"
	kindConsumerKey = "ck"
	kindSubject     = "sub"
)

// Entry is one revocation: exactly one of JTI, Signature, TokenSHA256
// (one token, kept until Exp), ConsumerKey and Subject (a bulk entry: the
// tokens issued at or before Before, kept until Until) is set.
type Entry struct {
	// JTI is the token's jti claim.
	JTI string `json:"jti,omitempty"`
	// Signature is the token's third part (base64url, no padding).
	Signature string `json:"signature,omitempty"`
	// TokenSHA256 is the SHA-256 of the whole token as sent, in lowercase
	// hex: it names any token, an opaque one or a JWT without a jti.
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// ConsumerKey names, in a bulk entry, every token of that consumer key
	// (OAuth client ID) issued at or before Before.
	ConsumerKey string `json:"consumer_key,omitempty"`
	// Subject names, in a bulk entry, every token whose sub is exactly
	// Subject issued at or before Before.
	Subject string `json:"subject,omitempty"`
	// Exp is the token's exp, in seconds since the epoch: the entry is kept
	// until then plus the clock skew. Bulk entries have none.
	Exp int64 `json:"exp,omitempty"`
	// Before is, in a bulk entry, the latest iat refused, in seconds since
	// the epoch: tokens with an iat not after it (or without iat) are
	// revoked.
	Before int64 `json:"before,omitempty"`
	// Until is, in a bulk entry, how long it is kept, in seconds since the
	// epoch: until then plus the clock skew. Add sets it to Before plus
	// MaxAhead when it is 0.
	Until int64 `json:"until,omitempty"`
	// Added is when the entry was made, in seconds since the epoch.
	Added int64 `json:"added"`
}

// Check says what is wrong with e at now, or nil. An entry names exactly
// one token (jti, signature, token_sha256) or one group of tokens
// (consumer_key, subject). A token's entry has an exp after now and at
// most MaxAhead ahead, and no before or until. A bulk entry has a before
// not after now and no exp; its until, when set, is after now and at most
// MaxAhead after before; when not set, before plus MaxAhead must be after
// now.
func (e Entry) Check(now time.Time) error {
	named := 0
	for _, v := range []string{e.JTI, e.Signature, e.TokenSHA256, e.ConsumerKey, e.Subject} {
		if v != "" {
			named++
		}
	}
	switch {
	case named == 0:
		return errors.New("give jti, signature or token_sha256 (or, for every token of a client or a user, consumer_key or subject with before)")
	case named > 1:
		return errors.New("give one of jti, signature, token_sha256, consumer_key and subject, not several")
	case e.TokenSHA256 != "" && !isDigest(e.TokenSHA256):
		return errors.New("token_sha256 is not 64 lowercase hex digits (the SHA-256 of the whole token)")
	case len(e.JTI) > maxValue || len(e.Signature) > maxValue:
		return fmt.Errorf("jti or signature longer than %d bytes", maxValue)
	case len(e.ConsumerKey) > maxValue || len(e.Subject) > maxValue:
		return fmt.Errorf("consumer_key or subject longer than %d bytes", maxValue)
	case strings.ContainsFunc(e.JTI, isControl):
		return errors.New("jti holds a control character")
	case strings.ContainsFunc(e.ConsumerKey, isControl):
		return errors.New("consumer_key holds a control character")
	case strings.ContainsFunc(e.Subject, isControl):
		return errors.New("subject holds a control character")
	case strings.ContainsFunc(e.Signature, func(r rune) bool { return !isBase64URL(r) }):
		return errors.New("signature is not base64url (the token's third part)")
	}
	if e.bulk() {
		return e.checkBulk(now)
	}
	switch {
	case e.Before != 0 || e.Until != 0:
		return errors.New("before and until are for consumer_key and subject: jti, signature and token_sha256 take exp only")
	case e.Exp <= now.Unix():
		return fmt.Errorf("exp %d is in the past: the token has expired already", e.Exp)
	case e.Exp > now.Add(MaxAhead).Unix():
		return fmt.Errorf("exp %d is more than a year ahead", e.Exp)
	}
	return nil
}

// checkBulk is Check for a bulk entry.
func (e Entry) checkBulk(now time.Time) error {
	name := bulkName(e)
	latest := time.Unix(e.Before, 0).Add(MaxAhead).Unix()
	switch {
	case e.Exp != 0:
		return fmt.Errorf("%s takes before (and until), not exp", name)
	case e.Before <= 0:
		return fmt.Errorf("before is missing: %s revokes the tokens issued at or before it, in seconds since the epoch", name)
	case e.Before > now.Unix():
		return fmt.Errorf("before %d is in the future: give a time not later than now", e.Before)
	case e.Until != 0 && e.Until <= now.Unix():
		return fmt.Errorf("until %d is in the past", e.Until)
	case e.Until > latest:
		return fmt.Errorf("until %d is more than a year after before", e.Until)
	case e.Until == 0 && latest <= now.Unix():
		return fmt.Errorf("before %d is more than a year ago: the tokens it covers have expired already", e.Before)
	}
	return nil
}

// withDefaults is e with Until set when a bulk entry has none.
func (e Entry) withDefaults() Entry {
	if e.bulk() && e.Until == 0 {
		e.Until = time.Unix(e.Before, 0).Add(MaxAhead).Unix()
	}
	return e
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// isDigest tells whether s is a SHA-256 in lowercase hex.
func isDigest(s string) bool {
	return len(s) == 2*sha256.Size && !strings.ContainsFunc(s, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

func isBase64URL(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

// named tells how e names its token (or, for a bulk entry, its tokens):
// the kind and the value. It is false for an entry that names none or two.
func (e Entry) named() (kind, value string, ok bool) {
	n := 0
	for _, m := range [...]struct{ kind, value string }{
		{kindJTI, e.JTI}, {kindSignature, e.Signature}, {kindDigest, e.TokenSHA256},
		{kindConsumerKey, e.ConsumerKey}, {kindSubject, e.Subject},
	} {
		if m.value != "" {
			kind, value, n = m.kind, m.value, n+1
		}
	}
	if n != 1 {
		return "", "", false
	}
	return kind, value, true
}

// bulk tells whether e names the tokens of a consumer key or a subject.
func (e Entry) bulk() bool { return e.ConsumerKey != "" || e.Subject != "" }

// bound is the time, in seconds, after which (plus the skew) e is no
// longer in force: its Until for a bulk entry, its Exp otherwise.
func (e Entry) bound() int64 {
	if e.bulk() {
		return e.Until
	}
	return e.Exp
}

// tokenID tells a token (or a bulk entry's consumer key or subject) apart
// from others of any kind.
type tokenID struct{ kind, value string }

// token is the token e revokes: the entries of one token differ only in
// their exp, or before and until (and when they were added).
func (e Entry) token() tokenID {
	kind, value, _ := e.named()
	return tokenID{kind, value}
}

// Key is the storage key of e: Prefix, then the kind ("jti", "sig", "sha",
// "ck" for a consumer key, "sub" for a subject), the first 16 bytes of the
// value's SHA-256 in hex and the exp, as in
// backend_jwt/revocations/jti-<32 hex digits>-<exp>.json; for a bulk entry
// the until and the before, as in
// backend_jwt/revocations/ck-<32 hex digits>-<until>-<before>.json. The
// times make a key immutable: posting again with another exp, before or
// until is another key.
func (e Entry) Key() string {
	kind, value, _ := e.named()
	sum := sha256.Sum256([]byte(value))
	key := Prefix + "/" + kind + "-" + hex.EncodeToString(sum[:16]) + "-" + strconv.FormatInt(e.bound(), 10)
	if e.bulk() {
		key += "-" + strconv.FormatInt(e.Before, 10)
	}
	return key + ".json"
}

// parseKey tells whether key has the form Key makes, and the time it
// names after which the entry expires (exp, or until for a bulk entry).
// Sync passes over the keys of another form (a storage's temporary files,
// kinds of a later version); the time only tells which keys may have
// expired, as what is deleted is read back first.
func parseKey(key string) (bound int64, ok bool) {
	name, ok := strings.CutPrefix(key, Prefix+"/")
	if !ok {
		return 0, false
	}
	if name, ok = strings.CutSuffix(name, ".json"); !ok {
		return 0, false
	}
	parts := strings.Split(name, "-")
	want := 3 // kind, hash, exp
	switch parts[0] {
	case kindJTI, kindSignature, kindDigest:
	case kindConsumerKey, kindSubject:
		want = 4 // kind, hash, until, before
	default:
		return 0, false
	}
	if len(parts) != want {
		return 0, false
	}
	if hash := parts[1]; len(hash) != 32 || strings.ContainsFunc(hash, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') }) {
		return 0, false
	}
	for _, digits := range parts[2:] {
		if digits == "" || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
			return 0, false
		}
	}
	bound, err := strconv.ParseInt(parts[2], 10, 64)
	return bound, err == nil
}

// expired tells whether an entry with this exp (or until) is no longer in
// force at now: it is held through exp plus skew and dropped after.
func expired(exp int64, now time.Time, skew time.Duration) bool {
	return time.Unix(exp, 0).Add(max(skew, 0)).Before(now)
}

// bulkName names how a bulk entry names its tokens, for errors.
func bulkName(e Entry) string {
	if e.ConsumerKey != "" {
		return "consumer_key"
	}
	return "subject"
}
