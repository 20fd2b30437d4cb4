package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	gormpg "gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/qb"
)

// The common Go ORM benchmark: one table, five operations, every contender
// doing the same work against the same PostgreSQL database.

const modelsDDL = `CREATE TABLE models (id SERIAL PRIMARY KEY, name TEXT NOT NULL, title TEXT NOT NULL, fax TEXT NOT NULL,
	web TEXT NOT NULL, age INT NOT NULL, "right" BOOLEAN NOT NULL, counter BIGINT NOT NULL)`

// Model is the row, mapped for every contender at once.
type Model struct {
	bun.BaseModel `bun:"table:models" db:"-" gorm:"-"`

	ID      int    `db:"id" orm:"pk" bun:"id,pk,autoincrement" gorm:"primaryKey;column:id"`
	Name    string `db:"name" bun:"name,notnull" gorm:"column:name"`
	Title   string `db:"title" bun:"title,notnull" gorm:"column:title"`
	Fax     string `db:"fax" bun:"fax,notnull" gorm:"column:fax"`
	Web     string `db:"web" bun:"web,notnull" gorm:"column:web"`
	Age     int    `db:"age" bun:"age,notnull" gorm:"column:age"`
	Right   bool   `db:"right" bun:"right,notnull" gorm:"column:right"`
	Counter int64  `db:"counter" bun:"counter,notnull" gorm:"column:counter"`
}

func (Model) TableName() string { return "models" }

func newModel(i int) *Model {
	return &Model{Name: "Orm Benchmark", Title: "Just a Benchmark for fun", Fax: "99909990",
		Web: "http://blog.milkpod29.me", Age: 100, Right: true, Counter: int64(1000 + i)}
}

type ormEnv struct {
	ctx    context.Context
	conn   *pgx.Conn
	pool   *pgxpool.Pool
	sqldb  *sql.DB
	sqlxdb *sqlx.DB
	bundb  *bun.DB
	gormdb *gorm.DB
	mikro  *em.ORM
	mikroX *em.ORM // on the pgx pool natively (em/pgxdriver)
}

type namedORM struct {
	name string
	o    *em.ORM
}

// mikros lists mikro on database/sql and mikro on pgx natively.
func (v *ormEnv) mikros() []namedORM {
	return []namedORM{{"mikro", v.mikro}, {"mikro_pgx", v.mikroX}}
}

// openORMEnv connects every contender to MIKRO_PG_DSN and recreates the
// models table with 100 rows.
func openORMEnv(tb testing.TB) *ormEnv {
	tb.Helper()
	dsn := os.Getenv("MIKRO_PG_DSN")
	if dsn == "" {
		tb.Skip("MIKRO_PG_DSN is not set")
	}
	ctx := context.Background()
	v := &ormEnv{ctx: ctx}
	var err error
	if v.conn, err = pgx.Connect(ctx, dsn); err != nil {
		tb.Fatal(err)
	}
	if v.pool, err = pgxpool.New(ctx, dsn); err != nil {
		tb.Fatal(err)
	}
	if v.sqldb, err = sql.Open("pgx", dsn); err != nil {
		tb.Fatal(err)
	}
	v.sqldb.SetMaxIdleConns(4)
	v.sqlxdb = sqlx.NewDb(v.sqldb, "pgx")
	v.bundb = bun.NewDB(v.sqldb, pgdialect.New())
	if v.gormdb, err = gorm.Open(gormpg.New(gormpg.Config{Conn: v.sqldb}), &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, PrepareStmt: false}); err != nil {
		tb.Fatal(err)
	}
	if v.mikro, err = em.Open(ctx, em.Config{DB: v.sqldb, Dialect: qb.Postgres, Entities: []any{Model{}}}); err != nil {
		tb.Fatal(err)
	}
	if v.mikroX, err = pgxdriver.Open(ctx, v.pool, em.Config{Entities: []any{Model{}}}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		v.conn.Close(ctx)
		v.pool.Close()
		_ = v.sqldb.Close()
	})
	for _, s := range []string{`DROP TABLE IF EXISTS models`, modelsDDL} {
		if _, err := v.conn.Exec(ctx, s); err != nil {
			tb.Fatal(err)
		}
	}
	rows := make([][]any, 100)
	for i := range rows {
		m := newModel(i)
		rows[i] = []any{m.Name, m.Title, m.Fax, m.Web, m.Age, m.Right, m.Counter}
	}
	if _, err := v.conn.CopyFrom(ctx, pgx.Identifier{"models"}, []string{"name", "title", "fax", "web", "age", "right", "counter"}, pgx.CopyFromRows(rows)); err != nil {
		tb.Fatal(err)
	}
	return v
}

var _ = stdlib.GetDefaultDriver

const (
	insertSQL = `INSERT INTO models (name, title, fax, web, age, "right", counter) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`
	updateSQL = `UPDATE models SET name = $1, title = $2, fax = $3, web = $4, age = $5, "right" = $6, counter = $7 WHERE id = $8`
	readSQL   = `SELECT id, name, title, fax, web, age, "right", counter FROM models WHERE id = $1`
	readNSQL  = `SELECT id, name, title, fax, web, age, "right", counter FROM models WHERE id > 0 LIMIT 100`
)

// multiInsertSQL is the hand-written multi-row INSERT … RETURNING id of n rows.
func multiInsertSQL(n int) string {
	s := `INSERT INTO models (name, title, fax, web, age, "right", counter) VALUES `
	for i := range n {
		if i > 0 {
			s += ", "
		}
		b := i * 7
		s += fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, $%d)", b+1, b+2, b+3, b+4, b+5, b+6, b+7)
	}
	return s + " RETURNING id"
}

func args(m *Model) []any { return []any{m.Name, m.Title, m.Fax, m.Web, m.Age, m.Right, m.Counter} }

func fatal(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// ormContender is one library doing one operation of the common benchmark.
// prepare runs untimed and returns the operation, whose argument numbers
// the calls (for distinct values to write).
type ormContender struct {
	name    string
	prepare func(b *testing.B) func(i int)
}

// ormOp is one operation of the common benchmark with its contenders.
type ormOp struct {
	name       string
	contenders []ormContender
}

// ormOps is the common Go ORM benchmark: every contender of every
// operation, as BenchmarkORM runs them one after the other and
// BenchmarkPaired in rotation.
func ormOps(v *ormEnv) []ormOp {
	ctx := v.ctx
	insert100 := multiInsertSQL(100)
	each := func(run func(b *testing.B, i int)) func(b *testing.B) func(int) {
		return func(b *testing.B) func(int) { return func(i int) { run(b, i) } }
	}
	mikros := func(op func(o *em.ORM) func(b *testing.B) func(int)) []ormContender {
		var out []ormContender
		for _, c := range v.mikros() {
			out = append(out, ormContender{c.name, op(c.o)})
		}
		return out
	}
	batch := func(i int) []*Model {
		ms := make([]*Model, 100)
		for j := range ms {
			ms[j] = newModel(i*100 + j)
		}
		return ms
	}
	flat := func(ms []*Model) []any {
		out := make([]any, 0, 700)
		for _, m := range ms {
			out = append(out, args(m)...)
		}
		return out
	}
	// Every contender of Update1 updates all columns of row 1, which
	// exists, with values that change each time (so mikro's change set has
	// them all).
	change := func(m *Model, i int) {
		m.ID = 1
		m.Name = fmt.Sprintf("name %d", i)
		m.Title = fmt.Sprintf("title %d", i)
		m.Fax = fmt.Sprintf("fax %d", i)
		m.Web = fmt.Sprintf("web %d", i)
		m.Age = i % 100
		m.Right = i%2 == 0
		m.Counter = int64(i)
	}
	update := func(run func(b *testing.B, m *Model)) func(b *testing.B) func(int) {
		return func(b *testing.B) func(int) {
			m := newModel(0)
			return func(i int) {
				change(m, i)
				run(b, m)
			}
		}
	}
	scan100 := func(b *testing.B, next func() bool, scan func(...any) error, err func() error) {
		ms := make([]*Model, 0, 100)
		for next() {
			m := new(Model)
			fatal(b, scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
			ms = append(ms, m)
		}
		fatal(b, err())
		if len(ms) != 100 {
			b.Fatalf("%d rows", len(ms))
		}
	}
	return []ormOp{
		{"Insert1", append([]ormContender{
			{"pgx", each(func(b *testing.B, i int) {
				m := newModel(i)
				fatal(b, v.conn.QueryRow(ctx, insertSQL, args(m)...).Scan(&m.ID))
			})},
			{"pgxpool", each(func(b *testing.B, i int) {
				m := newModel(i)
				fatal(b, v.pool.QueryRow(ctx, insertSQL, args(m)...).Scan(&m.ID))
			})},
			{"database_sql", each(func(b *testing.B, i int) {
				m := newModel(i)
				fatal(b, v.sqldb.QueryRowContext(ctx, insertSQL, args(m)...).Scan(&m.ID))
			})},
			{"sqlx", each(func(b *testing.B, i int) {
				m := newModel(i)
				fatal(b, v.sqlxdb.QueryRowxContext(ctx, insertSQL, args(m)...).Scan(&m.ID))
			})},
			{"bun", each(func(b *testing.B, i int) {
				_, err := v.bundb.NewInsert().Model(newModel(i)).Exec(ctx)
				fatal(b, err)
			})},
			{"gorm", each(func(b *testing.B, i int) {
				fatal(b, v.gormdb.WithContext(ctx).Create(newModel(i)).Error)
			})},
		}, mikros(func(o *em.ORM) func(b *testing.B) func(int) {
			return each(func(b *testing.B, i int) {
				e := o.Fork()
				fatal(b, e.Persist(newModel(i)))
				fatal(b, e.Flush(ctx))
			})
		})...)},
		{"Insert100", append([]ormContender{
			{"pgx", each(func(b *testing.B, i int) {
				ms := batch(i)
				rows, err := v.conn.Query(ctx, insert100, flat(ms)...)
				fatal(b, err)
				j := 0
				for rows.Next() {
					fatal(b, rows.Scan(&ms[j].ID))
					j++
				}
				fatal(b, rows.Err())
			})},
			{"database_sql", each(func(b *testing.B, i int) {
				ms := batch(i)
				rows, err := v.sqldb.QueryContext(ctx, insert100, flat(ms)...)
				fatal(b, err)
				defer rows.Close()
				j := 0
				for rows.Next() {
					fatal(b, rows.Scan(&ms[j].ID))
					j++
				}
				fatal(b, rows.Err())
			})},
			{"bun", each(func(b *testing.B, i int) {
				ms := batch(i)
				_, err := v.bundb.NewInsert().Model(&ms).Exec(ctx)
				fatal(b, err)
			})},
			{"gorm", each(func(b *testing.B, i int) {
				ms := batch(i)
				fatal(b, v.gormdb.WithContext(ctx).Create(&ms).Error)
			})},
		}, mikros(func(o *em.ORM) func(b *testing.B) func(int) {
			return each(func(b *testing.B, i int) {
				e := o.Fork()
				for _, m := range batch(i) {
					fatal(b, e.Persist(m))
				}
				fatal(b, e.Flush(ctx))
			})
		})...)},
		{"Update1", append([]ormContender{
			{"pgx", update(func(b *testing.B, m *Model) {
				_, err := v.conn.Exec(ctx, updateSQL, append(args(m), m.ID)...)
				fatal(b, err)
			})},
			{"database_sql", update(func(b *testing.B, m *Model) {
				_, err := v.sqldb.ExecContext(ctx, updateSQL, append(args(m), m.ID)...)
				fatal(b, err)
			})},
			{"bun", update(func(b *testing.B, m *Model) {
				_, err := v.bundb.NewUpdate().Model(m).WherePK().Exec(ctx)
				fatal(b, err)
			})},
			{"gorm", update(func(b *testing.B, m *Model) {
				fatal(b, v.gormdb.WithContext(ctx).Save(m).Error)
			})},
		}, mikros(func(o *em.ORM) func(b *testing.B) func(int) {
			return func(b *testing.B) func(int) {
				// The managed row 1, changed and flushed: mikro's update.
				e := o.Fork()
				m, err := em.FindOneOrFail[Model](ctx, e, 1)
				fatal(b, err)
				return func(i int) {
					change(m, i+1_000_000)
					fatal(b, e.Flush(ctx))
				}
			}
		})...)},
		{"Read1", append([]ormContender{
			{"pgx", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.conn.QueryRow(ctx, readSQL, 1).Scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
			})},
			{"pgxpool", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.pool.QueryRow(ctx, readSQL, 1).Scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
			})},
			{"database_sql", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.sqldb.QueryRowContext(ctx, readSQL, 1).Scan(&m.ID, &m.Name, &m.Title, &m.Fax, &m.Web, &m.Age, &m.Right, &m.Counter))
			})},
			{"sqlx", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.sqlxdb.GetContext(ctx, &m, readSQL, 1))
			})},
			{"bun", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.bundb.NewSelect().Model(&m).Where("id = ?", 1).Scan(ctx))
			})},
			{"gorm", each(func(b *testing.B, _ int) {
				var m Model
				fatal(b, v.gormdb.WithContext(ctx).Where("id = ?", 1).Take(&m).Error)
			})},
		}, mikros(func(o *em.ORM) func(b *testing.B) func(int) {
			return each(func(b *testing.B, _ int) {
				// A fresh fork each time: the row is read, not served from the
				// identity map, and enters the new fork's identity map.
				_, err := em.FindOneOrFail[Model](ctx, o.Fork(), 1)
				fatal(b, err)
			})
		})...)},
		{"Read100", append([]ormContender{
			{"pgx", each(func(b *testing.B, _ int) {
				rows, err := v.conn.Query(ctx, readNSQL)
				fatal(b, err)
				scan100(b, rows.Next, rows.Scan, rows.Err)
			})},
			{"database_sql", each(func(b *testing.B, _ int) {
				rows, err := v.sqldb.QueryContext(ctx, readNSQL)
				fatal(b, err)
				defer rows.Close()
				scan100(b, rows.Next, rows.Scan, rows.Err)
			})},
			{"sqlx", each(func(b *testing.B, _ int) {
				var ms []*Model
				fatal(b, v.sqlxdb.SelectContext(ctx, &ms, readNSQL))
			})},
			{"bun", each(func(b *testing.B, _ int) {
				var ms []*Model
				fatal(b, v.bundb.NewSelect().Model(&ms).Where("id > ?", 0).Limit(100).Scan(ctx))
			})},
			{"gorm", each(func(b *testing.B, _ int) {
				var ms []*Model
				fatal(b, v.gormdb.WithContext(ctx).Where("id > ?", 0).Limit(100).Find(&ms).Error)
			})},
		}, mikros(func(o *em.ORM) func(b *testing.B) func(int) {
			return each(func(b *testing.B, _ int) {
				ms, err := em.Find[Model](ctx, o.Fork(), em.F{"id": em.Gt(0)}, em.FindOptions{Limit: 100})
				fatal(b, err)
				if len(ms) != 100 {
					b.Fatalf("%d rows", len(ms))
				}
			})
		})...)},
	}
}

// BenchmarkORM runs each contender of each operation on its own, one after
// the other (B/op and allocs/op are exact; times drift with the machine).
func BenchmarkORM(b *testing.B) {
	v := openORMEnv(b)
	for _, op := range ormOps(v) {
		b.Run(op.name, func(b *testing.B) {
			for _, c := range op.contenders {
				b.Run(c.name, func(b *testing.B) {
					run := c.prepare(b)
					for i := 0; b.Loop(); i++ {
						run(i)
					}
				})
			}
		})
	}
}

// TestORMContendersAgree runs each contender's read once and compares: the
// benchmark compares equal work only if they read the same thing.
func TestORMContendersAgree(t *testing.T) {
	v := openORMEnv(t)
	ctx := v.ctx
	var a, bn, g Model
	if err := v.sqlxdb.GetContext(ctx, &a, readSQL, 1); err != nil {
		t.Fatal(err)
	}
	if err := v.bundb.NewSelect().Model(&bn).Where("id = ?", 1).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.gormdb.WithContext(ctx).Where("id = ?", 1).Take(&g).Error; err != nil {
		t.Fatal(err)
	}
	m, err := em.FindOneOrFail[Model](ctx, v.mikro.Fork(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Model{"bun": bn, "gorm": g, "mikro": *m} {
		got.BaseModel, a.BaseModel = bun.BaseModel{}, bun.BaseModel{}
		if got != a {
			t.Errorf("%s read %+v, sqlx read %+v", name, got, a)
		}
	}
}
