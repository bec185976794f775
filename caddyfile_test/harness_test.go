// Package caddyfile_test adapts Caddyfiles to JSON and runs a real Caddy,
// in this process, with the backend_jwt handler in front of a real upstream,
// all on 127.0.0.1. Caddy is one per process, so every test that starts it
// lives in this package and none runs in parallel.
package caddyfile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/caddymodule"
)

// childConfigEnv names the variable that makes the test binary run as a
// second Caddy instance: it loads the JSON config in that file and runs
// until its standard input closes.
const childConfigEnv = "BACKEND_JWT_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if file := os.Getenv(childConfigEnv); file != "" {
		runChild(file)
		return
	}
	// Keep Caddy's instance files out of the user's home.
	dir, err := os.MkdirTemp("", "backend-jwt-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_DATA_HOME", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	code := m.Run()
	_ = caddy.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runChild runs Caddy with the config in file until stdin closes.
func runChild(file string) {
	cfg, err := os.ReadFile(file)
	if err == nil {
		err = caddy.Load(cfg, true)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = caddy.Stop()
	os.Exit(0)
}

// startChild runs the site in a second Caddy process (this test binary in
// child mode) and stops it with the test.
func (g *gateway) startChild(site string) {
	g.t.Helper()
	cfg, err := adapt(g.caddyfile(site))
	if err != nil {
		g.t.Fatalf("adapting the Caddyfile: %v", err)
	}
	file := writeFile(g.t, "child.json", cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+file)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		g.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// gateway is a running Caddy serving one site on 127.0.0.1.
type gateway struct {
	t         testing.TB
	adminPort int
	port      int
	storage   string
	logPath   string
	client    *http.Client
}

// newGateway picks ports and a storage folder; start or load a config next.
func newGateway(t testing.TB) *gateway {
	t.Helper()
	return &gateway{
		t:         t,
		adminPort: freePort(t),
		port:      freePort(t),
		storage:   t.TempDir(),
		logPath:   t.TempDir() + "/caddy.log",
		// A fresh connection per request: a reload closes idle ones.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// caddyfile wraps a site's directives in global options that keep
// everything on loopback and in the test's folders. Caddy's log, at DEBUG,
// goes to a file the test reads, with the filter the README recommends:
// reverse_proxy's debug lines list the request headers sent upstream.
func (g *gateway) caddyfile(site string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
	storage file_system %s
	log {
		output file %s
		level DEBUG
		format filter {
			fields {
				request>headers>X-Jwt-Assertion delete
				request>headers>X-Token-Copy delete
			}
		}
	}
}

http://127.0.0.1:%d {
	bind 127.0.0.1
%s
}
`, g.adminPort, g.storage, g.logFile(), g.port, site)
}

func (g *gateway) logFile() string { return g.logPath }

// logs returns what Caddy has logged so far.
func (g *gateway) logs() string {
	b, _ := os.ReadFile(g.logFile())
	return string(b)
}

// adapt turns a Caddyfile into Caddy's JSON.
func adapt(caddyfileText string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, _, err := adapter.Adapt([]byte(caddyfileText), map[string]any{"filename": "Caddyfile"})
	return cfg, err
}

// start runs Caddy with the site's directives, stopping it with the test.
func (g *gateway) start(site string) {
	g.t.Helper()
	cfg, err := adapt(g.caddyfile(site))
	if err != nil {
		g.t.Fatalf("adapting the Caddyfile: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		g.t.Fatalf("loading the config: %v", err)
	}
	g.t.Cleanup(func() {
		_ = caddy.Stop()
		if g.t.Failed() {
			lines := strings.Split(strings.TrimSpace(g.logs()), "\n")
			g.t.Logf("the last lines of Caddy's log:\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
}

// load posts a config to the admin API's /load, as an operator does.
func (g *gateway) load(contentType string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", g.adminPort), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/load: %d %s", resp.StatusCode, msg)
	}
	return nil
}

// response is what a test checks of an answer.
type response struct {
	status int
	header http.Header
	body   string
}

// get sends GET path with the given request headers (name, value pairs;
// a name may repeat), failing the test if no answer comes.
func (g *gateway) get(path string, headers ...string) response {
	g.t.Helper()
	r, err := g.tryGet(path, headers...)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// tryGet is get that returns a transport error instead of failing.
func (g *gateway) tryGet(path string, headers ...string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", g.port, path), nil)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}, err
}

// bearer is the Authorization header pair for a token.
func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// wantFault checks a WSO2 fault answer.
func wantFault(t testing.TB, r response, status, code int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	var body struct {
		Fault struct {
			Code        int    `json:"code"`
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"fault"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("fault body %q: %v", r.body, err)
	}
	if body.Fault.Code != code || body.Fault.Message == "" || body.Fault.Description == "" {
		t.Fatalf("fault %+v, want code %d with a message and description", body.Fault, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// writeFile writes data into the test's folder and returns the path.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// indent prefixes every line of s with a tab, for nesting Caddyfile text.
func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n\t")
}
