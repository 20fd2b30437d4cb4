package qb_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/mikrogo/mikro/qb"
)

// FuzzSQLiteRoundTrip builds statements from random identifiers and values and
// runs them on SQLite: every value must come back exactly as bound, and the
// identifier must name exactly the column it was quoted as (it never breaks
// out of its quotes). Run it with go test -fuzz FuzzSQLiteRoundTrip ./qb.
func FuzzSQLiteRoundTrip(f *testing.F) {
	f.Add("name", "plain", int64(1), 1.5, []byte("b"))
	f.Add(`we"ird`, `it's`, int64(-7), -0.25, []byte{0, 1, 2})
	f.Add("a.b", "?", int64(math.MaxInt64), math.Inf(1), []byte("?"))
	f.Add(`x" TEXT); DROP TABLE fz; --`, `'); DROP TABLE fz; --`, int64(math.MinInt64), 1e300, []byte(nil))
	f.Add("`q`", "$1", int64(0), 0.0, []byte("'"))
	f.Add("??", "??", int64(42), 3.0, []byte("??"))
	f.Add("\n\t ", "\x00nul", int64(9), 2.5, []byte{0xff, 0xfe})

	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	d := qb.SQLite

	f.Fuzz(func(t *testing.T, ident, s string, n int64, fl float64, b []byte) {
		quoted, err := d.QuoteIdent(ident)
		if ident == "" || strings.IndexByte(ident, 0) >= 0 {
			if !errors.Is(err, qb.ErrInvalid) {
				t.Fatalf("QuoteIdent(%q) = %q, %v; want ErrInvalid", ident, quoted, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range []string{"s", "n", "f", "b"} {
			if strings.EqualFold(ident, other) {
				return // SQLite column names are case-insensitive: a real duplicate
			}
		}
		if math.IsNaN(fl) {
			return // SQLite stores NaN as NULL
		}
		if b == nil {
			b = []byte{}
		}
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS fz`); err != nil {
			t.Fatal(err)
		}
		// Columns without a declared type keep every value exactly as bound.
		if _, err := db.ExecContext(ctx, `CREATE TABLE fz (`+quoted+`, s, n, f, b)`); err != nil {
			t.Fatalf("CREATE TABLE with %s: %v", quoted, err)
		}

		ins, args, err := d.InsertInto("fz").Columns(ident, "s", "n", "f", "b").Values(s, s, n, fl, b).Build()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, ins, args...); err != nil {
			t.Fatalf("%s: %v", ins, err)
		}
		// A decoy row that only a broken condition would return.
		if _, err := db.ExecContext(ctx, `INSERT INTO fz VALUES ('decoy', 'decoy', 0, 0, x'00')`); err != nil {
			t.Fatal(err)
		}

		col := qb.Ident(ident)
		sel, args, err := d.Select(col, "s", "n", "f", "b").From("fz").
			Where(qb.Eq(col, s), qb.Eq("n", n), qb.Eq("f", fl), qb.Eq("b", b), qb.In("s", []string{s, s + "x"})).Build()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, sel, args...)
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		if cols[0] != ident {
			t.Fatalf("column %q came back named %q (sql %s)", ident, cols[0], sel)
		}
		count := 0
		for rows.Next() {
			count++
			var (
				gotIdent, gotS string
				gotN           int64
				gotF           float64
				gotB           []byte
			)
			if err := rows.Scan(&gotIdent, &gotS, &gotN, &gotF, &gotB); err != nil {
				t.Fatal(err)
			}
			if gotIdent != s || gotS != s || gotN != n || gotF != fl || string(gotB) != string(b) {
				t.Fatalf("round trip: got (%q %q %d %v %x), want (%q %q %d %v %x)", gotIdent, gotS, gotN, gotF, gotB, s, s, n, fl, b)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Fatalf("%d rows for one match (sql %s, args %v)", count, sel, args)
		}
	})
}
