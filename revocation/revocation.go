// Package revocation keeps the access tokens an operator revoked: an
// in-memory List that the request path asks without locks or allocations,
// and its copy in a certmagic.Storage (Caddy's storage), under Prefix, that
// every instance sharing the storage reads with Sync. An entry names a
// token by its jti or by its signature (the compact JWS's third part) and
// is kept until the token's exp plus the clock skew.
package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// Prefix is the storage folder of the entries, one key per entry.
const Prefix = "backend_jwt/revocations"

// MaxAhead bounds how far in the future an entry's exp may be.
const MaxAhead = 366 * 24 * time.Hour

// maxValue bounds a jti or a signature, in bytes.
const maxValue = 4096

// Entry is one revoked token: exactly one of JTI and Signature is set.
type Entry struct {
	JTI       string `json:"jti,omitempty"`
	Signature string `json:"signature,omitempty"`
	// Exp is the token's exp, in seconds since the epoch: the entry is kept
	// until then plus the clock skew.
	Exp int64 `json:"exp"`
	// Added is when the entry was made, in seconds since the epoch.
	Added int64 `json:"added"`
}

// Check says what is wrong with e at now, or nil.
func (e Entry) Check(now time.Time) error {
	switch {
	case e.JTI == "" && e.Signature == "":
		return errors.New("give jti or signature")
	case e.JTI != "" && e.Signature != "":
		return errors.New("give jti or signature, not both")
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

func isBase64URL(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

// Key is the storage key of e.
func (e Entry) Key() string {
	kind, value := "jti", e.JTI
	if e.Signature != "" {
		kind, value = "sig", e.Signature
	}
	sum := sha256.Sum256([]byte(value))
	return Prefix + "/" + kind + "-" + hex.EncodeToString(sum[:16]) + ".json"
}

// set is one immutable state of a List.
type set struct {
	byKey map[string]Entry
	jti   map[string]struct{}
	sig   map[string]struct{}
}

func newSet(byKey map[string]Entry) *set {
	s := &set{byKey: byKey, jti: map[string]struct{}{}, sig: map[string]struct{}{}}
	for _, e := range byKey {
		if e.JTI != "" {
			s.jti[e.JTI] = struct{}{}
		} else {
			s.sig[e.Signature] = struct{}{}
		}
	}
	return s
}

// List is the revoked tokens in force. It is safe for concurrent use.
type List struct {
	cur atomic.Pointer[set]
	mu  sync.Mutex // serialises changes
}

// NewList returns an empty List.
func NewList() *List {
	l := &List{}
	l.cur.Store(newSet(map[string]Entry{}))
	return l
}

// Revoked tells whether a token with this jti or this signature is revoked.
// It does not allocate.
func (l *List) Revoked(jti, signature string) bool {
	s := l.cur.Load()
	if len(s.byKey) == 0 {
		return false
	}
	if _, ok := s.jti[jti]; ok && jti != "" {
		return true
	}
	_, ok := s.sig[signature]
	return ok && signature != ""
}

// Entries returns the entries in force, in no order.
func (l *List) Entries() []Entry {
	return slices.Collect(maps.Values(l.cur.Load().byKey))
}

// Len is the number of entries in force.
func (l *List) Len() int { return len(l.cur.Load().byKey) }

// Put adds entries to the list in memory only, as Sync does with entries
// it reads; Add also stores them.
func (l *List) Put(entries ...Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byKey := maps.Clone(l.cur.Load().byKey)
	for _, e := range entries {
		byKey[e.Key()] = e
	}
	l.cur.Store(newSet(byKey))
}

// Add checks e, stores it in storage and puts it in the list: the token is
// refused here from now on, and by every instance sharing the storage
// after its next Sync. e.Added is set to now.
func (l *List) Add(ctx context.Context, storage certmagic.Storage, e Entry, now time.Time) (Entry, error) {
	if err := e.Check(now); err != nil {
		return e, err
	}
	e.Added = now.Unix()
	data, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	if err := storage.Store(ctx, e.Key(), data); err != nil {
		return e, fmt.Errorf("storing the revocation: %w", err)
	}
	l.Put(e)
	return e, nil
}

// Sync makes the list what storage holds: it reads the entries it does not
// have yet, drops those no longer stored, and deletes from storage (and
// drops) those whose exp plus skew has passed. On an error the list keeps
// what it had.
func (l *List) Sync(ctx context.Context, storage certmagic.Storage, now time.Time, skew time.Duration) error {
	keys, err := storage.List(ctx, Prefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		keys, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("listing revocations: %w", err)
	}
	known := l.cur.Load().byKey
	byKey := make(map[string]Entry, len(keys))
	var errs []error
	for _, key := range keys {
		e, ok := known[key]
		if !ok {
			data, err := storage.Load(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the listing
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("loading %s: %w", key, err))
				continue
			}
			if err := json.Unmarshal(data, &e); err != nil || e.Key() != key {
				errs = append(errs, fmt.Errorf("revocation %s is not valid JSON of its entry", key))
				continue
			}
		}
		if time.Unix(e.Exp, 0).Add(skew).Before(now) {
			if err := storage.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("deleting expired %s: %w", key, err))
			}
			continue
		}
		byKey[key] = e
	}
	if len(errs) > 0 {
		// Keep what was known and add what was read: a storage hiccup
		// never un-revokes a token.
		for k, e := range known {
			if _, ok := byKey[k]; !ok && !time.Unix(e.Exp, 0).Add(skew).Before(now) {
				byKey[k] = e
			}
		}
	}
	l.mu.Lock()
	// Entries added here while the storage was read stay.
	for k, e := range l.cur.Load().byKey {
		if _, wasKnown := known[k]; !wasKnown {
			byKey[k] = e
		}
	}
	l.cur.Store(newSet(byKey))
	l.mu.Unlock()
	return errors.Join(errs...)
}
