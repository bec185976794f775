package redisstorage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLockLost is wrapped by the errors of RenewLockLease and Unlock for a
// lock whose lease ended while held: Redis no longer holds it for this
// holder, or no renewal succeeded for as long as the lease could last.
// What was done under the lock may have raced with another holder.
var ErrLockLost = errors.New("lock lease lost")

// ErrLockNotHeld is wrapped by the errors of RenewLockLease and Unlock for
// a lock this storage did not take.
var ErrLockNotHeld = errors.New("lock not held by this storage")

// lockRetry is how often Lock tries again to take a lock held elsewhere.
const lockRetry = 50 * time.Millisecond

// leaseState is where a lock of this storage stands.
type leaseState int

const (
	taking leaseState = iota // Lock is trying to take it
	held                     // taken, and the lease has not ended
	lost                     // the lease ended before Unlock
)

// lease is a lock of this storage, from Lock until Unlock.
type lease struct {
	token   string
	state   leaseState
	expires time.Time          // Redis holds the lock at least until then
	stop    context.CancelFunc // ends the renewals
	lostBy  error              // why the lease ended, wrapping ErrLockLost
}

// renewScript extends the lock KEYS[1] to at least ARGV[2] ms from now
// and returns 1 if it holds the token ARGV[1], else returns 0;
// unlockScript deletes it, and returns 1, only if it holds the token.
var (
	renewScript = redis.NewScript(`
if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call("pttl", KEYS[1]) < tonumber(ARGV[2]) then
	redis.call("pexpire", KEYS[1], ARGV[2])
end
return 1`)
	unlockScript = redis.NewScript(`
if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end
return 0`)
)

func (s *Storage) lockKey(name string) string { return s.Prefix + ":lock:" + name }

// Lock takes the named lock, waiting while another holder has it (another
// storage, or a caller of this one, including one whose lease was lost
// and who has not called Unlock yet). The lease is renewed every third of
// lock_ttl until Unlock or until it is lost.
func (s *Storage) Lock(ctx context.Context, name string) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("locking %s: making a token: %w", name, err)
	}
	renewCtx, stop := context.WithCancel(context.Background())
	l := &lease{token: hex.EncodeToString(b), state: taking, stop: stop}
	ttl := time.Duration(s.LockTTL)
	for {
		taken, err := s.tryLock(ctx, name, l, ttl)
		if err != nil {
			stop()
			return fmt.Errorf("locking %s: %w", name, err)
		}
		if taken {
			go s.renewEvery(renewCtx, name, l, ttl/3)
			return nil
		}
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("waiting for lock %s: %w", name, ctx.Err())
		case <-time.After(lockRetry):
		}
	}
}

// tryLock takes the lock for l if neither this storage nor Redis has it.
func (s *Storage) tryLock(ctx context.Context, name string, l *lease, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	if _, busy := s.leases[name]; busy {
		s.mu.Unlock()
		return false, nil
	}
	s.leases[name] = l // taking: others here wait
	s.mu.Unlock()
	sent := time.Now()
	taken, err := s.client.SetNX(ctx, s.lockKey(name), l.token, ttl).Result()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !taken {
		delete(s.leases, name)
		return false, err
	}
	l.state, l.expires = held, sent.Add(ttl)
	return true, nil
}

// renewEvery renews l every period until it is unlocked or lost.
func (s *Storage) renewEvery(ctx context.Context, name string, l *lease, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.renew(ctx, name, l, time.Duration(s.LockTTL)); errors.Is(err, ErrLockLost) || errors.Is(err, ErrLockNotHeld) {
				return
			}
		}
	}
}

// RenewLockLease makes the lease on the named lock last at least
// leaseDuration from now (at least lock_ttl: a shorter or non-positive
// leaseDuration asks for lock_ttl), if this storage still holds it
// (certmagic.LockLeaseRenewer). For a lease
// that ended it returns an error wrapping ErrLockLost: whoever holds the
// lock now, it is not this caller, who must not write as its holder. Other
// errors (Redis unreachable) leave the lease as it was: held until it
// could have expired.
func (s *Storage) RenewLockLease(ctx context.Context, lockKey string, leaseDuration time.Duration) error {
	leaseDuration = max(leaseDuration, time.Duration(s.LockTTL))
	s.mu.Lock()
	l, err := s.current(lockKey)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.renew(ctx, lockKey, l, leaseDuration)
}

// current returns the named lock's lease if it is held, ending it if it
// could have expired by now. s.mu is held.
func (s *Storage) current(name string) (*lease, error) {
	l := s.leases[name]
	switch {
	case l == nil || l.state == taking:
		return nil, fmt.Errorf("lock %s: %w", name, ErrLockNotHeld)
	case l.state == lost:
		return nil, fmt.Errorf("lock %s: %w", name, l.lostBy)
	case !time.Now().Before(l.expires):
		l.end(fmt.Errorf("%w: no renewal succeeded before it could expire", ErrLockLost))
		return nil, fmt.Errorf("lock %s: %w", name, l.lostBy)
	}
	return l, nil
}

// end ends a lease that was lost, for the reason why (wrapping
// ErrLockLost); it stays in s.leases, lost, until Unlock. s.mu is held.
func (l *lease) end(why error) {
	l.state, l.lostBy = lost, why
	l.stop()
}

// renew extends l to last at least d from now. It ends l when Redis holds
// another token or none, and when the renewal fails after l could have
// expired; it waits for Redis no longer than that.
func (s *Storage) renew(ctx context.Context, name string, l *lease, d time.Duration) error {
	s.mu.Lock()
	deadline := l.expires
	s.mu.Unlock()
	rctx, cancel := context.WithDeadline(ctx, deadline)
	sent := time.Now()
	ours, err := renewScript.Run(rctx, s.client, []string{s.lockKey(name)}, l.token, d.Milliseconds()).Int()
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.leases[name] != l:
		return fmt.Errorf("lock %s: %w", name, ErrLockNotHeld) // unlocked meanwhile
	case l.state == lost:
		return fmt.Errorf("lock %s: %w", name, l.lostBy)
	case err == nil && ours == 1:
		if until := sent.Add(d); until.After(l.expires) {
			l.expires = until
		}
		return nil
	case err == nil:
		l.end(fmt.Errorf("%w: Redis holds the lock for another holder or none", ErrLockLost))
		return fmt.Errorf("lock %s: %w", name, l.lostBy)
	case !time.Now().Before(l.expires):
		l.end(fmt.Errorf("%w: no renewal succeeded before it could expire (the last: %w)", ErrLockLost, err))
		return fmt.Errorf("lock %s: %w", name, l.lostBy)
	default:
		return fmt.Errorf("renewing lock %s: %w", name, err)
	}
}

// Unlock releases a lock this storage holds. For a lock whose lease was
// lost it deletes nothing and returns an error wrapping ErrLockLost.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l, err := s.current(name)
	if errors.Is(err, ErrLockLost) {
		delete(s.leases, name)
	}
	if l != nil {
		delete(s.leases, name)
		l.stop()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("unlocking: %w", err)
	}
	ours, err := unlockScript.Run(ctx, s.client, []string{s.lockKey(name)}, l.token).Int()
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", name, err)
	}
	if ours == 0 {
		return fmt.Errorf("unlocking %s: %w: Redis holds the lock for another holder or none", name, ErrLockLost)
	}
	return nil
}
