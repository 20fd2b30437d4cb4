package em

import (
	"database/sql"
	"testing"
	"time"
)

// TestSQLiteArgs: times of every spelling are bound as SQLite's UTC text,
// the caller's slice is left as it was, and other arguments pass through.
func TestSQLiteArgs(t *testing.T) {
	at := time.Date(2021, 1, 1, 4, 30, 0, 500_000_000, time.FixedZone("X", 2*3600))
	var nilTime *time.Time
	var nilNull *sql.NullTime
	args := []any{at, &at, sql.NullTime{Time: at, Valid: true}, sql.NullTime{}, nilTime, nilNull, "x", int64(1)}
	got := sqliteArgs(args)
	want := []any{"2021-01-01 02:30:00.5", "2021-01-01 02:30:00.5", "2021-01-01 02:30:00.5", sql.NullTime{}, nilTime, nilNull, "x", int64(1)}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("arg %d: bound as %#v, want %#v", i, got[i], want[i])
		}
	}
	if args[0] != any(at) {
		t.Errorf("sqliteArgs changed the caller's slice: %#v", args[0])
	}
	plain := []any{"a", 1}
	if out := sqliteArgs(plain); &out[0] != &plain[0] {
		t.Error("arguments without times were copied")
	}
}
