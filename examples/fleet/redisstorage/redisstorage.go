// Package redisstorage is a small Caddy storage module (caddy.storage.fleet_redis)
// over Redis, for the fleet tests of caddy-backend-jwt and as an example:
// any Caddy storage module works for a fleet; this one exists because no
// Redis storage module is served by the Go module proxy here.
//
// Every value is a Redis hash (the bytes and the time they were stored)
// under "<prefix>:data:<key>"; a lock is a string under
// "<prefix>:lock:<name>" set with SET NX PX and a random token, kept alive
// while held and deleted only by its holder, so a holder that dies loses
// the lock after lock_ttl.
package redisstorage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

func init() {
	caddy.RegisterModule(Storage{})
}

// DefaultLockTTL is how long a lock outlives a holder that stopped renewing it.
const DefaultLockTTL = 5 * time.Second

// Storage is a certmagic.Storage on one Redis server.
type Storage struct {
	// Address is the Redis server, host:port.
	Address string `json:"address"`
	// Prefix starts every Redis key. Default: caddy.
	Prefix string `json:"prefix,omitempty"`
	// LockTTL is how long a lock lasts without renewal. Default: 5s.
	LockTTL caddy.Duration `json:"lock_ttl,omitempty"`

	client *redis.Client
	mu     *sync.Mutex
	held   map[string]heldLock // by lock name
}

type heldLock struct {
	token string
	stop  context.CancelFunc
}

// CaddyModule returns the Caddy module information.
func (Storage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.storage.fleet_redis", New: func() caddy.Module { return new(Storage) }}
}

// CertMagicStorage returns the storage (caddy.StorageConverter).
func (s *Storage) CertMagicStorage() (certmagic.Storage, error) {
	if s.Address == "" {
		return nil, errors.New("fleet_redis: address is required")
	}
	if s.Prefix == "" {
		s.Prefix = "caddy"
	}
	if s.LockTTL == 0 {
		s.LockTTL = caddy.Duration(DefaultLockTTL)
	}
	s.client = redis.NewClient(&redis.Options{Addr: s.Address})
	s.held = map[string]heldLock{}
	s.mu = new(sync.Mutex)
	return s, nil
}

// UnmarshalCaddyfile reads: storage fleet_redis { address <host:port>; prefix <p>; lock_ttl <d> }.
func (s *Storage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	for d.NextBlock(0) {
		option := d.Val()
		var arg string
		if !d.AllArgs(&arg) {
			return d.ArgErr()
		}
		switch option {
		case "address":
			s.Address = arg
		case "prefix":
			s.Prefix = arg
		case "lock_ttl":
			ttl, err := caddy.ParseDuration(arg)
			if err != nil || ttl < 100*time.Millisecond {
				return d.Errf("lock_ttl %q: want a duration of at least 100ms", arg)
			}
			s.LockTTL = caddy.Duration(ttl)
		default:
			return d.Errf("unknown fleet_redis option %q", option)
		}
	}
	return nil
}

func (s *Storage) dataKey(key string) string  { return s.Prefix + ":data:" + key }
func (s *Storage) lockKey(name string) string { return s.Prefix + ":lock:" + name }

// Store puts value under key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.client.HSet(ctx, s.dataKey(key), "v", value, "m", time.Now().UnixNano()).Err()
}

// Load returns the value under key, or fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.client.HGet(ctx, s.dataKey(key), "v").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fs.ErrNotExist
	}
	return v, err
}

// Delete removes key and everything under it as a folder.
func (s *Storage) Delete(ctx context.Context, key string) error {
	keys, err := s.scan(ctx, key)
	if err != nil {
		return err
	}
	keys = append(keys, s.dataKey(key))
	return s.client.Del(ctx, keys...).Err()
}

// Exists tells whether key holds a value or is a folder of some.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	if n, err := s.client.Exists(ctx, s.dataKey(key)).Result(); err == nil && n > 0 {
		return true
	}
	keys, err := s.scan(ctx, key)
	return err == nil && len(keys) > 0
}

// List returns the keys under the folder prefix: all of them when
// recursive, else its direct children (files and folders).
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	keys, err := s.scan(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	base := strings.TrimSuffix(prefix, "/") + "/"
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		name := strings.TrimPrefix(k, s.dataKey(""))
		if !recursive {
			rest := strings.TrimPrefix(name, base)
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				name = base + rest[:i]
			}
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

// scan returns the Redis keys of the values under folder.
func (s *Storage) scan(ctx context.Context, folder string) ([]string, error) {
	pattern := globEscape(s.dataKey(strings.TrimSuffix(folder, "/")+"/")) + "*"
	var keys []string
	iter := s.client.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}

func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// Stat describes key.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	vals, err := s.client.HMGet(ctx, s.dataKey(key), "v", "m").Result()
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if vals[0] == nil {
		if keys, err := s.scan(ctx, key); err == nil && len(keys) > 0 {
			return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
		}
		return certmagic.KeyInfo{}, fs.ErrNotExist
	}
	var nanos int64
	if m, ok := vals[1].(string); ok {
		_, _ = fmt.Sscan(m, &nanos)
	}
	v, _ := vals[0].(string)
	return certmagic.KeyInfo{Key: key, Modified: time.Unix(0, nanos), Size: int64(len(v)), IsTerminal: true}, nil
}

// renewScript extends a lock only for its holder; unlockScript deletes it
// only for its holder.
var (
	renewScript  = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`)
	unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`)
)

// Lock takes the named lock, waiting while another holder has it.
func (s *Storage) Lock(ctx context.Context, name string) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token, ttl := hex.EncodeToString(b), time.Duration(s.LockTTL)
	for {
		ok, err := s.client.SetNX(ctx, s.lockKey(name), token, ttl).Result()
		if err != nil {
			return fmt.Errorf("taking lock %s: %w", name, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	renewCtx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	s.held[name] = heldLock{token: token, stop: stop}
	s.mu.Unlock()
	go func() {
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-tick.C:
				_ = renewScript.Run(renewCtx, s.client, []string{s.lockKey(name)}, token, ttl.Milliseconds()).Err()
			}
		}
	}()
	return nil
}

// Unlock releases a lock this storage holds.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h, ok := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("lock %s is not held here", name)
	}
	h.stop()
	return unlockScript.Run(ctx, s.client, []string{s.lockKey(name)}, h.token).Err()
}

// Interface guards
var (
	_ caddy.StorageConverter = (*Storage)(nil)
	_ certmagic.Storage      = (*Storage)(nil)
	_ caddyfile.Unmarshaler  = (*Storage)(nil)
)
