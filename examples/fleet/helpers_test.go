package fleet_test

import (
	"time"

	"github.com/caddyserver/caddy/v2"
)

func caddyDuration(d time.Duration) caddy.Duration { return caddy.Duration(d) }
