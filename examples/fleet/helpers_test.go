package fleet_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/examples/fleet/redisstorage"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testkit"
)

// redisServer is a redis-server of the test's on a free 127.0.0.1 port,
// keeping nothing on disk: a restart starts it empty.
type redisServer struct {
	t      *testing.T
	path   string
	port   int
	addr   string
	cmd    *exec.Cmd
	client *redis.Client // the test's own client
}

// startRedis runs redis-server until the test ends. Without redis-server
// the test is skipped, except under CI=true, where that is a failure.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (.ci/run installs it with apt-get)")
		}
		t.Skip("redis-server is not installed: apt-get install redis-server")
	}
	port := testcaddy.FreePort(t)
	r := &redisServer{t: t, path: path, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr})
	t.Cleanup(func() { _ = r.client.Close() })
	t.Cleanup(r.stop)
	r.start()
	return r
}

// start runs the server and waits until it answers.
func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	testkit.WaitFor(r.t, "redis-server", func() bool { return r.client.Ping(context.Background()).Err() == nil })
}

// stop kills the server, if it runs, and waits for it to end.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// restart kills the server and starts it again, empty, on the same port.
func (r *redisServer) restart() {
	r.t.Helper()
	r.stop()
	r.start()
}

// signal sends sig to the running server (SIGSTOP pauses it, SIGCONT
// resumes it).
func (r *redisServer) signal(sig syscall.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

// info returns a field of the server's INFO section.
func (r *redisServer) info(section, field string) string {
	r.t.Helper()
	text, err := r.client.Info(context.Background(), section).Result()
	if err != nil {
		r.t.Fatal(err)
	}
	for line := range strings.SplitSeq(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// connectedClients is the number of client connections the server has,
// the test's own among them.
func (r *redisServer) connectedClients() int {
	r.t.Helper()
	n, err := strconv.Atoi(r.info("clients", "connected_clients"))
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// provisionStorage loads a fleet_redis storage from its JSON config as
// Caddy loads a config's storage (ctx.LoadModule: Provision, then
// CertMagicStorage), in a context cancelled (so the storage cleaned up)
// when the test ends.
func provisionStorage(t *testing.T, config map[string]any) (*redisstorage.Storage, error) {
	t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	m, err := ctx.LoadModuleByID("caddy.storage.fleet_redis", raw)
	if err != nil {
		return nil, err
	}
	s := m.(*redisstorage.Storage)
	if _, err := s.CertMagicStorage(); err != nil {
		return nil, err
	}
	return s, nil
}

// mustStorage is provisionStorage that fails the test on an error.
func mustStorage(t *testing.T, config map[string]any) *redisstorage.Storage {
	t.Helper()
	s, err := provisionStorage(t, config)
	if err != nil {
		t.Fatalf("provisioning fleet_redis %v: %v", config, err)
	}
	return s
}
