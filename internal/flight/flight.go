// Package flight is one call in progress shared by the callers that wait
// for its result: a read of API Manager's data, an introspection call, a
// claims retrieval. The call runs with a context of its own, with the values of
// the caller that started it but not its cancellation, so one caller that
// gives up does not fail the others; it is cancelled when the last caller
// waiting stops waiting.
//
// The owner keeps its calls in a table (a map, a field) guarded by its own
// lock, and gives that lock to New: a caller looks a call up and joins it
// in one critical section, so it never joins a call the last waiter is
// abandoning. When the work is done, the owner removes the call from its
// table (if the table still holds it) and then calls Finish.
package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrGaveUp is wrapped, with the cause of the caller's context, by Wait
// when that context ended before the call did.
var ErrGaveUp = errors.New("gave up waiting")

// Call is one call in progress.
type Call[V any] struct {
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Locker   // the owner's lock: guards waiting and joined
	done    chan struct{} // closed by Finish, after value and err are set
	waiting int           // callers waiting now
	joined  int           // callers that joined
	value   V
	err     error
}

// New starts a call with ctx's values; a timeout above 0 bounds it. mu is
// the lock of the owner's table of calls.
func New[V any](ctx context.Context, timeout time.Duration, mu sync.Locker) *Call[V] {
	c := &Call[V]{mu: mu, done: make(chan struct{})}
	detached := context.WithoutCancel(ctx)
	if timeout > 0 {
		c.ctx, c.cancel = context.WithTimeout(detached, timeout)
	} else {
		c.ctx, c.cancel = context.WithCancel(detached)
	}
	return c
}

// Context is the context the call's work runs with.
func (c *Call[V]) Context() context.Context { return c.ctx }

// Live reports whether a caller may still join c: it has not been
// abandoned by all its callers nor timed out. Call it with the owner's
// lock held.
func (c *Call[V]) Live() bool { return c.ctx.Err() == nil }

// Join adds a caller that will Wait. Call it with the owner's lock held.
func (c *Call[V]) Join() {
	c.joined++
	c.waiting++
}

// Joined is how many callers have joined c. Call it with the owner's lock
// held.
func (c *Call[V]) Joined() int { return c.joined }

// Wait returns the call's result once Finish gave it, or an error wrapping
// ErrGaveUp and ctx's cause if ctx ends first; the last caller to stop
// waiting cancels the call. Each caller that joined calls Wait once.
func (c *Call[V]) Wait(ctx context.Context) (V, error) {
	select {
	case <-c.done:
		return c.value, c.err
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.waiting--; c.waiting == 0 {
		c.cancel()
	}
	c.mu.Unlock()
	var zero V
	return zero, fmt.Errorf("%w: %w", ErrGaveUp, context.Cause(ctx))
}

// Finish gives the call's result to its callers and releases its context.
// Call it once, after removing c from the owner's table.
func (c *Call[V]) Finish(value V, err error) {
	c.value, c.err = value, err
	c.cancel()
	close(c.done)
}
