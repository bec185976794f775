package apimdata

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/flight"
)

// Defaults of StoreOptions.
const (
	DefaultRefresh = 30 * time.Second
	// maxRetry is the longest wait after a failed read before the next try.
	maxRetry = 5 * time.Second
	// maxTargetedKeys bounds the consumer keys a snapshot holds beside its
	// full read, and the keys remembered as read.
	maxTargetedKeys = 10000
	// maxTargetedInFlight bounds the consumer keys being read at once.
	maxTargetedInFlight = 16
)

// MaxConsumerKeyLen is the longest consumer key that is read on its own; a
// longer one has no key mapping without a read.
const MaxConsumerKeyLen = 256

// ErrNotReady is returned by Check before the first complete read.
var ErrNotReady = errors.New("API Manager's data has not been read yet")

// ErrUnavailable is wrapped by the error of Check when an unknown consumer
// key could not be read (API Manager did not answer, answered badly, or
// too many keys are being read): the request may be retried.
var ErrUnavailable = errors.New("API Manager's data is unavailable")

// StoreOptions tune a Store; zero values take the defaults.
type StoreOptions struct {
	// Refresh is the period of full re-reads; 0 means DefaultRefresh. It
	// also bounds how often one unknown consumer key is read on its own.
	Refresh time.Duration
	// OnRead, if set, is told the result of every read, before the callers
	// waiting for it are.
	OnRead func(ReadResult)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits for a duration; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Seed, if set, is the snapshot served until the Store's first read
	// succeeds: the last good data of the Store this one replaces.
	Seed *Snapshot
}

// ReadResult describes one finished read.
type ReadResult struct {
	// Targeted is set for the read of one consumer key.
	Targeted bool
	// Err is nil for a read that succeeded.
	Err error
	// Duration is how long the read took.
	Duration time.Duration
	// Counts are those of the snapshot after the read.
	Counts Counts
}

// Store holds the current Snapshot of one source and keeps it fresh. It is
// safe for concurrent use. No lock is held across a network call: reads
// run on their own and publish their snapshot with a short swap.
type Store struct {
	client  atomic.Pointer[Client]
	refresh atomic.Int64 // nanoseconds
	snap    atomic.Pointer[Snapshot]
	onRead  func(ReadResult)
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	wake    chan struct{} // Configure asks the Run loop to start its wait again after a change of refresh
	errors  atomic.Int64

	mu       sync.Mutex       // guards the fields below and snapshot swaps
	full     *read            // the full read in flight, if any
	keyReads map[string]*read // the consumer keys being read
	tried    *memo            // the consumer keys read, found or not
}

// read is one read in progress, shared by the callers that wait for it:
// for a consumer key, its result is the snapshot to answer from.
type read = flight.Call[*Snapshot]

// NewStore returns a Store reading from client. Nothing is read until Run
// or Reload is called; until then, and until a read succeeds, opts.Seed
// is served.
func NewStore(client *Client, opts StoreOptions) *Store {
	s := &Store{
		onRead:   opts.OnRead,
		now:      opts.Now,
		after:    opts.After,
		wake:     make(chan struct{}, 1),
		keyReads: make(map[string]*read),
		tried:    newMemo(maxTargetedKeys),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.after == nil {
		s.after = time.After
	}
	if opts.Seed != nil {
		s.snap.Store(opts.Seed)
	}
	s.Configure(client, opts.Refresh)
	<-s.wake // nothing runs yet
	return s
}

// Configure replaces the client and the refresh period, keeping the data:
// a config reload that changes the timeout or the CA keeps the snapshot.
// Reads in flight finish with the client they started with.
func (s *Store) Configure(client *Client, refresh time.Duration) {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	changed := s.refresh.Swap(int64(refresh)) != int64(refresh)
	if old := s.client.Swap(client); old != nil && old != client {
		old.CloseIdleConnections()
	}
	if changed { // the Run loop waits for the new period
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Refresh returns the full re-read period.
func (s *Store) Refresh() time.Duration { return time.Duration(s.refresh.Load()) }

// Snapshot returns the current snapshot, or nil before any data.
func (s *Store) Snapshot() *Snapshot { return s.snap.Load() }

// ReadErrors is the number of reads that failed since the Store was made.
func (s *Store) ReadErrors() int64 { return s.errors.Load() }

// RetryAfter is how long after a failed read the next one starts.
func (s *Store) RetryAfter() time.Duration { return min(s.Refresh(), maxRetry) }

// Run reads at once, then again every refresh (sooner after a failure)
// until ctx ends.
func (s *Store) Run(ctx context.Context) {
	for {
		wait := s.Refresh()
		if s.Reload(ctx) != nil {
			wait = s.RetryAfter()
		}
		select {
		case <-ctx.Done():
			s.client.Load().CloseIdleConnections()
			return
		case <-s.after(wait):
		case <-s.wake:
		}
	}
}

// Reload reads everything now and, if the read is complete, publishes a
// new snapshot; after a failure the last snapshot stays. Callers that come
// while a full read is in flight share it. Reload returns when ctx ends;
// the read goes on while another caller waits for it (the client's
// timeout bounds it).
func (s *Store) Reload(ctx context.Context) error {
	s.mu.Lock()
	f := s.full
	if f == nil || !f.Live() {
		f = flight.New[*Snapshot](ctx, 0, &s.mu)
		s.full = f
		go s.readAll(f)
	}
	f.Join()
	s.mu.Unlock()
	_, err := f.Wait(ctx)
	if errors.Is(err, flight.ErrGaveUp) {
		return fmt.Errorf("waiting for API Manager's data: %w", err)
	}
	return err
}

// readAll makes the full read f and publishes its snapshot.
func (s *Store) readAll(f *read) {
	c := s.client.Load()
	start := s.now()
	data, err := c.ReadAll(f.Context())
	var snap *Snapshot
	if err == nil {
		snap = NewSnapshot(data, c.src.KeyManager, s.now())
	}
	s.mu.Lock()
	if snap != nil {
		s.snap.Store(snap)
		s.tried.clear()
	}
	if s.full == f {
		s.full = nil
	}
	s.mu.Unlock()
	s.report(false, start, err)
	f.Finish(snap, err)
}

// Check answers for the current snapshot (see Snapshot.Check). A consumer
// key that no mapping holds is read on its own first, as WSO2's gateways
// do before they refuse: one read per key at a time, shared by the
// requests that ask for it, each waiting at most until its ctx ends (the
// read ends when none waits any more; the client's timeout bounds it); a
// read that succeeded (found or not) is not made again within refresh.
//
// Errors: ErrNotReady before any data; ErrUnavailable, wrapped with the
// cause, when the key's read failed or could not be made. A key longer
// than MaxConsumerKeyLen has no key mapping, without a read.
func (s *Store) Check(ctx context.Context, consumerKey, apiName, apiVersion string) (Result, error) {
	snap := s.snap.Load()
	if snap == nil {
		return Result{}, ErrNotReady
	}
	r := snap.Check(consumerKey, apiName, apiVersion)
	if r.Outcome != NoKeyMapping || consumerKey == "" || len(consumerKey) > MaxConsumerKeyLen {
		return r, nil
	}
	f, err := s.keyRead(ctx, consumerKey)
	if err != nil {
		return Result{}, err
	}
	if f == nil {
		return s.snap.Load().Check(consumerKey, apiName, apiVersion), nil
	}
	answers, err := f.Wait(ctx)
	if errors.Is(err, flight.ErrGaveUp) {
		return Result{}, fmt.Errorf("%w: waiting for the read of a consumer key: %w", ErrUnavailable, err)
	}
	if err != nil {
		return Result{}, err
	}
	return answers.Check(consumerKey, apiName, apiVersion), nil
}

// keyRead returns the read of consumerKey to wait for, starting it if
// none is in flight; nil when the key needs no read (known now, or read
// within refresh).
func (s *Store) keyRead(ctx context.Context, consumerKey string) (*read, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap.Load().HasKey(consumerKey) {
		return nil, nil // read by a full read or another request meanwhile
	}
	f := s.keyReads[consumerKey]
	if f == nil || !f.Live() { // none, or one that every caller left
		if s.tried.fresh(consumerKey, s.now(), s.Refresh()) {
			return nil, nil
		}
		if len(s.keyReads) >= maxTargetedInFlight {
			return nil, fmt.Errorf("%w: %d consumer keys are being read already", ErrUnavailable, maxTargetedInFlight)
		}
		f = flight.New[*Snapshot](ctx, 0, &s.mu)
		s.keyReads[consumerKey] = f
		go s.readKey(consumerKey, f)
	}
	f.Join()
	return f, nil
}

// readKey makes the read f of one consumer key and merges what it found
// into the snapshot current when it ends.
func (s *Store) readKey(consumerKey string, f *read) {
	c := s.client.Load()
	start := s.now()
	// Its calls together, not each of them, within the client's timeout.
	ctx, cancel := context.WithTimeout(f.Context(), c.timeout)
	data, err := c.ReadConsumerKey(ctx, consumerKey)
	cancel()
	answers := s.merge(consumerKey, data, err, c.src.KeyManager)
	s.mu.Lock()
	if s.keyReads[consumerKey] == f {
		delete(s.keyReads, consumerKey)
	}
	s.mu.Unlock()
	s.report(true, start, err)
	if err != nil {
		f.Finish(nil, fmt.Errorf("%w: reading a consumer key: %w", ErrUnavailable, err))
		return
	}
	f.Finish(answers, nil)
}

// merge adds what the read of consumerKey found (data, or err) to the
// current snapshot and returns the snapshot its callers answer from.
func (s *Store) merge(consumerKey string, data *Data, err error, keyManager string) *Snapshot {
	for {
		cur := s.snap.Load()
		next, publish := cur, false
		if err == nil && len(data.KeyMappings) > 0 && !cur.HasKey(consumerKey) {
			next = cur.withExtra(data, keyManager)
			// A snapshot holds a bounded number of keys beside its full
			// read: past it, the key is answered from a copy kept for
			// this read's callers and not remembered, so it is read again.
			publish = cur.extraSize() < maxTargetedKeys
		}
		s.mu.Lock()
		if s.snap.Load() != cur {
			s.mu.Unlock()
			continue // a full or targeted read swapped meanwhile: merge again
		}
		if publish {
			s.snap.Store(next)
		}
		if err == nil && (publish || next == cur) {
			s.tried.add(consumerKey, s.now(), s.Refresh())
		}
		s.mu.Unlock()
		return next
	}
}

func (s *Store) report(targeted bool, start time.Time, err error) {
	if err != nil {
		s.errors.Add(1)
	}
	if s.onRead == nil {
		return
	}
	r := ReadResult{Targeted: targeted, Err: err, Duration: s.now().Sub(start)}
	if snap := s.snap.Load(); snap != nil {
		r.Counts = snap.Counts
	}
	s.onRead(r)
}
