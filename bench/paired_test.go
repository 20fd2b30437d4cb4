package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
)

// BenchmarkPairedRead reads with raw pgx and with mikro on pgx (mikro_pgx of
// BenchmarkORM: a fresh fork, the rows entering its identity map) in
// alternation, one read of each per iteration, so that the load of a shared
// machine falls on both alike. It reports the median time of each and their
// ratio (mikro_pgx/pgx), the figure to read; ns/op is the pair.
func BenchmarkPairedRead(b *testing.B) {
	v := openORMEnv(b)
	ctx := v.ctx
	o := v.mikroX
	reads := []struct {
		name       string
		pgx, mikro func()
	}{
		{"Read1", func() {
			var m Model
			fatal(b, v.conn.QueryRow(ctx, readSQL, 1).Scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
		}, func() {
			_, err := em.FindOneOrFail[Model](ctx, o.Fork(), 1)
			fatal(b, err)
		}},
		{"Read100", func() {
			rows, err := v.conn.Query(ctx, readNSQL)
			fatal(b, err)
			ms := make([]*Model, 0, 100)
			for rows.Next() {
				m := new(Model)
				fatal(b, rows.Scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
				ms = append(ms, m)
			}
			fatal(b, rows.Err())
			if len(ms) != 100 {
				b.Fatalf("%d rows", len(ms))
			}
		}, func() {
			ms, err := em.Find[Model](ctx, o.Fork(), em.F{"id": em.Gt(0)}, em.FindOptions{Limit: 100})
			fatal(b, err)
			if len(ms) != 100 {
				b.Fatalf("%d rows", len(ms))
			}
		}},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			var tp, tm []time.Duration
			for i := 0; b.Loop(); i++ {
				// Alternate which goes first: neither always gets the warm
				// caches of the other.
				first, second, t1, t2 := r.pgx, r.mikro, &tp, &tm
				if i%2 == 1 {
					first, second, t1, t2 = r.mikro, r.pgx, &tm, &tp
				}
				s := time.Now()
				first()
				m := time.Now()
				second()
				*t1 = append(*t1, m.Sub(s))
				*t2 = append(*t2, time.Since(m))
			}
			slices.Sort(tp)
			slices.Sort(tm)
			mp, mm := tp[len(tp)/2], tm[len(tm)/2]
			b.ReportMetric(float64(mp.Nanoseconds()), "pgx-ns")
			b.ReportMetric(float64(mm.Nanoseconds()), "mikro_pgx-ns")
			b.ReportMetric(float64(mm)/float64(mp), "ratio")
		})
	}
}
