// Package caddyfile_test adapts Caddyfiles to JSON and runs a real Caddy,
// in this process, with the backend_jwt handler in front of real JWKS,
// claims and upstream servers, all on 127.0.0.1 (see internal/testcaddy).
package caddyfile_test

import (
	"testing"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
)

func TestMain(m *testing.M) { testcaddy.Main(m) }

// Shorthands for the harness.
type gateway = testcaddy.Gateway

var (
	newGateway = testcaddy.New
	adapt      = testcaddy.Adapt
	bearer     = testcaddy.Bearer
	wantFault  = testcaddy.WantFault
	writeFile  = testcaddy.WriteFile
	indent     = testcaddy.Indent
)
