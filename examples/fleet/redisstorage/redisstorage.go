// Package redisstorage is a small Caddy storage module (caddy.storage.fleet_redis)
// over Redis, for the fleet tests of caddy-backend-jwt and as an example:
// any Caddy storage module works for a fleet; this one exists because no
// Redis storage module is served by the Go module proxy here.
//
// # Key layout
//
// Every Redis key starts with the prefix (default "caddy"). A storage key
// is a slash-separated path, cleaned (no empty, "." or ".." parts, no
// leading or trailing slash); its folders are the paths before each slash,
// and the root folder is "".
//
//   - <prefix>:data:<key> is a hash holding a value: "v" the bytes, "m"
//     when it was stored (Unix nanoseconds).
//   - <prefix>:dir:<folder> is a set of the names (last path part) of the
//     folder's direct children, files and folders; the root's set is
//     <prefix>:dir: (nothing after the colon). A folder exists while its
//     set does: Redis drops an emptied set.
//   - <prefix>:lock:<name> is a lock: a string holding its holder's random
//     token, set with SET NX PX and an expiry of lock_ttl.
//
// Store writes a value and lists it in its folders, each in the folder
// above, in one Lua script; Delete removes a value and, walking the
// folders' sets, everything under it, then unlists it and every folder it
// left empty, in one Lua script too. Scripts run atomically, so a key
// stored beside one being deleted is never unlisted, and no operation
// scans the keyspace. The scripts name keys they compute, which a single
// Redis server allows and Redis Cluster does not: this module is for one
// server.
//
// # Locks
//
// A lock is held for a lease. Its holder renews the lease every third of
// lock_ttl; the lease ends, and the holder no longer holds the lock, when
// a renewal finds the lock holds another token or none (it expired during
// a stall, or Redis restarted without its data), or when no renewal has
// succeeded for as long as the lease could last. RenewLockLease
// (certmagic.LockLeaseRenewer) renews a lease and returns an error
// wrapping ErrLockLost for a lease that ended: call it before writing
// under a lock. Unlock of a lost lock returns that error too and deletes
// nothing, since another holder may have the lock by then.
//
// # Lifecycle
//
// Provision checks the config and takes a Redis client from a pool shared
// by every config of the process naming the same address; Cleanup returns
// it, and the last config to return it closes it. A config reload thus
// keeps the connections, and a storage of the old config still works
// while its last operations end.
package redisstorage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

func init() {
	caddy.RegisterModule(new(Storage))
}

// DefaultLockTTL is how long a lock outlives a holder that stopped renewing it.
const DefaultLockTTL = 5 * time.Second

// MinLockTTL is the shortest lock_ttl accepted.
const MinLockTTL = 100 * time.Millisecond

// Storage is a certmagic.Storage on one Redis server.
type Storage struct {
	// Address is the Redis server, host:port.
	Address string `json:"address"`
	// Prefix starts every Redis key. Default: caddy.
	Prefix string `json:"prefix,omitempty"`
	// LockTTL is how long a lock lasts without renewal: at least 100ms.
	// Default (unset or 0): 5s.
	LockTTL caddy.Duration `json:"lock_ttl,omitempty"`

	client   *redis.Client // from clients, under Address
	pooled   bool          // a reference to clients is held
	released atomic.Bool   // Cleanup returned it
	mu       sync.Mutex
	leases   map[string]*lease // by lock name
}

// clients holds the process's Redis clients, one per address, shared by
// the configs that use it.
var clients = caddy.NewUsagePool()

// pooledClient is a client in the pool, closed when its last user is
// cleaned up.
type pooledClient struct{ *redis.Client }

// Destruct closes the client (caddy.Destructor).
func (c pooledClient) Destruct() error {
	if err := c.Close(); err != nil {
		return fmt.Errorf("fleet_redis: closing the client of %s: %w", c.Options().Addr, err)
	}
	return nil
}

// CaddyModule returns the Caddy module information.
func (*Storage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.storage.fleet_redis", New: func() caddy.Module { return new(Storage) }}
}

// Provision checks the config, sets the defaults and takes the address's
// Redis client from the pool. It does no network I/O: the client
// connects on first use.
func (s *Storage) Provision(caddy.Context) error {
	if s.Address == "" {
		return errors.New("fleet_redis: address is required")
	}
	if s.Prefix == "" {
		s.Prefix = "caddy"
	}
	switch ttl := time.Duration(s.LockTTL); {
	case ttl == 0:
		s.LockTTL = caddy.Duration(DefaultLockTTL)
	case ttl < MinLockTTL:
		return fmt.Errorf("fleet_redis: lock_ttl %v: want at least %v, or 0 for the default %v", ttl, MinLockTTL, DefaultLockTTL)
	}
	value, _, err := clients.LoadOrNew(s.Address, func() (caddy.Destructor, error) {
		return pooledClient{redis.NewClient(&redis.Options{
			Addr: s.Address,
			// A renewal waits no longer than its lease could last.
			ContextTimeoutEnabled: true,
		})}, nil
	})
	if err != nil {
		return fmt.Errorf("fleet_redis: Redis client for %s: %w", s.Address, err)
	}
	s.client, s.pooled = value.(pooledClient).Client, true
	s.leases = map[string]*lease{}
	return nil
}

// Cleanup returns the Redis client to the pool, which closes it when no
// other config uses it. Locks still held keep being renewed until
// unlocked, or until their lease is lost once the client is closed.
func (s *Storage) Cleanup() error {
	if !s.pooled || !s.released.CompareAndSwap(false, true) {
		return nil
	}
	if _, err := clients.Delete(s.Address); err != nil {
		return fmt.Errorf("fleet_redis: releasing the Redis client for %s: %w", s.Address, err)
	}
	return nil
}

// CertMagicStorage returns the provisioned storage (caddy.StorageConverter);
// every call returns the same one, on the same client.
func (s *Storage) CertMagicStorage() (certmagic.Storage, error) {
	if s.client == nil {
		return nil, errors.New("fleet_redis: CertMagicStorage called before Provision")
	}
	return s, nil
}

// Interface guards
var (
	_ caddy.Provisioner          = (*Storage)(nil)
	_ caddy.CleanerUpper         = (*Storage)(nil)
	_ caddy.StorageConverter     = (*Storage)(nil)
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
	_ caddyfile.Unmarshaler      = (*Storage)(nil)
	_ caddy.Destructor           = pooledClient{}
)
