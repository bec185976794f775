package testcaddy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Answer is what one request sent under load got: an HTTP answer, or the
// transport error that remained after http.Transport's own retries.
type Answer struct {
	// Client is the number of the client that sent the request, Seq its
	// position in that client's requests (from 0), and Label what the
	// request's Next function named it.
	Client, Seq int
	Label       string
	// Start is when the request was sent and Took how long its answer took
	// to arrive whole.
	Start time.Time
	Took  time.Duration
	// Reused tells whether the request's last attempt went on a kept-alive
	// connection, Attempts how many connections the request was tried on
	// (http.Transport resends a request that failed on a reused
	// connection before any answer byte), and FirstByte whether any byte
	// of an answer arrived.
	Reused    bool
	Attempts  int
	FirstByte bool
	// Status, Header and Body are the answer's; Body is cut to 512 bytes.
	Status int
	Header http.Header
	Body   string
	// Err is the transport error, if no whole answer arrived.
	Err error
}

// DroppedFresh reports whether the request failed on a fresh connection
// that the server side dropped (reset or closed) before any answer byte:
// what the kernel does to a connection still queued on a listening socket
// that closes, as Caddy's old socket does in a config reload.
func (a Answer) DroppedFresh() bool {
	return a.Err != nil && !a.Reused && !a.FirstByte &&
		(errors.Is(a.Err, syscall.ECONNRESET) || errors.Is(a.Err, io.EOF) || errors.Is(a.Err, io.ErrUnexpectedEOF))
}

// String describes the answer on one line, for a failing test's log; it
// shows no request header, so no token.
func (a Answer) String() string {
	conn := "fresh connection"
	if a.Reused {
		conn = "reused connection"
	}
	head := fmt.Sprintf("client %d request %d (%s) at %s, %s, %d attempt(s), after %v",
		a.Client, a.Seq, a.Label, a.Start.Format("15:04:05.000000"), conn, a.Attempts, a.Took.Round(time.Microsecond))
	if a.Err != nil {
		return fmt.Sprintf("%s: error (first byte received: %v): %v", head, a.FirstByte, a.Err)
	}
	return fmt.Sprintf("%s: %d %q", head, a.Status, a.Body)
}

// LoadSpec describes load on a gateway.
type LoadSpec struct {
	// Clients is how many clients send requests concurrently, each the
	// next as soon as it has the last answer whole; they share one
	// keep-alive http.Transport with an idle connection for each.
	Clients int
	// FreshClients is how many more clients send every request on a
	// connection of its own, as a client that does not keep connections
	// alive does; they are numbered after the keep-alive ones.
	FreshClients int
	// Path is the request path of every request.
	Path string
	// Next returns the label and the request headers (name, value pairs)
	// of a client's seq-th request.
	Next func(client, seq int) (label string, headers []string)
	// Classify names the outcome of an answer; the load counts answers by
	// these names and keeps the first few of each (see Load.Examples).
	Classify func(Answer) string
}

// keptExamples is how many answers of each class a Load keeps.
const keptExamples = 5

// Load is load running on a gateway: see StartLoad.
type Load struct {
	spec      LoadSpec
	transport *http.Transport // the keep-alive clients'
	client    *http.Client
	fresh     *http.Client
	stop      atomic.Bool
	wg        sync.WaitGroup

	mu       sync.Mutex
	counts   map[string]int64
	examples map[string][]Answer
}

// StartLoad starts the spec's clients (keep-alive and fresh-connection)
// sending GET spec.Path to the gateway's site until Stop; the load is also
// stopped when the test ends.
func (g *Gateway) StartLoad(spec LoadSpec) *Load {
	g.t.Helper()
	if spec.Clients+spec.FreshClients < 1 || spec.Next == nil || spec.Classify == nil {
		g.t.Fatal("StartLoad needs clients, Next and Classify")
	}
	tr := &http.Transport{
		MaxIdleConns:        spec.Clients,
		MaxIdleConnsPerHost: spec.Clients,
		IdleConnTimeout:     time.Minute,
	}
	l := &Load{
		spec:      spec,
		transport: tr,
		client:    &http.Client{Timeout: 10 * time.Second, Transport: tr},
		fresh:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		counts:    make(map[string]int64),
		examples:  make(map[string][]Answer),
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", g.Port, spec.Path)
	for c := range spec.Clients + spec.FreshClients {
		client := l.client
		if c >= spec.Clients {
			client = l.fresh
		}
		l.wg.Go(func() {
			for seq := 0; !l.stop.Load(); seq++ {
				l.record(l.send(client, url, c, seq))
			}
		})
	}
	g.t.Cleanup(func() { l.Stop() })
	return l
}

// send sends one request and reads its whole answer.
func (l *Load) send(hc *http.Client, url string, client, seq int) Answer {
	label, headers := l.spec.Next(client, seq)
	a := Answer{Client: client, Seq: seq, Label: label, Start: time.Now()}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		a.Err = err
		return a
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	var reused, first atomic.Bool
	var attempts atomic.Int32
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			attempts.Add(1)
			reused.Store(info.Reused)
		},
		GotFirstResponseByte: func() { first.Store(true) },
	}))
	resp, err := hc.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.Status, a.Header = resp.StatusCode, resp.Header
		a.Body = string(body[:min(len(body), 512)])
	}
	a.Err, a.Took = err, time.Since(a.Start)
	a.Reused, a.FirstByte, a.Attempts = reused.Load(), first.Load(), int(attempts.Load())
	return a
}

// record counts an answer under its class.
func (l *Load) record(a Answer) {
	class := l.spec.Classify(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[class]++
	if len(l.examples[class]) < keptExamples {
		l.examples[class] = append(l.examples[class], a)
	}
}

// Counts returns how many answers of each class have arrived so far.
func (l *Load) Counts() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := make(map[string]int64, len(l.counts))
	for k, v := range l.counts {
		c[k] = v
	}
	return c
}

// Total is the number of answers in counts.
func Total(counts map[string]int64) int64 {
	var n int64
	for _, v := range counts {
		n += v
	}
	return n
}

// Examples returns the first answers of a class (at most five).
func (l *Load) Examples(class string) []Answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Answer(nil), l.examples[class]...)
}

// WaitCounts polls the counts until cond holds, failing the test after
// timeout.
func (l *Load) WaitCounts(t testing.TB, what string, timeout time.Duration, cond func(map[string]int64) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := l.Counts()
		if cond(c) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; answers so far:\n%s", timeout, what, FormatCounts(c))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop stops the clients, waits for their last answers and closes the
// load's idle connections. It returns the final counts; calling it again
// returns them again.
func (l *Load) Stop() map[string]int64 {
	l.stop.Store(true)
	l.wg.Wait()
	l.transport.CloseIdleConnections()
	return l.Counts()
}

// FormatCounts lists counts one class a line, sorted by class.
func FormatCounts(counts map[string]int64) string {
	classes := make([]string, 0, len(counts))
	for c := range counts {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var b strings.Builder
	for _, c := range classes {
		fmt.Fprintf(&b, "\t%7d  %s\n", counts[c], c)
	}
	return b.String()
}
