// Package rawjson walks JSON that a strict parser has already accepted
// (the claims of a validated token), without checking it again: the
// members of an object and the elements of an array, as slices of the
// input. Given anything else it returns ErrMalformed rather than
// misbehaving, but it does not promise to notice every fault.
package rawjson

import "errors"

// ErrMalformed tells that the input is not a JSON value of the kind asked.
var ErrMalformed = errors.New("malformed JSON value")

// EachElement calls fn with each element of the JSON array arr, in order,
// as a capped slice of arr. When it returns an error, fn may have been
// called for some elements.
func EachElement(arr []byte, fn func(value []byte)) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return ErrMalformed
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return atEnd(arr, i+1)
	}
	for {
		end, ok := skipValue(arr, i)
		if !ok {
			return ErrMalformed
		}
		fn(arr[i:end:end])
		i = skipSpace(arr, end)
		if i >= len(arr) {
			return ErrMalformed
		}
		switch arr[i] {
		case ',':
			i = skipSpace(arr, i+1)
		case ']':
			return atEnd(arr, i+1)
		default:
			return ErrMalformed
		}
	}
}

// EachMember calls fn with the name, as its JSON string literal with the
// quotes, and the value of each member of the JSON object obj, in order,
// both capped slices of obj. When it returns an error, fn may have been
// called for some members.
func EachMember(obj []byte, fn func(name, value []byte)) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrMalformed
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return atEnd(obj, i+1)
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return ErrMalformed
		}
		nameEnd, ok := skipString(obj, i)
		if !ok {
			return ErrMalformed
		}
		j := skipSpace(obj, nameEnd)
		if j >= len(obj) || obj[j] != ':' {
			return ErrMalformed
		}
		j = skipSpace(obj, j+1)
		end, ok := skipValue(obj, j)
		if !ok {
			return ErrMalformed
		}
		fn(obj[i:nameEnd:nameEnd], obj[j:end:end])
		i = skipSpace(obj, end)
		if i >= len(obj) {
			return ErrMalformed
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return atEnd(obj, i+1)
		default:
			return ErrMalformed
		}
	}
}

// atEnd returns ErrMalformed unless only white space follows b[i-1].
func atEnd(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return ErrMalformed
	}
	return nil
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the JSON string that starts at b[i].
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the JSON value that starts at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		return skipNested(b, i)
	case ',', ':', '}', ']', ' ', '\t', '\n', '\r':
		return 0, false
	}
	j := i // a number or a literal
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, true
		}
		j++
	}
	return j, true
}

// skipNested returns the index after the object or array that starts at
// b[i].
func skipNested(b []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			end, ok := skipString(b, j)
			if !ok {
				return 0, false
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return 0, false
}
