package em_test

import (
	"context"
	"fmt"

	"github.com/mikrogo/mikro/em"
	_ "modernc.org/sqlite"
)

type exWriter struct {
	ID      int64                   `db:"id" orm:"pk"`
	Name    string                  `db:"name"`
	Novels  em.Collection[exNovel]  `orm:"mappedBy=writer"`
	Profile em.Ref[exWriterProfile] `orm:"mappedBy=writer"`
}

type exNovel struct {
	ID     int64            `db:"id" orm:"pk"`
	Title  string           `db:"title"`
	Price  int              `db:"price"`
	Writer em.Ref[exWriter] `db:"writer_id"`
}

type exWriterProfile struct {
	ID     int64            `db:"id" orm:"pk"`
	Bio    string           `db:"bio"`
	Writer em.Ref[exWriter] `db:"writer_id" orm:"unique"`
}

// The entity-aware query builder: joins by relation path, entities into
// the identity map, aggregates into rows, bulk updates by filter.
func ExampleQB() {
	ctx := context.Background()
	orm, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:",
		Entities: []any{exWriter{}, exNovel{}, exWriterProfile{}}})
	if err != nil {
		panic(err)
	}
	defer orm.Close()
	if err := orm.CreateSchema(ctx); err != nil {
		panic(err)
	}
	e := orm.Fork()
	ursula := &exWriter{Name: "Ursula", Profile: em.RefTo(&exWriterProfile{Bio: "Earthsea"})}
	ursula.Novels.Add(&exNovel{Title: "A Wizard of Earthsea", Price: 9}, &exNovel{Title: "The Dispossessed", Price: 12})
	iain := &exWriter{Name: "Iain"}
	iain.Novels.Add(&exNovel{Title: "Excession", Price: 11})
	if err := e.Persist(ursula, iain); err != nil { // novels and profile come along
		panic(err)
	}
	if err := e.Flush(ctx); err != nil {
		panic(err)
	}

	novels, err := em.QB[exNovel](e, "n").Join("n.writer", "w").
		Where(em.F{"w.name": "Ursula", "n.price": em.Gt(10)}).All(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(novels[0].Title)

	rows, err := em.QB[exWriter](e, "w").LeftJoin("w.novels", "n").
		Select("w.name", "count(n.id) as novels", "sum(n.price) as total").
		GroupBy("w.name").OrderBy("w.name").Execute(ctx)
	if err != nil {
		panic(err)
	}
	for _, r := range rows {
		fmt.Println(r["name"], r["novels"], r["total"])
	}

	n, err := em.QB[exNovel](e, "n").Where(em.F{"writer": em.F{"profile": em.F{"bio": "Earthsea"}}}).Update(ctx, em.F{"price": 5})
	if err != nil {
		panic(err)
	}
	fmt.Println(n, "novels repriced")
	// Output:
	// The Dispossessed
	// Iain 1 11
	// Ursula 2 21
	// 2 novels repriced
}
