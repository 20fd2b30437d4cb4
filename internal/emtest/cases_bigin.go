package emtest

import (
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// bigInKeys is the number of keys of the big $in cases: more than any SQL
// database accepts as parameters of one statement (65,535).
const bigInKeys = 70_000

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "big_in_int_keys", run: func(t *testing.T, v env) {
			// Five books are matched by 70,000 keys, two are not.
			e := v.orm.Fork()
			books := make([]*Book, 7)
			for i := range books {
				books[i] = &Book{Title: fmt.Sprintf("b%d", i), Price: i}
				must(t, e.Persist(books[i]))
			}
			must(t, e.Flush(v.ctx))
			keys := make([]int64, 0, bigInKeys)
			for _, b := range books[:5] {
				keys = append(keys, b.ID)
			}
			for i := int64(1); len(keys) < bigInKeys; i++ {
				keys = append(keys, -i)
			}
			f := v.orm.Fork()
			// ORDER BY and LIMIT apply to the whole list: one query's meaning.
			got, err := em.Find[Book](v.ctx, f, em.F{"id": em.In(keys)}, em.FindOptions{OrderBy: []string{"price DESC"}, Limit: 2})
			must(t, err)
			if len(got) != 2 || got[0].Price != 4 || got[1].Price != 3 {
				t.Fatalf("find $in of %d keys, price DESC, limit 2: %v", len(keys), titles(got))
			}
			n, err := em.Count[Book](v.ctx, f, em.F{"id": keys})
			must(t, err)
			if n != 5 {
				t.Fatalf("count of a plain list of %d keys: %d, want 5", len(keys), n)
			}
			n, err = em.Count[Book](v.ctx, f, em.F{"id": em.Nin(keys)})
			must(t, err)
			if n != 2 {
				t.Fatalf("count $nin of %d keys: %d, want 2", len(keys), n)
			}
			if v.sql { // the query builder is SQL's
				anyKeys := make([]any, len(keys))
				for i, k := range keys {
					anyKeys[i] = k
				}
				qbGot, err := em.QB[Book](f, "b").Where(em.F{"b.id": em.In(anyKeys), "b.price": em.Gte(1)}).OrderBy("b.price").All(v.ctx)
				must(t, err)
				if len(qbGot) != 4 || qbGot[0].Price != 1 {
					t.Fatalf("QB.Where $in of %d keys: %v", len(keys), titles(qbGot))
				}
			}
			upd, err := em.NativeUpdate[Book](v.ctx, f, em.F{"id": em.In(keys)}, map[string]any{"title": "seen"})
			must(t, err)
			if upd != 5 {
				t.Fatalf("NativeUpdate $in of %d keys changed %d rows, want 5", len(keys), upd)
			}
			del, err := em.NativeDelete[Book](v.ctx, f, em.F{"id": em.Nin(keys)})
			must(t, err)
			if del != 2 {
				t.Fatalf("NativeDelete $nin of %d keys removed %d rows, want 2", len(keys), del)
			}
			left, err := em.Find[Book](v.ctx, v.orm.Fork(), nil, em.FindOptions{OrderBy: []string{"id"}})
			must(t, err)
			if len(left) != 5 || left[0].Title != "seen" || left[4].Title != "seen" {
				t.Fatalf("after the native update and delete: %v", titles(left))
			}
		}},
		behaviourCase{name: "big_in_string_keys", run: func(t *testing.T, v env) {
			// Assigned string keys (publishers) and generated UUID keys (tags).
			e := v.orm.Fork()
			var codes []string
			for i := range 4 {
				p := &Publisher{Code: fmt.Sprintf("pub-%d", i), Name: fmt.Sprintf("Publisher %d", i)}
				must(t, e.Persist(p))
				codes = append(codes, p.Code)
			}
			tags := []*Tag{{Name: "go"}, {Name: "sql"}, {Name: "db"}}
			for _, tg := range tags {
				must(t, e.Persist(tg))
			}
			must(t, e.Flush(v.ctx))
			for i := 0; len(codes) < bigInKeys; i++ {
				codes = append(codes, fmt.Sprintf("none-%d", i))
			}
			f := v.orm.Fork()
			pubs, err := em.Find[Publisher](v.ctx, f, em.F{"code": em.In(codes[1:])}, em.FindOptions{OrderBy: []string{"code"}, Limit: 2})
			must(t, err)
			if len(pubs) != 2 || pubs[0].Code != "pub-1" || pubs[1].Code != "pub-2" {
				t.Fatalf("find $in of %d string keys, limit 2: %+v", len(codes)-1, pubs)
			}
			n, err := em.Count[Publisher](v.ctx, f, em.F{"code": em.Nin(codes[1:])})
			must(t, err)
			if n != 1 {
				t.Fatalf("count $nin of %d string keys: %d, want 1", len(codes)-1, n)
			}
			ids := []string{tags[0].ID, tags[2].ID}
			for i := 0; len(ids) < bigInKeys; i++ {
				ids = append(ids, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
			}
			found, err := em.Find[Tag](v.ctx, f, em.F{"id": em.In(ids)}, em.FindOptions{OrderBy: []string{"name"}})
			must(t, err)
			if len(found) != 2 || found[0].Name != "db" || found[1].Name != "go" {
				t.Fatalf("find $in of %d UUID keys: %+v", len(ids), found)
			}
		}},
	)
}

func titles(bs []*Book) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Title
	}
	return out
}
