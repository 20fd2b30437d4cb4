package bench

import (
	"testing"

	"github.com/uptrace/bun"
	"gorm.io/gorm"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/qb"
)

// Loading 100 authors with their 1,000 books: mikro's select-in populate
// next to bun's Relation and GORM's Preload (each: one query for the
// authors, one for their books).

type PAuthor struct {
	ID    int64                `db:"id" orm:"pk"`
	Name  string               `db:"name"`
	Books em.Collection[PBook] `orm:"mappedBy=author"`
}

func (PAuthor) TableName() string { return "pop_authors" }

type PBook struct {
	ID     int64           `db:"id" orm:"pk"`
	Title  string          `db:"title"`
	Author em.Ref[PAuthor] `db:"author_id"`
}

func (PBook) TableName() string { return "pop_books" }

type BAuthor struct {
	bun.BaseModel `bun:"table:pop_authors"`
	ID            int64    `bun:"id,pk,autoincrement"`
	Name          string   `bun:"name"`
	Books         []*BBook `bun:"rel:has-many,join:id=author_id"`
}

type BBook struct {
	bun.BaseModel `bun:"table:pop_books"`
	ID            int64  `bun:"id,pk,autoincrement"`
	Title         string `bun:"title"`
	AuthorID      int64  `bun:"author_id"`
}

type GAuthor struct {
	ID    int64
	Name  string
	Books []GBook `gorm:"foreignKey:AuthorID"`
}

func (GAuthor) TableName() string { return "pop_authors" }

type GBook struct {
	ID       int64
	Title    string
	AuthorID int64
}

func (GBook) TableName() string { return "pop_books" }

func fillPopulate(tb testing.TB, v *ormEnv) {
	tb.Helper()
	for _, s := range []string{
		`DROP TABLE IF EXISTS pop_books`, `DROP TABLE IF EXISTS pop_authors`,
		`CREATE TABLE pop_authors (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)`,
		`CREATE TABLE pop_books (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, author_id BIGINT NOT NULL REFERENCES pop_authors (id))`,
		`INSERT INTO pop_authors (name) SELECT 'author ' || g FROM generate_series(1, 100) g`,
		`INSERT INTO pop_books (title, author_id) SELECT 'book ' || g, 1 + (g % 100) FROM generate_series(1, 1000) g`,
	} {
		if _, err := v.conn.Exec(v.ctx, s); err != nil {
			tb.Fatal(err)
		}
	}
}

type populator struct {
	name string
	load func() (authors, books int, err error)
}

func populators(tb testing.TB, v *ormEnv) []populator {
	mk, err := em.Open(v.ctx, em.Config{DB: v.sqldb, Dialect: qb.Postgres, Entities: []any{PAuthor{}, PBook{}}})
	if err != nil {
		tb.Fatal(err)
	}
	mx, err := pgxdriver.Open(v.ctx, v.pool, em.Config{Entities: []any{PAuthor{}, PBook{}}})
	if err != nil {
		tb.Fatal(err)
	}
	viaMikro := func(o *em.ORM, strategy em.PopulateStrategy) func() (int, int, error) {
		return func() (int, int, error) {
			as, err := em.FindAll[PAuthor](v.ctx, o.Fork(), em.FindOptions{Limit: 100, Populate: []string{"books"}, Strategy: strategy})
			if err != nil {
				return 0, 0, err
			}
			n := 0
			for _, a := range as {
				c, err := a.Books.Count()
				if err != nil {
					return 0, 0, err
				}
				n += c
			}
			return len(as), n, nil
		}
	}
	return []populator{
		{"mikro", viaMikro(mk, em.SelectIn)},
		{"mikro_pgx", viaMikro(mx, em.SelectIn)},
		{"mikro_pgx_joined", viaMikro(mx, em.Joined)},
		{"bun", func() (int, int, error) {
			var as []BAuthor
			if err := v.bundb.NewSelect().Model(&as).Relation("Books").Limit(100).Scan(v.ctx); err != nil {
				return 0, 0, err
			}
			n := 0
			for _, a := range as {
				n += len(a.Books)
			}
			return len(as), n, nil
		}},
		{"gorm", func() (int, int, error) {
			var as []GAuthor
			if err := v.gormdb.WithContext(v.ctx).Preload("Books").Limit(100).Find(&as).Error; err != nil {
				return 0, 0, err
			}
			n := 0
			for _, a := range as {
				n += len(a.Books)
			}
			return len(as), n, nil
		}},
	}
}

func BenchmarkPopulate(b *testing.B) {
	v := openORMEnv(b)
	fillPopulate(b, v)
	for _, p := range populators(b, v) {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.load(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPopulatorsAgree: every contender loads the same 100 authors and 1,000
// books, so the benchmark compares equal work.
func TestPopulatorsAgree(t *testing.T) {
	v := openORMEnv(t)
	fillPopulate(t, v)
	for _, p := range populators(t, v) {
		a, n, err := p.load()
		if err != nil || a != 100 || n != 1000 {
			t.Errorf("%s loaded %d authors and %d books (%v), want 100 and 1000", p.name, a, n, err)
		}
	}
}

var _ = gorm.ErrRecordNotFound
