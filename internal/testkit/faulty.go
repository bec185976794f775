package testkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/loopback"
)

// FaultyServer is a dependency (a JWKS or claims endpoint) on 127.0.0.1
// that answers with its good handler until the test gives it a fault: an
// answer of its own (Respond, Delay, Stall, Huge, Hangup) or no listener
// at all (Down, until Up). Its URL stays the same throughout. Handlers that
// wait return when the client gives up or the test ends; the server stops
// with the test.
type FaultyServer struct {
	// URL is http://127.0.0.1:<port>, the same across Down and Up.
	URL string
	// Requests counts the requests that reached the server.
	Requests atomic.Int64

	addr   string
	good   http.Handler
	ctx    context.Context // every request's base; cancelled at the end of the test
	cancel context.CancelFunc
	wg     sync.WaitGroup // the serving goroutines and the handlers

	mu     sync.Mutex
	fault  http.Handler // nil: the good handler answers
	srv    *http.Server // nil while down
	closed bool         // the test has ended: no new handler runs
}

// NewFaultyServer starts a server answering with good; it stops with the
// test, after its handlers have returned.
func NewFaultyServer(t testing.TB, good http.Handler) *FaultyServer {
	t.Helper()
	// Outside the ephemeral range, so that no outgoing connection takes
	// the port while the server is down.
	l, err := loopback.Listen()
	if err != nil {
		t.Fatal(err)
	}
	s := &FaultyServer{addr: l.Addr().String(), good: good}
	s.URL = "http://" + s.addr
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.serve(l)
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.Down()
		s.wg.Wait()
	})
	return s
}

// serve starts an HTTP server on l.
func (s *FaultyServer) serve(l net.Listener) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(l)
	}()
}

func (s *FaultyServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	h := s.fault
	s.mu.Unlock()
	defer s.wg.Done()
	s.Requests.Add(1)
	if h == nil {
		s.good.ServeHTTP(w, r)
		return
	}
	// Read the request body first (a claims call has one), so the request's
	// context ends as soon as the client closes the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	h.ServeHTTP(w, r)
}

// SetFault makes the server answer with f; nil restores the good handler.
func (s *FaultyServer) SetFault(f http.Handler) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Down closes the listener and every connection: connections are refused
// until Up.
func (s *FaultyServer) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address after Down. It fails if another
// listener took the port meanwhile.
func (s *FaultyServer) Up() error {
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening again on %s: %w", s.addr, err)
	}
	s.serve(l)
	return nil
}

// Respond answers status with a Content-Type and body.
func Respond(status int, contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

// Delay waits d, or until the request ends, before next answers.
func Delay(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// Stall sends a 200 with contentType and the first bytes of a body, then
// sends nothing more until the request ends.
func Stall(contentType string, prefix []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(prefix)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
}

// Hangup closes the connection without answering.
func Hangup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}

// HugeBody is a fault that streams a body of Size bytes: Prefix, then
// filler, flushed chunk by chunk, stopping at the first failed write (the
// client hung up). It counts what it wrote.
type HugeBody struct {
	// Status and ContentType are the answer's status and Content-Type.
	Status      int
	ContentType string
	// Prefix begins the body, so that it starts as a well-formed answer
	// would.
	Prefix string
	// Size is the whole body's length.
	Size int64

	sent, complete atomic.Int64
}

// Huge returns a HugeBody of size bytes answering 200 with contentType.
func Huge(contentType, prefix string, size int64) *HugeBody {
	return &HugeBody{Status: http.StatusOK, ContentType: contentType, Prefix: prefix, Size: size}
}

// ServeHTTP implements http.Handler.
func (h *HugeBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", h.ContentType)
	w.WriteHeader(h.Status)
	rc := http.NewResponseController(w)
	left := h.Size
	write := func(b []byte) bool {
		n, err := w.Write(b[:min(int64(len(b)), left)])
		h.sent.Add(int64(n))
		left -= int64(n)
		return err == nil && rc.Flush() == nil && r.Context().Err() == nil
	}
	chunk := []byte(strings.Repeat("A", 32<<10))
	for ok := write([]byte(h.Prefix)); ok && left > 0; {
		ok = write(chunk)
	}
	if left == 0 {
		h.complete.Add(1)
	}
}

// Sent is how many body bytes were written, over every answer.
func (h *HugeBody) Sent() int64 { return h.sent.Load() }

// Complete is how many answers were written whole.
func (h *HugeBody) Complete() int64 { return h.complete.Load() }
