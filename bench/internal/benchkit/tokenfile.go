package benchkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// A token file holds minted access tokens, token i on line i+1, so that a
// run mints them once, on all cores and before any load, and every case of
// every round reads as many as it needs. Each case has a Caddy of its own,
// so a token read by two cases is still new to each of them.

// ExtendTokenFile makes the token file at path hold at least n tokens of m,
// minting on all cores the ones it lacks after those it holds. It returns
// how many it minted.
func ExtendTokenFile(path string, m *Minter, n int) (int, error) {
	have, err := countLines(path)
	if err != nil {
		return 0, err
	}
	if have >= n {
		return 0, nil
	}
	tokens, err := m.MintRange(have, n)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening the token file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, t := range tokens {
		w.WriteString(t)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("writing the token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("writing the token file: %w", err)
	}
	return len(tokens), nil
}

// ReadTokens returns the first n tokens of the token file at path, or all
// of them if it holds fewer.
func ReadTokens(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the token file: %w", err)
	}
	defer f.Close()
	tokens := make([]string, 0, n)
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 64<<10)
	for len(tokens) < n && s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			return nil, fmt.Errorf("%s line %d is empty", path, len(tokens)+1)
		}
		tokens = append(tokens, line)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return tokens, nil
}

// countLines counts the lines of the file at path; a missing file has none.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("opening the token file: %w", err)
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("reading the token file: %w", err)
		}
	}
}
