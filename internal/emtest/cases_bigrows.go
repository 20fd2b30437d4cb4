package emtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
)

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "big_rows_flush", sqlOnly: "the packet limit of SQL servers; on FerretDB the 39 MiB update flush outlasts the client's timeout", config: func(c *em.Config) { c.BatchSize = 1000 }, run: func(t *testing.T, v env) {
			// 600 rows of 60–70 KiB each: about 39 MiB, more than a MariaDB
			// packet carries by default (16 MiB). The statements must be cut
			// by bytes as well as by rows, for the inserts and the updates.
			const n = 600
			pad := func(i int, c string) string { return strings.Repeat(c, 60<<10+(i*17)%(10<<10)) }
			e := v.orm.Fork()
			books := make([]*Book, n)
			for i := range books {
				books[i] = &Book{Title: fmt.Sprintf("b%03d", i), Price: i, Meta: map[string]any{"pad": pad(i, "x")}}
				must(t, e.Persist(books[i]))
			}
			must(t, e.Flush(v.ctx))
			for i, b := range books {
				b.Meta["pad"] = pad(i, "y")
				b.Price = -i
			}
			must(t, e.Flush(v.ctx))
			// Read back by pages: 39 MiB in one answer is more than some
			// stores serve within a client's timeout.
			var got []*Book
			for off := 0; off < n+100; off += 100 {
				page, err := em.Find[Book](v.ctx, v.orm.Fork(), nil, em.FindOptions{OrderBy: []string{"title"}, Limit: 100, Offset: off})
				must(t, err)
				got = append(got, page...)
			}
			if len(got) != n {
				t.Fatalf("%d books read back, want %d", len(got), n)
			}
			for i, b := range got {
				if b.Price != -i || b.Meta["pad"] != pad(i, "y") {
					t.Fatalf("book %d: price %d, pad of %d bytes (want %d)", i, b.Price, len(fmt.Sprint(b.Meta["pad"])), len(pad(i, "y")))
				}
			}
		}},
	)
}
