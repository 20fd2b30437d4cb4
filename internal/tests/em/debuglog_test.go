package em_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
	_ "github.com/mikrogo/mikro/internal/dbtest" // registers the sqlite driver
)

type debugNote struct {
	ID   int64  `db:"id" orm:"pk"`
	Text string `db:"text"`
}

// stderrOf runs fn with os.Stderr going into a pipe and returns what fn
// wrote there.
func stderrOf(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	func() {
		defer func() { os.Stderr = saved }()
		fn()
	}()
	_ = w.Close()
	return <-done
}

// TestDebugShowsQueriesWithoutALogger: Config.Debug alone prints every
// query (slog.Default shows only Info, where queries logged at Debug used
// to vanish), and without Debug nothing is printed.
func TestDebugShowsQueriesWithoutALogger(t *testing.T) {
	ctx := context.Background()
	for _, debug := range []bool{true, false} {
		out := stderrOf(t, func() {
			o, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: []any{debugNote{}}, Debug: debug})
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			must(t, o.CreateSchema(ctx))
			e := o.Fork()
			must(t, e.Persist(&debugNote{Text: "hello"}))
			must(t, e.Flush(ctx))
			if _, err := em.Count[debugNote](ctx, e, em.F{"text": "hello"}); err != nil {
				t.Fatal(err)
			}
		})
		if debug {
			for _, want := range []string{"em: query", "INSERT INTO", "SELECT count(*)", "hello"} {
				if !strings.Contains(out, want) {
					t.Fatalf("Debug: true without a Logger: stderr lacks %q:\n%s", want, out)
				}
			}
		} else if out != "" {
			t.Fatalf("Debug: false printed:\n%s", out)
		}
	}
}
