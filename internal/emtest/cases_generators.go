package emtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
)

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "now_generator_store_precision", run: nowGeneratorStorePrecision},
	)
}

// nowGeneratorStorePrecision: the built-in "now" generator truncates to the
// precision the store keeps, microseconds on SQL (TIMESTAMPTZ, DATETIME(6))
// and milliseconds on MongoDB (BSON dates). No finer, so that the time in
// memory after a flush equals the one read back; no coarser, so that nothing
// the store could keep is dropped. (The SQL and MongoDB paths each had their
// own "now".)
func nowGeneratorStorePrecision(t *testing.T, v env) {
	precision := time.Microsecond
	if !v.sql {
		precision = time.Millisecond
	}
	e := v.orm.Fork()
	var books []*Book
	coarser := 0
	for i := range 12 { // one flush each: times apart, so their digits are independent
		b := &Book{Title: fmt.Sprintf("now %d", i)}
		must(t, e.Persist(b))
		must(t, e.Flush(v.ctx))
		books = append(books, b)
		for _, at := range []time.Time{b.CreatedAt, b.UpdatedAt} {
			if at.IsZero() || at.Location() != time.UTC || !at.Equal(at.Truncate(precision)) {
				t.Errorf("book %d: now generated %s (%s); want UTC to the %v the store keeps", b.ID, at.Format(time.RFC3339Nano), at.Location(), precision)
			}
		}
		if b.CreatedAt.Equal(b.CreatedAt.Truncate(10 * precision)) {
			coarser++
		}
	}
	if coarser == len(books) {
		t.Errorf("all %d generated times are multiples of %v: now truncates coarser than the %v the store keeps", coarser, 10*precision, precision)
	}
	f := v.orm.Fork()
	for _, b := range books {
		got, err := em.FindOneOrFail[Book](v.ctx, f, b.ID)
		must(t, err)
		if !got.CreatedAt.Equal(b.CreatedAt) || !got.UpdatedAt.Equal(b.UpdatedAt) {
			t.Errorf("book %d read back with created %s, updated %s; generated %s, %s", b.ID,
				got.CreatedAt.Format(time.RFC3339Nano), got.UpdatedAt.Format(time.RFC3339Nano), b.CreatedAt.Format(time.RFC3339Nano), b.UpdatedAt.Format(time.RFC3339Nano))
		}
	}
}
