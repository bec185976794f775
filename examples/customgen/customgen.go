// Package customgen is an example claims generator for caddy-backend-jwt,
// the Caddy module http.backend_jwt.generators.custom_example. Like the
// WSO2 API Microgateway's sample generator, it keeps every claim of the
// built-in WSO2 generator and adds two: "custom": "claim" and a
// "timestamp" (the time the token was made, in seconds).
//
// It embeds jwtgen.WSO2Claims and overrides only the custom-claims step;
// the standard claims come from the embedded generator unchanged. Build it
// into Caddy with:
//
//	xcaddy build \
//		--with github.com/caddy-backend-jwt/caddy-backend-jwt \
//		--with github.com/caddy-backend-jwt/caddy-backend-jwt/examples/customgen
package customgen

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

func init() {
	caddy.RegisterModule(Generator{})
}

// Generator is the WSO2 generator plus a "custom" and a "timestamp" claim.
type Generator struct {
	jwtgen.WSO2Claims

	// Value is the value of the "custom" claim. Default: "claim".
	Value string `json:"value,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Generator) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.backend_jwt.generators.custom_example",
		New: func() caddy.Module { return new(Generator) },
	}
}

// CustomClaims adds the two claims, then lets the built-in step copy the
// access token's other claims and the retrieved ones (which never overwrite
// a claim already set).
func (g *Generator) CustomClaims(in *jwtgen.Input, c *jwtgen.Claims) error {
	value := g.Value
	if value == "" {
		value = "claim"
	}
	c.Set("custom", value)
	c.SetInt("timestamp", in.Now.Unix())
	return g.WSO2Claims.CustomClaims(in, c)
}

// UnmarshalCaddyfile reads:
//
//	generator custom_example [<value>]
func (g *Generator) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		g.Value = d.Val()
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("generator custom_example takes at most one argument, the custom claim's value")
	}
	return nil
}

// Interface guards
var (
	_ jwtgen.ClaimsGenerator = (*Generator)(nil)
	_ caddyfile.Unmarshaler  = (*Generator)(nil)
)
