package revocation

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// MaxEntries bounds the entries a List holds (one per storage key, so a
// token posted again with another exp counts twice until the earlier entry
// expires). Add refuses more with ErrFull and Sync reads no more.
const MaxEntries = 100_000

// maxEntries is MaxEntries; tests lower it.
var maxEntries = MaxEntries

// ErrFull is wrapped by the error of an Add refused because the List holds
// MaxEntries entries already.
var ErrFull = errors.New("the revocation list is full")

// set is one immutable state of a List, what Revoked, RevokedDigest and
// RevokedBefore read: the names of the tokens refused, by kind, and the
// consumer keys and subjects revoked in bulk with the latest Before of
// their entries.
type set struct {
	jti      map[string]struct{}
	sig      map[string]struct{}
	digest   map[[sha256.Size]byte]struct{}
	keys     map[string]int64 // consumer key -> latest Before
	subjects map[string]int64 // sub -> latest Before
}

func newSet() *set {
	return &set{jti: map[string]struct{}{}, sig: map[string]struct{}{}, digest: map[[sha256.Size]byte]struct{}{},
		keys: map[string]int64{}, subjects: map[string]int64{}}
}

// held is an entry of a List with what the List knows of its storage.
type held struct {
	Entry
	// pending is set while the entry is not known to be in storage: Add
	// put it here and its write has not succeeded yet.
	pending bool
	// written is the List's tick when the entry was last known to be in
	// storage; a Sync that started after it may drop the entry when the
	// storage lacks it.
	written uint64
}

// List is the revoked tokens in force. It is safe for concurrent use.
//
// The request path reads an immutable set through an atomic pointer;
// changes are made under a mutex, never held across a storage call, and
// publish a new set.
type List struct {
	cur atomic.Pointer[set]

	mu    sync.Mutex
	byKey map[string]*held // by Entry.Key
	tick  uint64           // advanced by every Sync before it lists the storage
}

// NewList returns an empty List.
func NewList() *List {
	l := &List{byKey: map[string]*held{}}
	l.cur.Store(newSet())
	return l
}

// Revoked tells whether a token with this jti or this signature is revoked.
// An entry is held through its exp plus the skew, until the Sync after
// that drops it. Revoked neither locks nor allocates.
func (l *List) Revoked(jti, signature string) bool {
	s := l.cur.Load()
	if jti != "" && len(s.jti) > 0 {
		if _, ok := s.jti[jti]; ok {
			return true
		}
	}
	if signature != "" && len(s.sig) > 0 {
		if _, ok := s.sig[signature]; ok {
			return true
		}
	}
	return false
}

// RevokedDigest tells whether the token whose SHA-256 is digest is
// revoked (an entry with TokenSHA256). It neither locks nor allocates.
func (l *List) RevokedDigest(digest [sha256.Size]byte) bool {
	s := l.cur.Load()
	if len(s.digest) == 0 {
		return false
	}
	_, ok := s.digest[digest]
	return ok
}

// RevokedBefore tells whether a bulk entry revokes the token of
// consumerKey and subject (its sub) issued at issuedAt: whether an entry
// of that consumer key, or of that subject exactly, has a Before not
// earlier than issuedAt. A zero issuedAt (a token without iat) is covered
// by every entry that names it; an empty consumerKey or subject matches
// nothing. No clock skew applies to Before. An entry is held through its
// Until plus the skew, until the Sync after that drops it. RevokedBefore
// neither locks nor allocates.
func (l *List) RevokedBefore(consumerKey, subject string, issuedAt time.Time) bool {
	s := l.cur.Load()
	if consumerKey != "" && len(s.keys) > 0 {
		if before, ok := s.keys[consumerKey]; ok && covers(before, issuedAt) {
			return true
		}
	}
	if subject != "" && len(s.subjects) > 0 {
		if before, ok := s.subjects[subject]; ok && covers(before, issuedAt) {
			return true
		}
	}
	return false
}

// covers tells whether a bulk entry with this Before revokes a token
// issued at iat (zero: no iat).
func covers(before int64, iat time.Time) bool {
	return iat.IsZero() || !iat.After(time.Unix(before, 0))
}

// Len is the number of tokens, consumer keys and subjects the List refuses
// now; one posted several times counts once.
func (l *List) Len() int {
	s := l.cur.Load()
	return len(s.jti) + len(s.sig) + len(s.digest) + len(s.keys) + len(s.subjects)
}

// Entries returns, for each token revoked, the entry with the latest exp,
// and for each consumer key or subject revoked in bulk one entry with the
// latest Before, Until and Added of its entries; only those in force at
// now: whose exp (or Until) plus skew has not passed. They come in no
// order.
func (l *List) Entries(now time.Time, skew time.Duration) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := make(map[tokenID]Entry, len(l.byKey))
	for _, h := range l.byKey {
		if expired(h.bound(), now, skew) {
			continue
		}
		id := h.token()
		e, ok := latest[id]
		switch {
		case !ok:
			latest[id] = h.Entry
		case h.bulk():
			e.Before, e.Until, e.Added = max(e.Before, h.Before), max(e.Until, h.Until), max(e.Added, h.Added)
			latest[id] = e
		case h.Exp > e.Exp:
			latest[id] = h.Entry
		}
	}
	out := make([]Entry, 0, len(latest))
	for _, e := range latest {
		out = append(out, e)
	}
	return out
}

// Pending is the number of entries that Add put in force here but could
// not write to the storage yet; every Sync retries them.
func (l *List) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.byKey {
		if h.pending {
			n++
		}
	}
	return n
}

// Put adds entries to the list in memory only, as if Sync had read them
// from the storage: a later Sync drops those the storage does not hold.
// Entries naming no token or two are skipped, and so are those past
// MaxEntries; a bulk entry without Until is given Before plus MaxAhead.
// Add also stores its entry.
func (l *List) Put(entries ...Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		if _, _, ok := e.named(); !ok {
			continue
		}
		e = e.withDefaults()
		key := e.Key()
		if h, ok := l.byKey[key]; ok {
			h.pending, h.written = false, l.tick
			continue
		}
		if len(l.byKey) >= maxEntries {
			break
		}
		l.byKey[key] = &held{Entry: e, written: l.tick}
	}
	l.publish()
}

// inForce returns the entry of e's token with the latest exp not before
// e's, or false. Call it with l.mu held.
func (l *List) inForce(e Entry) (*held, bool) {
	var best *held
	token := e.token()
	for _, h := range l.byKey {
		if h.Exp >= e.Exp && h.token() == token && (best == nil || h.Exp > best.Exp) {
			best = h
		}
	}
	return best, best != nil
}

// mergeBulk returns the bulk entry e merged with the entries of its
// consumer key or subject that this List holds and whose Until has not
// passed at now: the later Before and the later Until of them all. When
// one held entry has both already, it is returned too, and nothing is to
// be added. Call it with l.mu held.
func (l *List) mergeBulk(e Entry, now time.Time) (Entry, *held, bool) {
	token := e.token()
	for _, h := range l.byKey {
		if h.bulk() && h.Until >= now.Unix() && h.token() == token {
			e.Before, e.Until = max(e.Before, h.Before), max(e.Until, h.Until)
		}
	}
	for _, h := range l.byKey {
		if h.bulk() && h.token() == token && h.Before >= e.Before && h.Until >= e.Until {
			return e, h, true
		}
	}
	return e, nil, false
}

// publish makes the entries of byKey what Revoked, RevokedDigest and
// RevokedBefore read. Call it with l.mu held.
func (l *List) publish() {
	s := newSet()
	for _, h := range l.byKey {
		switch {
		case h.JTI != "":
			s.jti[h.JTI] = struct{}{}
		case h.Signature != "":
			s.sig[h.Signature] = struct{}{}
		case h.ConsumerKey != "":
			s.keys[h.ConsumerKey] = max(s.keys[h.ConsumerKey], h.Before)
		case h.Subject != "":
			s.subjects[h.Subject] = max(s.subjects[h.Subject], h.Before)
		default:
			var d [sha256.Size]byte
			if _, err := hex.Decode(d[:], []byte(h.TokenSHA256)); err == nil {
				s.digest[d] = struct{}{}
			}
		}
	}
	l.cur.Store(s)
}
