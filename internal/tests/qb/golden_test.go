package qb_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the SQL built now")

// dialects maps the golden sections to dialects; mysql is golden-tested only
// (no MySQL server here), the others are also executed.
var dialects = []struct {
	name string
	d    *qb.Dialect
	db   string // dbtest name, "" when not executed
}{
	{"postgres", qb.Postgres, dbtest.Postgres},
	{"mysql", qb.MySQL, ""},
	{"mariadb", qb.MariaDB, dbtest.MariaDB},
	{"sqlite", qb.SQLite, dbtest.SQLite},
}

// gcase is one query of the shared table. build makes it for a dialect; want
// is the rows it returns on every database (or the rows of check, run after it
// in the same transaction, for statements that return none). Every case runs
// in a transaction that is rolled back, so fixtures never change.
type gcase struct {
	name        string
	build       func(d *qb.Dialect) stmt
	check       func(d *qb.Dialect) stmt
	want        [][]string
	wantBy      map[string][][]string // per-database override of want
	unsupported []string              // dialects where Build must fail with ErrUnsupported
	invalid     bool                  // Build must fail with ErrInvalid on every dialect
	unordered   bool                  // compare rows as a set
}

// stmt is what every qb statement builder has.
type stmt interface {
	Build() (string, []any, error)
}

func row(vals ...any) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = fmt.Sprint(v)
	}
	return out
}

func rows(rs ...[]string) [][]string { return rs }

func TestGolden(t *testing.T) {
	cases := goldenCases()
	// Build every case for every dialect first, so that the exec subtests
	// have their SQL whatever -run selects.
	built := map[string]map[string]result{} // case → dialect → result
	for _, c := range cases {
		built[c.name] = map[string]result{}
		for _, dl := range dialects {
			sql, args, err := c.build(dl.d).Build()
			built[c.name][dl.name] = result{sql, args, err}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			for _, dl := range dialects {
				res := built[c.name][dl.name]
				fmt.Fprintf(&b, "-- %s\n", dl.name)
				switch err := res.err; {
				case slices.Contains(c.unsupported, dl.name):
					if !errors.Is(err, qb.ErrUnsupported) {
						t.Errorf("%s: want an ErrUnsupported error, got %v (%s)", dl.name, err, res.sql)
					}
				case c.invalid:
					if !errors.Is(err, qb.ErrInvalid) {
						t.Errorf("%s: want an ErrInvalid error, got %v (%s)", dl.name, err, res.sql)
					}
				case err != nil:
					t.Errorf("%s: %v", dl.name, err)
				}
				if res.err != nil {
					fmt.Fprintf(&b, "error: %v\n", res.err)
					continue
				}
				fmt.Fprintf(&b, "%s\nargs: %s\n", res.sql, formatArgs(res.args))
			}
			compareGolden(t, c.name, b.String())
		})
	}

	for _, dl := range dialects {
		if dl.db == "" {
			continue
		}
		t.Run("exec/"+dl.db, func(t *testing.T) {
			tg := dbtest.Open(t, dl.db)
			ctx := context.Background()
			loadFixtures(t, ctx, tg)
			for _, c := range cases {
				res := built[c.name][dl.name]
				if res.err != nil {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					got := execCase(t, ctx, tg.DB, dl.d, c, res)
					want := c.want
					if w, ok := c.wantBy[dl.db]; ok {
						want = w
					}
					if c.unordered {
						sortRows(got)
						want = slices.Clone(want)
						sortRows(want)
					}
					if !equalRows(got, want) {
						t.Errorf("rows differ\nsql:  %s\nargs: %s\ngot:  %v\nwant: %v", res.sql, formatArgs(res.args), got, want)
					}
				})
			}
		})
	}
}

type result struct {
	sql  string
	args []any
	err  error
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the SQL built now (go test -run TestGolden -update rewrites it)\n--- want\n%s--- got\n%s", path, want, got)
	}
}

func formatArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			parts[i] = strconv.Quote(s)
		} else {
			parts[i] = fmt.Sprintf("%v", a)
		}
		if p := parts[i]; len(p) > 100 {
			// A long list bound as one value: its ends and its length.
			parts[i] = fmt.Sprintf("%s…%s (%d chars)", p[:40], p[len(p)-20:], len(p))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func execCase(t *testing.T, ctx context.Context, db *sql.DB, d *qb.Dialect, c gcase, res result) [][]string {
	t.Helper()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if c.check == nil {
		return queryRows(t, ctx, tx, res.sql, res.args)
	}
	if _, err := tx.ExecContext(ctx, res.sql, res.args...); err != nil {
		t.Fatalf("exec: %v\nsql: %s\nargs: %s", err, res.sql, formatArgs(res.args))
	}
	sql, args, err := c.check(d).Build()
	if err != nil {
		t.Fatal(err)
	}
	return queryRows(t, ctx, tx, sql, args)
}

func queryRows(t *testing.T, ctx context.Context, tx *sql.Tx, query string, args []any) [][]string {
	t.Helper()
	rs, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("query: %v\nsql: %s\nargs: %s", err, query, formatArgs(args))
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	out := [][]string{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(cols))
		for i, v := range vals {
			r[i] = normalize(v)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("rows: %v\nsql: %s", err, query)
	}
	return out
}

// normalize spells a scanned value the same way whatever the driver returned.
func normalize(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

func sortRows(r [][]string) {
	slices.SortFunc(r, func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) })
}

func equalRows(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

var fixtureDDL = map[string][]string{
	dbtest.Postgres: {
		`DROP TABLE IF EXISTS qb_posts, qb_users, qb_counters`,
		`CREATE TABLE qb_users (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) NOT NULL UNIQUE, age INT, active BOOLEAN NOT NULL, data JSONB)`,
		`CREATE TABLE qb_posts (id INT PRIMARY KEY, user_id INT NOT NULL REFERENCES qb_users (id), title VARCHAR(100) NOT NULL, score INT NOT NULL)`,
		`CREATE TABLE qb_counters (id SERIAL PRIMARY KEY, n INT NOT NULL DEFAULT 7)`,
	},
	dbtest.MariaDB: {
		`DROP TABLE IF EXISTS qb_posts, qb_users, qb_counters`,
		`CREATE TABLE qb_users (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) NOT NULL UNIQUE, age INT, active BOOLEAN NOT NULL, data JSON) ENGINE=InnoDB`,
		`CREATE TABLE qb_posts (id INT PRIMARY KEY, user_id INT NOT NULL REFERENCES qb_users (id), title VARCHAR(100) NOT NULL, score INT NOT NULL) ENGINE=InnoDB`,
		`CREATE TABLE qb_counters (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL DEFAULT 7) ENGINE=InnoDB`,
	},
	dbtest.SQLite: {
		`DROP TABLE IF EXISTS qb_posts`, `DROP TABLE IF EXISTS qb_users`, `DROP TABLE IF EXISTS qb_counters`,
		`CREATE TABLE qb_users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) NOT NULL UNIQUE, age INT, active BOOLEAN NOT NULL, data TEXT)`,
		`CREATE TABLE qb_posts (id INTEGER PRIMARY KEY, user_id INT NOT NULL REFERENCES qb_users (id), title VARCHAR(100) NOT NULL, score INT NOT NULL)`,
		`CREATE TABLE qb_counters (id INTEGER PRIMARY KEY AUTOINCREMENT, n INT NOT NULL DEFAULT 7)`,
	},
}

// loadFixtures creates the fixture tables and fills them, using qb itself for
// the rows.
func loadFixtures(t *testing.T, ctx context.Context, tg dbtest.Target) {
	t.Helper()
	d := map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB, dbtest.SQLite: qb.SQLite}[tg.Name]
	for _, stmt := range fixtureDDL[tg.Name] {
		if _, err := tg.DB.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	users := d.InsertInto("qb_users").Columns("id", "name", "email", "age", "active", "data").
		Values(1, "Ann", "ann@example.com", 31, true, `{"city": "Oslo", "tags": ["go", "sql"], "odd \"key": "q"}`).
		Values(2, "Bob", "bob@example.com", 25, true, `{"city": "Rome", "tags": ["js"]}`).
		Values(3, "Cid", "cid@example.com", nil, false, `{"city": "Oslo", "tags": []}`).
		Values(4, "Dee", "dee@example.com", 42, true, nil)
	posts := d.InsertInto("qb_posts").Columns("id", "user_id", "title", "score").
		Values(1, 1, "Hello", 10).
		Values(2, 1, "Go tips", 20).
		Values(3, 2, "JS", 5).
		Values(4, 4, "Dee's", 7).
		Values(5, 1, "SQL", 15)
	for _, q := range []qb.InsertQuery{users, posts} {
		sql, args, err := q.Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.DB.ExecContext(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}
