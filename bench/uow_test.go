package bench

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/qb"
)

// The unit of work's own bar: no peer has one, so these compare mikro with
// itself at growing sizes, and a no-op flush with one SELECT 1 round trip.

// Row is Model stored in uow_rows.
type Row struct {
	ID      int    `db:"id" orm:"pk"`
	Name    string `db:"name"`
	Title   string `db:"title"`
	Fax     string `db:"fax"`
	Web     string `db:"web"`
	Age     int    `db:"age"`
	Right   bool   `db:"right"`
	Counter int64  `db:"counter"`
}

func (Row) TableName() string { return "uow_rows" }

// fillRows recreates uow_rows with n rows (ids 1…n).
func fillRows(tb testing.TB, v *ormEnv, n int) {
	tb.Helper()
	ctx := v.ctx
	for _, s := range []string{`DROP TABLE IF EXISTS uow_rows`, `CREATE TABLE uow_rows (id SERIAL PRIMARY KEY, name TEXT NOT NULL, title TEXT NOT NULL,
		fax TEXT NOT NULL, web TEXT NOT NULL, age INT NOT NULL, "right" BOOLEAN NOT NULL, counter BIGINT NOT NULL)`} {
		if _, err := v.conn.Exec(ctx, s); err != nil {
			tb.Fatal(err)
		}
	}
	if n == 0 {
		return
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{"name", "title", "fax", "web", 30, true, int64(i)}
	}
	if _, err := v.conn.CopyFrom(ctx, pgx.Identifier{"uow_rows"}, []string{"name", "title", "fax", "web", "age", "right", "counter"}, pgx.CopyFromRows(rows)); err != nil {
		tb.Fatal(err)
	}
}

func uowORM(tb testing.TB, v *ormEnv) *em.ORM {
	o, err := em.Open(v.ctx, em.Config{DB: v.sqldb, Dialect: qb.Postgres, Entities: []any{Row{}}})
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func BenchmarkUnitOfWork(b *testing.B) {
	v := openORMEnv(b)
	ctx := v.ctx
	o := uowORM(b, v)
	const n = 10_000

	b.Run("SelectOneRoundTrip", func(b *testing.B) {
		for b.Loop() {
			var one int
			fatal(b, v.sqldb.QueryRowContext(ctx, "SELECT 1").Scan(&one))
		}
	})

	b.Run("CreateFlush10k", func(b *testing.B) {
		fillRows(b, v, 0)
		for b.Loop() {
			e := o.Fork()
			for i := range n {
				fatal(b, e.Persist(&Row{Name: "name", Title: "title", Fax: "fax", Web: "web", Age: 30, Right: true, Counter: int64(i)}))
			}
			fatal(b, e.Flush(ctx))
		}
	})

	fillRows(b, v, n)
	b.Run("Find10kIntoIdentityMap", func(b *testing.B) {
		for b.Loop() {
			rows, err := em.FindAll[Row](ctx, o.Fork())
			fatal(b, err)
			if len(rows) != n {
				b.Fatalf("%d rows", len(rows))
			}
		}
	})

	b.Run("ChangeOneFieldFlush10k", func(b *testing.B) {
		e := o.Fork()
		rows, err := em.FindAll[Row](ctx, e)
		fatal(b, err)
		for i := 0; b.Loop(); i++ {
			for _, r := range rows {
				r.Counter++
			}
			fatal(b, e.Flush(ctx))
		}
	})

	b.Run("RemoveAllFlush10k", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			fillRows(b, v, n)
			e := o.Fork()
			rows, err := em.FindAll[Row](ctx, e)
			fatal(b, err)
			b.StartTimer()
			for _, r := range rows {
				fatal(b, e.Remove(r))
			}
			fatal(b, e.Flush(ctx))
		}
	})

	explicit, err := em.Open(v.ctx, em.Config{DB: v.sqldb, Dialect: qb.Postgres, Entities: []any{Row{}}, ChangeTracking: em.ChangeTrackingExplicit})
	fatal(b, err)
	for _, managed := range []int{10_000, 100_000} {
		fillRows(b, v, managed)
		for _, policy := range []struct {
			name string
			orm  *em.ORM
		}{{"Flush", o}, {"FlushExplicit", explicit}} {
			e := policy.orm.Fork()
			rows := make([]*Row, managed)
			for i := range rows {
				r := &Row{ID: i + 1, Name: "name", Title: "title", Fax: "fax", Web: "web", Age: 30, Right: true, Counter: int64(i)}
				got, err := em.Merge(e, r) // managed and clean, without reading 100k rows
				fatal(b, err)
				rows[i] = got
			}
			if policy.orm == o {
				// The target: a flush with nothing to write costs less than
				// one round trip. Timed in rotation with SELECT 1, so that
				// the database's own work (autovacuum after fillRows) and
				// the machine's load fall on both.
				b.Run(fmt.Sprintf("NoopFlushVsSelectOne/managed=%d", managed), func(b *testing.B) {
					median := rotate(b, []func(int){
						func(int) { fatal(b, e.Flush(ctx)) },
						func(int) {
							var one int
							fatal(b, v.sqldb.QueryRowContext(ctx, "SELECT 1").Scan(&one))
						},
					})
					b.ReportMetric(median[0], "flush-ns")
					b.ReportMetric(median[1], "select1-ns")
					b.ReportMetric(median[0]/median[1], "flush/select1")
				})
			}
			for _, dirty := range []int{0, 1, 100} {
				b.Run(fmt.Sprintf("%s/managed=%d/dirty=%d", policy.name, managed, dirty), func(b *testing.B) {
					for i := 0; b.Loop(); i++ {
						for j := range dirty {
							r := rows[(j*997)%managed]
							r.Counter++
							fatal(b, e.Persist(r)) // marks it under explicit tracking; a no-op otherwise
						}
						fatal(b, e.Flush(ctx))
					}
				})
			}
		}
	}
}
