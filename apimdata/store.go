package apimdata

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of StoreOptions.
const (
	DefaultRefresh = 30 * time.Second
	// maxRetry is the longest wait after a failed read before the next try.
	maxRetry = 5 * time.Second
	// maxTargetedKeys bounds the consumer keys read one by one between two
	// full reads, and the keys remembered as tried.
	maxTargetedKeys = 10000
)

// ErrNotReady is returned by Check before the first complete read.
var ErrNotReady = errors.New("API Manager's data has not been read yet")

// StoreOptions tune a Store; zero values take the defaults.
type StoreOptions struct {
	// Refresh is the period of full re-reads; 0 means DefaultRefresh. It
	// also bounds how often one unknown consumer key is read on its own.
	Refresh time.Duration
	// OnRead, if set, is told the result of every read.
	OnRead func(ReadResult)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits for a duration; nil means time.After.
	After func(time.Duration) <-chan time.Time
}

// ReadResult describes one finished read.
type ReadResult struct {
	// Targeted is set for the read of one consumer key.
	Targeted bool
	// Err is nil for a read that succeeded.
	Err      error
	Duration time.Duration
	Counts   Counts // of the snapshot after the read
}

// Store holds the current Snapshot of one source and keeps it fresh. It is
// safe for concurrent use.
type Store struct {
	client  atomic.Pointer[Client]
	refresh atomic.Int64 // nanoseconds
	snap    atomic.Pointer[Snapshot]
	onRead  func(ReadResult)
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	wake    chan struct{} // Configure asks the Run loop to start its wait again
	errors  atomic.Int64

	mu    sync.Mutex           // serialises reads and snapshot swaps
	tried map[string]time.Time // consumer keys read one by one, and when
}

// NewStore returns a Store reading from client. Nothing is read until Run
// or Refresh is called.
func NewStore(client *Client, opts StoreOptions) *Store {
	s := &Store{
		onRead: opts.OnRead,
		now:    opts.Now,
		after:  opts.After,
		wake:   make(chan struct{}, 1),
		tried:  make(map[string]time.Time),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.after == nil {
		s.after = time.After
	}
	s.Configure(client, opts.Refresh)
	<-s.wake // nothing runs yet
	return s
}

// Configure replaces the client and the refresh period, keeping the data:
// a config reload that changes the timeout or the CA keeps the snapshot.
func (s *Store) Configure(client *Client, refresh time.Duration) {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	s.refresh.Store(int64(refresh))
	if old := s.client.Swap(client); old != nil && old != client {
		old.CloseIdleConnections()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Refresh returns the full re-read period.
func (s *Store) Refresh() time.Duration { return time.Duration(s.refresh.Load()) }

// Snapshot returns the current snapshot, or nil before the first complete read.
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
// new snapshot. After a failure the last snapshot stays.
func (s *Store) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.client.Load()
	start := s.now()
	data, err := c.ReadAll(ctx)
	if err == nil {
		snap := NewSnapshot(data, c.src.KeyManager, s.now())
		s.snap.Store(snap)
		clear(s.tried)
	}
	s.report(false, start, err)
	return err
}

// Check answers for the current snapshot (see Snapshot.Check). A consumer
// key that no mapping holds is read on its own first, at most once per key
// per refresh, as WSO2's gateways do before they refuse; the caller waits
// for that read, which the client's timeout bounds.
func (s *Store) Check(ctx context.Context, consumerKey, apiName, apiVersion string) (Result, error) {
	snap := s.snap.Load()
	if snap == nil {
		return Result{}, ErrNotReady
	}
	r := snap.Check(consumerKey, apiName, apiVersion)
	if r.Outcome != NoKeyMapping || consumerKey == "" {
		return r, nil
	}
	if snap, err := s.readKey(ctx, consumerKey); err != nil || snap == nil {
		return r, err
	} else {
		return snap.Check(consumerKey, apiName, apiVersion), nil
	}
}

// readKey reads one consumer key unless it was tried within refresh, and
// returns the snapshot that holds what was found (nil when nothing was read).
func (s *Store) readKey(ctx context.Context, consumerKey string) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.snap.Load()
	if snap.HasKey(consumerKey) {
		return snap, nil // read by a full read or another request meanwhile
	}
	now := s.now()
	if at, ok := s.tried[consumerKey]; ok && now.Sub(at) < s.Refresh() {
		return nil, nil
	}
	if len(s.tried) >= maxTargetedKeys {
		for k, at := range s.tried {
			if now.Sub(at) >= s.Refresh() {
				delete(s.tried, k)
			}
		}
		if len(s.tried) >= maxTargetedKeys {
			return nil, nil
		}
	}
	s.tried[consumerKey] = now
	c := s.client.Load()
	data, err := c.ReadConsumerKey(ctx, consumerKey)
	if err == nil && len(data.KeyMappings) > 0 && snap.extraSize() < maxTargetedKeys {
		snap = snap.withExtra(data, c.src.KeyManager)
		s.snap.Store(snap)
	}
	s.report(true, now, err)
	return snap, err
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
