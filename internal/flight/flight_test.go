package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// owner is the smallest owner of calls: a table by key under one lock, as
// the packages that use flight keep theirs.
type owner struct {
	mu    sync.Mutex
	calls map[string]*Call[string]
	runs  int // calls started
}

// join returns the live call for key, starting one that runs work when
// there is none, and joins it.
func (o *owner) join(ctx context.Context, key string, timeout time.Duration, work func(ctx context.Context) (string, error)) *Call[string] {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.calls[key]
	if c == nil || !c.Live() {
		c = New[string](ctx, timeout, &o.mu)
		o.calls[key] = c
		o.runs++
		go func() {
			v, err := work(c.Context())
			o.mu.Lock()
			if o.calls[key] == c {
				delete(o.calls, key)
			}
			o.mu.Unlock()
			c.Finish(v, err)
		}()
	}
	c.Join()
	return c
}

func newOwner() *owner { return &owner{calls: map[string]*Call[string]{}} }

func TestCallersShareOneCall(t *testing.T) {
	o := newOwner()
	release := make(chan struct{})
	work := func(ctx context.Context) (string, error) {
		<-release
		return "answer", nil
	}
	const callers = 20
	var wg sync.WaitGroup
	results := make(chan string, callers)
	for range callers {
		c := o.join(context.Background(), "k", 0, work)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Wait(context.Background())
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != "answer" {
			t.Errorf("a caller got %q", v)
		}
	}
	if o.runs != 1 {
		t.Errorf("%d calls for %d callers of one key, want 1", o.runs, callers)
	}
}

func TestLastCallerLeavingCancels(t *testing.T) {
	o := newOwner()
	cancelled := make(chan error, 1)
	work := func(ctx context.Context) (string, error) {
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return "", ctx.Err()
	}
	ctx1, cancel1 := context.WithCancelCause(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	c := o.join(ctx1, "k", 0, work)
	o.join(ctx2, "k", 0, work)

	cause := errors.New("the client went away")
	cancel1(cause)
	_, err := c.Wait(ctx1)
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, cause) {
		t.Fatalf("the caller that gave up got %v, want ErrGaveUp and its cause", err)
	}
	select {
	case <-cancelled:
		t.Fatal("the call was cancelled while a caller still waited")
	case <-time.After(50 * time.Millisecond):
	}
	if !func() bool { o.mu.Lock(); defer o.mu.Unlock(); return c.Live() }() {
		t.Fatal("the call is not live while a caller still waits")
	}

	cancel2()
	if _, err := c.Wait(ctx2); !errors.Is(err, context.Canceled) {
		t.Fatalf("the last caller got %v", err)
	}
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("the call ended with %v, want context.Canceled", err)
	}
	// A caller that comes now starts a call of its own.
	o.mu.Lock()
	live := c.Live()
	o.mu.Unlock()
	if live {
		t.Error("an abandoned call is still live")
	}
	next := o.join(context.Background(), "k", 0, func(context.Context) (string, error) { return "fresh", nil })
	if next == c {
		t.Fatal("a new caller joined the abandoned call")
	}
	if v, err := next.Wait(context.Background()); v != "fresh" || err != nil {
		t.Errorf("the new call: %q, %v", v, err)
	}
}

func TestTimeoutBoundsTheCall(t *testing.T) {
	o := newOwner()
	c := o.join(context.Background(), "k", 20*time.Millisecond, func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	if _, err := c.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the call's deadline", err)
	}
}

func TestValuesButNotCancellation(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	c := New[string](ctx, 0, &sync.Mutex{})
	cancel()
	if c.Context().Value(key{}) != "v" {
		t.Error("the call lost the caller's values")
	}
	if c.Context().Err() != nil {
		t.Error("the call ended with the context of the caller that started it")
	}
	c.Finish("", nil)
	if c.Context().Err() == nil {
		t.Error("Finish did not release the call's context")
	}
}

// TestConcurrentJoinersAndLeavers runs callers that join, give up and
// finish on a few keys at once, under -race: every caller gets the answer
// of its key or its own give-up (never the cancellation of a call another
// caller left), and no call outlives its callers.
func TestConcurrentJoinersAndLeavers(t *testing.T) {
	o := newOwner()
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint(i % 5)
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%3)*time.Millisecond)
			defer cancel()
			c := o.join(ctx, key, 0, func(ctx context.Context) (string, error) {
				select {
				case <-time.After(2 * time.Millisecond):
					return "answer " + key, nil
				case <-ctx.Done():
					return "", ctx.Err()
				}
			})
			v, err := c.Wait(ctx)
			switch {
			case err == nil && v != "answer "+key:
				t.Errorf("caller of %s got %q", key, v)
			case err != nil && !errors.Is(err, ErrGaveUp):
				// A call is cancelled only once nobody waits for it.
				t.Errorf("caller of %s got %v", key, err)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		n := len(o.calls)
		o.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls left after every caller ended", n)
		}
		time.Sleep(time.Millisecond)
	}
}
