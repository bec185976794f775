// Package loopback finds TCP ports on 127.0.0.1 for the tests, the demo
// and the load scripts, where a port is chosen first and listened on later
// (Caddy binds the ports its config names), and tells loopback hosts
// (IsHost) for the clients that allow plain http only to those.
//
// A port that net.Listen("tcp", "127.0.0.1:0") returned and that was then
// closed is in the kernel's ephemeral range, so any outgoing connection on
// the machine may take it as its local port before the listener does: with
// several test binaries opening thousands of connections at once (go test
// ./...), that happens. The ports found here lie outside the ephemeral
// range, where only another listener can take them.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// The ports searched, less the ephemeral range where it overlaps.
const (
	firstPort = 10000
	lastPort  = 32767
	attempts  = 200
)

// ephemeralRangeFile holds Linux's ephemeral range, "first<TAB>last".
const ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Listen listens on 127.0.0.1 on a free port outside the ephemeral range,
// or on any free port when none is found there.
func Listen() (net.Listener, error) {
	lo, hi := ephemeralRange()
	var lastErr error
	for range attempts {
		port := firstPort + rand.IntN(lastPort-firstPort+1)
		if port >= lo && port <= hi {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return l, nil
		}
		lastErr = err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1: %w", errors.Join(err, lastErr))
	}
	return l, nil
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago, outside
// the ephemeral range (see Listen).
func FreePort() (int, error) {
	l, err := Listen()
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralRange is the kernel's range of local ports for outgoing
// connections: Linux's setting, or the IANA range elsewhere.
func ephemeralRange() (lo, hi int) {
	lo, hi = 49152, 65535
	b, err := os.ReadFile(ephemeralRangeFile)
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l > h {
		return lo, hi
	}
	return l, h
}

// IsHost tells whether host (a URL's host name: without brackets or port)
// is this machine: localhost, 127.0.0.0/8 or ::1. Clients that send
// credentials allow plain http only to such a host.
func IsHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
