package main

// TestREADMECommands runs the curl and ./caddy lines of the README (the
// quick start, the admin API walkthrough, convert and inspect) against a
// running demo, as a reader would paste them, and checks each answer
// against the status or exit code its comment gives.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-backend-jwt/caddy-backend-jwt/internal/testcaddy"
)

// TestMain lets a test run the caddy command (./caddy lines of the README)
// as this test binary, which has the demo's modules.
func TestMain(m *testing.M) { testcaddy.Main(m) }

// syncBuffer is an io.Writer that a running demo prints to while the test
// reads what it printed.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := commandBlocks(string(readme))
	if len(blocks) < 4 {
		t.Fatalf("found %d blocks of curl or ./caddy lines in the README, want the quick start's, the admin walkthrough, convert's and troubleshooting's", len(blocks))
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, options{}, &out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the demo: %v", err)
		}
	}()
	// The demo's addresses, which replace the README's default ones.
	ports := map[string]string{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(ports) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not print its addresses:\n%s", out.String())
		}
		for name, re := range map[string]*regexp.Regexp{
			"8787": regexp.MustCompile(`gateway \(Caddy \+ backend_jwt\)\s+http://127\.0\.0\.1:(\d+)`),
			"2019": regexp.MustCompile(`Caddy admin API\s+http://127\.0\.0\.1:(\d+)`),
			"8788": regexp.MustCompile(`demo issuer\s+http://127\.0\.0\.1:(\d+)`),
		} {
			if m := re.FindStringSubmatch(out.String()); m != nil {
				ports[name] = m[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	sh := &miniShell{t: t, vars: map[string]string{}, client: &http.Client{Timeout: 10 * time.Second}}
	for _, block := range blocks {
		for from, to := range ports {
			block = strings.ReplaceAll(block, "127.0.0.1:"+from, "127.0.0.1:"+to)
		}
		for _, c := range commandsOf(block) {
			if err := sh.run(c); err != nil {
				t.Errorf("%s\n  %v", c.line, err)
			}
		}
	}
}

// commandBlocks returns the ```sh blocks of markdown that hold curl or
// ./caddy lines.
func commandBlocks(markdown string) []string {
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(markdown, -1) {
		if strings.Contains(m[1], "curl ") || strings.Contains(m[1], "./caddy ") {
			blocks = append(blocks, m[1])
		}
	}
	return blocks
}

// command is one shell line of a README block and the status its comment
// expects (0: any status below 400), or for ./caddy the exit code.
type command struct {
	line   string
	status int
	exit   int
}

var (
	statusComment = regexp.MustCompile(`^#\s*(\d{3})\b`)
	exitComment   = regexp.MustCompile(`^#\s*exit (\d+)\b`)
)

// commandsOf joins continued lines and pairs each command with the status
// of its trailing comment, or of the comment line that follows it.
func commandsOf(block string) []command {
	var cmds []command
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		switch {
		case full == "":
		case strings.HasPrefix(full, "#"):
			if m := statusComment.FindStringSubmatch(full); m != nil && len(cmds) > 0 && cmds[len(cmds)-1].status == 0 {
				cmds[len(cmds)-1].status, _ = strconv.Atoi(m[1])
			}
		default:
			code, comment := splitComment(full)
			c := command{line: code}
			if m := statusComment.FindStringSubmatch(comment); m != nil {
				c.status, _ = strconv.Atoi(m[1])
			}
			if m := exitComment.FindStringSubmatch(comment); m != nil {
				c.exit, _ = strconv.Atoi(m[1])
			}
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// splitComment cuts a line at a # that starts a shell comment: after white
// space and outside quotes.
func splitComment(line string) (code, comment string) {
	var quote byte
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimSpace(line[:i]), line[i:]
		}
	}
	return line, ""
}

// miniShell runs the README's shell lines: NAME=value, NAME=$(curl …),
// curl with -s, -X, -H, -d and -w, and ./caddy (this test binary as the
// caddy command, paths taken from the repository's root), expanding $NAME
// and the one arithmetic the README uses, $(($(date +%s)+N)).
type miniShell struct {
	t      testing.TB
	vars   map[string]string
	client *http.Client
}

var (
	assignment = regexp.MustCompile(`^([A-Z_]+)=(.*)$`)
	arithmetic = regexp.MustCompile(`\$\(\(\$\(date \+%s\)\+(\d+)\)\)`)
)

func (s *miniShell) run(c command) error {
	line := arithmetic.ReplaceAllStringFunc(c.line, func(m string) string {
		n, _ := strconv.ParseInt(arithmetic.FindStringSubmatch(m)[1], 10, 64)
		return strconv.FormatInt(time.Now().Unix()+n, 10)
	})
	if m := assignment.FindStringSubmatch(line); m != nil {
		value := m[2]
		if inner, ok := strings.CutPrefix(value, "$("); ok && strings.HasSuffix(inner, ")") {
			body, status, err := s.curl(strings.TrimSuffix(inner, ")"))
			if err != nil {
				return err
			}
			if status >= 400 {
				return fmt.Errorf("HTTP %d: %.200s", status, body)
			}
			s.vars[m[1]] = strings.TrimSpace(body)
			return nil
		}
		words, err := s.words(value)
		if err != nil || len(words) != 1 {
			return fmt.Errorf("cannot read the assignment %q: %v", value, err)
		}
		s.vars[m[1]] = words[0]
		return nil
	}
	if strings.HasPrefix(line, "./caddy ") {
		return s.caddy(line, c.exit)
	}
	body, status, err := s.curl(line)
	switch {
	case err != nil:
		return err
	case c.status != 0 && status != c.status:
		return fmt.Errorf("HTTP %d, the README says %d: %.300s", status, c.status, body)
	case c.status == 0 && status >= 400:
		return fmt.Errorf("HTTP %d: %.300s", status, body)
	}
	return nil
}

// caddy runs a ./caddy line and checks its exit code. An argument naming
// a file of the repository is given as that file's path from here.
func (s *miniShell) caddy(line string, exit int) error {
	words, err := s.words(line)
	if err != nil {
		return err
	}
	args := words[1:]
	for i, a := range args {
		if _, err := os.Stat(filepath.Join("../..", a)); err == nil && !strings.HasPrefix(a, "-") {
			args[i] = filepath.Join("../..", a)
		}
	}
	stdout, stderr, code := testcaddy.Command(s.t, nil, args...)
	if code != exit {
		return fmt.Errorf("exit %d, the README says %d:\n%.600s%.600s", code, exit, stdout, stderr)
	}
	return nil
}

// curl sends the request a curl command line describes and returns the
// answer's body and status.
func (s *miniShell) curl(line string) (string, int, error) {
	words, err := s.words(line)
	if err != nil {
		return "", 0, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return "", 0, fmt.Errorf("not a curl command: %q", line)
	}
	method, url, data := "", "", ""
	hasData := false
	header := http.Header{}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch w {
		case "-s":
		case "-X":
			if method, err = next(); err != nil {
				return "", 0, err
			}
		case "-H":
			h, err := next()
			if err != nil {
				return "", 0, err
			}
			name, value, _ := strings.Cut(h, ":")
			header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		case "-d":
			if data, err = next(); err != nil {
				return "", 0, err
			}
			hasData = true
		case "-w":
			if _, err = next(); err != nil {
				return "", 0, err
			}
		default:
			if strings.HasPrefix(w, "-") || url != "" {
				return "", 0, fmt.Errorf("curl argument %q is not one this test knows", w)
			}
			url = w
		}
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	if method == "" {
		method = http.MethodGet
		if hasData {
			method = http.MethodPost
		}
	}
	var body io.Reader
	if hasData {
		body = strings.NewReader(data)
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return "", 0, err
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode, err
}

// words splits a shell line as sh does for the README's lines: white
// space outside quotes, single quotes literal, double quotes with \" and
// \\ escapes, and $NAME expanded outside single quotes.
func (s *miniShell) words(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	expand := func(i int) int { // line[i] == '$'
		j := i + 1
		for j < len(line) && (line[j] == '_' || 'A' <= line[j] && line[j] <= 'Z') {
			j++
		}
		if j == i+1 {
			w.WriteByte('$')
			return i
		}
		w.WriteString(s.vars[line[i+1:j]])
		return j - 1
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		case '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", line)
			}
			w.WriteString(line[i+1 : i+1+end])
			i, inWord = i+1+end, true
		case '"':
			inWord = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				switch {
				case line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`, line[i+1]) >= 0:
					i++
					w.WriteByte(line[i])
				case line[i] == '$':
					i = expand(i)
				default:
					w.WriteByte(line[i])
				}
			}
			if i >= len(line) {
				return nil, fmt.Errorf(`unclosed " in %q`, line)
			}
		case '$':
			inWord = true
			i = expand(i)
		default:
			inWord = true
			w.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
