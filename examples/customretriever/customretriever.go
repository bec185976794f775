// Package customretriever is an example claims retriever for
// caddy-backend-jwt, the Caddy module
// http.backend_jwt.retrievers.json_file: it reads each user's claims from
// a JSON file instead of asking a key manager, like the WSO2 API
// Microgateway's sample AbstractMGWClaimRetriever does. The file maps user
// names (the token's sub without its @tenant) to claims:
//
//	{"admin": {"http://wso2.org/claims/givenname": "John", "department": "sales"}}
//
// It embeds caddymodule.RetrieverOptions, so cache_expiry, cache_capacity
// and on_error work as for the built-in wso2 retriever. Build it into Caddy
// with:
//
//	xcaddy build \
//		--with github.com/caddy-backend-jwt/caddy-backend-jwt \
//		--with github.com/caddy-backend-jwt/caddy-backend-jwt/examples/customretriever
package customretriever

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/caddymodule"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/retriever"
)

func init() {
	caddy.RegisterModule(Retriever{})
}

// Retriever serves claims per user from a JSON file read when the config
// loads.
type Retriever struct {
	caddymodule.RetrieverOptions

	// File is the JSON file of claims by user name.
	File string `json:"file"`

	users map[string]map[string]any
}

// CaddyModule returns the Caddy module information.
func (Retriever) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.backend_jwt.retrievers.json_file",
		New: func() caddy.Module { return new(Retriever) },
	}
}

// Provision reads the file.
func (r *Retriever) Provision(caddy.Context) error {
	data, err := os.ReadFile(r.File)
	if err != nil {
		return fmt.Errorf("claims json_file: %w", err)
	}
	if err := json.Unmarshal(data, &r.users); err != nil {
		return fmt.Errorf("claims json_file %s: %w", r.File, err)
	}
	return nil
}

// Retrieve returns the user's claims, or retriever.ErrUserNotFound.
func (r *Retriever) Retrieve(_ context.Context, req *retriever.Request) (map[string]any, error) {
	claims, ok := r.users[req.Username]
	if !ok {
		return nil, fmt.Errorf("%w: %q in %s", retriever.ErrUserNotFound, req.Username, r.File)
	}
	return claims, nil
}

// UnmarshalCaddyfile reads:
//
//	claims json_file {
//		file <path>
//		cache_expiry <duration>
//		on_error continue|fail
//	}
func (r *Retriever) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if d.Val() == "file" {
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.File = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			continue
		}
		known, err := r.UnmarshalOption(d)
		if err != nil {
			return err
		}
		if !known {
			return d.Errf("unknown claims json_file sub-directive %q", d.Val())
		}
	}
	if r.File == "" {
		return d.Err("claims json_file needs file")
	}
	return nil
}

// Interface guards
var (
	_ caddymodule.ClaimsRetriever = (*Retriever)(nil)
	_ caddy.Provisioner           = (*Retriever)(nil)
	_ caddyfile.Unmarshaler       = (*Retriever)(nil)
)
