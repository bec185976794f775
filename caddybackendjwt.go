// Package caddybackendjwt is the root of caddy-backend-jwt: importing it
// registers the Caddy module http.handlers.backend_jwt and its Caddyfile
// directive backend_jwt, so that
//
//	xcaddy build --with github.com/caddy-backend-jwt/caddy-backend-jwt
//
// builds Caddy with it. The module itself is in the caddymodule package.
package caddybackendjwt

import (
	// The Caddy module and its built-in generator and retriever.
	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/caddymodule"
)
