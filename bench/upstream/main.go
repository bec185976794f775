// Command upstream is the benchmark's backend: it answers every request 200
// with a small body, and says in a response header whether the request
// carried a backend JWT, so the load generator can count requests that
// reached it without one. It listens on 127.0.0.1 only and stops on SIGINT
// or SIGTERM, or after -lifetime at the latest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free one)")
	lifetime := flag.Duration("lifetime", 2*time.Hour, "stop after this long at the latest")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Println("upstream: listening on", ln.Addr())
	body := []byte(`{"menu":"pizza"}`)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			saw := "absent"
			if r.Header.Get(benchkit.BackendHeader) != "" {
				saw = "present"
			}
			h := w.Header()
			h.Set(benchkit.SawHeader, saw)
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
