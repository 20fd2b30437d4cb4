package em_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

type Status string

// AllTypes has a field of every kind the mapper supports.
type AllTypes struct {
	ID      int64            `db:"id" orm:"pk"`
	B       bool             `db:"b"`
	I8      int8             `db:"i8"`
	I16     int16            `db:"i16"`
	I32     int32            `db:"i32"`
	I       int              `db:"i"`
	U16     uint16           `db:"u16"`
	U32     uint32           `db:"u32"`
	F32     float32          `db:"f32"`
	F64     float64          `db:"f64"`
	S       string           `db:"s" orm:"length=40"`
	Text    string           `db:"text" orm:"type=TEXT"`
	St      Status           `db:"st" orm:"length=10,default='new'"`
	Bytes   []byte           `db:"bytes"`
	T       time.Time        `db:"t"`
	PS      *string          `db:"ps"`
	PI      *int64           `db:"pi"`
	PT      *time.Time       `db:"pt"`
	NS      sql.NullString   `db:"ns"`
	NI      sql.NullInt64    `db:"ni"`
	NF      sql.NullFloat64  `db:"nf"`
	NB      sql.NullBool     `db:"nb"`
	NT      sql.NullTime     `db:"nt"`
	Doc     []string         `db:"doc" orm:"type=json"`
	Nested  *struct{ A int } `db:"nested" orm:"type=json"`
	NullStr string           `db:"null_str" orm:"nullable"`
	Raw     json.RawMessage  `db:"raw"` // a named byte slice: nil is NULL, like []byte
}

func (AllTypes) TableName() string { return "em_all_types" }

// TestTypesRoundTrip creates the schema of AllTypes on every database,
// writes values of every type and reads them back equal.
func TestTypesRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		o, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: []any{AllTypes{}}})
		must(t, err)
		must(t, o.RefreshSchema(ctx))
		now := time.Date(2026, 11, 24, 10, 30, 15, 123456000, time.UTC)
		in := []*AllTypes{
			{B: true, I8: -8, I16: -16, I32: -32, I: int(^uint(0) >> 24), U16: 65535, U32: 1<<32 - 1, F32: 1.5, F64: 2.25,
				S: "héllo 'quoted' \"x\"", Text: strings.Repeat("long ", 100), St: "done", Bytes: []byte{0, 1, 255}, T: now,
				PS: ptr("p"), PI: ptr(int64(-7)), PT: &now, NS: sql.NullString{String: "n", Valid: true}, NI: sql.NullInt64{Int64: 9, Valid: true},
				NF: sql.NullFloat64{Float64: 0.5, Valid: true}, NB: sql.NullBool{Bool: true, Valid: true}, NT: sql.NullTime{Time: now, Valid: true},
				Doc: []string{"a", "b"}, Nested: &struct{ A int }{A: 3}, NullStr: "set", Raw: json.RawMessage(`{"k":1}`)},
			{T: now, St: "new"}, // zero values and NULLs
		}
		e := o.Fork()
		for _, v := range in {
			must(t, e.Persist(v))
		}
		must(t, e.Flush(ctx))
		for _, want := range in {
			got, err := em.FindOneOrFail[AllTypes](ctx, o.Fork(), want.ID)
			must(t, err)
			for _, p := range []*time.Time{&got.T, got.PT, &got.NT.Time} {
				if p != nil && !p.IsZero() {
					*p = p.UTC()
				}
			}
			if want.Bytes == nil {
				want.Bytes = got.Bytes // NULL and empty: both mean no bytes here
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		}
		// The DEFAULT from the tag is in the schema.
		if _, err := em.NativeInsert[AllTypes](ctx, o.Fork(), map[string]any{"t": now, "b": false, "i8": 0, "i16": 0, "i32": 0, "i": 0, "u16": 0, "u32": 0, "f32": 0, "f64": 0, "s": "", "text": ""}); err != nil {
			t.Fatal(err)
		}
		row, err := em.FindOneOrFail[AllTypes](ctx, o.Fork(), em.F{"s": ""})
		must(t, err)
		if row.St != "new" {
			t.Errorf("default: %q", row.St)
		}
	})
}

type Parent struct {
	ID int64 `orm:"pk"`
}

func (Parent) TableName() string { return "em_parent" }

type Child struct {
	ID       int64  `orm:"pk"`
	ParentID int64  `orm:"ref=Parent"`
	Name     string `orm:"unique"`
}

func (Child) TableName() string { return "em_child" }

// TestDatabaseErrors: constraint and lock errors of every driver become
// typed errors that wrap the driver's error.
func TestDatabaseErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		o, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: []any{Parent{}, Child{}}})
		must(t, err)
		must(t, o.RefreshSchema(ctx))
		e := o.Fork()
		p := &Parent{}
		must(t, e.Persist(p))
		must(t, e.Flush(ctx))

		check := func(err error, kind error) {
			t.Helper()
			var dbe *em.DBError
			if !errors.Is(err, kind) || !errors.As(err, &dbe) || errors.Unwrap(dbe) == nil || dbe.Entity != "Child" {
				t.Fatalf("want %v as *DBError on Child, got %T %v", kind, err, err)
			}
		}
		bad := o.Fork()
		must(t, bad.Persist(&Child{ParentID: p.ID + 1000, Name: "a"}))
		check(bad.Flush(ctx), em.ErrForeignKeyViolation)

		_, err = em.NativeInsert[Child](ctx, o.Fork(), map[string]any{"parentID": p.ID})
		check(err, em.ErrNotNullViolation)

		dup := o.Fork()
		must(t, dup.Persist(&Child{ParentID: p.ID, Name: "x"}, &Child{ParentID: p.ID, Name: "x"}))
		check(dup.Flush(ctx), em.ErrUniqueViolation)

		if tg.Name == dbtest.SQLite {
			return // one writer at a time: no row locks to wait for
		}
		// A row lock held by one transaction makes NOWAIT fail at once.
		holder := o.Fork()
		must(t, holder.Begin(ctx))
		defer func() { _ = holder.Rollback(ctx) }()
		_, err = em.FindOneOrFail[Parent](ctx, holder, p.ID, em.FindOptions{Lock: em.LockPessimisticWrite})
		must(t, err)
		waiter := o.Fork()
		must(t, waiter.Begin(ctx))
		_, err = em.FindOne[Parent](ctx, waiter, p.ID, em.FindOptions{Lock: em.LockPessimisticWriteOrFail})
		_ = waiter.Rollback(ctx)
		var dbe *em.DBError
		if !errors.Is(err, em.ErrLockTimeout) || !errors.As(err, &dbe) || dbe.Retryable() {
			t.Fatalf("NOWAIT on a locked row: want ErrLockTimeout, got %v", err)
		}
		_ = qb.Postgres
	})
}
