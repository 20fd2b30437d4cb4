package em_test

// Black-box ports of em's tests that need a real database (they were
// white-box tests of package em, which no longer depends on any driver):
// translated driver errors (TestDBErr*), the generated DDL on every database
// (TestDDLRealDatabases), and foreign key checks after a failed schema
// statement (TestRunDDLRestoresFKChecks). Everything goes through em's
// exported API; raw SQL on tg.DB only sets the scene behind em's back.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

type dbeParent struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"unique,length=50"`
}

func (dbeParent) TableName() string { return "dberr_parent" }

type dbeChild struct {
	ID       int64  `db:"id" orm:"pk"`
	ParentID int64  `db:"parent_id" orm:"ref=dbeParent"`
	Note     string `db:"note" orm:"length=20"`
}

func (dbeChild) TableName() string { return "dberr_child" }

// dbeMissing is an entity whose table is never created.
type dbeMissing struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name"`
}

func (dbeMissing) TableName() string { return "dberr_missing" }

// driverErrorType is the error type each database's driver returns.
var driverErrorType = map[string]string{dbtest.Postgres: "*pgconn.PgError", dbtest.MariaDB: "*mysql.MySQLError", dbtest.SQLite: "*sqlite.Error"}

// dbErrKinds are all the kinds a *em.DBError can have.
var dbErrKinds = []error{em.ErrUniqueViolation, em.ErrForeignKeyViolation, em.ErrNotNullViolation, em.ErrDeadlock, em.ErrSerialization, em.ErrLockTimeout}

// dberrSetup opens an ORM on db (tg.DB when nil) for dbeParent and dbeChild,
// creates dberr_parent (rows 1 "a" and 2 "b") and dberr_child with the
// generated DDL, and drops them when the test ends.
func dberrSetup(t *testing.T, ctx context.Context, tg dbtest.Target) *em.ORM {
	t.Helper()
	o := dberrOpen(t, ctx, tg, tg.DB)
	must(t, o.DropSchema(ctx)) // what an earlier, interrupted run left
	must(t, o.CreateSchema(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := o.DropSchema(ctx); err != nil {
			t.Error(err)
		}
	})
	e := o.Fork()
	for id, name := range []string{"a", "b"} {
		if _, err := em.NativeInsert[dbeParent](ctx, e, map[string]any{"id": id + 1, "name": name}); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// dberrOpen opens an ORM for dbeParent and dbeChild on db, a pool of tg's
// database.
func dberrOpen(t *testing.T, ctx context.Context, tg dbtest.Target, db *sql.DB) *em.ORM {
	t.Helper()
	o, err := em.Open(ctx, em.Config{DB: db, Dialect: dialectOf[tg.Name], Entities: []any{dbeParent{}, dbeChild{}}})
	must(t, err)
	return o
}

// checkDBError asserts that err is (or wraps) a *em.DBError of kind, for
// entity and constraint, wrapping the driver's own error.
func checkDBError(t *testing.T, tg dbtest.Target, err, kind error, entity, constraint string) {
	t.Helper()
	var dbe *em.DBError
	if !errors.As(err, &dbe) || !errors.Is(err, kind) {
		t.Fatalf("want %v, got %v (%T)", kind, err, err)
	}
	for _, other := range dbErrKinds {
		if other != kind && errors.Is(err, other) {
			t.Errorf("%v also matches %v", err, other)
		}
	}
	if dbe.Kind != kind || dbe.Entity != entity || dbe.Constraint != constraint {
		t.Errorf("kind %v, entity %q, constraint %q; want %v, %q, %q", dbe.Kind, dbe.Entity, dbe.Constraint, kind, entity, constraint)
	}
	if got := reflect.TypeOf(dbe.Unwrap()).String(); got != driverErrorType[tg.Name] {
		t.Errorf("Unwrap gives a %s, want the driver's %s", got, driverErrorType[tg.Name])
	}
	if want := kind == em.ErrDeadlock || kind == em.ErrSerialization; dbe.Retryable() != want {
		t.Errorf("Retryable() = %v for %v", dbe.Retryable(), kind)
	}
	if !strings.Contains(err.Error(), kind.Error()) {
		t.Errorf("message %q does not say %q", err, kind)
	}
}

// holdsType reports whether err, or an error it wraps, has the type named
// typeName.
func holdsType(err error, typeName string) bool {
	for err != nil {
		if reflect.TypeOf(err).String() == typeName {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}

// withParam returns tg's DSN with one more connection parameter: a runtime
// parameter for pgx (URL query or keyword/value), a system variable for
// go-sql-driver/mysql.
func withParam(t *testing.T, tg dbtest.Target, key, value string) string {
	t.Helper()
	switch tg.Name {
	case dbtest.Postgres:
		if !strings.Contains(tg.DSN, "://") {
			return tg.DSN + " " + key + "='" + strings.ReplaceAll(value, "'", `\'`) + "'"
		}
		u, err := url.Parse(tg.DSN)
		must(t, err)
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
		return u.String()
	case dbtest.MariaDB:
		cfg, err := mysql.ParseDSN(tg.DSN)
		must(t, err)
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params[key] = value
		return cfg.FormatDSN()
	}
	t.Fatalf("withParam: no connection parameters for %s", tg.Name)
	return ""
}

// TestDBErrConstraints provokes unique, foreign key and not-null violations
// through em on every database and checks their translation.
func TestDBErrConstraints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o := dberrSetup(t, ctx, tg)
		e := o.Fork()
		insertParent := func(data map[string]any) error {
			_, err := em.NativeInsert[dbeParent](ctx, e, data)
			return err
		}
		insertChild := func(data map[string]any) error {
			_, err := em.NativeInsert[dbeChild](ctx, e, data)
			return err
		}
		// The constraint each database names: PostgreSQL and MariaDB the
		// constraint or index, SQLite the columns.
		named := func(pg, maria, sqlite string) string {
			return map[string]string{dbtest.Postgres: pg, dbtest.MariaDB: maria, dbtest.SQLite: sqlite}[tg.Name]
		}

		err := insertParent(map[string]any{"id": 3, "name": "a"})
		checkDBError(t, tg, err, em.ErrUniqueViolation, "dbeParent", named("uq_dberr_parent_name", "uq_dberr_parent_name", "dberr_parent.name"))
		err = insertParent(map[string]any{"id": 1, "name": "c"})
		checkDBError(t, tg, err, em.ErrUniqueViolation, "dbeParent", named("dberr_parent_pkey", "PRIMARY", "dberr_parent.id"))

		err = insertChild(map[string]any{"id": 1, "parentID": 99, "note": "x"})
		checkDBError(t, tg, err, em.ErrForeignKeyViolation, "dbeChild", named("fk_dberr_child_parent_id", "fk_dberr_child_parent_id", ""))
		must(t, insertChild(map[string]any{"id": 1, "parentID": 1, "note": "x"}))
		_, err = em.NativeDelete[dbeParent](ctx, e, em.F{"id": 1})
		checkDBError(t, tg, err, em.ErrForeignKeyViolation, "dbeParent", named("fk_dberr_child_parent_id", "fk_dberr_child_parent_id", ""))

		err = insertParent(map[string]any{"id": 4, "name": nil})
		checkDBError(t, tg, err, em.ErrNotNullViolation, "dbeParent", named("", "", "dberr_parent.name"))
		_, err = em.NativeUpdate[dbeChild](ctx, e, em.F{"id": 1}, map[string]any{"note": nil})
		checkDBError(t, tg, err, em.ErrNotNullViolation, "dbeChild", named("", "", "dberr_child.note"))

		// Other errors go through as they are: a missing table is the
		// driver's error (pgx wraps its *pgconn.PgError of a failed
		// prepare in a *pgconn.PrepareError), no *em.DBError.
		om, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: []any{dbeMissing{}}})
		must(t, err)
		_, raw := em.NativeInsert[dbeMissing](ctx, om.Fork(), map[string]any{"id": 1, "name": "x"})
		var dbe *em.DBError
		if raw == nil || errors.As(raw, &dbe) || !holdsType(raw, driverErrorType[tg.Name]) {
			t.Errorf("a missing table: got %v (%T), want the driver's %s as it is", raw, raw, driverErrorType[tg.Name])
		}
		for _, kind := range dbErrKinds {
			if errors.Is(raw, kind) {
				t.Errorf("a missing table: %v matches %v", raw, kind)
			}
		}
	})
}

// TestDBErrLockTimeout holds a row lock in one transaction and updates the
// row through em from another pool, whose sessions wait at most a moment.
func TestDBErrLockTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)

		// The waiting side's DSN shortens the wait.
		var dsn string
		switch tg.Name {
		case dbtest.SQLite:
			dsn = strings.Replace(tg.DSN, "busy_timeout(10000)", "busy_timeout(100)", 1)
			if dsn == tg.DSN {
				t.Skip("the harness's SQLite DSN has no busy_timeout(10000) to shorten")
			}
		case dbtest.Postgres:
			dsn = withParam(t, tg, "lock_timeout", "100ms")
		case dbtest.MariaDB:
			dsn = withParam(t, tg, "innodb_lock_wait_timeout", "1")
		}
		other := reopen(t, tg.Driver, dsn)
		waiter := dberrOpen(t, ctx, tg, other)

		holder, err := tg.DB.BeginTx(ctx, nil)
		must(t, err)
		defer holder.Rollback()
		_, err = holder.ExecContext(ctx, "UPDATE dberr_parent SET name = 'held' WHERE id = 1")
		must(t, err)

		start := time.Now()
		n, waitErr := em.NativeUpdate[dbeParent](ctx, waiter.Fork(), em.F{"id": 1}, map[string]any{"name": "waiter"})
		if waited := time.Since(start); waited > 10*time.Second {
			t.Errorf("waited %v", waited)
		}
		if waitErr == nil {
			t.Fatalf("the update of a locked row went through (%d rows)", n)
		}
		checkDBError(t, tg, waitErr, em.ErrLockTimeout, "dbeParent", "")
	})
}

// TestDBErrDeadlock: two entity managers, each in its own transaction,
// update two rows in opposite order; the database picks a victim, whose
// error is a retryable ErrDeadlock.
func TestDBErrDeadlock(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name == dbtest.SQLite {
			t.Skip("SQLite has one writer at a time: no deadlocks between row locks")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o := dberrSetup(t, ctx, tg)
		update := func(e *em.EntityManager, id int64, name string) error {
			_, err := em.NativeUpdate[dbeParent](ctx, e, em.F{"id": id}, map[string]any{"name": name})
			return err
		}
		e1, e2 := o.Fork(), o.Fork()
		must(t, e1.Begin(ctx))
		defer func() { _ = e1.Rollback(context.Background()) }()
		must(t, e2.Begin(ctx))
		defer func() { _ = e2.Rollback(context.Background()) }()
		must(t, update(e1, 1, "e1 row 1"))
		must(t, update(e2, 2, "e2 row 2"))
		err1, err2 := make(chan error, 1), make(chan error, 1)
		go func() { err1 <- update(e1, 2, "e1 row 2") }()
		time.Sleep(200 * time.Millisecond) // e1 waits on row 2 first
		go func() { err2 <- update(e2, 1, "e2 row 1") }()
		// The victim's statement fails; rolling its transaction back lets
		// the other one through.
		var r1, r2 error
		select {
		case r1 = <-err1:
			_ = e1.Rollback(ctx)
			r2 = <-err2
		case r2 = <-err2:
			_ = e2.Rollback(ctx)
			r1 = <-err1
		case <-ctx.Done():
			t.Fatal("no deadlock detected in time")
		}
		if (r1 == nil) == (r2 == nil) {
			t.Fatalf("want exactly one victim, got %v and %v", r1, r2)
		}
		victim := r1
		if victim == nil {
			victim = r2
		}
		checkDBError(t, tg, victim, em.ErrDeadlock, "dbeParent", "")
	})
}

// TestDBErrSerialization: on PostgreSQL an em transaction under REPEATABLE
// READ (the pool's default_transaction_isolation) that updates a row changed
// since its snapshot fails with a retryable ErrSerialization, from
// NativeUpdate and from Flush. (MariaDB's REPEATABLE READ does not fail
// there.)
func TestDBErrSerialization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name != dbtest.Postgres {
			t.Skip("serialization failures of REPEATABLE READ are PostgreSQL's")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)
		o := dberrOpen(t, ctx, tg, reopen(t, tg.Driver, withParam(t, tg, "default_transaction_isolation", "repeatable read")))

		for i, how := range []string{"NativeUpdate", "Flush"} {
			t.Run(how, func(t *testing.T) {
				e := o.Fork()
				must(t, e.Begin(ctx))
				defer func() { _ = e.Rollback(context.Background()) }()
				p, err := em.FindOneOrFail[dbeParent](ctx, e, int64(1)) // takes the snapshot
				must(t, err)
				if _, err := tg.DB.ExecContext(ctx, fmt.Sprintf("UPDATE dberr_parent SET name = 'changed %d' WHERE id = 1", i)); err != nil {
					t.Fatal(err)
				}
				if how == "NativeUpdate" {
					_, err = em.NativeUpdate[dbeParent](ctx, e, em.F{"id": 1}, map[string]any{"name": "mine"})
				} else {
					p.Name = "mine"
					err = e.Flush(ctx)
				}
				checkDBError(t, tg, err, em.ErrSerialization, "dbeParent", "")
				var dbe *em.DBError
				if !errors.As(err, &dbe) || !dbe.Retryable() {
					t.Error("a serialization failure is retryable")
				}
			})
		}
	})
}

// ddlCustom is a sql.Scanner the DDL has no column type for: it needs
// orm:"type=…".
type ddlCustom struct{ s string }

func (c *ddlCustom) Scan(src any) error {
	switch v := src.(type) {
	case string:
		c.s = v
	case []byte:
		c.s = string(v)
	case nil:
		c.s = ""
	default:
		return fmt.Errorf("ddlCustom: cannot scan %T", src)
	}
	return nil
}

func (c ddlCustom) Value() (driver.Value, error) { return c.s, nil }

// NullText wraps a database/sql Null type, as null-type libraries do.
type NullText struct{ sql.NullString }

// ddlAll has a field of every Go type the DDL maps, options of every kind,
// and indexes.
type ddlAll struct {
	ID      int64               `db:"id" orm:"pk"`
	B       bool                `db:"b"`
	I8      int8                `db:"i8"`
	I16     int16               `db:"i16"`
	I32     int32               `db:"i32"`
	I       int                 `db:"i"`
	I64     int64               `db:"i64"`
	U8      uint8               `db:"u8"`
	U16     uint16              `db:"u16"`
	U32     uint32              `db:"u32"`
	U       uint                `db:"u"`
	U64     uint64              `db:"u64"`
	F32     float32             `db:"f32"`
	F64     float64             `db:"f64"`
	S       string              `db:"s"`
	S40     string              `db:"s40" orm:"length=40"`
	Text    string              `db:"text" orm:"type=TEXT"`
	Bytes   []byte              `db:"bytes"`
	T       time.Time           `db:"t" orm:"onCreate=now"`
	PB      *bool               `db:"pb"`
	PI      *int64              `db:"pi"`
	PF      *float64            `db:"pf"`
	PS      *string             `db:"ps" orm:"length=20"`
	PT      *time.Time          `db:"pt"`
	NS      sql.NullString      `db:"ns"`
	NI64    sql.NullInt64       `db:"ni64"`
	NI32    sql.NullInt32       `db:"ni32"`
	NI16    sql.NullInt16       `db:"ni16"`
	NByte   sql.NullByte        `db:"nbyte"`
	NB      sql.NullBool        `db:"nb"`
	NF      sql.NullFloat64     `db:"nf"`
	NT      sql.NullTime        `db:"nt"`
	NG      sql.Null[int64]     `db:"ng"`
	NW      NullText            `db:"nw"`
	Doc     []string            `db:"doc" orm:"type=json"`
	Obj     map[string]any      `db:"obj" orm:"type=jsonb"`
	Custom  ddlCustom           `db:"custom" orm:"type=VARCHAR(20)"`
	Email   string              `db:"email" orm:"unique,length=100"`
	First   string              `db:"first" orm:"index=idx_ddl_all_name,length=50"`
	Last    string              `db:"last" orm:"index=idx_ddl_all_name,length=50"`
	Code    string              `db:"code" orm:"unique=uq_ddl_all_code_region,length=10"`
	Region  string              `db:"region" orm:"unique=uq_ddl_all_code_region,length=10"`
	Status  string              `db:"status" orm:"length=10,default='new'"`
	Count   int                 `db:"count" orm:"default=0,index"`
	Opt     string              `db:"opt" orm:"nullable"`
	Version int                 `db:"version" orm:"version,default=1"`
	Skip    string              `db:"-"`
	Counts  map[string]struct{} `orm:"persist=false"`
}

func (ddlAll) TableName() string { return "ddl_all" }

// ddlTag has a generated UUID key.
type ddlTag struct {
	ID   string `db:"id" orm:"pk,uuid"`
	Name string `db:"name" orm:"length=50"`
}

func (ddlTag) TableName() string { return "ddl_tag" }

// ddlAuthor refers to itself (a mentor) and, closing a cycle, to a book;
// its tags are a many-to-many through a pivot table.
type ddlAuthor struct {
	ID       int64                    `db:"id" orm:"pk"`
	Name     string                   `db:"name" orm:"length=100"`
	Mentor   em.Ref[ddlAuthor]        `db:"mentor_id" orm:"nullable,onDelete=set null"`
	Favorite em.Ref[ddlBook]          `db:"favorite_book_id" orm:"nullable"`
	Tags     em.Collection[ddlTag]    `orm:"manyToMany"`
	Mentees  em.Collection[ddlAuthor] `orm:"mappedBy=mentor"`
}

func (ddlAuthor) TableName() string { return "ddl_author" }

// ddlBook has a 32-bit generated key and plain foreign key columns: one that
// cascades, one to the UUID key that sets NULL.
type ddlBook struct {
	ID       int32   `db:"id" orm:"pk"`
	Title    string  `db:"title" orm:"index"`
	AuthorID int64   `db:"author_id" orm:"ref=ddlAuthor,onDelete=cascade"`
	TagID    *string `db:"tag_id" orm:"ref=ddlTag,onDelete=set null"`
}

func (ddlBook) TableName() string { return "ddl_book" }

// ddlCounter has an unsigned 64-bit generated key.
type ddlCounter struct {
	ID uint64 `db:"id" orm:"pk"`
	N  int16  `db:"n"`
}

func (ddlCounter) TableName() string { return "ddl_counter" }

// ddlEntities are registered in an order the schema must not follow: a book
// before the author it references.
var ddlEntities = []any{ddlBook{}, ddlAll{}, ddlTag{}, ddlAuthor{}, ddlCounter{}}

var ddlTime = time.Date(2026, 11, 24, 10, 30, 15, 123456000, time.UTC)

// ddlSample is a ddlAll with every field set.
func ddlSample() ddlAll {
	b, i, f, s := true, int64(-7), 0.25, "ptr"
	return ddlAll{
		B: true, I8: -8, I16: -16, I32: -32, I: int(^uint(0) >> 30), I64: -1 << 40, U8: 255, U16: 65535, U32: 1<<32 - 1, U: ^uint(0) >> 23, U64: 1 << 40, // I and U beyond 32 bits where int has 64
		F32: 1.5, F64: 2.25, S: "s", S40: "forty", Text: strings.Repeat("text ", 100), Bytes: []byte{0, 1, 255}, T: ddlTime,
		PB: &b, PI: &i, PF: &f, PS: &s, PT: &ddlTime,
		NS: sql.NullString{String: "n", Valid: true}, NI64: sql.NullInt64{Int64: 64, Valid: true}, NI32: sql.NullInt32{Int32: 32, Valid: true},
		NI16: sql.NullInt16{Int16: 16, Valid: true}, NByte: sql.NullByte{Byte: 8, Valid: true}, NB: sql.NullBool{Bool: true, Valid: true},
		NF: sql.NullFloat64{Float64: 0.5, Valid: true}, NT: sql.NullTime{Time: ddlTime, Valid: true}, NG: sql.Null[int64]{V: 7, Valid: true},
		NW:  NullText{sql.NullString{String: "w", Valid: true}},
		Doc: []string{"a", "b"}, Obj: map[string]any{"k": 1.5}, Custom: ddlCustom{"custom"},
		Email: "a@example.com", First: "Ann", Last: "Lee", Code: "c1", Region: "us", Opt: "",
	}
}

// TestDDLRealDatabases runs the generated DDL on every database: create the
// schema, write rows through em that exercise every column, default, index
// and foreign key action, drop it, and create it again (so the drop left no
// index or constraint name behind).
func TestDDLRealDatabases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		d := dialectOf[tg.Name]
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		o, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: d, Entities: ddlEntities})
		must(t, err)
		if stmts, err := o.SchemaSQL(); err != nil || len(stmts) == 0 {
			t.Fatalf("SchemaSQL: %d statements, %v", len(stmts), err)
		}
		must(t, o.DropSchema(ctx)) // what an earlier, interrupted run left
		must(t, o.CreateSchema(ctx))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := o.DropSchema(ctx); err != nil {
				t.Error(err)
			}
		})
		e := o.Fork()
		insert := func(what string, ins func() (any, error)) {
			t.Helper()
			if _, err := ins(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		count := func(query string) int {
			t.Helper()
			var n int
			if err := tg.DB.QueryRowContext(ctx, query).Scan(&n); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return n
		}
		// wantKind: err is a *em.DBError of kind, naming entity (unless "").
		wantKind := func(what string, err, kind error, entity string) {
			t.Helper()
			var dbe *em.DBError
			if !errors.Is(err, kind) || !errors.As(err, &dbe) || entity != "" && dbe.Entity != entity {
				t.Errorf("%s: got %v, want %v of %s", what, err, kind, entity)
			}
		}

		// ddl_all: every column but the key and the three with defaults.
		all, err := o.Meta(ddlAll{})
		must(t, err)
		insertAll := func(mod func(*ddlAll)) error {
			t.Helper()
			row := ddlSample()
			mod(&row)
			data := map[string]any{}
			for _, f := range all.Fields {
				if f.PrimaryKey || f.Column == "status" || f.Column == "count" || f.Column == "version" {
					continue
				}
				v := f.Get(&row)
				if f.JSON {
					j, err := json.Marshal(v)
					must(t, err)
					v = string(j)
				}
				data[f.Property] = v
			}
			_, err := em.NativeInsert[ddlAll](ctx, e, data)
			return err
		}
		must(t, insertAll(func(*ddlAll) {}))
		var (
			id                   int64
			status               string
			cnt, version         int
			u64                  uint64
			s40, custom, docText string
			ts                   time.Time
		)
		countCol, err := d.QuoteIdent("count")
		must(t, err)
		err = tg.DB.QueryRowContext(ctx, "SELECT id, status, "+countCol+", version, u64, s40, custom, doc, t FROM ddl_all WHERE email = 'a@example.com'").
			Scan(&id, &status, &cnt, &version, &u64, &s40, &custom, &docText, &ts)
		must(t, err)
		if id <= 0 || status != "new" || cnt != 0 || version != 1 || u64 != 1<<40 || s40 != "forty" || custom != "custom" ||
			!ts.Equal(ddlTime) {
			t.Errorf("read back id=%d status=%q count=%d version=%d u64=%d s40=%q custom=%q t=%v", id, status, cnt, version, u64, s40, custom, ts)
		}
		var doc []string
		if err := json.Unmarshal([]byte(docText), &doc); err != nil || len(doc) != 2 {
			t.Errorf("doc %q: %v", docText, err)
		}
		// The unique index on one column, and the composite one.
		wantKind("duplicate email", insertAll(func(r *ddlAll) { r.Code = "other" }), em.ErrUniqueViolation, "ddlAll")
		wantKind("duplicate (code, region)", insertAll(func(r *ddlAll) { r.Email = "b@example.com" }), em.ErrUniqueViolation, "ddlAll")
		if err := insertAll(func(r *ddlAll) { r.Email = "b@example.com"; r.Region = "eu" }); err != nil {
			t.Errorf("same code in another region: %v", err)
		}
		// NOT NULL where the field is not nullable.
		_, err = em.NativeInsert[ddlTag](ctx, e, map[string]any{"id": "6f1c4b2e-0000-4000-8000-000000000000", "name": nil})
		wantKind("NULL name", err, em.ErrNotNullViolation, "ddlTag")
		_, err = em.NativeInsert[ddlTag](ctx, e, map[string]any{"id": nil, "name": "x"})
		wantKind("NULL key", err, em.ErrNotNullViolation, "ddlTag")

		// Generated keys: identity, AUTO_INCREMENT, AUTOINCREMENT.
		insert("counter 1", func() (any, error) { return em.NativeInsert[ddlCounter](ctx, e, map[string]any{"n": 1}) })
		insert("counter 2", func() (any, error) { return em.NativeInsert[ddlCounter](ctx, e, map[string]any{"n": 2}) })
		if n := count("SELECT COUNT(DISTINCT id) FROM ddl_counter WHERE id > 0"); n != 2 {
			t.Errorf("ddl_counter keys: %d distinct", n)
		}

		// Foreign keys: a UUID key, a self-reference, the cycle between
		// authors and books, a pivot table, and the ON DELETE actions.
		tag := "0b6f4f3e-8d7a-4c1e-9f2b-3a5d6e7f8091"
		insert("tag", func() (any, error) { return em.NativeInsert[ddlTag](ctx, e, map[string]any{"id": tag, "name": "go"}) })
		insert("Ann", func() (any, error) { return em.NativeInsert[ddlAuthor](ctx, e, map[string]any{"id": 1, "name": "Ann"}) })
		insert("Bob", func() (any, error) {
			return em.NativeInsert[ddlAuthor](ctx, e, map[string]any{"id": 2, "name": "Bob", "mentor": 1})
		})
		insert("book 10", func() (any, error) {
			return em.NativeInsert[ddlBook](ctx, e, map[string]any{"id": 10, "title": "Go", "authorID": 1, "tagID": tag})
		})
		update := func(what string, filter em.F, data map[string]any) {
			t.Helper()
			if _, err := em.NativeUpdate[ddlAuthor](ctx, e, filter, data); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		update("Bob's favorite", em.F{"id": 2}, map[string]any{"favorite": 10})
		pivot := ""
		if am, err := o.Meta(ddlAuthor{}); err == nil {
			for _, r := range am.Relations {
				if r.Name == "Tags" {
					pivot = r.Pivot
				}
			}
		}
		if pivot == "" {
			t.Fatal("ddlAuthor.Tags has no pivot table")
		}
		// A pivot row, written by a flush of Ann's tags.
		{
			e := o.Fork()
			ann, err := em.FindOneOrFail[ddlAuthor](ctx, e, int64(1))
			must(t, err)
			goTag, err := em.FindOneOrFail[ddlTag](ctx, e, tag)
			must(t, err)
			ann.Tags.Add(goTag)
			must(t, e.Flush(ctx))
			if n := count("SELECT COUNT(*) FROM " + pivot); n != 1 {
				t.Fatalf("%s holds %d rows after the flush, want 1", pivot, n)
			}
		}
		for _, bad := range []struct {
			what, entity string
			run          func() error
		}{
			{"a book of a missing author", "ddlBook", func() error {
				_, err := em.NativeInsert[ddlBook](ctx, e, map[string]any{"id": 11, "title": "x", "authorID": 99})
				return err
			}},
			{"a book of a missing tag", "ddlBook", func() error {
				_, err := em.NativeInsert[ddlBook](ctx, e, map[string]any{"id": 11, "title": "x", "authorID": 1, "tagID": "00000000-0000-4000-8000-000000000000"})
				return err
			}},
			{"a missing mentor", "ddlAuthor", func() error {
				_, err := em.NativeUpdate[ddlAuthor](ctx, e, em.F{"id": 2}, map[string]any{"mentor": 99})
				return err
			}},
			{"a missing favorite book", "ddlAuthor", func() error {
				_, err := em.NativeUpdate[ddlAuthor](ctx, e, em.F{"id": 2}, map[string]any{"favorite": 99})
				return err
			}},
			// The pivot table's foreign key: a tag deleted behind the
			// manager's back, then added to an author's tags and flushed.
			{"a pivot row to a missing tag", "", func() error {
				e := o.Fork()
				gone := "1d2e3f40-0000-4000-8000-000000000000"
				if _, err := em.NativeInsert[ddlTag](ctx, e, map[string]any{"id": gone, "name": "gone"}); err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				bob, err := em.FindOneOrFail[ddlAuthor](ctx, e, int64(2))
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				goneTag, err := em.FindOneOrFail[ddlTag](ctx, e, gone)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				if n, err := em.NativeDelete[ddlTag](ctx, o.Fork(), em.F{"id": gone}); err != nil || n != 1 {
					return fmt.Errorf("setup: deleted %d: %w", n, err)
				}
				bob.Tags.Add(goneTag)
				return e.Flush(ctx)
			}},
		} {
			wantKind(bad.what, bad.run(), em.ErrForeignKeyViolation, bad.entity)
		}
		if n := count("SELECT COUNT(*) FROM " + pivot); n != 1 {
			t.Errorf("%s holds %d rows after the failed flush, want 1", pivot, n)
		}
		// ON DELETE SET NULL to the UUID key; the pivot row cascades.
		if n, err := em.NativeDelete[ddlTag](ctx, e, em.F{"id": tag}); err != nil || n != 1 {
			t.Fatalf("delete of the tag: %d, %v", n, err)
		}
		if n := count("SELECT COUNT(*) FROM ddl_book WHERE id = 10 AND tag_id IS NULL"); n != 1 {
			t.Errorf("tag_id not set to NULL")
		}
		if n := count("SELECT COUNT(*) FROM " + pivot); n != 0 {
			t.Errorf("pivot rows left: %d", n)
		}
		// A referenced book cannot go (favorite_book_id has no action).
		_, err = em.NativeDelete[ddlBook](ctx, e, em.F{"id": 10})
		wantKind("delete of a favorite book", err, em.ErrForeignKeyViolation, "ddlBook")
		update("Bob's favorite cleared", em.F{"id": 2}, map[string]any{"favorite": nil})
		// ON DELETE CASCADE to the books, ON DELETE SET NULL to the mentee.
		if n, err := em.NativeDelete[ddlAuthor](ctx, e, em.F{"id": 1}); err != nil || n != 1 {
			t.Fatalf("delete of Ann: %d, %v", n, err)
		}
		if n := count("SELECT COUNT(*) FROM ddl_book"); n != 0 {
			t.Errorf("books of a deleted author left: %d", n)
		}
		if n := count("SELECT COUNT(*) FROM ddl_author WHERE id = 2 AND mentor_id IS NULL"); n != 1 {
			t.Errorf("mentor_id not set to NULL")
		}

		// Drop with rows and cycles in place; the tables are gone; create
		// again (index and constraint names are free) and drop again.
		update("Bob mentors himself", em.F{"id": 2}, map[string]any{"mentor": 2})
		insert("book 12", func() (any, error) {
			return em.NativeInsert[ddlBook](ctx, e, map[string]any{"id": 12, "title": "cycle", "authorID": 2})
		})
		update("Bob's favorite in the cycle", em.F{"id": 2}, map[string]any{"favorite": 12})
		must(t, o.DropSchema(ctx))
		tables := []string{pivot}
		for _, m := range o.Metas() {
			tables = append(tables, m.Table)
		}
		for _, table := range tables {
			if _, err := tg.DB.ExecContext(ctx, "SELECT COUNT(*) FROM "+table); err == nil {
				t.Errorf("table %s still exists after the drop", table)
			}
		}
		must(t, o.CreateSchema(ctx))
		insert("Ann again", func() (any, error) {
			return em.NativeInsert[ddlAuthor](ctx, o.Fork(), map[string]any{"id": 1, "name": "Ann"})
		})
		must(t, o.DropSchema(ctx))
		must(t, o.DropSchema(ctx)) // IF EXISTS: dropping nothing is fine
	})
}

// errDDLInjected is the error failDDL gives the statement it fails.
var errDDLInjected = errors.New("dbreal: injected failure of a schema statement")

// failDDL is a dbconn.DB whose sessions (the connections em runs schema
// statements on) fail the first DROP statement once; before failing it, it
// reads through the same session whether foreign key checks are on.
// (faultconn fails statements of transactions only, not of sessions.)
type failDDL struct {
	dbconn.DB
	checks string // the query that reads whether foreign key checks are on

	mu       sync.Mutex
	armed    bool
	failed   []string // the statements failed
	checksAt []int    // the checks' state when each was failed
}

func (f *failDDL) Session(ctx context.Context) (dbconn.Session, error) {
	s, err := f.DB.Session(ctx)
	if err != nil {
		return nil, err
	}
	return &failSession{Session: s, db: f}, nil
}

type failSession struct {
	dbconn.Session
	db *failDDL
}

func (s *failSession) Exec(ctx context.Context, q string, args []any) (dbconn.Result, error) {
	f := s.db
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed || !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "DROP ") {
		return s.Session.Exec(ctx, q, args)
	}
	f.armed = false
	on := -1
	rows, err := s.Session.Query(ctx, f.checks, nil)
	if err != nil {
		return nil, fmt.Errorf("failDDL: %s: %w", f.checks, err)
	}
	if rows.Next() {
		err = rows.Scan(&on)
	}
	err = errors.Join(err, rows.Err(), rows.Close())
	if err != nil {
		return nil, fmt.Errorf("failDDL: %s: %w", f.checks, err)
	}
	f.failed = append(f.failed, q)
	f.checksAt = append(f.checksAt, on)
	return nil, errDDLInjected
}

// TestRunDDLRestoresFKChecks: a schema statement that fails between the
// switches that turn foreign key checks off and on must not hand the
// connection back to the pool with the checks off.
func TestRunDDLRestoresFKChecks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		d := dialectOf[tg.Name]
		if d == qb.Postgres {
			t.Skip("PostgreSQL drops with CASCADE and never switches the checks off")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tg.DB.SetMaxOpenConns(1) // the next query gets the connection the DDL used
		query := "SELECT @@foreign_key_checks"
		if d == qb.SQLite {
			query = "PRAGMA foreign_keys"
		}
		checksOn := func() int {
			t.Helper()
			var on int
			must(t, tg.DB.QueryRowContext(ctx, query).Scan(&on))
			return on
		}
		if on := checksOn(); on != 1 {
			t.Fatalf("%s = %d before the test, want 1", query, on)
		}
		conn := &failDDL{DB: dbconn.SQL(tg.DB), checks: query, armed: true}
		o, err := em.OpenConn(ctx, conn, em.Config{Dialect: d, Entities: []any{ddlAll{}}})
		must(t, err)

		err = o.DropSchema(ctx)
		conn.mu.Lock()
		failed, checksAt := conn.failed, conn.checksAt
		conn.mu.Unlock()
		if len(failed) != 1 {
			t.Fatalf("DropSchema ran no DROP statement to fail (err %v)", err)
		}
		if !errors.Is(err, errDDLInjected) || !strings.Contains(err.Error(), failed[0]) {
			t.Fatalf("want the failing statement's error naming %q, got %v", failed[0], err)
		}
		if checksAt[0] != 0 {
			t.Fatalf("foreign key checks were on (%s = %d) when the DROP failed: the test no longer fails a statement between the switches", query, checksAt[0])
		}
		if on := checksOn(); on != 1 {
			t.Fatalf("foreign key checks left off after a failed schema statement (%s = %d)", query, on)
		}
		// The sequence runs again, without a failure, and leaves them on.
		must(t, o.DropSchema(ctx))
		if on := checksOn(); on != 1 {
			t.Fatalf("foreign key checks off after DropSchema (%s = %d)", query, on)
		}
	})
}
