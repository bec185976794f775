package caddymodule

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// Bounds of the rotation schedule derived from key_rotation.
const (
	maxRotationLead = time.Hour   // how long before it signs a new key is published, at most
	maxRotationPoll = time.Minute // how often storage is read for keys made elsewhere, at most
	minKeyRotation  = time.Second
	minRotationWait = 10 * time.Millisecond // between two readings of the ring, at least
)

// ringKey is one managed key of a rotation, as kept in storage.
type ringKey struct {
	// SignsFrom is when the key starts signing. It is published from the
	// moment it is in the ring, at least the rotation's lead before that.
	SignsFrom time.Time `json:"signs_from"`
	// PEM is the private key (PKCS#8).
	PEM string `json:"key"`
}

// keyRing is the storage document of a rotation: its keys, oldest first.
type keyRing struct {
	Keys []ringKey `json:"keys"`
}

// keyRotation rotates the managed signing key of one algorithm through
// Caddy's storage, so that every instance sharing the storage signs with
// the same key and publishes the same keys. A new key enters the ring lead
// before it starts signing; a key leaves it keep after it stopped signing,
// when no token it signed can still be valid.
type keyRotation struct {
	storage certmagic.Storage
	alg     string
	period  time.Duration // key_rotation
	lead    time.Duration // published this long before it signs
	poll    time.Duration // storage is read this often
	keep    time.Duration // published this long after it stopped signing

	ring   []ringKey                // as last read from storage
	parsed map[string]crypto.Signer // by PEM; only the loop goroutine uses it
}

// newKeyRotation schedules a rotation of period for tokens that live at
// most lifetime (clock skew included).
func newKeyRotation(storage certmagic.Storage, alg string, period, lifetime time.Duration) *keyRotation {
	lead := min(period/2, maxRotationLead)
	poll := min(lead/4, maxRotationPoll)
	return &keyRotation{
		storage: storage, alg: alg, period: period, lead: lead, poll: poll,
		keep:   lifetime + poll,
		parsed: make(map[string]crypto.Signer),
	}
}

// ringName is where the rotation of alg is kept in storage.
func ringName(alg string) string {
	return path.Join("backend_jwt", "signing_keys", strings.ToLower(alg)+".rotation.json")
}

// plan returns ring as it should be at now: the keys no longer published
// left out and, when the next key is due, the time it should start
// signing (zero when none is due). changed tells whether storage must be
// written.
func (r *keyRotation) plan(ring []ringKey, now time.Time) (kept []ringKey, nextFrom time.Time, changed bool) {
	for i, k := range ring {
		if i+1 < len(ring) && !ring[i+1].SignsFrom.Add(r.keep).After(now) {
			continue // a later key has signed for longer than any token lives
		}
		kept = append(kept, k)
	}
	changed = len(kept) != len(ring)
	if len(kept) == 0 {
		return kept, now, true
	}
	last := kept[len(kept)-1].SignsFrom
	if !last.After(now) && !now.Before(last.Add(r.period-r.lead)) {
		// The next key signs a period after the last one, but never
		// before it has been published for lead.
		nextFrom = last.Add(r.period)
		if earliest := now.Add(r.lead); nextFrom.Before(earliest) {
			nextFrom = earliest
		}
		changed = true
	}
	return kept, nextFrom, changed
}

// sync reads the ring from storage and, when it is due for a change,
// changes it under the storage lock (another instance may have done so
// meanwhile). A ring that cannot be read leaves the last one read in use.
func (r *keyRotation) sync(ctx context.Context, now time.Time) error {
	ring, err := r.load(ctx)
	if err != nil {
		return err
	}
	if _, _, changed := r.plan(ring, now); changed {
		if ring, err = r.update(ctx, now); err != nil {
			return err
		}
	}
	r.ring = ring
	for pemKey := range r.parsed {
		if !slices.ContainsFunc(ring, func(k ringKey) bool { return k.PEM == pemKey }) {
			delete(r.parsed, pemKey)
		}
	}
	return nil
}

// update changes the ring under the storage lock.
func (r *keyRotation) update(ctx context.Context, now time.Time) ([]ringKey, error) {
	lock := "backend_jwt_signing_key_" + strings.ToLower(r.alg)
	if err := r.storage.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking storage for the key rotation: %w", err)
	}
	defer func() { _ = r.storage.Unlock(ctx, lock) }()
	ring, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	seeded := false
	if len(ring) == 0 {
		// The first rotation starts from the managed key in use, if any.
		if data, err := r.storage.Load(ctx, managedKeyName(r.alg)); err == nil {
			ring, seeded = []ringKey{{SignsFrom: now, PEM: string(data)}}, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("loading the managed key: %w", err)
		}
	}
	kept, nextFrom, changed := r.plan(ring, now)
	if !changed && !seeded {
		return ring, nil
	}
	if !nextFrom.IsZero() {
		key, err := jwtgen.GenerateKey(r.alg)
		if err != nil {
			return nil, fmt.Errorf("creating a managed key: %w", err)
		}
		data, err := jwtgen.MarshalPrivateKeyPEM(key)
		if err != nil {
			return nil, fmt.Errorf("creating a managed key: %w", err)
		}
		r.parsed[string(data)] = key
		kept = append(kept, ringKey{SignsFrom: nextFrom, PEM: string(data)})
	}
	doc, err := json.Marshal(keyRing{Keys: kept})
	if err != nil {
		return nil, fmt.Errorf("encoding the key ring: %w", err)
	}
	if err := stillLocked(ctx, r.storage, lock); err != nil {
		return nil, err
	}
	if err := r.storage.Store(ctx, ringName(r.alg), doc); err != nil {
		return nil, fmt.Errorf("storing the key ring: %w", err)
	}
	return kept, nil
}

// load reads the ring from storage; a missing ring is empty.
func (r *keyRotation) load(ctx context.Context) ([]ringKey, error) {
	data, err := r.storage.Load(ctx, ringName(r.alg))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading the key ring: %w", err)
	}
	var doc keyRing
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("key ring %s in storage: %w", ringName(r.alg), err)
	}
	slices.SortStableFunc(doc.Keys, func(a, b ringKey) int { return a.SignsFrom.Compare(b.SignsFrom) })
	return doc.Keys, nil
}

// ringKeyState is a key of the ring as published at some time.
type ringKeyState struct {
	key crypto.Signer
	// until is when it stops being published: zero while it signs or has
	// yet to.
	until time.Time
}

// state works out the last ring read at now: the keys published, the
// signing one first and then the others newest first, and when the next
// key starts signing (zero when none is pending). Should no key sign yet
// (another instance's clock is ahead), the oldest one signs: it is the
// first ever, made to sign at once.
func (r *keyRotation) state(now time.Time) (keys []ringKeyState, next time.Time, err error) {
	if len(r.ring) == 0 {
		return nil, time.Time{}, errors.New("the key ring is empty")
	}
	cur := 0
	for i, k := range r.ring {
		if !k.SignsFrom.After(now) {
			cur = i
		} else if next.IsZero() && i > 0 {
			next = k.SignsFrom
		}
	}
	keys = make([]ringKeyState, 1, len(r.ring))
	for i := len(r.ring) - 1; i >= 0; i-- {
		var until time.Time
		if i < cur {
			if until = r.ring[i+1].SignsFrom.Add(r.keep); !until.After(now) {
				continue
			}
		}
		key, err := r.signer(r.ring[i].PEM)
		if err != nil {
			return nil, time.Time{}, err
		}
		if i == cur {
			keys[0] = ringKeyState{key: key}
		} else {
			keys = append(keys, ringKeyState{key: key, until: until})
		}
	}
	return keys, next, nil
}

// signer parses a key of the ring once.
func (r *keyRotation) signer(pemKey string) (crypto.Signer, error) {
	if key, ok := r.parsed[pemKey]; ok {
		return key, nil
	}
	key, err := jwtgen.ParsePrivateKeyPEM([]byte(pemKey))
	if err == nil {
		err = jwtgen.CheckKey(r.alg, key)
	}
	if err != nil {
		return nil, fmt.Errorf("key ring %s in storage: %w", ringName(r.alg), err)
	}
	r.parsed[pemKey] = key
	return key, nil
}
