package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/retriever"
)

func init() {
	caddy.RegisterModule(WSO2Retriever{})
}

// WSO2Retriever is the built-in claims retriever, the module
// http.backend_jwt.retrievers.wso2: it asks a WSO2 key manager for a user's
// claims (POST {server_url}/keymanager-operations/user-info/claims/generate),
// as the WSO2 [jwtGeneratorConfig.claimRetrieval] does.
type WSO2Retriever struct {
	RetrieverOptions

	// ServerURL is the key manager's base URL (WSO2 serverUrl), such as
	// https://localhost:9443.
	ServerURL string `json:"server_url"`

	// Username and Password authenticate to the key manager with HTTP
	// Basic auth. Placeholders such as {env.KM_PASSWORD} are resolved when
	// the config loads.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// CACert is a PEM file of the CA certificates that the key manager's
	// TLS certificate must chain to. Default: the system roots. TLS
	// verification is never switched off.
	CACert string `json:"ca_cert,omitempty"`

	// Timeout bounds each call to the key manager. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	client *retriever.WSO2
}

// CaddyModule returns the Caddy module information.
func (WSO2Retriever) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  RetrieversNamespace + ".wso2",
		New: func() caddy.Module { return new(WSO2Retriever) },
	}
}

// Provision resolves the placeholders, reads ca_cert and builds the client.
func (w *WSO2Retriever) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	resolve := func(name, value string) (string, error) {
		v, err := repl.ReplaceOrErr(value, true, true)
		if err != nil {
			return "", fmt.Errorf("claims wso2 %s: %w", name, err)
		}
		return v, nil
	}
	cfg := retriever.WSO2Config{Timeout: time.Duration(w.Timeout)}
	var err error
	if cfg.ServerURL, err = resolve("server_url", w.ServerURL); err != nil {
		return err
	}
	if w.Username != "" {
		if cfg.Username, err = resolve("username", w.Username); err != nil {
			return err
		}
	}
	if w.Password != "" {
		if cfg.Password, err = resolve("password", w.Password); err != nil {
			return err
		}
	}
	if w.CACert != "" {
		if cfg.RootCAs, err = readCertPool(w.CACert); err != nil {
			return err
		}
	}
	if w.client, err = retriever.NewWSO2(cfg); err != nil {
		return fmt.Errorf("claims wso2: %w", err)
	}
	return nil
}

func readCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading ca_cert: %w", err)
	}
	pool, err := retriever.ParseCertPoolPEM(data)
	if err != nil {
		return nil, fmt.Errorf("ca_cert %s: %w", file, err)
	}
	return pool, nil
}

// tlsTransport is a transport of its own (its idle connections closed
// with its user) that checks servers' certificates against the CAs of
// caCert, or the system roots when it is empty. Verification is never off.
func tlsTransport(caCert string) (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caCert != "" {
		pool, err := readCertPool(caCert)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	return transport, nil
}

// Retrieve asks the key manager for the user's claims.
func (w *WSO2Retriever) Retrieve(ctx context.Context, req *retriever.Request) (map[string]any, error) {
	return w.client.Retrieve(ctx, req)
}

// Cleanup closes the client's idle connections.
func (w *WSO2Retriever) Cleanup() error {
	if w.client != nil {
		w.client.Close()
	}
	return nil
}

// UnmarshalCaddyfile reads:
//
//	claims wso2 {
//		server_url <url>
//		username <name>
//		password <password>        # placeholders such as {env.KM_PASSWORD} work
//		ca_cert <pem file>
//		timeout <duration>
//		cache_expiry <duration>
//		cache_capacity <users>
//		on_error continue|fail
//	}
func (w *WSO2Retriever) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the module name, on the line that errors about the whole block name
	block := *d
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var err error
		switch d.Val() {
		case "server_url":
			w.ServerURL, err = singleArg(d)
		case "username":
			w.Username, err = singleArg(d)
		case "password":
			w.Password, err = singleArg(d)
		case "ca_cert":
			if w.CACert, err = singleArg(d); err == nil {
				if _, rerr := readCertPool(w.CACert); rerr != nil {
					return d.Errf("%v", rerr)
				}
			}
		case "timeout":
			err = parseDuration(d, &w.Timeout)
		default:
			var known bool
			if known, err = w.UnmarshalOption(d); !known {
				return d.Errf("unknown claims wso2 sub-directive %q", d.Val())
			}
		}
		if err != nil {
			return err
		}
	}
	if w.ServerURL == "" {
		return block.Err("claims wso2 needs server_url")
	}
	return nil
}

// Interface guards
var (
	_ ClaimsRetriever       = (*WSO2Retriever)(nil)
	_ caddy.Provisioner     = (*WSO2Retriever)(nil)
	_ caddy.CleanerUpper    = (*WSO2Retriever)(nil)
	_ caddyfile.Unmarshaler = (*WSO2Retriever)(nil)
)
