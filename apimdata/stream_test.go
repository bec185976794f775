package apimdata_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/apimdata"
	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/apimfake"
)

// serveAPIs is a data API whose /apis answers body and whose other lists
// are empty.
func serveAPIs(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case apimdata.DataPath + "/apis":
			_, _ = io.WriteString(w, body)
		case apimdata.DataPath + "/revokedjwt":
			_, _ = io.WriteString(w, `[]`)
		default:
			_, _ = io.WriteString(w, `{"count":0,"list":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestListShapes: a list answer is read whatever the order of its members,
// with members it does not know skipped, and within one element's size.
func TestListShapes(t *testing.T) {
	api := `{"apiId":7,"name":"PizzaShackAPI","version":"1.0.0","urlMappings":[{"httpMethod":"GET"}]}`
	big := `"` + strings.Repeat("x", apimdata.MaxElementSize) + `"`
	many := "[" + strings.Repeat(`{"a":"`+strings.Repeat("y", 100)+`"},`, 20000) + `{}]` // 2 MB, small elements
	for _, tc := range []struct {
		name, body string
		apis       int
		wantErr    string
	}{
		{"count first", `{"count":1,"list":[` + api + `]}`, 1, ""},
		{"list first", `{"list":[` + api + `,` + api + `],"count":2}`, 2, ""},
		{"no count", `{"list":[` + api + `]}`, 1, ""},
		{"unknown members skipped", `{"pagination":{"next":null,"n":[1,2,{"x":[]}]},"list":[` + api + `],"count":1,"x":"y"}`, 1, ""},
		{"a long unknown member of small parts skipped", `{"extra":` + many + `,"count":0,"list":[]}`, 0, ""},
		{"white space around", " \n{ \"count\" : 0 , \"list\" : [ ] }\n ", 0, ""},
		{"null list", `{"count":0,"list":null}`, 0, "has no list"},
		{"list not a list", `{"count":0,"list":{}}`, 0, "the list is not a list"},
		{"not an object", `[]`, 0, `want "{", found [`},
		{"data after the answer", `{"count":0,"list":[]}{}`, 0, "data after the answer"},
		{"truncated", `{"count":1,"list":[` + api, 0, "malformed answer: unexpected EOF"},
		{"element too large", `{"count":1,"list":[{"name":` + big + `}]}`, 0, fmt.Sprintf("larger than %d bytes", apimdata.MaxElementSize)},
		{"unknown member too large", `{"x":` + big + `,"count":0,"list":[]}`, 0, fmt.Sprintf("larger than %d bytes", apimdata.MaxElementSize)},
		{"unknown member nested too deep", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"count":0,"list":[]}`, 0, "nests deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := readAll(t, serveAPIs(t, tc.body).URL, apimdata.ClientOptions{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(d.APIs) != tc.apis || (tc.apis > 0 && d.APIs[0].Name != apiName) {
				t.Fatalf("APIs %+v", d.APIs)
			}
		})
	}
}

// countingWriter counts the bytes a handler managed to write.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// socketBuffer is the size of the socket buffers of TestEndlessAnswers.
const socketBuffer = 64 << 10

// smallBuffers makes the send buffers of the connections it accepts
// socketBuffer bytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		err = conn.(*net.TCPConn).SetWriteBuffer(socketBuffer)
	}
	return conn, err
}

// peakHeap samples the heap in use until stop is closed, then sends the
// most it saw.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	peak := make(chan uint64, 1)
	go func() {
		var m runtime.MemStats
		var most uint64
		for {
			runtime.ReadMemStats(&m)
			most = max(most, m.HeapAlloc)
			select {
			case <-stop:
				peak <- most
				return
			default:
				time.Sleep(100 * time.Microsecond) // ReadMemStats stops the world: let the read run
			}
		}
	}()
	return peak
}

// TestEndlessAnswers: API Manager answering every read forever cannot make
// a full read take more than max_data_size, in bytes or in memory.
func TestEndlessAnswers(t *testing.T) {
	const maxData = 8 << 20
	fake := apimfake.New(user, pass, "carbon.super", fixture("UNBLOCKED"))
	fake.SetEndless(true)
	var written atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fake.ServeHTTP(countingWriter{w, &written}, r)
	}))
	// The kernel's socket buffers on loopback grow to megabytes each: fixed
	// small ones make what the server writes past what the client reads
	// small and known (5 connections × (send + receive buffer)).
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(socketBuffer)
		}
		return conn, err
	}
	c, err := apimdata.NewClient(apimdata.Source{ServerURL: srv.URL, Username: user, Password: pass},
		apimdata.ClientOptions{MaxDataSize: maxData, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	_, err = c.ReadAll(context.Background())
	close(stop)
	grown := int64(<-peak) - int64(before.HeapAlloc)
	if err == nil || !strings.Contains(err.Error(), "max_data_size") {
		t.Fatalf("ReadAll of endless answers: %v, want an error naming max_data_size", err)
	}
	srv.Close() // waits for the handlers: every byte written is counted
	t.Logf("written %.1f MiB, heap grown %.1f MiB", float64(written.Load())/(1<<20), float64(grown)/(1<<20))
	if n := written.Load(); n > maxData+4<<20 {
		t.Errorf("the server wrote %d bytes, want at most max_data_size + 4 MiB", n)
	}
	if grown > 2*maxData {
		t.Errorf("the heap grew by %d bytes, want at most twice max_data_size", grown)
	}
}

// TestTinyElements: each element is charged its in-memory cost, so a list
// of {} far shorter than max_data_size still cannot make more records than
// max_data_size pays for.
func TestTinyElements(t *testing.T) {
	const maxData = 4 << 20
	n := 2 * maxData / apimdata.ElementCost // 3 bytes each: 3/4 of maxData in bytes
	tiny := "[" + strings.Repeat("{},", n) + "{}]"
	for _, path := range []string{"/apis", "/applications", "/application-key-mappings", "/subscriptions", "/revokedjwt"} {
		t.Run(path, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == apimdata.DataPath+path && path == "/revokedjwt":
					_, _ = io.WriteString(w, tiny)
				case r.URL.Path == apimdata.DataPath+path:
					_, _ = io.WriteString(w, `{"list":`+tiny+`}`)
				case r.URL.Path == apimdata.DataPath+"/revokedjwt":
					_, _ = io.WriteString(w, `[]`)
				default:
					_, _ = io.WriteString(w, `{"count":0,"list":[]}`)
				}
			}))
			defer srv.Close()
			if _, err := readAll(t, srv.URL, apimdata.ClientOptions{MaxDataSize: maxData}); err == nil || !strings.Contains(err.Error(), "max_data_size") {
				t.Fatalf("ReadAll of %d empty records: %v, want an error naming max_data_size", n+1, err)
			}
		})
	}
}
