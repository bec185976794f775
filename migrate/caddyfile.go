package migrate

import (
	"fmt"
	"strings"
	"time"
)

// writer builds Caddyfile text indented with tabs.
type writer struct {
	b     strings.Builder
	depth int
}

// line writes a directive: its tokens, quoted where the Caddyfile needs it.
func (w *writer) line(tokens ...string) {
	quoted := make([]string, len(tokens))
	for i, t := range tokens {
		quoted[i] = quote(t)
	}
	w.raw(strings.Join(quoted, " "))
}

// raw writes text as it is, indented.
func (w *writer) raw(text string) {
	w.b.WriteString(strings.Repeat("\t", w.depth))
	w.b.WriteString(text)
	w.b.WriteByte('\n')
}

// open writes a directive that opens a block.
func (w *writer) open(tokens ...string) {
	quoted := make([]string, len(tokens))
	for i, t := range tokens {
		quoted[i] = quote(t)
	}
	w.raw(strings.Join(append(quoted, "{"), " "))
	w.depth++
}

// close ends a block.
func (w *writer) close() {
	w.depth--
	w.raw("}")
}

// comment writes one comment line per line of text.
func (w *writer) comment(format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		w.raw("# " + l)
	}
}

// placeholder marks a token that is written as it is: a Caddy placeholder
// such as {env.KM_PASSWORD}.
const placeholder = "\x00"

// env is the {env.NAME} placeholder token.
func env(name string) string { return placeholder + "{env." + name + "}" }

// quote returns a Caddyfile token for s: as it is when it is plain, else
// in backquotes (or double quotes when s holds a backquote).
func quote(s string) string {
	if rest, ok := strings.CutPrefix(s, placeholder); ok {
		return rest
	}
	if s != "" && !strings.ContainsAny(s, " \t\r\n\"'`{}\\") && !strings.HasPrefix(s, "#") {
		return s
	}
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// millis formats a count of milliseconds as a Caddy duration.
func millis(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case ms == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", ms)
}
