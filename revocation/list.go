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

// set is one immutable state of a List, what Revoked reads: the names of
// the tokens refused, by kind.
type set struct {
	jti    map[string]struct{}
	sig    map[string]struct{}
	digest map[[sha256.Size]byte]struct{}
}

func newSet() *set {
	return &set{jti: map[string]struct{}{}, sig: map[string]struct{}{}, digest: map[[sha256.Size]byte]struct{}{}}
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

// Len is the number of tokens the List refuses now; a token posted several
// times counts once.
func (l *List) Len() int {
	s := l.cur.Load()
	return len(s.jti) + len(s.sig) + len(s.digest)
}

// Entries returns, for each token revoked, the entry with the latest exp,
// and only those in force at now: whose exp plus skew has not passed. They
// come in no order.
func (l *List) Entries(now time.Time, skew time.Duration) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := make(map[tokenID]Entry, len(l.byKey))
	for _, h := range l.byKey {
		if expired(h.Exp, now, skew) {
			continue
		}
		if e, ok := latest[h.token()]; !ok || h.Exp > e.Exp {
			latest[h.token()] = h.Entry
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
// MaxEntries. Add also stores its entry.
func (l *List) Put(entries ...Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		if _, _, ok := e.named(); !ok {
			continue
		}
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

// publish makes the entries of byKey what Revoked reads. Call it with l.mu
// held.
func (l *List) publish() {
	s := newSet()
	for _, h := range l.byKey {
		switch {
		case h.JTI != "":
			s.jti[h.JTI] = struct{}{}
		case h.Signature != "":
			s.sig[h.Signature] = struct{}{}
		default:
			var d [sha256.Size]byte
			if _, err := hex.Decode(d[:], []byte(h.TokenSHA256)); err == nil {
				s.digest[d] = struct{}{}
			}
		}
	}
	l.cur.Store(s)
}
