package bench

import (
	"slices"
	"testing"
	"time"
)

// pairedContenders are the contenders BenchmarkPaired times against each
// other: raw pgx, the two ORMs mikro must be ahead of, and mikro.
var pairedContenders = []string{"pgx", "bun", "gorm", "mikro", "mikro_pgx"}

// BenchmarkPaired runs the operations of BenchmarkORM with the contenders
// in rotation: every iteration runs each contender once, starting with a
// different one each time, so that the load of a shared machine falls on
// all alike. It reports each contender's median time ("pgx-ns" …) and its
// ratio to pgx's median ("bun/pgx" …), the figures to read; ns/op is the
// whole rotation.
func BenchmarkPaired(b *testing.B) {
	v := openORMEnv(b)
	for _, op := range ormOps(v) {
		var cs []ormContender
		for _, name := range pairedContenders {
			if i := slices.IndexFunc(op.contenders, func(c ormContender) bool { return c.name == name }); i >= 0 {
				cs = append(cs, op.contenders[i])
			}
		}
		if len(cs) != len(pairedContenders) {
			b.Fatalf("%s: %d of the paired contenders", op.name, len(cs))
		}
		b.Run(op.name, func(b *testing.B) {
			runs := make([]func(int), len(cs))
			for k, c := range cs {
				runs[k] = c.prepare(b)
			}
			median := rotate(b, runs)
			for k := range cs {
				b.ReportMetric(median[k], cs[k].name+"-ns")
			}
			for k := 1; k < len(cs); k++ {
				b.ReportMetric(median[k]/median[0], cs[k].name+"/pgx")
			}
		})
	}
}

// rotate runs fns in rotation until b is done: every iteration calls each
// once, starting with a different one each time, so that neither the load
// of a shared machine nor warm caches favour one. It returns the median
// time of each, in nanoseconds.
func rotate(b *testing.B, fns []func(i int)) []float64 {
	times := make([][]time.Duration, len(fns))
	for i := 0; b.Loop(); i++ {
		for j := range fns {
			k := (i + j) % len(fns)
			start := time.Now()
			fns[k](i)
			times[k] = append(times[k], time.Since(start))
		}
	}
	median := make([]float64, len(fns))
	for k := range fns {
		slices.Sort(times[k])
		median[k] = float64(times[k][len(times[k])/2].Nanoseconds())
	}
	return median
}
