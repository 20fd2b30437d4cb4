package emtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// noCtx is the nil context a careless caller passes (a variable, so that
// linters let the cases pass it).
var noCtx context.Context

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "nil_context_rejected_pool_usable", run: nilContextRejected},
		behaviourCase{name: "nil_context_rejected_root_manager", config: func(c *em.Config) { c.AllowGlobalContext = true }, run: func(t *testing.T, v env) {
			seedAuthors(t, v, "Ann")
			root := v.orm.EM()
			if _, err := em.Find[Author](noCtx, root, nil); !errors.Is(err, em.ErrNilContext) {
				t.Fatalf("Find with a nil context on the root manager: %v, want ErrNilContext", err)
			}
			if n, err := em.Count[Author](context.Background(), root, nil); err != nil || n != 1 {
				t.Fatalf("Count after the nil context: %d, %v", n, err)
			}
		}},
	)
}

// nilContextRejected calls everything that takes a context with a nil one:
// each must return ErrNilContext without panicking and without touching
// the pool, which stays usable (a panic inside database/sql with its lock
// held used to wedge every later call, and Close).
func nilContextRejected(t *testing.T, v env) {
	a := seedAuthors(t, v, "Ann")[0]
	e := v.orm.Fork()
	r := &Review{Text: "fine"}
	r.Author = em.RefTo(a)
	must(t, e.Persist(r))
	must(t, e.Flush(v.ctx))
	e = v.orm.Fork()
	loaded, err := em.FindOneOrFail[Review](v.ctx, e, r.ID)
	must(t, err)
	author, err := em.FindOneOrFail[Author](v.ctx, e, a.ID)
	must(t, err)
	ref := loaded.Author // not loaded yet: Load needs a query
	repo := em.Repo[Author](e)
	calls := []struct {
		name string
		call func() error
	}{
		{"Find", func() error { _, err := em.Find[Author](noCtx, e, nil); return err }},
		{"FindAll", func() error { _, err := em.FindAll[Author](noCtx, e); return err }},
		{"FindOne", func() error { _, err := em.FindOne[Author](noCtx, e, a.ID+1000); return err }},
		{"FindOne managed", func() error { _, err := em.FindOne[Author](noCtx, e, a.ID); return err }},
		{"FindOneOrFail", func() error { _, err := em.FindOneOrFail[Author](noCtx, e, em.F{"name": "Ann"}); return err }},
		{"FindAndCount", func() error { _, _, err := em.FindAndCount[Author](noCtx, e, nil); return err }},
		{"Count", func() error { _, err := em.Count[Author](noCtx, e, nil); return err }},
		{"Flush", func() error { return e.Flush(noCtx) }},
		{"Refresh", func() error { return e.Refresh(noCtx, author) }},
		{"Populate", func() error { return e.Populate(noCtx, author, "reviews") }},
		{"Begin", func() error { return e.Begin(noCtx) }},
		{"Commit", func() error { return e.Commit(noCtx) }},
		{"Rollback", func() error { return e.Rollback(noCtx) }},
		{"Transactional", func() error { return e.Transactional(noCtx, func(*em.EntityManager) error { return nil }) }},
		{"Ref.Load", func() error { _, err := ref.Load(noCtx, e); return err }},
		{"Collection.Init", func() error { return author.Reviews.Init(noCtx, e) }},
		{"Collection.LoadCount", func() error { _, err := author.Reviews.LoadCount(noCtx, e); return err }},
		{"Collection.Matching", func() error { _, err := author.Reviews.Matching(noCtx, e, em.F{"text": "fine"}); return err }},
		{"Repo.Find", func() error { _, err := repo.Find(noCtx, nil); return err }},
		{"Repo.FindAll", func() error { _, err := repo.FindAll(noCtx); return err }},
		{"Repo.FindOne", func() error { _, err := repo.FindOne(noCtx, a.ID); return err }},
		{"Repo.FindOneOrFail", func() error { _, err := repo.FindOneOrFail(noCtx, a.ID); return err }},
		{"Repo.FindAndCount", func() error { _, _, err := repo.FindAndCount(noCtx, nil); return err }},
		{"Repo.Count", func() error { _, err := repo.Count(noCtx, nil); return err }},
		{"Upsert", func() error { _, err := em.Upsert(noCtx, e, &Publisher{Code: "p", Name: "P"}); return err }},
		{"UpsertMany", func() error {
			_, err := em.UpsertMany(noCtx, e, []*Publisher{{Code: "p", Name: "P"}})
			return err
		}},
		{"NativeInsert", func() error { _, err := em.NativeInsert[Publisher](noCtx, e, map[string]any{"code": "q"}); return err }},
		{"NativeUpdate", func() error {
			_, err := em.NativeUpdate[Author](noCtx, e, nil, map[string]any{"rating": 2})
			return err
		}},
		{"NativeDelete", func() error { _, err := em.NativeDelete[Author](noCtx, e, nil); return err }},
		{"QB.All", func() error { _, err := em.QB[Author](e, "a").All(noCtx); return err }},
		{"QB.One", func() error { _, err := em.QB[Author](e, "a").One(noCtx); return err }},
		{"QB.Count", func() error { _, err := em.QB[Author](e, "a").Count(noCtx); return err }},
		{"QB.Execute", func() error { _, err := em.QB[Author](e, "a").Execute(noCtx); return err }},
		{"QB.ExecuteInto", func() error {
			var out []struct{ ID int64 }
			return em.QB[Author](e, "a").Select("a.id").ExecuteInto(noCtx, &out)
		}},
		{"QB.Update", func() error { _, err := em.QB[Author](e, "a").Update(noCtx, em.F{"rating": 3}); return err }},
		{"QB.Delete", func() error { _, err := em.QB[Author](e, "a").Delete(noCtx); return err }},
		{"ORM.CreateSchema", func() error { return v.orm.CreateSchema(noCtx) }},
		{"ORM.DropSchema", func() error { return v.orm.DropSchema(noCtx) }},
		{"ORM.RefreshSchema", func() error { return v.orm.RefreshSchema(noCtx) }},
	}
	v.log.Reset()
	for _, c := range calls {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panicked: %v", p)
				}
			}()
			return c.call()
		}()
		if !errors.Is(err, em.ErrNilContext) {
			t.Fatalf("%s with a nil context: %v, want an error matching ErrNilContext", c.name, err)
		}
	}
	// Nothing was sent, and the pool works: a new fork counts, and the
	// ORM closes (the test's timeout catches a hang).
	if sent := v.log.All(); len(sent) != 0 {
		t.Fatalf("calls with a nil context sent %v", sent)
	}
	if n, err := em.Count[Author](v.ctx, v.orm.Fork(), nil); err != nil || n != 1 {
		t.Fatalf("Count on a new fork after the nil contexts: %d, %v; want 1", n, err)
	}
	if got, err := em.FindOneOrFail[Author](v.ctx, v.orm.Fork(), a.ID); err != nil || got.Rating != 1 {
		t.Fatalf("the author after the nil contexts: %+v, %v; want it unchanged", got, err)
	}
	if err := v.orm.Close(); err != nil {
		t.Fatalf("Close after the nil contexts: %v", err)
	}
}
