package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/jwtgen"
)

// StaticClaimConfig is a claim added to every backend JWT (modelled on
// WSO2 APK's customClaims).
type StaticClaimConfig struct {
	// Name is the claim's name; not one of the claims the generator always
	// sets (iss, sub, the dialect claims…).
	Name string `json:"name"`
	// Value is the claim's value as written: for a string, text that may
	// hold Caddy placeholders ({http.request.header.X-Tenant}), rendered
	// per request (a claim that renders empty is left out); for the other
	// types, the literal.
	Value string `json:"value"`
	// Type is string (the default), int, float, bool or json.
	Type string `json:"type,omitempty"`
}

// checkStaticClaimName refuses a static claim named like a claim the
// generator sets itself (SPEC 6), whose names depend on the dialect.
func checkStaticClaimName(gc *GenerateConfig, name string) error {
	cfg := jwtgen.Config{Dialect: jwtgen.DefaultDialect}
	if gc.Dialect != nil {
		cfg.Dialect = *gc.Dialect
	}
	if name == "" || slices.Contains(jwtgen.StandardClaimNames(cfg), name) {
		return fmt.Errorf("claim %q: the generator sets that claim itself", name)
	}
	return nil
}

// The types of a static claim.
const (
	claimString = "string"
	claimInt    = "int"
	claimFloat  = "float"
	claimBool   = "bool"
	claimJSON   = "json"
)

// staticValue turns a static claim's value into its JSON, or, for a string
// with placeholders, reports that it is rendered per request.
func (c StaticClaimConfig) staticValue() (raw json.RawMessage, perRequest bool, err error) {
	v := c.Value
	switch c.Type {
	case "", claimString:
		if strings.Contains(v, "{") {
			return nil, true, nil
		}
		raw, err = json.Marshal(v)
	case claimInt:
		var n int64
		if n, err = strconv.ParseInt(v, 10, 64); err == nil {
			raw = strconv.AppendInt(nil, n, 10)
		}
	case claimFloat:
		var f float64
		if f, err = strconv.ParseFloat(v, 64); err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
			err = fmt.Errorf("%q is not a finite number", v)
		}
		if err == nil {
			raw, err = json.Marshal(f)
		}
	case claimBool:
		var b bool
		if b, err = strconv.ParseBool(v); err == nil && v != "true" && v != "false" {
			err = fmt.Errorf("%q: want true or false", v)
		}
		raw = strconv.AppendBool(nil, b)
	case claimJSON:
		if !json.Valid([]byte(v)) {
			err = fmt.Errorf("%q is not a JSON value", v)
		}
		var compact bytes.Buffer
		if err == nil {
			err = json.Compact(&compact, []byte(v))
		}
		raw = compact.Bytes()
	default:
		return nil, false, fmt.Errorf("claim %s: type %q: want string, int, float, bool or json", c.Name, c.Type)
	}
	if err != nil {
		return nil, false, fmt.Errorf("claim %s: value for type %s: %w", c.Name, c.typeName(), err)
	}
	return raw, false, nil
}

func (c StaticClaimConfig) typeName() string {
	if c.Type == "" {
		return claimString
	}
	return c.Type
}
