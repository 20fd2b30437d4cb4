package emtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mikrogo/mikro/em"
)

func seedAuthors(t *testing.T, v env, names ...string) []*Author {
	t.Helper()
	e := v.orm.Fork()
	var out []*Author
	for _, n := range names {
		a := &Author{Name: n, Rating: 1}
		must(t, e.Persist(a))
		out = append(out, a)
	}
	must(t, e.Flush(v.ctx))
	v.log.Reset()
	return out
}

// seenKey carries, in a flush's context, where a subscriber puts what it saw.
type seenKey struct{}

var behaviourCases = []behaviourCase{
	{name: "identity_map_same_pointer", run: func(t *testing.T, v env) {
		seedAuthors(t, v, "Ann", "Bob")
		e := v.orm.Fork()
		all, err := em.FindAll[Author](v.ctx, e, em.FindOptions{OrderBy: []string{"name"}})
		must(t, err)
		again, err := em.Find[Author](v.ctx, e, em.F{"name": "Ann"})
		must(t, err)
		if len(all) != 2 || len(again) != 1 || all[0] != again[0] {
			t.Fatalf("two finds of one row gave different instances: %p %p", all[0], again[0])
		}
		v.log.Reset()
		byPK, err := em.FindOne[Author](v.ctx, e, all[1].ID)
		must(t, err)
		byFilter, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"id": all[1].ID})
		must(t, err)
		if byPK != all[1] || byFilter != all[1] {
			t.Fatal("FindOne by primary key did not return the managed instance")
		}
		if n := len(v.log.All()); n != 0 {
			t.Fatalf("FindOne of managed entities ran %d queries: %v", n, v.log.All())
		}
		other := v.orm.Fork()
		o, err := em.FindOne[Author](v.ctx, other, all[1].ID)
		must(t, err)
		if o == all[1] || o.Name != "Bob" {
			t.Fatal("a fork shares the identity map")
		}
		// Clear detaches everything: the next find loads new instances.
		e.Clear()
		if e.ManagedCount() != 0 || e.IsManaged(all[0]) {
			t.Fatal("Clear left entities managed")
		}
		fresh, err := em.FindOneOrFail[Author](v.ctx, e, all[0].ID)
		must(t, err)
		if fresh == all[0] {
			t.Fatal("after Clear a find returned the old instance")
		}
	}},
	{name: "change_set_minimal", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		b := &Book{Title: "Go", Price: 10, Meta: map[string]any{"a": 1.0}}
		must(t, e.Persist(b))
		must(t, e.Flush(v.ctx))
		e = v.orm.Fork()
		got, err := em.FindOneOrFail[Book](v.ctx, e, b.ID)
		must(t, err)
		got.Price = 12
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		var updates []string
		for _, s := range v.log.All() {
			if strings.HasPrefix(s, "UPDATE") {
				updates = append(updates, s)
			}
		}
		if len(updates) != 1 || !strings.Contains(updates[0], "price") || strings.Contains(updates[0], "title") || strings.Contains(updates[0], "meta") ||
			!strings.Contains(updates[0], "updated_at") || strings.Contains(updates[0], "created_at") {
			t.Fatalf("the UPDATE must set only price (and onUpdate updated_at): %v", updates)
		}
		// A change inside the JSON document is a change too.
		got.Meta["a"] = 2.0
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if v.log.Count("UPDATE") != 1 {
			t.Fatalf("a JSON change was not flushed: %v", v.log.All())
		}
		fresh, err := em.FindOneOrFail[Book](v.ctx, v.orm.Fork(), b.ID)
		must(t, err)
		if fresh.Price != 12 || fresh.Meta["a"] != 2.0 || fresh.Title != "Go" {
			t.Fatalf("reloaded %+v", fresh)
		}
	}},
	{name: "explicit_change_tracking", config: func(c *em.Config) {
		c.ChangeTracking = em.ChangeTrackingExplicit
	}, run: func(t *testing.T, v env) {
		seedAuthors(t, v, "Ann", "Bob", "Cid")
		e := v.orm.Fork()
		all, err := em.FindAll[Author](v.ctx, e, em.FindOptions{OrderBy: []string{"name"}})
		must(t, err)
		ann, bob, cid := all[0], all[1], all[2]
		// Changed but not persisted: not compared, not written.
		ann.Rating, bob.Rating = 7, 8
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if n := v.log.Count("UPDATE"); n != 0 {
			t.Fatalf("explicit tracking wrote entities nobody persisted: %v", v.log.All())
		}
		// Persist marks one: only it is written.
		must(t, e.Persist(ann))
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if n := v.log.Count("UPDATE"); n != 1 {
			t.Fatalf("want the UPDATE of the persisted author only: %v", v.log.All())
		}
		// The mark is spent: a new change of Ann waits for a new Persist,
		// and Bob's change is still unwritten.
		ann.Rating = 70
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if n := v.log.Count("UPDATE"); n != 0 {
			t.Fatalf("a flush after the marked one wrote again: %v", v.log.All())
		}
		// Assign marks too; a marked entity cascades persist to a new one.
		must(t, e.Assign(cid, map[string]any{"rating": 9}))
		bob.Tags.Add(&Tag{Name: "explicit"})
		must(t, e.Persist(bob))
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if v.log.Count("UPDATE") == 0 || v.log.Count("INSERT") == 0 {
			t.Fatalf("want Bob's and Cid's updates and the new tag: %v", v.log.All())
		}
		fresh, err := em.FindAll[Author](v.ctx, v.orm.Fork(), em.FindOptions{OrderBy: []string{"name"}, Populate: []string{"tags"}})
		must(t, err)
		bobTags, err := fresh[1].Tags.Count()
		must(t, err)
		if fresh[0].Rating != 7 || fresh[1].Rating != 8 || fresh[2].Rating != 9 || bobTags != 1 {
			t.Fatalf("stored ratings %v %v %v, Bob's tags %d", fresh[0].Rating, fresh[1].Rating, fresh[2].Rating, bobTags)
		}
		// A failed flush keeps the mark, so that the retry writes the change.
		bob.Name = "Ann"
		must(t, e.Persist(bob))
		if err := e.Flush(v.ctx); !errors.Is(err, em.ErrUniqueViolation) {
			t.Fatalf("duplicate name: %v", err)
		}
		bob.Name = "Bea"
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if v.log.Count("UPDATE") != 1 {
			t.Fatalf("the retry did not write the marked change: %v", v.log.All())
		}
		// Merge copies a detached state onto the managed instance: a change
		// to write, as Persist would mark it.
		detached := *cid
		detached.Rating = 11
		merged, err := em.Merge(e, &detached)
		must(t, err)
		if merged != cid {
			t.Fatal("Merge did not return the managed instance")
		}
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if v.log.Count("UPDATE") != 1 {
			t.Fatalf("the merged change was not written: %v", v.log.All())
		}
	}},
	{name: "per_type_change_tracking", config: func(c *em.Config) {
		c.Entities = append(slices.Clone(c.Entities), (*Memo)(nil))
	}, run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		ann, memo := &Author{Name: "Ann"}, &Memo{Text: "draft"}
		must(t, e.Persist(ann, memo))
		must(t, e.Flush(v.ctx))
		// The ORM compares every entity, except the types that say otherwise.
		ann.Rating, memo.Text = 5, "final"
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if got := v.log.All(); len(got) != 1 || !strings.Contains(got[0], "author") {
			t.Fatalf("want the author's UPDATE only (memos are explicit): %v", got)
		}
		must(t, e.Persist(memo))
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if got := v.log.All(); len(got) != 1 || !strings.Contains(got[0], "memo") {
			t.Fatalf("want the persisted memo's UPDATE: %v", got)
		}
		fresh, err := em.FindOneOrFail[Memo](v.ctx, v.orm.Fork(), memo.ID)
		must(t, err)
		if fresh.Text != "final" {
			t.Fatalf("stored memo %q", fresh.Text)
		}
	}},
	{name: "noop_flush_runs_nothing", run: func(t *testing.T, v env) {
		seedAuthors(t, v, "Ann", "Bob", "Cid")
		e := v.orm.Fork()
		_, err := em.FindAll[Author](v.ctx, e)
		must(t, err)
		_, err = em.FindAll[Book](v.ctx, e)
		must(t, err)
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		must(t, v.orm.Fork().Flush(v.ctx))
		if n := len(v.log.All()); n != 0 {
			t.Fatalf("a flush with nothing changed ran %d statements: %v", n, v.log.All())
		}
	}},
	{name: "batched_insert_1000", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		books := make([]*Book, 1000)
		for i := range books {
			books[i] = &Book{Title: fmt.Sprintf("book %04d", i), Price: i}
			must(t, e.Persist(books[i]))
		}
		must(t, e.Flush(v.ctx))
		if n := v.log.Count("INSERT"); n > 4 {
			t.Fatalf("1000 inserts took %d INSERT statements, want at most 4", n)
		}
		seen := map[int64]bool{}
		for _, b := range books {
			if b.ID == 0 || seen[b.ID] {
				t.Fatalf("bad generated key %d", b.ID)
			}
			seen[b.ID] = true
		}
		n, err := em.Count[Book](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if n != 1000 {
			t.Fatalf("count %d", n)
		}
		// The keys written back are the rows' keys.
		check, err := em.FindOneOrFail[Book](v.ctx, v.orm.Fork(), books[777].ID)
		must(t, err)
		if check.Title != "book 0777" {
			t.Fatalf("key %d holds %q", books[777].ID, check.Title)
		}
	}},
	{name: "chunked_to_parameter_limit", sqlOnly: "the parameter limits of SQL statements", config: func(c *em.Config) { c.BatchSize = 1 << 30 }, run: func(t *testing.T, v env) {
		// With no batch size limit, each INSERT still stays under the
		// database's parameter limit: 7 parameters per book.
		const n = 10_000
		e := v.orm.Fork()
		books := make([]*Book, n)
		for i := range books {
			books[i] = &Book{Title: "b", Price: i}
			must(t, e.Persist(books[i]))
		}
		must(t, e.Flush(v.ctx))
		per := v.orm.Dialect().MaxParams() / 7
		if got, want := v.log.Count("INSERT"), (n+per-1)/per; got != want {
			t.Fatalf("%d INSERT statements, want %d (%d rows each)", got, want, per)
		}
		for _, b := range books {
			b.Price++
		}
		must(t, e.Flush(v.ctx))
		for _, b := range books {
			must(t, e.Remove(b))
		}
		must(t, e.Flush(v.ctx))
		cnt, err := em.Count[Book](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if cnt != 0 {
			t.Fatalf("%d books left", cnt)
		}
	}},
	{name: "references_cascade_populate", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		ann, bob := &Author{Name: "Ann"}, &Author{Name: "Bob"}
		book := &Book{Title: "Go"}
		r1 := &Review{Text: "good", Author: em.RefTo(ann), Book: em.RefTo(book)}
		r2 := &Review{Text: "fine", Author: em.RefTo(ann)}
		must(t, e.Persist(r1, r2)) // the author and the book are persisted through the references
		must(t, e.Flush(v.ctx))
		if ann.ID == 0 || book.ID == 0 || r1.Author.ID() != ann.ID {
			t.Fatalf("cascade persist: author %d, book %d, ref %v", ann.ID, book.ID, r1.Author.ID())
		}

		f := v.orm.Fork()
		v.log.Reset()
		reviews, err := em.Find[Review](v.ctx, f, em.F{"author": ann}, em.FindOptions{OrderBy: []string{"id"}, Populate: []string{"author", "book"}})
		must(t, err)
		if n := v.log.Count("SELECT"); n != 3 {
			t.Fatalf("find + two populated references took %d SELECTs, want 3: %v", n, v.log.All())
		}
		a1, err := reviews[0].Author.Get()
		must(t, err)
		a2, err := reviews[1].Author.Get()
		must(t, err)
		b1, err := reviews[0].Book.Get()
		must(t, err)
		b2, err := reviews[1].Book.Get()
		must(t, err)
		if a1 == nil || a1 != a2 || a1.Name != "Ann" || b1 == nil || b1.Title != "Go" || b2 != nil || reviews[1].Book.IsSet() {
			t.Fatalf("populated: %+v %+v %+v %+v", a1, a2, b1, b2)
		}
		same, err := em.FindOneOrFail[Author](v.ctx, f, ann.ID)
		must(t, err)
		if same != a1 {
			t.Fatal("a populated entity is not the identity map's instance")
		}

		// Create, Assign and the native operations take an entity, a Ref or a
		// key for a reference property.
		byMap, err := em.Create[Review](e, map[string]any{"text": "via map", "author": ann})
		must(t, err)
		must(t, e.Assign(byMap, map[string]any{"book": book.ID}))
		must(t, e.Flush(v.ctx))
		if byMap.Author.ID() != ann.ID || fmt.Sprint(byMap.Book.ID()) != fmt.Sprint(book.ID) {
			t.Fatalf("Create/Assign of references: %v %v", byMap.Author.ID(), byMap.Book.ID())
		}
		if _, err := em.NativeInsert[Review](v.ctx, e, map[string]any{"text": "native", "author": em.RefTo(ann)}); err != nil {
			t.Fatal(err)
		}
		if n, err := em.NativeDelete[Review](v.ctx, e, em.F{"text": em.In([]string{"native", "via map"})}); err != nil || n != 2 {
			t.Fatalf("native delete: %d %v", n, err)
		}
		e.Detach(byMap)
		// Without populate: the key is there, the entity is not.
		g := v.orm.Fork()
		r, err := em.FindOneOrFail[Review](v.ctx, g, r1.ID)
		must(t, err)
		if _, err := r.Author.Get(); !errors.Is(err, em.ErrNotLoaded) {
			t.Fatalf("Get of an unloaded reference: %v", err)
		}
		if fmt.Sprint(r.Author.ID()) != fmt.Sprint(ann.ID) {
			t.Fatalf("ID() = %v", r.Author.ID())
		}
		loaded, err := r.Author.Load(v.ctx, g)
		must(t, err)
		v.log.Reset()
		again, err := r.Author.Load(v.ctx, g)
		must(t, err)
		if loaded.Name != "Ann" || again != loaded || len(v.log.All()) != 0 {
			t.Fatalf("Load: %+v, second load ran %v", loaded, v.log.All())
		}
		must(t, g.Populate(v.ctx, []*Review{r}, "book"))
		if b, _ := r.Book.Get(); b == nil || b.Title != "Go" {
			t.Fatal("EntityManager.Populate did not load the book")
		}

		// A reference made from a key writes the foreign key without loading.
		h := v.orm.Fork()
		must(t, h.Persist(bob))
		must(t, h.Flush(v.ctx))
		ref, err := em.GetReference[Author](v.orm.Fork(), bob.ID)
		must(t, err)
		v.log.Reset()
		w := v.orm.Fork()
		r3 := &Review{Text: "ok", Author: ref}
		must(t, w.Persist(r3))
		must(t, w.Flush(v.ctx))
		for _, q := range v.log.All() {
			if strings.Contains(q, "em_author") {
				t.Fatalf("writing a reference by key touched the author: %s", q)
			}
		}
		// Changing a reference updates only the foreign key.
		r3.Author = em.RefTo(ann)
		v.log.Reset()
		must(t, w.Flush(v.ctx))
		ups := 0
		for _, q := range v.log.All() {
			if strings.HasPrefix(q, "UPDATE") {
				ups++
				if !strings.Contains(q, "author_id") || strings.Contains(q, "text") {
					t.Fatalf("update of a reference: %s", q)
				}
			}
		}
		if ups != 1 {
			t.Fatalf("%d updates", ups)
		}
		n, err := em.Count[Review](v.ctx, v.orm.Fork(), em.F{"author": em.In([]*Author{ann})})
		must(t, err)
		if n != 3 {
			t.Fatalf("%d reviews by Ann, want 3", n)
		}
		if _, err := em.Find[Review](v.ctx, f, nil, em.FindOptions{Populate: []string{"text"}}); !errors.Is(err, em.ErrInvalidFilter) {
			t.Fatalf("populate of a non-reference: %v", err)
		}
	}},
	{name: "collections", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "Ann"}
		r1, r2 := &Review{Text: "good"}, &Review{Text: "fine"}
		a.Reviews.Add(r1, r2)
		must(t, e.Persist(a)) // the reviews come along, pointing at a
		must(t, e.Flush(v.ctx))
		if a.ID == 0 || r1.ID == 0 || r2.ID == 0 || r1.Author.ID() != a.ID {
			t.Fatalf("cascade through a collection: %d %d %d %v", a.ID, r1.ID, r2.ID, r1.Author.ID())
		}
		if n, err := a.Reviews.Count(); err != nil || n != 2 {
			t.Fatalf("a new owner's collection: %d %v", n, err)
		}

		f := v.orm.Fork()
		a2, err := em.FindOneOrFail[Author](v.ctx, f, a.ID)
		must(t, err)
		if _, err := a2.Reviews.Items(); !errors.Is(err, em.ErrNotInitialized) || !strings.Contains(err.Error(), `populate "reviews"`) {
			t.Fatalf("reading an uninitialized collection: %v", err)
		}
		v.log.Reset()
		n, err := a2.Reviews.LoadCount(v.ctx, f)
		must(t, err)
		if n != 2 || v.log.Count("SELECT") != 1 || a2.Reviews.IsInitialized() {
			t.Fatalf("LoadCount %d, queries %v", n, v.log.All())
		}
		good, err := a2.Reviews.Matching(v.ctx, f, em.F{"text": "good"})
		must(t, err)
		if len(good) != 1 || good[0].Text != "good" {
			t.Fatalf("Matching: %v", good)
		}

		g := v.orm.Fork()
		v.log.Reset()
		authors, err := em.Find[Author](v.ctx, g, em.F{"id": a.ID}, em.FindOptions{Populate: []string{"reviews.book"}})
		must(t, err)
		items, err := authors[0].Reviews.Items()
		must(t, err)
		if len(items) != 2 || items[0].Text != "good" || items[1].Text != "fine" || v.log.Count("SELECT") != 2 {
			t.Fatalf("populated collection %v, queries %v", items, v.log.All())
		}
		if owner, err := items[0].Author.Get(); err != nil || owner != authors[0] {
			t.Fatalf("the inverse side of a populated item: %v %v", owner, err)
		}

		// Conditions and order on a populated collection.
		ord := v.orm.Fork()
		withOrder, err := em.Find[Author](v.ctx, ord, em.F{"id": a.ID}, em.FindOptions{Populate: []string{"reviews"},
			PopulateOrderBy: map[string][]string{"reviews": {"text DESC"}}, PopulateWhere: map[string]em.F{"reviews": {"text": em.Like("%i%")}}})
		must(t, err)
		ordered, err := withOrder[0].Reviews.Items()
		must(t, err)
		if len(ordered) != 1 || ordered[0].Text != "fine" {
			t.Fatalf("ordered, filtered populate: %v", ordered)
		}
		// The newest N per owner (a window function).
		top := v.orm.Fork()
		extra := &Author{Name: "Zed"}
		extra.Reviews.Add(&Review{Text: "z1"}, &Review{Text: "z2"}, &Review{Text: "z3"})
		must(t, top.Persist(extra))
		must(t, top.Flush(v.ctx))
		both, err := em.Find[Author](v.ctx, v.orm.Fork(), em.F{"id": em.In([]int64{a.ID, extra.ID})}, em.FindOptions{OrderBy: []string{"name"},
			Populate: []string{"reviews"}, PopulateOrderBy: map[string][]string{"reviews": {"id DESC"}}, PopulateLimit: map[string]int{"reviews": 2}})
		must(t, err)
		annTop, err := both[0].Reviews.Items()
		must(t, err)
		zedTop, err := both[1].Reviews.Items()
		must(t, err)
		if len(annTop) != 2 || annTop[0].Text != "fine" || len(zedTop) != 2 || zedTop[0].Text != "z3" || zedTop[1].Text != "z2" {
			t.Fatalf("two newest per author: %v / %v", annTop, zedTop)
		}
		// Removing an item whose reference is required, without orphan
		// removal, is refused before anything is written.
		authors[0].Reviews.Remove(items[1])
		err = g.Flush(v.ctx)
		var ve *em.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, em.ErrValidation) || ve.Entity != "Review" || ve.Field != "Author" {
			t.Fatalf("want a *ValidationError on Review.Author, got %v", err)
		}
		authors[0].Reviews.Add(items[1])
		v.log.Reset()
		must(t, g.Flush(v.ctx))
		if len(v.log.All()) != 0 {
			t.Fatalf("remove then add back wrote %v", v.log.All())
		}

		// Orphan removal: a review taken out of a book's collection is deleted.
		b := &Book{Title: "B"}
		rb := &Review{Text: "on b", Author: em.RefTo(authors[0]), Book: em.RefTo(b)}
		must(t, g.Persist(rb))
		b.Reviews.Add(rb)
		must(t, g.Flush(v.ctx))
		h := v.orm.Fork()
		books, err := em.Find[Book](v.ctx, h, em.F{"id": b.ID}, em.FindOptions{Populate: []string{"reviews"}})
		must(t, err)
		its, err := books[0].Reviews.Items()
		must(t, err)
		if len(its) != 1 {
			t.Fatalf("book reviews %v", its)
		}
		books[0].Reviews.Remove(its[0])
		must(t, h.Flush(v.ctx))
		cnt, err := em.Count[Review](v.ctx, v.orm.Fork(), em.F{"id": rb.ID})
		must(t, err)
		if cnt != 0 {
			t.Fatal("orphan removal did not delete the review")
		}
	}},
	{name: "filters_across_relations", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		ann, bob := &Author{Name: "Ann"}, &Author{Name: "Bob"}
		book := &Book{Title: "Go"}
		ann.Reviews.Add(&Review{Text: "good", Book: em.RefTo(book)}, &Review{Text: "good too"})
		bob.Reviews.Add(&Review{Text: "meh"})
		must(t, e.Persist(ann, bob))
		must(t, e.Flush(v.ctx))
		f := v.orm.Fork()
		texts := func(rs []*Review) []string {
			out := make([]string, len(rs))
			for i, r := range rs {
				out[i] = r.Text
			}
			slices.Sort(out)
			return out
		}
		byName, err := em.Find[Review](v.ctx, f, em.F{"author.name": "Ann"})
		must(t, err)
		nested, err := em.Find[Review](v.ctx, f, em.F{"author": em.F{"name": em.Like("A%")}})
		must(t, err)
		if !slices.Equal(texts(byName), []string{"good", "good too"}) || !slices.Equal(texts(byName), texts(nested)) {
			t.Fatalf("reviews by author name: %v / %v", texts(byName), texts(nested))
		}
		onGo, err := em.Find[Review](v.ctx, f, em.F{"book.title": "Go", "author.name": em.Ne("Bob")})
		must(t, err)
		if !slices.Equal(texts(onGo), []string{"good"}) {
			t.Fatalf("two relations: %v", texts(onGo))
		}
		// A to-many filter returns each author once, however many items match.
		withGood, err := em.Find[Author](v.ctx, f, em.F{"reviews": em.F{"text": em.Like("good%")}})
		must(t, err)
		if len(withGood) != 1 || withGood[0].Name != "Ann" {
			t.Fatalf("authors with good reviews: %v", names(withGood))
		}
		_, err = em.Find[Review](v.ctx, f, em.F{"author.nope": 1})
		var fe *em.FilterError
		if !errors.As(err, &fe) || fe.Entity != "Author" || fe.Property != "nope" {
			t.Fatalf("unknown property across a relation: %v", err)
		}
	}},
	{name: "many_to_many", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "Ann"}
		goTag, sqlTag := &Tag{Name: "go"}, &Tag{Name: "sql"}
		a.Tags.Add(goTag, sqlTag)
		must(t, e.Persist(a)) // the tags come along
		must(t, e.Flush(v.ctx))
		if n := v.log.Count(`INSERT INTO "em_author_tags"`) + v.log.Count("INSERT INTO `em_author_tags`"); v.sql && n != 1 {
			t.Fatalf("%d pivot INSERTs, want one for both links: %v", n, v.log.All())
		}
		tagNames := func(ts []*Tag) []string {
			out := make([]string, len(ts))
			for i, x := range ts {
				out[i] = x.Name
			}
			slices.Sort(out)
			return out
		}
		f := v.orm.Fork()
		v.log.Reset()
		authors, err := em.Find[Author](v.ctx, f, em.F{"id": a.ID}, em.FindOptions{Populate: []string{"tags"}})
		must(t, err)
		tags, err := authors[0].Tags.Items()
		must(t, err)
		if !slices.Equal(tagNames(tags), []string{"go", "sql"}) || v.log.Count("SELECT") != 3 {
			t.Fatalf("populated tags %v, queries %v", tagNames(tags), v.log.All())
		}
		// The inverse side loads through the same pivot.
		gt, err := em.Find[Tag](v.ctx, f, em.F{"name": "go"}, em.FindOptions{Populate: []string{"authors"}})
		must(t, err)
		back, err := gt[0].Authors.Items()
		must(t, err)
		if len(back) != 1 || back[0] != authors[0] {
			t.Fatalf("inverse side: %v", back)
		}
		// Conditions and order on a populated many-to-many.
		h0 := v.orm.Fork()
		only, err := em.Find[Author](v.ctx, h0, em.F{"id": a.ID}, em.FindOptions{Populate: []string{"tags"},
			PopulateWhere: map[string]em.F{"tags": {"name": em.Ne("go")}}, PopulateOrderBy: map[string][]string{"tags": {"name DESC"}}})
		must(t, err)
		onlyTags, err := only[0].Tags.Items()
		must(t, err)
		if len(onlyTags) != 1 || onlyTags[0].Name != "sql" {
			t.Fatalf("filtered populate: %v", tagNames(onlyTags))
		}
		// A per-owner limit on a many-to-many, from both sides: each owner's
		// first item in the order, by a window over the pivot join.
		// sqlTag belongs to another fork: untracked here, its key set, so an
		// existing row whose link must be written by key.
		cid := &Author{Name: "Cid"}
		cid.Tags.Add(sqlTag, &Tag{Name: "zig"})
		must(t, h0.Persist(cid))
		must(t, h0.Flush(v.ctx))
		h1 := v.orm.Fork()
		v.log.Reset()
		top, err := em.Find[Author](v.ctx, h1, nil, em.FindOptions{OrderBy: []string{"name"}, Populate: []string{"tags"},
			PopulateOrderBy: map[string][]string{"tags": {"name DESC"}}, PopulateLimit: map[string]int{"tags": 1}})
		must(t, err)
		var firsts []string
		for _, x := range top {
			ts, err := x.Tags.Items()
			must(t, err)
			firsts = append(firsts, x.Name+":"+strings.Join(tagNames(ts), ","))
		}
		if !slices.Equal(firsts, []string{"Ann:sql", "Cid:zig"}) || v.log.Count("SELECT") != 3 {
			t.Fatalf("last tag of each author: %v, queries %v", firsts, v.log.All())
		}
		fans, err := em.Find[Tag](v.ctx, v.orm.Fork(), em.F{"name": "sql"}, em.FindOptions{Populate: []string{"authors"},
			PopulateOrderBy: map[string][]string{"authors": {"name DESC"}}, PopulateLimit: map[string]int{"authors": 1}})
		must(t, err)
		if fa, err := fans[0].Authors.Items(); err != nil || len(fa) != 1 || fa[0].Name != "Cid" {
			t.Fatalf("last author of the sql tag: %v, %v", names(fa), err)
		}
		must(t, h0.Remove(cid))
		must(t, h0.Flush(v.ctx))
		// Remove one link, add a new tag: one DELETE and one INSERT on the pivot.
		var sqlT *Tag
		for _, x := range tags {
			if x.Name == "sql" {
				sqlT = x
			}
		}
		authors[0].Tags.Remove(sqlT)
		rust := &Tag{Name: "rust"}
		authors[0].Tags.Add(rust)
		must(t, f.Flush(v.ctx))
		g := v.orm.Fork()
		reloaded, err := em.FindOneOrFail[Author](v.ctx, g, a.ID)
		must(t, err)
		must(t, reloaded.Tags.Init(v.ctx, g))
		now, err := reloaded.Tags.Items()
		must(t, err)
		if !slices.Equal(tagNames(now), []string{"go", "rust"}) {
			t.Fatalf("after remove/add: %v", tagNames(now))
		}
		n, err := reloaded.Tags.LoadCount(v.ctx, g)
		must(t, err)
		if n != 2 {
			t.Fatalf("LoadCount %d", n)
		}
		// Adding on the inverse side writes the link too.
		h := v.orm.Fork()
		rt, err := em.FindOneOrFail[Tag](v.ctx, h, em.F{"name": "rust"})
		must(t, err)
		b := &Author{Name: "Bob"}
		rt.Authors.Add(b)
		must(t, h.Persist(b))
		must(t, h.Flush(v.ctx))
		rustFans, err := em.Find[Author](v.ctx, v.orm.Fork(), em.F{"tags": em.F{"name": "rust"}}, em.FindOptions{OrderBy: []string{"name"}})
		must(t, err)
		if !slices.Equal(names(rustFans), []string{"Ann", "Bob"}) {
			t.Fatalf("authors tagged rust: %v", names(rustFans))
		}
		// Deleting an owner deletes its links with it.
		must(t, h.Remove(b))
		must(t, h.Flush(v.ctx))
		left, err := em.Find[Author](v.ctx, v.orm.Fork(), em.F{"tags": em.F{"name": "rust"}})
		must(t, err)
		if !slices.Equal(names(left), []string{"Ann"}) {
			t.Fatalf("after deleting Bob: %v", names(left))
		}
	}},
	{name: "self_reference_tree", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		root := &Category{Name: "root"}
		a, b := &Category{Name: "a"}, &Category{Name: "b"}
		a1 := &Category{Name: "a1"}
		a.Children.Add(a1)
		root.Children.Add(a, b)
		must(t, e.Persist(root)) // the whole tree, in one flush
		must(t, e.Flush(v.ctx))
		if root.ID == 0 || a1.ID == 0 || a1.Parent.ID() != a.ID || a.Parent.ID() != root.ID || root.Parent.IsSet() {
			t.Fatalf("tree keys: root %d a %d a1 %d (a1's parent %v)", root.ID, a.ID, a1.ID, a1.Parent.ID())
		}
		f := v.orm.Fork()
		tops, err := em.Find[Category](v.ctx, f, em.F{"parent": nil}, em.FindOptions{Populate: []string{"children.children"}})
		must(t, err)
		kids, err := tops[0].Children.Items()
		must(t, err)
		if len(tops) != 1 || len(kids) != 2 || kids[0].Name != "a" {
			t.Fatalf("tree: %d tops, children %v", len(tops), kids)
		}
		grand, err := kids[0].Children.Items()
		must(t, err)
		if len(grand) != 1 || grand[0].Name != "a1" {
			t.Fatalf("grandchildren %v", grand)
		}
		if p, _ := grand[0].Parent.Get(); p != kids[0] {
			t.Fatal("a child's parent is not its loaded instance")
		}
	}},
	{name: "cycle_between_new_entities", run: func(t *testing.T, v env) {
		// The author refers to its favorite review, the review to its author:
		// one of the two foreign keys is written by an extra UPDATE.
		e := v.orm.Fork()
		a := &Author{Name: "Ann"}
		r := &Review{Text: "mine", Author: em.RefTo(a)}
		a.Favorite = em.RefTo(r)
		must(t, e.Persist(a))
		must(t, e.Flush(v.ctx))
		if a.ID == 0 || r.ID == 0 || a.Favorite.ID() != r.ID || r.Author.ID() != a.ID {
			t.Fatalf("cycle: author %d review %d", a.ID, r.ID)
		}
		got, err := em.FindOneOrFail[Author](v.ctx, v.orm.Fork(), a.ID)
		must(t, err)
		if fmt.Sprint(got.Favorite.ID()) != fmt.Sprint(r.ID) {
			t.Fatalf("favorite in the database: %v, want %v", got.Favorite.ID(), r.ID)
		}
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if len(v.log.All()) != 0 {
			t.Fatalf("the flush after a cycle is not clean: %v", v.log.All())
		}
	}},
	{name: "cascade_remove", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "Ann"}
		a.Reviews.Add(&Review{Text: "x"}, &Review{Text: "y"})
		must(t, e.Persist(a))
		must(t, e.Flush(v.ctx))
		f := v.orm.Fork()
		got, err := em.FindOneOrFail[Author](v.ctx, f, a.ID)
		must(t, err)
		err = f.Remove(got)
		var ve *em.ValidationError
		if !errors.As(err, &ve) || ve.Field != "Reviews" || f.ManagedCount() != 1 {
			t.Fatalf("cascade remove over an uninitialized collection: %v", err)
		}
		must(t, got.Reviews.Init(v.ctx, f))
		must(t, f.Remove(got))
		must(t, f.Flush(v.ctx))
		n, err := em.Count[Review](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if n != 0 {
			t.Fatalf("%d reviews left after removing their author", n)
		}
	}},
	{name: "joined_matches_select_in", sqlOnly: "the joined strategy is SQL joins", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		b1 := &Book{Title: "Go"}
		a, b, c := &Author{Name: "A"}, &Author{Name: "B"}, &Author{Name: "C"}
		a.Reviews.Add(&Review{Text: "a1", Book: em.RefTo(b1)}, &Review{Text: "a2"})
		b.Reviews.Add(&Review{Text: "b1", Book: em.RefTo(b1)})
		goT, dbT := &Tag{Name: "go"}, &Tag{Name: "db"}
		a.Tags.Add(goT, dbT)
		b.Tags.Add(goT)
		must(t, e.Persist(a, b, c))
		must(t, e.Flush(v.ctx))

		graph := func(authors []*Author) string {
			var sb strings.Builder
			for _, x := range authors {
				sb.WriteString(x.Name + "[")
				items, err := x.Reviews.Items()
				if err != nil {
					return err.Error()
				}
				for _, r := range items {
					sb.WriteString(r.Text)
					if bk, err := r.Book.Get(); err != nil {
						sb.WriteString("(unloaded)")
					} else if bk != nil {
						sb.WriteString("(" + bk.Title + ")")
					}
					if owner, _ := r.Author.Get(); owner != x {
						sb.WriteString("!owner")
					}
					sb.WriteString(" ")
				}
				tags, err := x.Tags.Items()
				if err != nil {
					return err.Error()
				}
				var tn []string
				for _, tg := range tags {
					tn = append(tn, tg.Name)
				}
				slices.Sort(tn)
				sb.WriteString("] tags" + fmt.Sprint(tn) + " ")
			}
			return sb.String()
		}
		opts := em.FindOptions{OrderBy: []string{"name"}, Populate: []string{"reviews.book", "tags"}}
		selectIn, err := em.FindAll[Author](v.ctx, v.orm.Fork(), opts)
		must(t, err)
		opts.Strategy = em.Joined
		v.log.Reset()
		jf := v.orm.Fork()
		joined, err := em.FindAll[Author](v.ctx, jf, opts)
		must(t, err)
		if v.log.Count("SELECT") != 1 {
			t.Fatalf("joined populate ran %d queries: %v", v.log.Count("SELECT"), v.log.All())
		}
		if g1, g2 := graph(selectIn), graph(joined); g1 != g2 || !strings.Contains(g1, "A[a1(Go) a2 ] tags[db go] B[b1(Go) ] tags[go] C[] tags[] ") {
			t.Fatalf("graphs differ or are wrong:\nselect-in %s\njoined    %s", g1, g2)
		}
		ra, _ := joined[0].Reviews.Items()
		rb, _ := joined[1].Reviews.Items()
		bk1, _ := ra[0].Book.Get()
		bk2, _ := rb[0].Book.Get()
		if bk1 != bk2 {
			t.Fatal("one book loaded twice by the joined query")
		}
		// Pagination counts root entities, not joined rows.
		page, err := em.FindAll[Author](v.ctx, v.orm.Fork(), em.FindOptions{OrderBy: []string{"name"}, Limit: 1, Populate: []string{"reviews"}, Strategy: em.Joined})
		must(t, err)
		if len(page) != 1 || page[0].Name != "A" {
			t.Fatalf("a page of one author: %v", names(page))
		}
		if n, err := page[0].Reviews.Count(); err != nil || n != 2 {
			t.Fatalf("the paged author's reviews: %d %v", n, err)
		}
		filtered, err := em.Find[Author](v.ctx, v.orm.Fork(), em.F{"name": em.Ne("A")}, em.FindOptions{OrderBy: []string{"name DESC"}, Populate: []string{"reviews"}, Strategy: em.Joined})
		must(t, err)
		if !slices.Equal(names(filtered), []string{"C", "B"}) {
			t.Fatalf("filtered joined find: %v", names(filtered))
		}
	}},
	{name: "fk_order", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "Ann"}
		must(t, e.Persist(a))
		must(t, e.Flush(v.ctx))
		p := &Publisher{Code: "pb", Name: "Pub"}
		b := &Book{Title: "T", AuthorID: &a.ID, PublisherID: ptr("pb")}
		must(t, e.Persist(b, p)) // child first: the flush must insert the publisher first
		must(t, e.Flush(v.ctx))
		must(t, e.Remove(p, b)) // parent first: the flush must delete the book first
		must(t, e.Flush(v.ctx))
		n, err := em.Count[Publisher](v.ctx, e, nil)
		must(t, err)
		if n != 0 {
			t.Fatal("publisher not deleted")
		}
	}},
	{name: "rollback_leaves_unit_of_work_retryable", sqlOnly: "a failed flush rolls every write back (without transactions the applied writes stay: mongo TestFailedFlushIsRetryable)", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "Same"}
		b := &Author{Name: "Same"}
		bk := &Book{Title: "x"}
		must(t, e.Persist(bk, a, b))
		err := e.Flush(v.ctx)
		if !errors.Is(err, em.ErrUniqueViolation) {
			t.Fatalf("want a unique violation, got %v", err)
		}
		var dbErr *em.DBError
		if !errors.As(err, &dbErr) || dbErr.Entity != "Author" {
			t.Fatalf("want *DBError naming Author, got %#v", err)
		}
		if a.ID != 0 || b.ID != 0 || bk.ID != 0 || a.Version != 0 || !bk.CreatedAt.IsZero() {
			t.Fatalf("a failed flush left values behind: %+v %+v %+v", a, b, bk)
		}
		b.Name = "Other"
		must(t, e.Flush(v.ctx))
		if a.ID == 0 || b.ID == 0 || bk.ID == 0 || a.Version != 1 {
			t.Fatalf("retry did not assign keys: %+v %+v", a, b)
		}
		for _, name := range []string{"Same", "Other"} {
			n, err := em.Count[Author](v.ctx, v.orm.Fork(), em.F{"name": name})
			must(t, err)
			if n != 1 {
				t.Fatalf("%d rows named %s", n, name)
			}
		}
		nb, err := em.Count[Book](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if nb != 1 {
			t.Fatalf("%d books", nb)
		}
	}},
	{name: "optimistic_lock_between_forks", run: func(t *testing.T, v env) {
		seedAuthors(t, v, "Ann")
		e1, e2 := v.orm.Fork(), v.orm.Fork()
		a1, err := em.FindOneOrFail[Author](v.ctx, e1, em.F{"name": "Ann"})
		must(t, err)
		a2, err := em.FindOneOrFail[Author](v.ctx, e2, em.F{"name": "Ann"})
		must(t, err)
		a1.Rating = 5
		must(t, e1.Flush(v.ctx))
		if a1.Version != 2 {
			t.Fatalf("version %d after one update", a1.Version)
		}
		a2.Rating = 7
		err = e2.Flush(v.ctx)
		var lockErr *em.OptimisticLockError
		if !errors.As(err, &lockErr) || !errors.Is(err, em.ErrOptimisticLock) {
			t.Fatalf("want *OptimisticLockError, got %v", err)
		}
		if lockErr.Entity != "Author" || fmt.Sprint(lockErr.ID) != fmt.Sprint(a2.ID) || fmt.Sprint(lockErr.ExpectedVersion) != "1" || fmt.Sprint(lockErr.ActualVersion) != "2" {
			t.Fatalf("lock error %+v", lockErr)
		}
		if a2.Version != 1 {
			t.Fatalf("failed flush left version %d", a2.Version)
		}
		// Refresh and retry wins.
		must(t, e2.Refresh(v.ctx, a2))
		if a2.Rating != 5 || a2.Version != 2 {
			t.Fatalf("refresh gave %+v", a2)
		}
		a2.Rating = 7
		must(t, e2.Flush(v.ctx))
	}},
	{name: "hooks_and_events_order", config: func(c *em.Config) {
		c.Subscribers = []em.Subscriber{em.SubscriberFunc(func(ctx context.Context, ev *em.Event) error {
			if ev.Entity != nil {
				trail("event " + ev.Kind.String() + ":" + ev.Entity.(*Hooked).Name)
			} else {
				trail("event " + ev.Kind.String())
			}
			return nil
		})}
	}, run: func(t *testing.T, v env) {
		takeTrail()
		e := v.orm.Fork()
		h := &Hooked{Name: "a"}
		must(t, e.Persist(h))
		must(t, e.Flush(v.ctx))
		want := []string{"event BeforeTransaction", "event BeforeFlush", "BeforeCreate:a", "event BeforeCreate:a", "event OnFlush",
			"AfterCreate:a", "event AfterCreate:a", "event AfterFlush", "event AfterCommit"}
		if !v.sql {
			// No transactions on the store: no transaction events.
			want = slices.DeleteFunc(want, func(s string) bool { return strings.Contains(s, "Transaction") || strings.Contains(s, "Commit") })
		}
		if got := takeTrail(); !slices.Equal(got, want) {
			t.Fatalf("create trail\n got %v\nwant %v", got, want)
		}
		h.Name = "b"
		must(t, e.Flush(v.ctx))
		if got := takeTrail(); !slices.Contains(got, "BeforeUpdate:b") || !slices.Contains(got, "AfterUpdate:b") {
			t.Fatalf("update trail %v", got)
		}
		must(t, e.Remove(h))
		must(t, e.Flush(v.ctx))
		if got := takeTrail(); !slices.Contains(got, "BeforeDelete:b") || !slices.Contains(got, "AfterDelete:b") {
			t.Fatalf("delete trail %v", got)
		}
		// A failing hook rolls the flush back: no AfterCommit, an AfterRollback.
		bad := &Hooked{Name: "bad", FailOn: "AfterCreate"}
		must(t, e.Persist(bad))
		if err := e.Flush(v.ctx); err == nil || !strings.Contains(err.Error(), "hook failed on purpose") {
			t.Fatalf("want the hook's error, got %v", err)
		}
		got := takeTrail()
		switch {
		case v.sql && (slices.Contains(got, "event AfterCommit") || !slices.Contains(got, "event AfterRollback") || bad.ID != 0):
			t.Fatalf("failed flush trail %v (id %d)", got, bad.ID)
		case !v.sql && (slices.Contains(got, "event AfterCommit") || !e.IsManaged(bad)):
			// Without a transaction the insert stays applied, and managed.
			t.Fatalf("failed flush trail %v (managed %v)", got, e.IsManaged(bad))
		}
		// Flush from a hook is an error, not a deadlock.
		bad = &Hooked{Name: "again", FlushIn: "BeforeCreate"}
		must(t, e.Persist(bad))
		if err := e.Flush(v.ctx); !errors.Is(err, em.ErrFlushInHook) {
			t.Fatalf("want ErrFlushInHook, got %v", err)
		}
		takeTrail()
	}},
	{name: "concurrent_forks", run: func(t *testing.T, v env) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := v.orm.Fork()
				for i := range 5 {
					if err := e.Persist(&Book{Title: fmt.Sprintf("g%d-%d", g, i)}); err != nil {
						errs <- err
						return
					}
				}
				if err := e.Flush(v.ctx); err != nil {
					errs <- err
					return
				}
				mine, err := em.Find[Book](v.ctx, e, em.F{"title": em.Like(fmt.Sprintf("g%d-%%", g))})
				if err != nil {
					errs <- err
					return
				}
				if len(mine) != 5 || e.ManagedCount() != 5 {
					errs <- fmt.Errorf("goroutine %d sees %d books, manages %d", g, len(mine), e.ManagedCount())
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}},
	{name: "find_in_after_flush_meets_the_flushed_instance", config: func(c *em.Config) {
		// After hooks and events run with the manager unlocked; a find then
		// reads the rows just written and must answer with their instances.
		c.Subscribers = []em.Subscriber{em.SubscriberFunc(func(ctx context.Context, ev *em.Event) error {
			seen, ok := ctx.Value(seenKey{}).(*[]*Book)
			if ev.Kind != em.AfterFlush || !ok {
				return nil
			}
			found, err := em.Find[Book](ctx, ev.Manager, em.F{"title": em.Like("after-%")})
			*seen = found
			return err
		})}
	}, run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		b1, b2 := &Book{Title: "after-1"}, &Book{Title: "after-2"}
		must(t, e.Persist(b1, b2))
		var seen []*Book
		must(t, e.Flush(context.WithValue(v.ctx, seenKey{}, &seen)))
		if len(seen) != 2 {
			t.Fatalf("AfterFlush found %d books, want 2", len(seen))
		}
		for _, b := range seen {
			if b != b1 && b != b2 {
				t.Fatalf("AfterFlush found a second instance of %q (id %v)", b.Title, b.ID)
			}
		}
		if n := e.ManagedCount(); n != 2 {
			t.Fatalf("%d managed after the flush, want 2", n)
		}
	}},
	{name: "one_manager_many_goroutines", config: func(c *em.Config) {
		// A subscriber that reads through the manager while a flush runs.
		c.Subscribers = []em.Subscriber{em.SubscriberFunc(func(ctx context.Context, ev *em.Event) error {
			if ev.Kind == em.AfterFlush {
				_, err := em.Count[Book](ctx, ev.Manager, nil)
				return err
			}
			return nil
		})}
	}, run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					if err := e.Persist(&Book{Title: fmt.Sprintf("m%d-%d", g, i)}); err != nil {
						errs <- err
						return
					}
					if err := e.Flush(v.ctx); err != nil {
						errs <- err
						return
					}
					if _, err := em.Find[Book](v.ctx, e, em.F{"title": em.Like("m%")}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n, err := em.Count[Book](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if n != 20 || e.ManagedCount() != 20 {
			t.Fatalf("%d rows, %d managed; want 20", n, e.ManagedCount())
		}
	}},
	{name: "context_cancelled_mid_flush", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		ctx, cancel := context.WithCancel(v.ctx)
		h := &Hooked{Name: "c", Cancel: cancel}
		a := &Author{Name: "Zed"}
		must(t, e.Persist(a, h))
		err := e.Flush(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		if a.ID != 0 || h.ID != 0 {
			t.Fatal("a cancelled flush left keys behind")
		}
		h.Cancel = nil
		must(t, e.Flush(v.ctx))
		n, err := em.Count[Author](v.ctx, v.orm.Fork(), nil)
		must(t, err)
		if n != 1 || a.ID == 0 {
			t.Fatalf("retry after cancel: %d authors", n)
		}
		takeTrail()
	}},
	{name: "find_options_and_filters", run: func(t *testing.T, v env) {
		seedAuthors(t, v, "Ann", "Bob", "Cid", "Dee")
		e := v.orm.Fork()
		page, total, err := em.FindAndCount[Author](v.ctx, e, em.F{"name": em.Ne("Dee")}, em.FindOptions{OrderBy: []string{"name DESC"}, Limit: 2, Offset: 1})
		must(t, err)
		if total != 3 || len(page) != 2 || page[0].Name != "Bob" || page[1].Name != "Ann" {
			t.Fatalf("page %v total %d", names(page), total)
		}
		got, err := em.Find[Author](v.ctx, e, em.Or(em.F{"name": em.In([]string{"Ann", "Cid"})}, em.F{"name": em.ILike("d%")}), em.FindOptions{OrderBy: []string{"name"}})
		must(t, err)
		if !slices.Equal(names(got), []string{"Ann", "Cid", "Dee"}) {
			t.Fatalf("or/in/ilike: %v", names(got))
		}
		got, err = em.Find[Author](v.ctx, e, em.F{"email": nil, "rating": em.F{"$gte": 1, "$lt": 2}, "$not": em.F{"name": "Bob"}})
		must(t, err)
		if len(got) != 3 {
			t.Fatalf("null/range/not: %v", names(got))
		}
		v.log.Reset()
		for _, bad := range []em.F{{"nope": 1}, {"name": em.F{"$regex": "x"}}, {"$nor": []em.F{}}} {
			_, err := em.Find[Author](v.ctx, e, bad)
			var fe *em.FilterError
			if !errors.As(err, &fe) || !errors.Is(err, em.ErrInvalidFilter) || fe.Entity != "Author" {
				t.Fatalf("filter %v: want *FilterError, got %v", bad, err)
			}
		}
		if len(v.log.All()) != 0 {
			t.Fatalf("an invalid filter ran a query: %v", v.log.All())
		}
		_, err = em.FindOneOrFail[Author](v.ctx, e, em.F{"name": "Nobody"})
		var nf *em.NotFoundError
		if !errors.As(err, &nf) || !errors.Is(err, em.ErrNotFound) || nf.Entity != "Author" {
			t.Fatalf("want *NotFoundError, got %v", err)
		}
		// Partial loading, completed by a full find.
		f := v.orm.Fork()
		part, err := em.FindOneOrFail[Author](v.ctx, f, em.F{"name": "Ann"}, em.FindOptions{Fields: []string{"name"}})
		must(t, err)
		if part.Rating != 0 || part.Version != 1 { // the version is always read
			t.Fatalf("partial load filled unrequested fields, or lacks the version: %+v", part)
		}
		full, err := em.Find[Author](v.ctx, f, em.F{"name": "Ann"})
		must(t, err)
		if full[0] != part || part.Rating != 1 || part.Version != 1 {
			t.Fatalf("full find did not complete the partial entity: %+v", part)
		}
		repo := em.Repo[Author](e)
		n, err := repo.Count(v.ctx, em.F{"name": em.Like("%e%")})
		must(t, err)
		if n != 1 {
			t.Fatalf("repo count %d", n)
		}
	}},
	{name: "create_assign_merge_refresh", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a, err := em.Create[Author](e, map[string]any{"name": "Ann", "rating": 3})
		must(t, err)
		tag, err := em.Create[Tag](e, Tag{Name: "go"})
		must(t, err)
		if len(tag.ID) != 36 {
			t.Fatalf("uuid key %q", tag.ID)
		}
		if _, err := em.Create[Author](e, map[string]any{"nope": 1}); !errors.Is(err, em.ErrInvalidFilter) {
			t.Fatalf("unknown property in Create: %v", err)
		}
		must(t, e.Flush(v.ctx))
		must(t, e.Assign(a, map[string]any{"rating": 4.5, "email": "ann@example.com"}))
		must(t, e.Flush(v.ctx))
		f := v.orm.Fork()
		detached := &Author{ID: a.ID, Name: "Ann", Rating: 4.5, Version: a.Version, Email: ptr("ann@example.com")}
		merged, err := em.Merge(f, detached)
		must(t, err)
		v.log.Reset()
		must(t, f.Flush(v.ctx))
		if merged != detached || len(v.log.All()) != 0 {
			t.Fatalf("merge made a clean entity dirty: %v", v.log.All())
		}
		merged.Rating = 1
		must(t, f.Flush(v.ctx))
		must(t, e.Refresh(v.ctx, a))
		if a.Rating != 1 {
			t.Fatalf("refresh read %v", a.Rating)
		}
		// Merge onto a managed instance copies the stored fields, and
		// leaves what the detached entity cannot know (loaded collections)
		// as it was.
		must(t, e.Populate(v.ctx, a, "tags"))
		onto := &Author{ID: a.ID, Name: "Ann", Rating: 2, Version: a.Version, Email: a.Email}
		got, err := em.Merge(e, onto)
		must(t, err)
		if got != a || a.Rating != 2 || !a.Tags.IsInitialized() {
			t.Fatalf("merge onto the managed instance: same %v, rating %v, tags loaded %v", got == a, a.Rating, a.Tags.IsInitialized())
		}
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if v.log.Count("UPDATE") != 1 {
			t.Fatalf("the merged change was not written: %v", v.log.All())
		}
	}},
	{name: "transactional", sqlOnly: "transactions (MongoDB without a replica set has none)", run: func(t *testing.T, v env) {
		e := v.orm.Fork()
		a := &Author{Name: "T1"}
		must(t, e.Transactional(v.ctx, func(tx *em.EntityManager) error {
			return tx.Persist(a)
		}))
		if a.ID == 0 {
			t.Fatal("Transactional did not flush")
		}
		b := &Author{Name: "T2"}
		err := e.Transactional(v.ctx, func(tx *em.EntityManager) error {
			must(t, tx.Persist(b))
			a.Rating = 10
			if err := tx.Flush(v.ctx); err != nil {
				return err
			}
			return errors.New("abort")
		})
		if err == nil || err.Error() != "abort" {
			t.Fatalf("want abort, got %v", err)
		}
		// The rollback discards in memory what was done inside: b, persisted
		// inside, is no longer managed, and a is as it was at the start.
		if b.ID != 0 || e.IsManaged(b) || a.Rating != 0 || !e.IsManaged(a) {
			t.Fatalf("rollback: b.ID=%d managed=%v, a.Rating=%v managed=%v", b.ID, e.IsManaged(b), a.Rating, e.IsManaged(a))
		}
		v.log.Reset()
		must(t, e.Flush(v.ctx))
		if n := len(v.log.All()); n != 0 {
			t.Fatalf("after rollback the next flush wrote rolled-back work: %v", v.log.All())
		}
		// Nested: the inner failure rolls back only the inner part.
		c, d := &Author{Name: "T3"}, &Author{Name: "T4"}
		must(t, e.Transactional(v.ctx, func(tx *em.EntityManager) error {
			must(t, tx.Persist(c))
			inner := tx.Transactional(v.ctx, func(tx2 *em.EntityManager) error {
				must(t, tx2.Persist(d))
				if err := tx2.Flush(v.ctx); err != nil {
					return err
				}
				return errors.New("inner abort")
			})
			if inner == nil || d.ID != 0 || tx.IsManaged(d) {
				t.Errorf("inner: %v, d.ID=%d, d managed %v (persisted in the failed savepoint)", inner, d.ID, tx.IsManaged(d))
			}
			return nil
		}))
		if c.ID == 0 || d.ID != 0 {
			t.Fatalf("nested: c=%d d=%d", c.ID, d.ID)
		}
		// A panic rolls back and re-panics.
		p := &Author{Name: "P"}
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recover %v", r)
				}
			}()
			_ = e.Transactional(v.ctx, func(tx *em.EntityManager) error {
				must(t, tx.Persist(p))
				must(t, tx.Flush(v.ctx))
				panic("boom")
			})
		}()
		if p.ID != 0 || e.InTransaction() {
			t.Fatalf("after panic: id %d, in tx %v", p.ID, e.InTransaction())
		}
		n, err := em.Count[Author](v.ctx, v.orm.Fork(), em.F{"name": "P"})
		must(t, err)
		if n != 0 {
			t.Fatal("the panicking transaction committed")
		}
		// Manual Begin/Commit with a pessimistic lock.
		must(t, e.Begin(v.ctx))
		locked, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"name": "T1"}, em.FindOptions{Lock: em.LockPessimisticWrite, Refresh: true})
		must(t, err)
		locked.Rating = 42
		must(t, e.Commit(v.ctx))
		if _, err := em.Find[Author](v.ctx, e, nil, em.FindOptions{Lock: em.LockPessimisticWrite}); !errors.Is(err, em.ErrNoTransaction) {
			t.Fatalf("lock outside a transaction: %v", err)
		}
	}},
	{name: "global_context_and_middleware", run: func(t *testing.T, v env) {
		root := v.orm.EM()
		if _, err := em.FindAll[Author](v.ctx, root); !errors.Is(err, em.ErrGlobalContext) {
			t.Fatalf("root manager did request work: %v", err)
		}
		if err := root.Persist(&Author{Name: "x"}); !errors.Is(err, em.ErrGlobalContext) {
			t.Fatalf("root Persist: %v", err)
		}
		var forks []*em.EntityManager
		h := v.orm.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e, ok := em.FromContext(r.Context())
			if !ok {
				t.Error("no entity manager in the request context")
				return
			}
			forks = append(forks, e)
			// The root manager resolves to the request's fork.
			if _, err := em.FindAll[Author](r.Context(), root); err != nil {
				t.Error(err)
			}
		}))
		for range 2 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}
		if len(forks) != 2 || forks[0] == forks[1] {
			t.Fatal("requests must get separate forks")
		}
	}},
	{name: "query_builder", sqlOnly: "the SQL query builder", run: runQueryBuilder},
	{name: "one_to_one_inverse", run: func(t *testing.T, v env) {
		w := v.orm.Fork()
		ann := &Author{Name: "Ann", Profile: em.RefTo(&Profile{Bio: "hi"})}
		bob := &Author{Name: "Bob"}
		must(t, w.Persist(ann, bob)) // the profile comes along, pointed at Ann
		must(t, w.Flush(v.ctx))

		f := v.orm.Fork()
		a, err := em.FindOneOrFail[Author](v.ctx, f, em.F{"name": "Ann"})
		must(t, err)
		if _, err := a.Profile.Get(); !errors.Is(err, em.ErrNotLoaded) || a.Profile.IsSet() || a.Profile.ID() != nil {
			t.Fatalf("an unloaded inverse side: Get %v, IsSet %v, ID %v", err, a.Profile.IsSet(), a.Profile.ID())
		}
		v.log.Reset()
		p, err := a.Profile.Load(v.ctx, f)
		must(t, err)
		if p == nil || p.Bio != "hi" {
			t.Fatalf("loaded profile %+v", p)
		}
		if back, err := p.Author.Get(); err != nil || back != a {
			t.Fatalf("the owning side does not hold the same author: %v, %v", back, err)
		}
		if again, err := a.Profile.Load(v.ctx, f); err != nil || again != p || len(v.log.All()) != 1 {
			t.Fatalf("second Load: %v, %v, queries %v", again, err, v.log.All())
		}

		// Populate by select-in: one query for the profiles of all authors;
		// an author without one holds an unset reference, loaded.
		g := v.orm.Fork()
		v.log.Reset()
		as, err := em.Find[Author](v.ctx, g, nil, em.FindOptions{OrderBy: []string{"name"}, Populate: []string{"profile"}})
		must(t, err)
		pa, err := as[0].Profile.Get()
		must(t, err)
		pb, err := as[1].Profile.Get()
		must(t, err)
		if pa == nil || pa.Bio != "hi" || pb != nil || len(v.log.All()) != 2 {
			t.Fatalf("populated profiles %v / %v, queries %v", pa, pb, v.log.All())
		}

		// Filters and the query builder go through the other side's key.
		for _, filter := range []em.F{{"profile": em.F{"bio": "hi"}}, {"profile.bio": "hi"}} {
			got, err := em.Find[Author](v.ctx, g, filter)
			must(t, err)
			if !slices.Equal(names(got), []string{"Ann"}) {
				t.Fatalf("filter %v: %v", filter, names(got))
			}
		}
		if v.sql {
			got, err := em.QB[Author](g, "a").LeftJoin("a.profile", "p").Where(em.F{"p.id": nil}).All(v.ctx)
			must(t, err)
			if !slices.Equal(names(got), []string{"Bob"}) {
				t.Fatalf("authors without a profile: %v", names(got))
			}
		}

		// Moving the profile to Bob is written by the owning side.
		pa.Author = em.RefTo(as[1])
		must(t, g.Flush(v.ctx))
		h := v.orm.Fork()
		moved, err := em.FindOneOrFail[Profile](v.ctx, h, pa.ID, em.FindOptions{Populate: []string{"author"}})
		must(t, err)
		if who, _ := moved.Author.Get(); who == nil || who.Name != "Bob" {
			t.Fatalf("profile now belongs to %v", who)
		}

		_, err = em.Find[Author](v.ctx, v.orm.Fork(), nil, em.FindOptions{Populate: []string{"profile"}, Strategy: em.Joined})
		var fe *em.FilterError
		if v.sql && (!errors.As(err, &fe) || fe.Property != "profile") || !v.sql && !errors.Is(err, em.ErrUnsupported) {
			t.Fatalf("joined populate of an inverse one-to-one: %v", err)
		}
	}},
	{name: "batch_fetch_references", config: func(c *em.Config) { c.BatchFetch = 3 }, run: func(t *testing.T, v env) {
		w := v.orm.Fork()
		for i := range 5 {
			a := &Author{Name: fmt.Sprintf("A%d", i)}
			a.Reviews.Add(&Review{Text: fmt.Sprintf("r%d", i)}, &Review{Text: fmt.Sprintf("s%d", i)})
			must(t, w.Persist(a))
		}
		must(t, w.Flush(v.ctx))
		f := v.orm.Fork()
		reviews, err := em.Find[Review](v.ctx, f, nil, em.FindOptions{OrderBy: []string{"text"}})
		must(t, err)
		v.log.Reset()
		// Ten references to five authors: loading them one by one takes one
		// query per three authors, and binds the references it can.
		for _, r := range reviews {
			a, err := r.Author.Load(v.ctx, f)
			must(t, err)
			if a == nil || a.ID != r.Author.ID() {
				t.Fatalf("review %s loaded author %v, want %v", r.Text, a, r.Author.ID())
			}
		}
		if q := v.log.All(); len(q) != 2 {
			t.Fatalf("batch fetch of 5 authors by 3 ran %d queries: %v", len(q), q)
		}
		for _, r := range reviews {
			a, err := r.Author.Get()
			must(t, err)
			same, err := em.FindOne[Author](v.ctx, f, a.ID)
			must(t, err)
			if same != a {
				t.Fatalf("review %s holds an author that is not the managed instance", r.Text)
			}
		}
		if q := v.log.All(); len(q) != 2 {
			t.Fatalf("reads after the batch queried again: %v", q)
		}
	}},
}

func names(list []*Author) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Name
	}
	return out
}
