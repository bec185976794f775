package loopback

import (
	"net"
	"strconv"
	"testing"
)

func TestListenOutsideEphemeralRange(t *testing.T) {
	lo, hi := ephemeralRange()
	for range 20 {
		l, err := Listen()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addr := l.Addr().(*net.TCPAddr)
		if !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("listening on %v, want 127.0.0.1", addr)
		}
		if lo <= firstPort && hi >= lastPort {
			continue // the whole search range is ephemeral here: any port will do
		}
		if addr.Port >= lo && addr.Port <= hi {
			t.Errorf("port %d is in the ephemeral range %d-%d", addr.Port, lo, hi)
		}
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("FreePort returned %d, which cannot be listened on: %v", port, err)
	}
	l.Close()
}
