// Command demo runs the backend_jwt gateway end to end in one process, on
// 127.0.0.1 only: a demo issuer that mints WSO2-style access tokens (JWTs,
// and opaque ones it answers introspection for) and API keys, Caddy
// with the backend_jwt module (configured from the Caddyfile beside this
// file), and a demo backend that shows the backend JWT it receives and
// checks its signature against the gateway's JWKS.
//
//	go run ./examples/demo              # prints curl commands to try; Ctrl-C stops it
//	go run ./examples/demo -once -port 0  # makes the requests itself; exit 0 if all went as expected
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// The default ports: Caddy's usual admin port, and fixed ones for the
// gateway and the issuer so that the README's curl lines work as written.
const (
	defaultPort       = 8787
	defaultIssuerPort = 8788
	defaultAdminPort  = 2019
)

// options are the demo's command-line settings.
type options struct {
	// Port is the gateway's port on 127.0.0.1; 0 picks a free one.
	Port int
	// AdminPort is the port of Caddy's admin API; 0 picks a free one.
	AdminPort int
	// IssuerPort is the demo issuer's port; 0 picks a free one.
	IssuerPort int
	// Once makes the demo send its example requests, report the answers
	// and return instead of serving until it is stopped.
	Once bool
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		os.Exit(2) // flag has printed the problem and the usage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills the demo at once
	}()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1) // run has stopped everything it started
	}
}

// parseFlags reads the command line. Without -admin-port or -issuer-port,
// those take their default ports, or free ports when -port is 0.
func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	port := fs.Int("port", defaultPort, "the gateway's port on 127.0.0.1 (0: a free port)")
	adminPort := fs.Int("admin-port", defaultAdminPort, "the port of Caddy's admin API on 127.0.0.1 (0: a free port; a free port too when -port is 0 and -admin-port is not given)")
	issuerPort := fs.Int("issuer-port", defaultIssuerPort, "the demo issuer's port on 127.0.0.1 (0: a free port; a free port too when -port is 0 and -issuer-port is not given)")
	once := fs.Bool("once", false, "send the example requests, print the answers, exit 0 only if all are as expected")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return options{}, err
	}
	opts := options{Port: *port, AdminPort: *adminPort, IssuerPort: *issuerPort, Once: *once}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if opts.Port == 0 && !given["admin-port"] {
		opts.AdminPort = 0
	}
	if opts.Port == 0 && !given["issuer-port"] {
		opts.IssuerPort = 0
	}
	return opts, nil
}

// run starts the issuer, the backend and the gateway, then either checks
// the example requests (opts.Once) or prints how to try them and
// serves until ctx is done. Everything it started is stopped, and its
// temporary folder removed, before it returns.
func run(ctx context.Context, opts options, stdout io.Writer) (err error) {
	var stack cleanups
	defer func() { err = errors.Join(err, stack.run()) }()

	storage, err := os.MkdirTemp("", "backend-jwt-demo-")
	if err != nil {
		return fmt.Errorf("making the storage folder: %w", err)
	}
	stack.push(func() error { return removeAll(storage) })

	iss, err := startIssuer(opts.IssuerPort)
	if err != nil {
		return err
	}
	stack.push(iss.close)

	gw := gatewayConfig{Storage: storage, IssuerURL: iss.url, APIKeyCert: filepath.Join(storage, "apikey-signing.pem")}
	if err := os.WriteFile(gw.APIKeyCert, iss.apiKeys.certPEM, 0o644); err != nil {
		return fmt.Errorf("writing the API-key signing certificate: %w", err)
	}
	if gw.Port, err = pickPort(opts.Port); err != nil {
		return err
	}
	if gw.AdminPort, err = pickPort(opts.AdminPort); err != nil {
		return err
	}

	be, err := startBackend(gw.jwksURL())
	if err != nil {
		return err
	}
	stack.push(be.close)
	gw.Backend = be.addr

	if err := startGateway(gw); err != nil {
		return err
	}
	stack.push(stopGateway)
	if err := iss.waitForJWKSFetch(ctx); err != nil {
		return err
	}

	d := demo{gw: gw, issuer: iss.url, backend: be.url}
	d.printAddresses(stdout)
	if opts.Once {
		return d.checkAll(ctx, stdout)
	}
	d.printTryThis(stdout)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping: Caddy, the backend, the issuer; removing", storage)
	return nil
}

// demo is what the printing and the checks need to know of a running demo.
type demo struct {
	gw      gatewayConfig
	issuer  string // the demo issuer's base URL
	backend string // the demo backend's base URL
}

// printAddresses tells where everything listens.
func (d demo) printAddresses(w io.Writer) {
	fmt.Fprintf(w, `caddy-backend-jwt demo: everything listens on 127.0.0.1

  gateway (Caddy + backend_jwt)  %s    config: examples/demo/Caddyfile
  Caddy admin API                http://127.0.0.1:%d
  demo issuer                    %s    tokens: /token, keys: /jwks, API keys: /apikey,
                                                            introspection: /introspect, revocation: /revoke
  demo backend                   %s    (behind the gateway)
  storage (managed signing key)  %s
  API-key signing certificate    %s

`, d.gw.url(), d.gw.AdminPort, d.issuer, d.backend, d.gw.Storage, d.gw.APIKeyCert)
}

// printTryThis prints the curl commands to try against the running demo.
func (d demo) printTryThis(w io.Writer) {
	api := d.gw.url() + "/pizzashack/menu"
	status := `-w '\nHTTP %{http_code}\n'`
	fmt.Fprintf(w, `Try these (Ctrl-C stops the demo):

# 1. A valid token: 200, and the backend's JSON shows the backend JWT it got,
#    its header and claims, and "verified": true (checked against the gateway's JWKS).
TOKEN=$(curl -s '%[1]s/token?user=alice')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[2]s

# 2. A token subscribed to another API only: 403, fault 900908 (Resource forbidden).
TOKEN=$(curl -s '%[1]s/token?user=alice&api=OtherAPI')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[2]s

# 3. An expired token: 401, fault 900903 (Access Token Expired).
TOKEN=$(curl -s '%[1]s/token?user=alice&expires_in=-60')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[2]s

# 4. No token: 401, fault 900902 (Missing Credentials).
curl -s %[3]s %[2]s

# 5. An API Manager 3.2+ token (no application, no subscribedAPIs): 200; the
#    application, tier and key type in the backend JWT come from API Manager's data.
TOKEN=$(curl -s '%[1]s/token?user=alice&format=3.2')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 6. Its application's subscription BLOCKED in API Manager: 403, fault 900907.
TOKEN=$(curl -s '%[1]s/token?user=alice&format=3.2&state=BLOCKED')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 7. ON_HOLD: 403, fault 900909 (The subscription to the API is inactive).
TOKEN=$(curl -s '%[1]s/token?user=alice&format=3.2&state=ON_HOLD')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 8. Revoke a token through Caddy's admin API (by its jti), then it is refused: 401, 900901.
TOKEN=$(curl -s '%[1]s/token?user=bob&jti=stolen-1')
curl -s -X POST -H 'Content-Type: application/json' \
  -d "{\"jti\":\"stolen-1\",\"exp\":$(($(date +%%s)+3600))}" http://127.0.0.1:%[5]d/backend_jwt/revocations
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[2]s
curl -s http://127.0.0.1:%[5]d/backend_jwt/status
curl -s -X POST http://127.0.0.1:%[5]d/backend_jwt/flush
curl -s -X POST http://127.0.0.1:%[5]d/backend_jwt/api_manager/refresh

# 9. An opaque access token (a UUID): the gateway asks the issuer's introspection endpoint
#    (RFC 7662); the answer's client_id is DemoApp-UNBLOCKED's consumer key in API Manager's
#    data, so the backend JWT names that application: 200.
TOKEN=$(curl -s '%[1]s/token?user=alice&format=opaque')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 10. Revoke it at the issuer. The gateway reuses the active answer up to cache_ttl (30s):
#     empty its caches, and it is refused: 401, fault 900901 (Invalid Credentials).
curl -s -X POST -d "token=$TOKEN" %[1]s/revoke
curl -s -X POST http://127.0.0.1:%[5]d/backend_jwt/flush
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 11. A WSO2 API key in the apikey header (or the apikey query parameter): 200; the
#     application and subscription come from the key.
APIKEY=$(curl -s '%[1]s/apikey?user=alice')
curl -s %[3]s -H "apikey: $APIKEY" %[2]s

# 12. An API key with permittedReferer %[7]s, sent from %[8]s: 200.
APIKEY=$(curl -s '%[1]s/apikey?user=alice&permitted_referer=%[7]s')
curl -s %[3]s -H "apikey: $APIKEY" -H 'Referer: %[8]s' %[2]s

# 13. The same key sent from another site: 403, fault 900908 (Resource forbidden).
curl -s %[3]s -H "apikey: $APIKEY" -H 'Referer: %[9]s' %[2]s

# 14. Writing the menu (POST, PUT, PATCH, DELETE) needs the scope menu:write; a token
#     without it: 403, fault 900910.
TOKEN=$(curl -s '%[1]s/token?user=alice')
curl -s %[3]s -X POST -H "Authorization: Bearer $TOKEN" %[2]s

# 15. A token with the scope menu:write: 200.
TOKEN=$(curl -s '%[1]s/token?user=alice&scope=menu:write')
curl -s %[3]s -X POST -H "Authorization: Bearer $TOKEN" %[2]s

# 16. API Manager 4.x revoked every token of %[10]s issued until a minute before the demo
#     started (its data API lists them): a token issued an hour ago: 401, fault 900901.
TOKEN=$(curl -s '%[1]s/token?user=%[10]s&format=3.2&issued_ago=3600')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# 17. A token of %[10]s issued now: 200.
TOKEN=$(curl -s '%[1]s/token?user=%[10]s&format=3.2')
curl -s %[3]s -H "Authorization: Bearer $TOKEN" %[6]s

# The public keys that verify the backend JWT, and the running config:
curl -s %[4]s
curl -s http://127.0.0.1:%[5]d/config/

`, d.issuer, api, status, d.gw.jwksURL(), d.gw.AdminPort, d.gw.url()+v32Path, permittedReferer, goodReferer, badReferer, revokedUser)
}

// pickPort returns port, or a port free on 127.0.0.1 now when port is 0.
func pickPort(port int) (int, error) {
	if port < 0 || port > 65535 {
		return 0, fmt.Errorf("port %d: want 0 to 65535", port)
	}
	if port != 0 {
		return port, nil
	}
	return loopback.FreePort()
}

// removeAll removes the demo's temporary folder.
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// cleanups are the stop functions of what run started, run in reverse.
type cleanups []func() error

// push adds a stop function.
func (c *cleanups) push(f func() error) { *c = append(*c, f) }

// run calls every stop function, last pushed first, and joins their errors.
func (c cleanups) run() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}
