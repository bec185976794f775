package apimdata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// elementCost is charged to a read's budget for every decoded list element,
// on top of its JSON bytes (which already pay for its strings: a decoded
// string is never longer than its JSON). It pays for what the element
// costs in memory beside its strings, so that MaxDataSize bounds memory
// and not only bytes, and a stream of {},{},… makes at most
// MaxDataSize/elementCost records:
//   - the record struct: at most 120 bytes (API: seven strings and an int);
//   - the spare capacity append leaves in the list (a quarter at most for
//     long slices) and the old array it copies from until the collector
//     frees it: up to about 130 bytes more while a list grows;
//   - its entry in a Snapshot's index: a map slot of 24 to 32 bytes at a
//     load of at most 7/8, up to twice that while the table doubles.
//
// The three are not all live at once (the index is built after the read,
// when the lists have stopped growing), and 256 bytes is above what any
// record type needs at any moment.
const elementCost = 256

// maxElementSize caps one list element (and one skipped token or the
// whitespace before it), so that one endless string is never buffered
// whole. The largest records API Manager sends are a few KiB.
const maxElementSize = 1 << 20

// maxSkipDepth bounds the nesting of a member skipped because it is not
// read: each level costs the decoder a word, and no answer nests deeper
// than a few levels.
const maxSkipDepth = 64

var (
	// errOverBudget is the error of a read past max_data_size.
	errOverBudget = errors.New("the answers of one read are larger than max_data_size")
	// errElementSize is the error of a list element past maxElementSize.
	errElementSize = fmt.Errorf("a list element is larger than %d bytes", maxElementSize)
)

// budget is what one read (full or targeted) may still take, in bytes,
// shared by its parallel requests. It bounds memory, not only bytes: every
// decoded element is also charged elementCost.
type budget struct {
	left atomic.Int64
	err  error // the error of a read past the budget, naming its size
}

func (c *Client) newBudget() *budget {
	b := &budget{err: fmt.Errorf("%w (%d bytes)", errOverBudget, c.maxDataSize)}
	b.left.Store(c.maxDataSize)
	return b
}

// charge takes n bytes from the budget, or fails once it is spent.
func (b *budget) charge(n int64) error {
	if b.left.Add(-n) < 0 {
		return b.err
	}
	return nil
}

// shapeError is an answer that is JSON but not of the shape expected.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

// stream decodes one answer as it arrives. It is the json.Decoder's reader:
// it charges the budget for every byte it hands over and refuses to let
// the decoder hold more than maxElementSize bytes past its last complete
// token or value, so the decoder never buffers more than one element.
type stream struct {
	body    io.Reader
	b       *budget
	dec     *json.Decoder
	read    int64 // bytes handed to dec
	readErr error // the body's last error other than io.EOF
}

func newStream(body io.Reader, b *budget) *stream {
	s := &stream{body: body, b: b}
	s.dec = json.NewDecoder(s)
	return s
}

// Read implements io.Reader for the decoder.
func (s *stream) Read(p []byte) (int, error) {
	// InputOffset is the end of the last token or value the decoder
	// returned: what it read past that is the element in progress.
	room := maxElementSize - (s.read - s.dec.InputOffset())
	if room <= 0 {
		return 0, errElementSize
	}
	left := s.b.left.Load()
	if left <= 0 {
		return 0, s.b.err
	}
	p = p[:min(int64(len(p)), room, left)]
	n, err := s.body.Read(p)
	s.read += int64(n)
	s.b.left.Add(-int64(n))
	if err != nil && err != io.EOF {
		s.readErr = err
	}
	return n, err
}

// explain turns an error met while decoding the answer of path into one
// that says what failed.
func (s *stream) explain(path string, err error) error {
	var shape *shapeError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errOverBudget), errors.Is(err, errElementSize):
		return fmt.Errorf("GET %s: %w", path, err)
	case s.readErr != nil: // the cause, whatever the decoder made of it
		return fmt.Errorf("GET %s: reading the answer: %w", path, s.readErr)
	case errors.As(err, &shape):
		return fmt.Errorf("GET %s: %w", path, err)
	case errors.As(err, &typ):
		return fmt.Errorf("GET %s: reading the list: %w", path, err)
	}
	return fmt.Errorf("GET %s: malformed answer: %w", path, err)
}

// token returns the next token; the end of the answer where one is
// expected is an unexpected EOF.
func (s *stream) token() (json.Token, error) {
	tok, err := s.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return tok, err
}

// delim reads the delimiter want.
func (s *stream) delim(want json.Delim) error {
	tok, err := s.token()
	if err != nil {
		return err
	}
	if tok != want {
		return &shapeError{fmt.Sprintf("want %q, found %v", want, tok)}
	}
	return nil
}

// openList reads the start of an array, what, and tells whether there was
// one: a null is none.
func (s *stream) openList(what string) (bool, error) {
	tok, err := s.token()
	switch {
	case err != nil:
		return false, err
	case tok == nil:
		return false, nil
	case tok != json.Delim('['):
		return false, &shapeError{what + " is not a list"}
	}
	return true, nil
}

// key reads an object member's name.
func (s *stream) key() (string, error) {
	tok, err := s.token()
	if err != nil {
		return "", err
	}
	name, _ := tok.(string) // the decoder allows nothing else here
	return name, nil
}

// skip reads past one value, token by token, keeping none of it.
func (s *stream) skip() error {
	depth := 0
	for {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > maxSkipDepth {
				return &shapeError{fmt.Sprintf("a member nests deeper than %d levels", maxSkipDepth)}
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// end checks that nothing but white space follows the answer.
func (s *stream) end() error {
	switch _, err := s.dec.Token(); err {
	case io.EOF:
		return nil
	case nil:
		return &shapeError{"data after the answer"}
	default:
		return err
	}
}

// elements appends the elements of an array whose '[' was read to dst, one
// at a time, then reads the ']'.
func elements[T any](s *stream, dst *[]T) error {
	for s.dec.More() {
		if err := s.b.charge(elementCost); err != nil {
			return err
		}
		var zero T
		*dst = append(*dst, zero)
		if err := s.dec.Decode(&(*dst)[len(*dst)-1]); err != nil { // in place: no copy to allocate
			return err
		}
	}
	return s.delim(']')
}

// listOf decodes a {"count":N,"list":[…]} answer into dst: members in any
// order, others skipped, count (when present) checked against the list.
func listOf[T any](dst *[]T) func(*stream) error {
	return func(s *stream) error {
		if err := s.delim('{'); err != nil {
			return err
		}
		count, listed := -1, false
		for s.dec.More() {
			name, err := s.key()
			if err != nil {
				return err
			}
			switch name {
			case "count":
				var n *int
				if err := s.dec.Decode(&n); err != nil {
					return err
				}
				if n != nil {
					count = *n
				}
			case "list":
				ok, err := s.openList("the list")
				if err != nil {
					return err
				}
				if ok {
					listed = true
					if err := elements(s, dst); err != nil {
						return err
					}
				}
			default:
				if err := s.skip(); err != nil {
					return err
				}
			}
		}
		if err := s.delim('}'); err != nil {
			return err
		}
		if !listed {
			return &shapeError{"the answer has no list"}
		}
		if count >= 0 && count != len(*dst) {
			return &shapeError{fmt.Sprintf("count %d but %d entries", count, len(*dst))}
		}
		return s.end()
	}
}

// revokedInto decodes /revokedjwt into d: a JSON array of revoked tokens
// (API Manager 3.2 to 4.1) into d.Revoked, or an object (later releases)
// whose revokedJWTList is that array, whose revokedJWTConsumerKeyList goes
// to d.RevokedConsumerKeys and whose revokedJWTSubjectEntityList goes to
// d.RevokedSubjects; other members are skipped and a null list is an empty
// one. A null answer is no revocation at all.
func revokedInto(d *Data) func(*stream) error {
	return func(s *stream) error {
		tok, err := s.token()
		if err != nil {
			return err
		}
		switch tok {
		case nil:
		case json.Delim('['):
			if err := elements(s, &d.Revoked); err != nil {
				return err
			}
		case json.Delim('{'):
			for s.dec.More() {
				name, err := s.key()
				if err != nil {
					return err
				}
				var read func() error
				switch name {
				case "revokedJWTList":
					read = func() error { return elements(s, &d.Revoked) }
				case "revokedJWTConsumerKeyList":
					read = func() error { return elements(s, &d.RevokedConsumerKeys) }
				case "revokedJWTSubjectEntityList":
					read = func() error { return elements(s, &d.RevokedSubjects) }
				default:
					if err := s.skip(); err != nil {
						return err
					}
					continue
				}
				if ok, err := s.openList(name); err != nil {
					return err
				} else if ok {
					if err := read(); err != nil {
						return err
					}
				}
			}
			if err := s.delim('}'); err != nil {
				return err
			}
		default:
			return &shapeError{"the revoked tokens are neither a list nor an object"}
		}
		return s.end()
	}
}
