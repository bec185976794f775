// Package testcaddy runs a real Caddy for end-to-end tests: in the test's
// process (or a second process, for two instances), on 127.0.0.1 and free
// ports, with its storage and DEBUG log in the test's folders, stopped when
// the test ends. Caddy is one per process: a test package that uses it
// calls Main from its TestMain and runs no such tests in parallel. It is
// imported by tests only.
package testcaddy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-backend-jwt/caddy-backend-jwt/caddymodule"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// childConfigEnv names the variable that makes the test binary run as a
// second Caddy instance: it loads the JSON config in that file and runs
// until its standard input closes.
const childConfigEnv = "BACKEND_JWT_CHILD_CONFIG"

// Main runs a test package's tests (call it from TestMain), keeping
// Caddy's instance files in a temporary folder; in a child process started
// by StartChild it runs that Caddy instead.
func Main(m *testing.M) {
	if file := os.Getenv(childConfigEnv); file != "" {
		runChild(file)
		return
	}
	if os.Getenv(commandEnv) != "" {
		os.Args[0] = "caddy"
		caddycmd.Main()
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

// commandEnv names the variable that makes the test binary run as the
// caddy command, with its own arguments: see Command.
const commandEnv = "BACKEND_JWT_CADDY_COMMAND"

// Command runs the caddy command line (this test binary as the caddy
// command, with the standard modules and backend_jwt) with args and the
// extra environment variables env ("NAME=value"), and returns what it
// printed and its exit code.
func Command(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return CommandWithInput(t, "", env, args...)
}

// CommandWithInput is Command with stdin as the command's standard input
// ("" for none).
func CommandWithInput(t testing.TB, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	// Under the race detector a process that exits 0 sleeps a second
	// first; a command is not worth that wait.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), commandEnv+"=1", "GORACE="+gorace), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running caddy %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
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

// StartChild runs the site in a second Caddy process (this test binary in
// child mode) and stops it with the test.
func (g *Gateway) StartChild(site string) {
	g.t.Helper()
	cfg, err := Adapt(g.Caddyfile(site))
	if err != nil {
		g.t.Fatalf("adapting the Caddyfile: %v", err)
	}
	file := WriteFile(g.t, "child.json", cfg)
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
	g.ChildPID = cmd.Process.Pid
	g.t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
}

// FreePort returns a TCP port free on 127.0.0.1 now, outside the
// ephemeral range (see package loopback).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Gateway is a running Caddy serving one site on 127.0.0.1.
type Gateway struct {
	t testing.TB
	// AdminPort and Port are the admin endpoint's and the site's ports.
	AdminPort, Port int
	// Storage is Caddy's storage folder; set it before starting to share one.
	Storage string
	// StorageModule, when set, replaces the storage folder with this
	// storage module and its options ("fleet_redis { … }").
	StorageModule string
	// LogPath is where Caddy's DEBUG log goes.
	LogPath string
	// ChildPID is the process of the Caddy that StartChild started.
	ChildPID int
	// Client sends the test's requests, a fresh connection each (a reload
	// closes idle ones).
	Client *http.Client
}

// New picks ports and a storage folder; start or load a config next.
func New(t testing.TB) *Gateway {
	t.Helper()
	return &Gateway{
		t:         t,
		AdminPort: FreePort(t),
		Port:      FreePort(t),
		Storage:   t.TempDir(),
		LogPath:   t.TempDir() + "/caddy.log",
		Client:    &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// Globals is the global options block: admin on 127.0.0.1, every site
// bound to 127.0.0.1, no automatic HTTPS, storage and the DEBUG log in the
// test's folders. The log filter is the one the README recommends:
// reverse_proxy's debug lines list the request headers sent upstream.
func (g *Gateway) Globals() string {
	storage := "file_system " + g.Storage
	if g.StorageModule != "" {
		storage = g.StorageModule
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
	auto_https off
	persist_config off
	storage %s
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
`, g.AdminPort, storage, g.LogPath)
}

// Caddyfile is the global options and one site on 127.0.0.1:Port with the
// given directives.
func (g *Gateway) Caddyfile(site string) string {
	return fmt.Sprintf("%s\nhttp://127.0.0.1:%d {\n%s\n}\n", g.Globals(), g.Port, site)
}

// Logs returns what Caddy has logged so far.
func (g *Gateway) Logs() string {
	b, _ := os.ReadFile(g.LogPath)
	return string(b)
}

// Adapt turns a Caddyfile into Caddy's JSON.
func Adapt(caddyfileText string) ([]byte, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, _, err := adapter.Adapt([]byte(caddyfileText), map[string]any{"filename": "Caddyfile"})
	return cfg, err
}

// Start runs Caddy with one site of the given directives (see Caddyfile),
// stopping it with the test.
func (g *Gateway) Start(site string) {
	g.t.Helper()
	g.StartCaddyfile(g.Caddyfile(site))
}

// StartCaddyfile runs Caddy with a whole Caddyfile (begin it with
// Globals()), stopping it with the test.
func (g *Gateway) StartCaddyfile(text string) {
	g.t.Helper()
	cfg, err := Adapt(text)
	if err != nil {
		g.t.Fatalf("adapting the Caddyfile: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		g.t.Fatalf("loading the config: %v", err)
	}
	g.t.Cleanup(func() {
		_ = caddy.Stop()
		if g.t.Failed() {
			g.t.Logf("the last lines of Caddy's log (%s):\n%s", g.LogPath, logTail(g.Logs()))
		}
	})
}

// logTail is the last lines of a log, each cut short: enough to place a
// failure without pushing the test's own messages out of a CI excerpt.
func logTail(log string) string {
	const lines, width = 12, 240
	all := strings.Split(strings.TrimSpace(log), "\n")
	tail := all[max(0, len(all)-lines):]
	for i, l := range tail {
		if len(l) > width {
			tail[i] = l[:width] + "…"
		}
	}
	return strings.Join(tail, "\n")
}

// Load posts a config to the admin API's /load, as an operator does, and
// returns once the previous config's sockets are closed and the site
// answers requests again.
//
// Every load starts a new admin server and new site sockets beside the old
// ones (SO_REUSEPORT), and stops the old ones in the background: the admin
// server after answering the /load (admin.go, replaceLocalAdminServer),
// the site's server once its Shutdown goroutine runs (modules/caddyhttp/
// app.go, App.stop, which returns before that). Until then a new
// connection can reach an old socket and be dropped unanswered, so Load
// waits until only one socket listens on each port (Linux's /proc/net/tcp;
// elsewhere it does not wait for that).
func (g *Gateway) Load(contentType string, body []byte) error {
	status, msg, err := g.Admin(http.MethodPost, "/load", contentType, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("/load: %d %s", status, msg)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := g.oldSocketsOpen()
		if err == nil {
			_, err = g.TryGet("/")
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after /load: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oldSocketsOpen returns an error while more than one socket listens on
// the admin port or the site's port.
func (g *Gateway) oldSocketsOpen() error {
	for _, port := range []int{g.AdminPort, g.Port} {
		if n, ok := listeningSockets(port); ok && n > 1 {
			return fmt.Errorf("%d sockets still listen on port %d", n, port)
		}
	}
	return nil
}

// listeningSockets counts the IPv4 TCP sockets listening on a port, from
// /proc/net/tcp; ok is false where that cannot be read.
func listeningSockets(port int) (n int, ok bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, false
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// sl local_address rem_address st …; st 0A is LISTEN.
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			n++
		}
	}
	return n, true
}

// Admin sends a request to the admin API on a connection of its own and
// returns the answer's status and body.
func (g *Gateway) Admin(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", g.AdminPort, path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(resp.Body)
	return resp.StatusCode, msg, err
}

// Response is what a test checks of an answer.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Get sends GET path with the given request headers (name, value pairs;
// a name may repeat), failing the test if no answer comes.
//
// A new connection that reaches Caddy while a config reload changes its
// listening sockets can be dropped by the kernel (SO_REUSEPORT: a
// connection queued on the old socket is reset when it closes). Get retries
// such a request once, and says so in the test log; requests under reloads
// are measured by the reload-under-load test, not here.
func (g *Gateway) Get(path string, headers ...string) Response {
	g.t.Helper()
	r, err := g.TryGet(path, headers...)
	if err != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		g.t.Logf("GET %s: %v; retrying once (connection dropped during a reload)", path, err)
		r, err = g.TryGet(path, headers...)
	}
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// TryGet is Get that returns a transport error instead of failing.
func (g *Gateway) TryGet(path string, headers ...string) (Response, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", g.Port, path), nil)
	if err != nil {
		return Response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, err
}

// Bearer is the Authorization header pair for a token.
func Bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// WantFault checks a WSO2 fault answer.
func WantFault(t testing.TB, r Response, status, code int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d (body %s)", r.Status, status, r.Body)
	}
	var body struct {
		Fault struct {
			Code        int    `json:"code"`
			Message     string `json:"message"`
			Description string `json:"description"`
		} `json:"fault"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("fault body %q: %v", r.Body, err)
	}
	if body.Fault.Code != code || body.Fault.Message == "" || body.Fault.Description == "" {
		t.Fatalf("fault %+v, want code %d with a message and description", body.Fault, code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// WriteFile writes data into the test's folder and returns the path.
func WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Indent prefixes every line of s with a tab, for nesting Caddyfile text.
func Indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n\t")
}

// StartExample runs the Caddyfile of the current folder (an example's),
// filling its environment placeholders: SITE_ADDRESS (this gateway on
// 127.0.0.1), ISSUER, JWKS_URL and UPSTREAM.
func (g *Gateway) StartExample(issuer, jwksURL, upstream string) {
	g.t.Helper()
	env := map[string]string{
		"SITE_ADDRESS": fmt.Sprintf("http://127.0.0.1:%d", g.Port),
		"ISSUER":       issuer,
		"JWKS_URL":     jwksURL,
		"UPSTREAM":     upstream,
	}
	for name, value := range env {
		g.t.Setenv(name, value)
	}
	text, err := os.ReadFile("Caddyfile")
	if err != nil {
		g.t.Fatal(err)
	}
	g.StartCaddyfile(g.Globals() + string(text))
}
