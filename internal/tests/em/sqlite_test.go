package em_test

import (
	"context"
	"database/sql"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/qb"
)

// These tests open SQLite the way a user does (Driver and DSN, or a pool
// the user opened), not through internal/dbtest, whose DSN switches
// foreign keys on by itself.

// TestSQLiteForeignKeysOnWhenOpenedByDSN: em.Open with a plain DSN turns
// foreign keys on, so deleting an author deletes its pivot rows (ON DELETE
// CASCADE) instead of leaving them behind.
func TestSQLiteForeignKeysOnWhenOpenedByDSN(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{
		"file:" + filepath.Join(t.TempDir(), "fk.db"),
		"file:" + filepath.Join(t.TempDir(), "fk2.db") + "?_pragma=busy_timeout(1000)",
		":memory:",
	} {
		t.Run(dsn, func(t *testing.T) {
			o, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: dsn, Entities: emtest.Entities})
			must(t, err)
			defer o.Close()
			must(t, o.CreateSchema(ctx))
			var on int
			must(t, o.DB().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on))
			if on != 1 {
				t.Errorf("PRAGMA foreign_keys = %d on a pool em.Open opened, want 1", on)
			}
			e := o.Fork()
			a := &emtest.Author{Name: "Ann"}
			a.Tags.Add(&emtest.Tag{Name: "go"}, &emtest.Tag{Name: "sql"})
			must(t, e.Persist(a))
			must(t, e.Flush(ctx))
			pivot := pivotOf(t, o, "Tags")
			if n := countRows(t, o, pivot); n != 2 {
				t.Fatalf("%s holds %d rows after the flush, want 2", pivot, n)
			}
			if _, err := em.NativeDelete[emtest.Author](ctx, o.Fork(), em.F{"id": a.ID}); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, o, pivot); n != 0 {
				t.Errorf("%s holds %d rows after its owner was deleted, want 0 (ON DELETE CASCADE needs foreign keys on)", pivot, n)
			}
		})
	}
}

// TestSQLiteForeignKeysOffIsRefused: a pool the user opened without foreign
// keys, or a DSN that turns them off, is refused at Open with an error that
// says how to turn them on, rather than run without the constraints the
// schema declares.
func TestSQLiteForeignKeysOffIsRefused(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "nofk.db"))
	must(t, err)
	defer db.Close()
	_, err = em.Open(ctx, em.Config{DB: db, Dialect: qb.SQLite, Entities: emtest.Entities})
	if !errors.Is(err, em.ErrSQLiteForeignKeys) || !strings.Contains(err.Error(), "foreign_keys(1)") {
		t.Errorf("Open on a pool without foreign keys: %v, want ErrSQLiteForeignKeys naming _pragma=foreign_keys(1)", err)
	}
	_, err = em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file:" + filepath.Join(t.TempDir(), "off.db") + "?_pragma=foreign_keys(0)", Entities: emtest.Entities})
	if !errors.Is(err, em.ErrSQLiteForeignKeys) {
		t.Errorf("Open with a DSN that turns foreign keys off: %v, want ErrSQLiteForeignKeys", err)
	}
	db2, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "fk.db")+"?_pragma=foreign_keys(1)")
	must(t, err)
	defer db2.Close()
	o, err := em.Open(ctx, em.Config{DB: db2, Dialect: qb.SQLite, Entities: emtest.Entities})
	must(t, err)
	must(t, o.Close())
}

func pivotOf(t *testing.T, o *em.ORM, rel string) string {
	t.Helper()
	m, err := o.Meta(emtest.Author{})
	must(t, err)
	for _, r := range m.Relations {
		if r.Name == rel {
			return r.Pivot
		}
	}
	t.Fatalf("Author has no relation %s", rel)
	return ""
}

func countRows(t *testing.T, o *em.ORM, table string) int {
	t.Helper()
	var n int
	must(t, o.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// Event is an entity with a time column, for the SQLite time tests.
type Event struct {
	ID   int64     `db:"id" orm:"pk"`
	At   time.Time `db:"at"`
	Note string    `db:"note"`
}

// sqliteOpens are the two ways an ORM gets a SQLite database: em.Open opens
// the DSN, or the user passes a pool of their own (whose DSN em cannot
// change).
func sqliteOpens(t *testing.T) map[string]func(t *testing.T, path string) *em.ORM {
	ctx := context.Background()
	return map[string]func(t *testing.T, path string) *em.ORM{
		"dsn": func(t *testing.T, path string) *em.ORM {
			o, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file:" + path, Entities: []any{Event{}}})
			must(t, err)
			t.Cleanup(func() { _ = o.Close() })
			return o
		},
		"pool": func(t *testing.T, path string) *em.ORM {
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
			must(t, err)
			t.Cleanup(func() { _ = db.Close() })
			o, err := em.Open(ctx, em.Config{DB: db, Dialect: qb.SQLite, Entities: []any{Event{}}})
			must(t, err)
			return o
		},
	}
}

// TestSQLiteTimesCompareWithSQLiteText: times mikro writes are text in
// SQLite's own format (UTC, 'YYYY-MM-DD HH:MM:SS[.fff…]'), so that range
// filters and equality agree with rows written as plain SQL text (as the
// sqlite3 CLI or another program writes them) and date() reads them; and
// rows written by others, with or without fractions and zones, read back as
// the same instants, in UTC.
func TestSQLiteTimesCompareWithSQLiteText(t *testing.T) {
	ctx := context.Background()
	for name, open := range sqliteOpens(t) {
		t.Run(name, func(t *testing.T) {
			o := open(t, filepath.Join(t.TempDir(), "times.db"))
			must(t, o.CreateSchema(ctx))
			_, err := o.DB().ExecContext(ctx, `INSERT INTO event (at, note) VALUES
				('2020-12-31 23:59:59', 'before'),
				('2021-01-01 00:00:00', 'midnight'),
				('2021-01-01 00:00:00.5', 'half'),
				('2021-01-01 12:00:00', 'noon'),
				('2021-01-02 00:00:00', 'next')`)
			must(t, err)
			e := o.Fork()
			utc := &Event{At: time.Date(2021, 1, 1, 3, 0, 0, 0, time.UTC), Note: "m-utc"}
			// 04:30 at UTC+2 is 02:30 UTC: stored as UTC.
			zoned := &Event{At: time.Date(2021, 1, 1, 4, 30, 0, 250_000_000, time.FixedZone("X", 2*3600)), Note: "m-zoned"}
			// 00:30 at UTC-1 on Dec 31st is Jan 1st 01:30 UTC.
			west := &Event{At: time.Date(2020, 12, 31, 23, 30, 0, 0, time.FixedZone("W", -2*3600)), Note: "m-west"}
			must(t, e.Persist(utc, zoned, west))
			must(t, e.Flush(ctx))

			var stored []string
			rows, err := o.DB().QueryContext(ctx, "SELECT at || '' FROM event WHERE note LIKE 'm-%' ORDER BY id")
			must(t, err)
			for rows.Next() {
				var s string
				must(t, rows.Scan(&s))
				stored = append(stored, s)
			}
			must(t, rows.Err())
			if want := []string{"2021-01-01 03:00:00", "2021-01-01 02:30:00.25", "2021-01-01 01:30:00"}; strings.Join(stored, "|") != strings.Join(want, "|") {
				t.Errorf("stored text %q, want %q", stored, want)
			}

			day := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
			got, err := em.Find[Event](ctx, o.Fork(), em.F{"at": em.F{"$gte": day, "$lt": day.AddDate(0, 0, 1)}}, em.FindOptions{OrderBy: []string{"at"}})
			must(t, err)
			if notes := notesOf(got); notes != "midnight half m-west m-zoned m-utc noon" {
				t.Errorf("range [Jan 1st, Jan 2nd) found %q, want \"midnight half m-west m-zoned m-utc noon\"", notes)
			}
			got, err = em.Find[Event](ctx, o.Fork(), em.F{"at": day})
			must(t, err)
			if notes := notesOf(got); notes != "midnight" {
				t.Errorf("at = %v found %q, want the row written as '2021-01-01 00:00:00'", day, notes)
			}
			// Equality from another zone is equality of instants.
			got, err = em.Find[Event](ctx, o.Fork(), em.F{"at": day.In(time.FixedZone("E", 5*3600))})
			must(t, err)
			if notes := notesOf(got); notes != "midnight" {
				t.Errorf("at = midnight as seen from UTC+5 found %q, want \"midnight\"", notes)
			}
			var onDay int
			must(t, o.DB().QueryRowContext(ctx, "SELECT count(*) FROM event WHERE date(at) = '2021-01-01'").Scan(&onDay))
			if onDay != 6 {
				t.Errorf("date(at) = '2021-01-01' counts %d rows, want 6 (SQLite must read the times mikro wrote)", onDay)
			}
		})
	}
}

// TestSQLiteReadsTimesWrittenByOthers: SQLite time text in each of the forms
// SQLite's date functions accept reads back as the instant it names, in UTC.
func TestSQLiteReadsTimesWrittenByOthers(t *testing.T) {
	ctx := context.Background()
	for name, open := range sqliteOpens(t) {
		t.Run(name, func(t *testing.T) {
			o := open(t, filepath.Join(t.TempDir(), "others.db"))
			must(t, o.CreateSchema(ctx))
			cases := map[string]time.Time{
				"2021-01-01 00:00:00":           time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
				"2021-01-01 00:00:00.123":       time.Date(2021, 1, 1, 0, 0, 0, 123_000_000, time.UTC),
				"2021-01-01 00:00:00.123456789": time.Date(2021, 1, 1, 0, 0, 0, 123_456_789, time.UTC),
				"2021-01-01T06:07:08Z":          time.Date(2021, 1, 1, 6, 7, 8, 0, time.UTC),
				"2021-01-01 08:00:00+02:00":     time.Date(2021, 1, 1, 6, 0, 0, 0, time.UTC),
				"2021-01-01T08:00:00.5-01:30":   time.Date(2021, 1, 1, 9, 30, 0, 500_000_000, time.UTC),
				"2021-01-01 10:11":              time.Date(2021, 1, 1, 10, 11, 0, 0, time.UTC),
				"2021-01-01":                    time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC),
			}
			for text := range cases {
				_, err := o.DB().ExecContext(ctx, "INSERT INTO event (at, note) VALUES (?, ?)", text, text)
				must(t, err)
			}
			for _, strategy := range []em.PopulateStrategy{em.SelectIn, em.Joined} {
				all, err := em.FindAll[Event](ctx, o.Fork(), em.FindOptions{Strategy: strategy})
				must(t, err)
				if len(all) != len(cases) {
					t.Fatalf("found %d events, want %d", len(all), len(cases))
				}
				for _, ev := range all {
					want := cases[ev.Note]
					if !ev.At.Equal(want) || ev.At.Location() != time.UTC {
						t.Errorf("strategy %d: %q read as %v, want %v (in UTC)", strategy, ev.Note, ev.At, want)
					}
				}
			}
		})
	}
}

// TestSQLiteTimesWithTheCLI: the sqlite3 command-line shell and mikro share
// one database file: the shell's datetime() output and CURRENT_TIMESTAMP
// compare with mikro's times, and the shell's date() reads mikro's.
func TestSQLiteTimesWithTheCLI(t *testing.T) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		if dbtest.InCI() {
			t.Fatal("the sqlite3 CLI is not installed (CI=true: install it, apt-get install sqlite3)")
		}
		t.Skip("the sqlite3 CLI is not installed")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cli.db")
	o := sqliteOpens(t)["dsn"](t, path)
	must(t, o.CreateSchema(ctx))
	run := func(sql string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, cli, path, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %q: %v: %s", sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(`INSERT INTO event (at, note) VALUES (datetime('2021-01-01 00:00:00'), 'cli-midnight'),
		(datetime('2021-01-01 00:00:00', '+90 minutes'), 'cli-later'),
		(CURRENT_TIMESTAMP, 'cli-now')`)
	e := o.Fork()
	must(t, e.Persist(&Event{At: time.Date(2021, 1, 1, 1, 0, 0, 0, time.UTC), Note: "mikro"}))
	must(t, e.Flush(ctx))

	day := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := em.Find[Event](ctx, o.Fork(), em.F{"at": em.F{"$gte": day, "$lte": day.Add(90 * time.Minute)}}, em.FindOptions{OrderBy: []string{"at"}})
	must(t, err)
	if notes := notesOf(got); notes != "cli-midnight mikro cli-later" {
		t.Errorf("range found %q, want \"cli-midnight mikro cli-later\"", notes)
	}
	now, err := em.FindOne[Event](ctx, o.Fork(), em.F{"note": "cli-now"})
	must(t, err)
	if d := time.Since(now.At); d < -time.Hour || d > time.Hour || now.At.Location() != time.UTC {
		t.Errorf("CURRENT_TIMESTAMP read as %v, want about now, in UTC", now.At)
	}
	if out := run("SELECT date(at) || '|' || time(at) || '|' || (at > datetime('2021-01-01 00:59:59')) FROM event WHERE note = 'mikro'"); out != "2021-01-01|01:00:00|1" {
		t.Errorf("the CLI reads mikro's time as %q, want 2021-01-01|01:00:00|1", out)
	}
}

func notesOf(evs []*Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Note)
	}
	return strings.Join(s, " ")
}
