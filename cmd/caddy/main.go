// Command caddy is Caddy with the standard modules and backend_jwt: what
// `xcaddy build --with github.com/caddy-backend-jwt/caddy-backend-jwt`
// produces, built from this clone with `go build -o caddy ./cmd/caddy`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt"
)

func main() {
	caddycmd.Main()
}
