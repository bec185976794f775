package caddymodule

import (
	"errors"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(new(runApp))
}

// runAppID is the ID of the app that starts the handlers' background work.
const runAppID = "backend_jwt"

// runApp is the backend_jwt app. Nobody configures it: every handler loads
// it into its config and gives it what must wait until that config runs
// (JWKS fetches, API Manager reads, revocation syncs, the managed signing
// key), because Caddy provisions a config also to check it (caddy
// validate, caddy adapt --validate, a /load that fails) and such a config
// must make no network call, write nothing to storage and log no warning.
// Caddy starts its apps only for a config that runs.
type runApp struct {
	mu     sync.Mutex
	starts []func() error
}

// CaddyModule returns the Caddy module information.
func (*runApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  runAppID,
		New: func() caddy.Module { return new(runApp) },
	}
}

// Start runs what the config's handlers left for it, in order.
func (a *runApp) Start() error {
	a.mu.Lock()
	starts := a.starts
	a.starts = nil
	a.mu.Unlock()
	var errs []error
	for _, start := range starts {
		errs = append(errs, start())
	}
	return errors.Join(errs...)
}

// Stop does nothing: the handlers' work ends with their config's context.
func (a *runApp) Stop() error { return nil }

// whenRunning makes start run when the config of ctx starts. A context
// made outside a config (a handler provisioned on its own) is running
// already: start runs now.
func whenRunning(ctx caddy.Context, start func() error) error {
	app, err := runAppOf(ctx)
	if err != nil {
		return err
	}
	if app == nil {
		return start()
	}
	app.mu.Lock()
	app.starts = append(app.starts, start)
	app.mu.Unlock()
	return nil
}

// runAppOf loads the config's runApp; nil for a context made outside a
// config, which has no apps (Caddy's Context.App then panics).
func runAppOf(ctx caddy.Context) (app *runApp, err error) {
	defer func() {
		if recover() != nil {
			app, err = nil, nil
		}
	}()
	mod, err := ctx.App(runAppID)
	if err != nil {
		return nil, fmt.Errorf("loading the %s app: %w", runAppID, err)
	}
	return mod.(*runApp), nil
}

// Interface guard
var _ caddy.App = (*runApp)(nil)
