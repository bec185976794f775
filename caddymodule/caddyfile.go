package caddymodule

import (
	"fmt"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/validator"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	backend_jwt [<matcher>] {
//		issuer <iss> {
//			audience <aud...>
//			jwks_url <url>
//			certificate <pem file>          # repeatable
//			algorithms <alg...>
//			validate_subscription
//			remote_claims
//		}
//		clock_skew <duration>
//		jwks_refresh <duration>
//		jwks_min_refresh <duration>
//		max_token_size <size>
//		validation_cache <entries>
//		api <name> <version> [<context>]
//		header <field>
//		strip_authorization
//		error_response wso2|caddy
//	}
//
// Problems that can be seen here (an unreadable certificate, an algorithm
// that is not allowed, no issuer) are reported with the file and line.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	file, line := d.File(), d.Line()
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "issuer":
			err = h.unmarshalIssuer(d)
		case "clock_skew":
			err = parseDuration(d, &h.ClockSkew)
		case "jwks_refresh":
			err = parseDuration(d, &h.JWKSRefresh)
		case "jwks_min_refresh":
			err = parseDuration(d, &h.JWKSMinRefresh)
		case "max_token_size":
			var arg string
			if arg, err = singleArg(d); err == nil {
				size, perr := humanize.ParseBytes(arg)
				if perr != nil || size == 0 || size > 1<<30 {
					return d.Errf("max_token_size %q: want a size such as 64KiB", arg)
				}
				h.MaxTokenSize = int(size)
			}
		case "validation_cache":
			var arg string
			if arg, err = singleArg(d); err == nil {
				n, perr := strconv.Atoi(arg)
				if perr != nil || n < 0 {
					return d.Errf("validation_cache %q: want a number of entries (0 turns the cache off)", arg)
				}
				h.ValidationCache = &n
			}
		case "api":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return d.Errf("api: want <name> <version> [<context>], got %d arguments", len(args))
			}
			h.API = &APIConfig{Name: args[0], Version: args[1]}
			if len(args) == 3 {
				h.API.Context = args[2]
			}
		case "header":
			h.Header, err = singleArg(d)
		case "strip_authorization":
			err = flag(d, &h.StripAuthorization)
		case "error_response":
			if h.ErrorResponse, err = singleArg(d); err == nil && h.ErrorResponse != "wso2" && h.ErrorResponse != "caddy" {
				return d.Errf("error_response %q: want wso2 or caddy", h.ErrorResponse)
			}
		default:
			return d.Errf("unknown backend_jwt sub-directive %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(h.Issuers) == 0 {
		return fmt.Errorf("backend_jwt needs at least one issuer block, at %s:%d", file, line)
	}
	return nil
}

func (h *Handler) unmarshalIssuer(d *caddyfile.Dispenser) error {
	name, err := singleArgKeepBlock(d)
	if err != nil {
		return err
	}
	for _, existing := range h.Issuers {
		if existing.Issuer == name {
			return d.Errf("issuer %q is configured twice", name)
		}
	}
	ic := &IssuerConfig{Issuer: name}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			ic.Audience = append(ic.Audience, args...)
		case "jwks_url":
			if ic.JWKSURL, err = singleArg(d); err != nil {
				return err
			}
		case "certificate":
			file, err := singleArg(d)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return d.Errf("certificate: %v", err)
			}
			if _, err := validator.ParsePublicKeysPEM(data); err != nil {
				return d.Errf("certificate %s: %v", file, err)
			}
			ic.Certificates = append(ic.Certificates, file)
		case "algorithms":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, alg := range args {
				if err := validator.CheckAlgorithm(alg); err != nil {
					return d.Errf("algorithms: %v", err)
				}
			}
			ic.Algorithms = args
		case "validate_subscription":
			if err := flag(d, &ic.ValidateSubscription); err != nil {
				return err
			}
		case "remote_claims":
			if err := flag(d, &ic.RemoteClaims); err != nil {
				return err
			}
		default:
			return d.Errf("unknown issuer sub-directive %q", d.Val())
		}
	}
	if ic.JWKSURL == "" && len(ic.Certificates) == 0 {
		return d.Errf("issuer %q needs jwks_url or certificate", name)
	}
	h.Issuers = append(h.Issuers, ic)
	return nil
}

// singleArg returns the one argument of the current line.
func singleArg(d *caddyfile.Dispenser) (string, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return "", d.ArgErr()
	}
	return args[0], nil
}

// singleArgKeepBlock returns the one argument before an optional block.
func singleArgKeepBlock(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	arg := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return arg, nil
}

// flag sets a boolean sub-directive, which takes no argument.
func flag(d *caddyfile.Dispenser, b *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*b = true
	return nil
}

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	arg, err := singleArg(d)
	if err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil || dur < 0 {
		return d.Errf("%s %q: want a duration such as 30s", name, arg)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
