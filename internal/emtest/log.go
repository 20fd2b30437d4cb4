package emtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// QueryLog captures the statements an ORM runs (Config.Debug logs each one).
type QueryLog struct {
	mu   sync.Mutex
	sqls []string
}

// Enabled, Handle, WithAttrs and WithGroup make QueryLog a slog.Handler.
func (l *QueryLog) Enabled(context.Context, slog.Level) bool { return true }

// Handle records the statement of an "em: query" record.
func (l *QueryLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "em: query" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			l.mu.Lock()
			l.sqls = append(l.sqls, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// WithAttrs returns the log itself: attributes are not recorded.
func (l *QueryLog) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup returns the log itself.
func (l *QueryLog) WithGroup(string) slog.Handler { return l }

// Reset forgets the statements logged so far.
func (l *QueryLog) Reset() {
	l.mu.Lock()
	l.sqls = nil
	l.mu.Unlock()
}

// All returns the statements logged since the last Reset.
func (l *QueryLog) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sqls...)
}

// Count returns how many logged statements start with prefix.
func (l *QueryLog) Count(prefix string) int {
	n := 0
	for _, s := range l.All() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}
