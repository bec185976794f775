package redisstorage

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile reads:
//
//	storage fleet_redis {
//		address  <host:port>
//		prefix   <prefix>
//		lock_ttl <duration, at least 100ms>
//	}
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
			if err != nil || ttl < MinLockTTL {
				return d.Errf("lock_ttl %q: want a duration of at least %v", arg, MinLockTTL)
			}
			s.LockTTL = caddy.Duration(ttl)
		default:
			return d.Errf("unknown fleet_redis option %q", option)
		}
	}
	return nil
}
