package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
)

// StorageTimeout bounds each call to the storage (Load, Store, List,
// Delete); the caller's context may end it sooner.
const StorageTimeout = 10 * time.Second

// storageTimeout is StorageTimeout; tests shorten it.
var storageTimeout = StorageTimeout

// ErrNotStored is wrapped by the error of an Add whose entry is in force in
// this List but could not be written to the storage, so that the other
// instances do not know it yet: every Sync of this List retries the write
// until it succeeds.
var ErrNotStored = errors.New("the revocation is in force on this instance only until a sync writes it to the storage")

// Add checks e and puts it in force in the list at once, then writes it to
// storage: the token is refused here from now on, and by every instance
// sharing the storage after its next Sync. e.Added is set to now. If an
// entry of the same token with an exp not before e's is already in force,
// that entry stays and is returned instead; otherwise the token has one
// more entry, under its own key, and keeps every entry it had.
//
// A bulk entry (ConsumerKey or Subject) without Until is given Before plus
// MaxAhead, then merged with the entries of its consumer key or subject
// held here whose Until has not passed: the entry added has the later
// Before and the later Until of them all. If one held entry has both
// already, it is returned instead and nothing is added.
//
// The error is Check's, unchanged, for a bad e (nothing is added); it
// wraps ErrFull when the List holds MaxEntries entries (nothing is added);
// and it wraps ErrNotStored when the storage write failed: the returned
// entry is in force here all the same, and Sync retries the write.
func (l *List) Add(ctx context.Context, storage certmagic.Storage, e Entry, now time.Time) (Entry, error) {
	if err := e.Check(now); err != nil {
		return e, err
	}
	e = e.withDefaults()
	e.Added = now.Unix()
	l.mu.Lock()
	var h *held
	var ok bool
	if e.bulk() {
		e, h, ok = l.mergeBulk(e, now)
	} else {
		h, ok = l.inForce(e)
	}
	if !ok {
		if len(l.byKey) >= maxEntries {
			l.mu.Unlock()
			return e, fmt.Errorf("revoking by %s: %w (%d entries)", kindOf(e), ErrFull, maxEntries)
		}
		h = &held{Entry: e, pending: true}
		l.byKey[e.Key()] = h
		l.publish()
	}
	in, pending := h.Entry, h.pending
	l.mu.Unlock()
	if !pending {
		return in, nil
	}
	return in, l.store(ctx, storage, in)
}

// Sync makes the list what storage holds, in this order: it writes the
// entries Add could not write (see Pending); reads the keys it does not
// know yet; drops the entries whose exp (Until for a bulk entry) plus skew
// has passed, reading those still stored back and deleting them when the
// time read confirms it; drops the entries that storage no longer holds,
// unless Add put them here while or after the storage was listed, or they
// are still pending; and, where two instances posted the same consumer key
// or subject between two Syncs so that its latest Before and latest Until
// are in different entries, adds and writes one entry with both.
//
// A storage error never drops an entry in force: what could not be read
// is read by a later Sync. The errors of every step are joined; a storage
// call that timed out ends that step.
func (l *List) Sync(ctx context.Context, storage certmagic.Storage, now time.Time, skew time.Duration) error {
	if storage == nil {
		return errors.New("syncing revocations: no storage")
	}
	errs := l.retryPending(ctx, storage, now, skew)

	l.mu.Lock()
	l.tick++
	start := l.tick
	l.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, storageTimeout)
	keys, err := storage.List(lctx, Prefix, false)
	cancel()
	// No folder yet, or a key that vanished while it was listed (a
	// FileStorage's temporary file): the keys listed are read, but they
	// cannot tell what is no longer stored.
	complete := !errors.Is(err, fs.ErrNotExist)
	if !complete {
		err = nil
	}
	if err != nil {
		l.merge(nil, false, nil, start, now, skew) // what it merges stays pending for the next Sync
		return errors.Join(append(errs, fmt.Errorf("listing the revocations: %w", err))...)
	}

	l.mu.Lock()
	room := maxEntries - len(l.byKey)
	var fresh []string
	for _, key := range keys {
		if _, ok := l.byKey[key]; !ok {
			fresh = append(fresh, key)
		}
	}
	l.mu.Unlock()

	read := map[string]Entry{}
	var stale []string // stored keys to read back and delete if expired
	for i, key := range fresh {
		exp, ok := parseKey(key)
		if !ok {
			continue // not an entry
		}
		if expired(exp, now, skew) {
			stale = append(stale, key)
			continue
		}
		if len(read) >= room {
			errs = append(errs, fmt.Errorf("the storage holds more than %d revocations: %d not read", maxEntries, len(fresh)-i))
			break
		}
		e, err := load(ctx, storage, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			errs = append(errs, err)
			if stopped(ctx, err) {
				errs = append(errs, fmt.Errorf("%d more revocations not read", len(fresh)-i-1))
				break
			}
			continue
		}
		if expired(e.bound(), now, skew) {
			stale = append(stale, key)
			continue
		}
		read[key] = e
	}

	dropped, merged := l.merge(keys, complete, read, start, now, skew)
	for i, e := range merged {
		if err := l.store(ctx, storage, e); err != nil {
			errs = append(errs, err)
			if stopped(ctx, err) {
				errs = append(errs, fmt.Errorf("%d more merged revocations not written", len(merged)-i-1))
				break
			}
		}
	}
	stale = append(stale, dropped...)
	for i, key := range stale {
		if err := deleteIfExpired(ctx, storage, key, now, skew); err != nil {
			errs = append(errs, err)
			if stopped(ctx, err) {
				errs = append(errs, fmt.Errorf("%d more expired revocations not deleted", len(stale)-i-1))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// retryPending writes the pending entries still in force.
func (l *List) retryPending(ctx context.Context, storage certmagic.Storage, now time.Time, skew time.Duration) []error {
	l.mu.Lock()
	var todo []Entry
	for _, h := range l.byKey {
		if h.pending && !expired(h.bound(), now, skew) {
			todo = append(todo, h.Entry)
		}
	}
	l.mu.Unlock()
	var errs []error
	for i, e := range todo {
		if err := l.store(ctx, storage, e); err != nil {
			errs = append(errs, err)
			if stopped(ctx, err) {
				errs = append(errs, fmt.Errorf("%d more pending revocations not retried", len(todo)-i-1))
				break
			}
		}
	}
	return errs
}

// merge changes the list after the Sync that began at tick start:
// listed are keys the storage holds (all of them when complete), read the
// entries read from those keys. It returns the keys of the expired entries
// it dropped that the storage still holds, and the bulk entries it made
// (pending) by merging, to be written.
func (l *List) merge(listed []string, complete bool, read map[string]Entry, start uint64, now time.Time, skew time.Duration) (stale []string, merged []Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	inStorage := make(map[string]struct{}, len(listed))
	for _, key := range listed {
		inStorage[key] = struct{}{}
	}
	changed := false
	for key, e := range read {
		if _, known := l.byKey[key]; !known && len(l.byKey) < maxEntries {
			l.byKey[key] = &held{Entry: e, written: start}
			changed = true
		}
	}
	for key, h := range l.byKey {
		_, stored := inStorage[key]
		switch {
		case expired(h.bound(), now, skew):
			delete(l.byKey, key)
			changed = true
			if stored {
				stale = append(stale, key)
			}
		case stored:
			h.pending, h.written = false, max(h.written, start)
		case complete && !h.pending && h.written < start:
			// Known in storage before it was listed, and no longer there.
			delete(l.byKey, key)
			changed = true
		}
	}
	if merged = l.mergeSplit(now); len(merged) > 0 {
		changed = true
	}
	if changed {
		l.publish()
	}
	return stale, merged
}

// mergeSplit makes, for each consumer key or subject whose bulk entries
// held here (with an Until not passed at now) have their latest Before and
// their latest Until in different entries (posted on two instances
// between two Syncs), one pending entry with both, so that the later
// Before holds until the later Until on every instance. The entries made
// are deterministic (their Added is the latest of the merged ones), so
// instances that merge the same entries write the same key. Call it with
// l.mu held.
func (l *List) mergeSplit(now time.Time) []Entry {
	latest := map[tokenID]Entry{}
	for _, h := range l.byKey {
		if !h.bulk() || h.Until < now.Unix() {
			continue
		}
		id := h.token()
		e, ok := latest[id]
		if !ok {
			latest[id] = h.Entry
			continue
		}
		e.Before, e.Until, e.Added = max(e.Before, h.Before), max(e.Until, h.Until), max(e.Added, h.Added)
		latest[id] = e
	}
	for _, h := range l.byKey {
		if e, ok := latest[h.token()]; ok && h.bulk() && h.Before >= e.Before && h.Until >= e.Until {
			delete(latest, h.token()) // one entry holds both already
		}
	}
	var made []Entry
	for _, e := range latest {
		if len(l.byKey) >= maxEntries {
			break // each entry merged stays in force on its own
		}
		l.byKey[e.Key()] = &held{Entry: e, pending: true}
		made = append(made, e)
	}
	return made
}

// store writes e to storage and marks it written in the list. Its error
// wraps ErrNotStored.
func (l *List) store(ctx context.Context, storage certmagic.Storage, e Entry) error {
	key := e.Key()
	data, err := json.Marshal(e)
	if err == nil && storage == nil {
		err = errors.New("no storage")
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, storageTimeout)
		err = storage.Store(ctx, key, data)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("%w: writing %s: %w", ErrNotStored, key, err)
	}
	l.mu.Lock()
	if h, ok := l.byKey[key]; ok {
		h.pending, h.written = false, max(h.written, l.tick)
	}
	l.mu.Unlock()
	return nil
}

// load reads the entry at key, checking that key is its key.
func load(ctx context.Context, storage certmagic.Storage, key string) (Entry, error) {
	lctx, cancel := context.WithTimeout(ctx, storageTimeout)
	data, err := storage.Load(lctx, key)
	cancel()
	if err != nil {
		return Entry{}, fmt.Errorf("reading %s: %w", key, err)
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, fmt.Errorf("reading %s: not the JSON of a revocation: %w", key, err)
	}
	if _, _, ok := e.named(); !ok || e.Key() != key {
		return Entry{}, fmt.Errorf("reading %s: it holds the revocation of another key, %s", key, e.Key())
	}
	return e, nil
}

// deleteIfExpired reads the entry at key back and deletes it if its exp
// (or Until) plus skew has passed at now. A key that does not hold an entry is left
// in place.
func deleteIfExpired(ctx context.Context, storage certmagic.Storage, key string, now time.Time, skew time.Duration) error {
	e, err := load(ctx, storage, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted already
	}
	if err != nil {
		return fmt.Errorf("deleting an expired revocation: %w", err)
	}
	if !expired(e.bound(), now, skew) {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := storage.Delete(dctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting the expired revocation %s: %w", key, err)
	}
	return nil
}

// stopped tells whether err ends the storage calls of a step: the
// caller's context is done, or a call timed out.
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
}

// kindOf names the member that names e's token (or tokens), for errors:
// never the value.
func kindOf(e Entry) string {
	kind, _, _ := e.named()
	switch kind {
	case kindSignature:
		return "signature"
	case kindDigest:
		return "token_sha256"
	case kindConsumerKey:
		return "consumer_key"
	case kindSubject:
		return "subject"
	}
	return kind
}
