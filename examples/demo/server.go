package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// server is an HTTP server of the demo on a free port of 127.0.0.1.
type server struct {
	name string
	srv  *http.Server
	addr string // host:port
	url  string // http://host:port
	done chan error
}

// start listens on port of 127.0.0.1 (0: a free one) and serves h in the
// background.
func (s *server) start(name string, port int, h http.Handler) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("%s: listening: %w", name, err)
	}
	s.name = name
	s.addr = l.Addr().String()
	s.url = "http://" + s.addr
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(os.Stderr, name+": ", 0),
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(l) }()
	return nil
}

// close shuts the server down, letting requests under way finish for up
// to two seconds, then closing every connection left (such as one that a
// client opened but never used).
func (s *server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		if err := s.srv.Close(); err != nil {
			return fmt.Errorf("closing the %s: %w", s.name, err)
		}
	} else if err != nil {
		return fmt.Errorf("stopping the %s: %w", s.name, err)
	}
	if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}
