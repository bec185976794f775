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
// The error is Check's, unchanged, for a bad e (nothing is added); it
// wraps ErrFull when the List holds MaxEntries entries (nothing is added);
// and it wraps ErrNotStored when the storage write failed: the returned
// entry is in force here all the same, and Sync retries the write.
func (l *List) Add(ctx context.Context, storage certmagic.Storage, e Entry, now time.Time) (Entry, error) {
	if err := e.Check(now); err != nil {
		return e, err
	}
	e.Added = now.Unix()
	l.mu.Lock()
	h, ok := l.inForce(e)
	if !ok {
		if len(l.byKey) >= maxEntries {
			l.mu.Unlock()
			return e, fmt.Errorf("revoking a token by %s: %w (%d entries)", kindOf(e), ErrFull, maxEntries)
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
// know yet; drops the entries whose exp plus skew has passed, reading
// those still stored back and deleting them when the exp read confirms it;
// and drops the entries that storage no longer holds, unless Add put them
// here while or after the storage was listed, or they are still pending.
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
		l.merge(nil, false, nil, start, now, skew)
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
		if expired(e.Exp, now, skew) {
			stale = append(stale, key)
			continue
		}
		read[key] = e
	}

	stale = append(stale, l.merge(keys, complete, read, start, now, skew)...)
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
		if h.pending && !expired(h.Exp, now, skew) {
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
// it dropped that the storage still holds.
func (l *List) merge(listed []string, complete bool, read map[string]Entry, start uint64, now time.Time, skew time.Duration) []string {
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
	var stale []string
	for key, h := range l.byKey {
		_, stored := inStorage[key]
		switch {
		case expired(h.Exp, now, skew):
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
	if changed {
		l.publish()
	}
	return stale
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
// plus skew has passed at now. A key that does not hold an entry is left
// in place.
func deleteIfExpired(ctx context.Context, storage certmagic.Storage, key string, now time.Time, skew time.Duration) error {
	e, err := load(ctx, storage, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted already
	}
	if err != nil {
		return fmt.Errorf("deleting an expired revocation: %w", err)
	}
	if !expired(e.Exp, now, skew) {
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

// kindOf names how e names its token, for errors: never the value.
func kindOf(e Entry) string {
	kind, _, _ := e.named()
	return kind
}
