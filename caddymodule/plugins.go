package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/retriever"
)

// The namespaces of the guest modules.
const (
	// GeneratorsNamespace holds claims generators (WSO2 generatorImpl):
	// modules implementing jwtgen.ClaimsGenerator.
	GeneratorsNamespace = "http.backend_jwt.generators"
	// RetrieversNamespace holds claims retrievers (WSO2 retrieverImpl):
	// modules implementing ClaimsRetriever.
	RetrieversNamespace = "http.backend_jwt.retrievers"
)

// Defaults of every claims retriever.
const (
	defaultClaimsCacheExpiry   = 15 * time.Minute
	defaultClaimsCacheCapacity = 10000
)

func init() {
	caddy.RegisterModule(WSO2Generator{})
}

// WSO2Generator is the built-in claims generator, the module
// http.backend_jwt.generators.wso2: the claims of a WSO2 gateway's backend
// JWT. It is what runs when generate names no generator. A custom
// generator module embeds jwtgen.WSO2Claims and overrides the step it
// changes.
type WSO2Generator struct {
	jwtgen.WSO2Claims
}

// CaddyModule returns the Caddy module information.
func (WSO2Generator) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  GeneratorsNamespace + ".wso2",
		New: func() caddy.Module { return new(WSO2Generator) },
	}
}

// UnmarshalCaddyfile reads "generator wso2", which takes no options.
func (g *WSO2Generator) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("generator wso2 takes no options")
	}
	return nil
}

// ClaimsRetriever is what a module of the http.backend_jwt.retrievers
// namespace implements: a retriever.Retriever with the options every
// retriever has. Embedding RetrieverOptions provides Options.
type ClaimsRetriever interface {
	retriever.Retriever
	Options() *RetrieverOptions
}

// RetrieverOptions are the options of every claims retriever module. A
// module embeds it, and its UnmarshalCaddyfile hands each line it does not
// know to UnmarshalOption.
type RetrieverOptions struct {
	// CacheExpiry is how long a user's retrieved claims are kept, per
	// issuer and user (WSO2 JWTClaimCacheExpiry). Default: 15m.
	CacheExpiry caddy.Duration `json:"cache_expiry,omitempty"`

	// CacheCapacity is the most users whose claims are kept. Default: 10000.
	CacheCapacity int `json:"cache_capacity,omitempty"`

	// OnError decides what a retrieval failure does: continue (default)
	// generates the backend JWT without the retrieved claims and logs a
	// warning; fail answers 503 with code 900900.
	OnError string `json:"on_error,omitempty"`
}

// Options returns the options.
func (o *RetrieverOptions) Options() *RetrieverOptions { return o }

// UnmarshalOption reads the Caddyfile line at d when it is one of the
// common options (cache_expiry, cache_capacity, on_error) and reports
// whether it was.
func (o *RetrieverOptions) UnmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "cache_expiry":
		return true, parseDuration(d, &o.CacheExpiry)
	case "cache_capacity":
		arg, err := singleArg(d)
		if err != nil {
			return true, err
		}
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return true, d.Errf("cache_capacity %q: want a positive number of users", arg)
		}
		o.CacheCapacity = n
		return true, nil
	case "on_error":
		arg, err := singleArg(d)
		if err != nil {
			return true, err
		}
		if arg != "continue" && arg != "fail" {
			return true, d.Errf("on_error %q: want continue or fail", arg)
		}
		o.OnError = arg
		return true, nil
	}
	return false, nil
}

// check reports a bad option set through JSON.
func (o *RetrieverOptions) check() error {
	switch o.OnError {
	case "", "continue", "fail":
	default:
		return fmt.Errorf("claims on_error %q: want continue or fail", o.OnError)
	}
	if o.CacheExpiry < 0 || o.CacheCapacity < 0 {
		return fmt.Errorf("claims cache_expiry and cache_capacity cannot be negative")
	}
	return nil
}

// Interface guards
var (
	_ jwtgen.ClaimsGenerator = (*WSO2Generator)(nil)
	_ caddyfile.Unmarshaler  = (*WSO2Generator)(nil)
)
