package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/bench/internal/benchkit"
)

// conn is one keep-alive HTTP/1.1 connection that sends GET requests
// written by hand, which costs the shared cores less than net/http's
// client would. It redials when the server closes it.
type conn struct {
	addr    string
	prefix  []byte // request line and Host
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	buf     []byte
}

func newConn(addr string, timeout time.Duration) *conn {
	prefix := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: backend-jwt-bench\r\n", benchkit.RequestPath, addr)
	return &conn{addr: addr, prefix: prefix, timeout: timeout}
}

// answer is what one request got back.
type answer struct {
	status int
	sawJWT bool // the upstream saw a backend JWT
}

// do sends one request with token as its Bearer credential ("" for none)
// and reads the whole answer.
func (c *conn) do(token string) (answer, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return answer{}, fmt.Errorf("dial: %w", err)
		}
		c.c, c.br = nc, bufio.NewReaderSize(nc, 4096)
	}
	c.buf = append(c.buf[:0], c.prefix...)
	if token != "" {
		c.buf = append(c.buf, "Authorization: Bearer "...)
		c.buf = append(c.buf, token...)
		c.buf = append(c.buf, "\r\n"...)
	}
	c.buf = append(c.buf, "\r\n"...)
	if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return answer{}, c.fail(fmt.Errorf("deadline: %w", err))
	}
	if _, err := c.c.Write(c.buf); err != nil {
		return answer{}, c.fail(fmt.Errorf("write: %w", err))
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return answer{}, c.fail(fmt.Errorf("read: %w", err))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return answer{}, c.fail(fmt.Errorf("read body: %w", err))
	}
	if resp.Close {
		c.close()
	}
	return answer{status: resp.StatusCode, sawJWT: resp.Header.Get(benchkit.SawHeader) == "present"}, nil
}

// fail drops the connection after an error, so the next request redials.
func (c *conn) fail(err error) error {
	c.close()
	return err
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
		c.c, c.br = nil, nil
	}
}

// errKind names a transport error for the error table.
func errKind(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}
