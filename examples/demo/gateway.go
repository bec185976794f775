package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the "caddyfile" config adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"      // reverse_proxy and the rest of standard Caddy

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/caddymodule" // the backend_jwt handler
)

// caddyfileText is examples/demo/Caddyfile, built into the binary so the
// demo runs from any folder.
//
//go:embed Caddyfile
var caddyfileText []byte

// jwksPath is the Caddyfile's jwks_path.
const jwksPath = "/.well-known/backend-jwks.json"

// gatewayConfig fills the {$DEMO_*} placeholders of the Caddyfile.
type gatewayConfig struct {
	Port      int    // DEMO_GATEWAY_PORT
	AdminPort int    // DEMO_ADMIN_PORT
	IssuerURL string // DEMO_ISSUER_URL: the demo issuer's base URL
	Backend   string // DEMO_BACKEND: the demo backend's host:port
	Storage   string // DEMO_STORAGE: Caddy's storage folder
	// APIKeyCert is DEMO_APIKEY_CERT: the PEM file of the demo's API-key
	// signing certificate, which api_keys reads when the Caddyfile is
	// adapted.
	APIKeyCert string
}

// url is the gateway's base URL.
func (c gatewayConfig) url() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Port) }

// jwksURL is where the gateway publishes the backend JWT's public keys.
func (c gatewayConfig) jwksURL() string { return c.url() + jwksPath }

// startGateway adapts the Caddyfile with c's values and starts Caddy in
// this process. Caddy is one per process: stop it with stopGateway.
func startGateway(c gatewayConfig) error {
	env := map[string]string{
		"DEMO_GATEWAY_PORT": strconv.Itoa(c.Port),
		"DEMO_ADMIN_PORT":   strconv.Itoa(c.AdminPort),
		"DEMO_ISSUER_URL":   c.IssuerURL,
		"DEMO_BACKEND":      c.Backend,
		"DEMO_STORAGE":      c.Storage,
		"DEMO_APIKEY_CERT":  c.APIKeyCert,
		// Caddy keeps a few files of its own (instance.uuid) in its data
		// folder: keep them out of the user's home too.
		"XDG_DATA_HOME": c.Storage,
	}
	for name, value := range env {
		if err := os.Setenv(name, value); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return errors.New("no caddyfile config adapter is registered")
	}
	cfg, warnings, err := adapter.Adapt(caddyfileText, map[string]any{"filename": "examples/demo/Caddyfile"})
	if err != nil {
		return fmt.Errorf("adapting examples/demo/Caddyfile: %w", err)
	}
	for _, w := range warnings {
		fmt.Fprintf(os.Stderr, "demo: Caddyfile warning: %s\n", w)
	}
	if err := caddy.Load(cfg, true); err != nil {
		return fmt.Errorf("starting Caddy (is port %d or admin port %d taken? -port 0 picks free ones): %w", c.Port, c.AdminPort, err)
	}
	return nil
}

// stopGateway stops Caddy: its servers, its admin API and the module's
// background work.
func stopGateway() error {
	if err := caddy.Stop(); err != nil {
		return fmt.Errorf("stopping Caddy: %w", err)
	}
	return nil
}
