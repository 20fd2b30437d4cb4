package em

import (
	"context"
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// rowsDB answers every query with n scanRows, scanned the way drivers do
// (strings copied out of the wire buffer), to measure hydration alone.
type rowsDB struct {
	noDB
	n int
}

func (d rowsDB) Query(context.Context, string, []any) (dbconn.Rows, error) {
	return &fakeRows{n: d.n}, nil
}

type fakeRows struct {
	i, n int
	wire []byte
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= r.n }
func (r *fakeRows) Err() error { return nil }
func (r *fakeRows) Close() error {
	return nil
}

func (r *fakeRows) Scan(dest ...any) error {
	if r.wire == nil {
		r.wire = []byte("nametitlefaxweb")
	}
	*dest[0].(*int) = r.i
	*dest[1].(*string) = string(r.wire[0:4])
	*dest[2].(*string) = string(r.wire[4:9])
	*dest[3].(*string) = string(r.wire[9:12])
	*dest[4].(*string) = string(r.wire[12:15])
	*dest[5].(*int) = 30
	*dest[6].(*bool) = true
	*dest[7].(*int64) = int64(r.i)
	return nil
}

// BenchmarkHydrate reads rows by key and by filter into a fresh fork each
// time, on a connection that makes the rows up: the entity manager's own
// cost of a read (query building, scanning, identity map, snapshots).
func BenchmarkHydrate(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 100} {
		o, err := OpenConn(ctx, rowsDB{n: n}, Config{Dialect: qb.Postgres, Entities: []any{scanRow{}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n == 1 {
					if _, err := FindOneOrFail[scanRow](ctx, o.Fork(), 1); err != nil {
						b.Fatal(err)
					}
					continue
				}
				rows, err := Find[scanRow](ctx, o.Fork(), F{"id": Gt(0)}, FindOptions{Limit: 100})
				if err != nil || len(rows) != n {
					b.Fatal(len(rows), err)
				}
			}
		})
	}
}
