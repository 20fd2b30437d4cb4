package em

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/qb"
)

// update rewrites testdata/ddl_*.golden from the DDL generated now:
// go test -run TestDDLGolden -update ./
var updateGolden = flag.Bool("update", false, "rewrite testdata/ddl_*.golden from the DDL generated now")

var ddlGens = map[string]func() any{"now": func() any { return time.Now() }}

// ddlDialects is the dialect of each database of dbtest.
var ddlDialects = map[string]*qb.Dialect{"postgres": qb.Postgres, "mariadb": qb.MariaDB, "sqlite": qb.SQLite}

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
	ID       int64                 `db:"id" orm:"pk"`
	Name     string                `db:"name" orm:"length=100"`
	Mentor   Ref[ddlAuthor]        `db:"mentor_id" orm:"nullable,onDelete=set null"`
	Favorite Ref[ddlBook]          `db:"favorite_book_id" orm:"nullable"`
	Tags     Collection[ddlTag]    `orm:"manyToMany"`
	Mentees  Collection[ddlAuthor] `orm:"mappedBy=mentor"`
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

func ddlRegistry(t *testing.T) *registry {
	t.Helper()
	reg, err := buildRegistry(ddlEntities, nil, SnakeCase{}, ddlGens)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestDDLColumnTypes pins the column type of every Go type on every dialect.
func TestDDLColumnTypes(t *testing.T) {
	reg := ddlRegistry(t)
	dialects := []*qb.Dialect{qb.Postgres, qb.MySQL, qb.MariaDB, qb.SQLite}
	cases := []struct {
		entity, column string
		want           [4]string // postgres, mysql, mariadb, sqlite
	}{
		{"ddlAll", "id", [4]string{"BIGINT GENERATED BY DEFAULT AS IDENTITY", "BIGINT AUTO_INCREMENT", "BIGINT AUTO_INCREMENT", "INTEGER"}},
		{"ddlBook", "id", [4]string{"INTEGER GENERATED BY DEFAULT AS IDENTITY", "INTEGER AUTO_INCREMENT", "INTEGER AUTO_INCREMENT", "INTEGER"}},
		{"ddlCounter", "id", [4]string{"BIGINT GENERATED BY DEFAULT AS IDENTITY", "BIGINT UNSIGNED AUTO_INCREMENT", "BIGINT UNSIGNED AUTO_INCREMENT", "INTEGER"}},
		{"ddlTag", "id", [4]string{"UUID", "CHAR(36)", "CHAR(36)", "CHAR(36)"}},
		{"ddlAll", "b", [4]string{"BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN"}},
		{"ddlAll", "i8", [4]string{"SMALLINT", "SMALLINT", "SMALLINT", "SMALLINT"}},
		{"ddlAll", "i16", [4]string{"SMALLINT", "SMALLINT", "SMALLINT", "SMALLINT"}},
		{"ddlAll", "i32", [4]string{"INTEGER", "INTEGER", "INTEGER", "INTEGER"}},
		{"ddlAll", "i", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "i64", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "u8", [4]string{"SMALLINT", "SMALLINT", "SMALLINT", "SMALLINT"}},
		{"ddlAll", "u16", [4]string{"INTEGER", "INTEGER", "INTEGER", "INTEGER"}},
		{"ddlAll", "u32", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "u", [4]string{"BIGINT", "BIGINT UNSIGNED", "BIGINT UNSIGNED", "BIGINT"}},
		{"ddlAll", "u64", [4]string{"BIGINT", "BIGINT UNSIGNED", "BIGINT UNSIGNED", "BIGINT"}},
		{"ddlAll", "f32", [4]string{"REAL", "FLOAT", "FLOAT", "REAL"}},
		{"ddlAll", "f64", [4]string{"DOUBLE PRECISION", "DOUBLE", "DOUBLE", "REAL"}},
		{"ddlAll", "s", [4]string{"VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)"}},
		{"ddlAll", "s40", [4]string{"VARCHAR(40)", "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(40)"}},
		{"ddlAll", "text", [4]string{"TEXT", "TEXT", "TEXT", "TEXT"}},
		{"ddlAll", "bytes", [4]string{"BYTEA", "LONGBLOB", "LONGBLOB", "BLOB"}},
		{"ddlAll", "t", [4]string{"TIMESTAMPTZ", "DATETIME(6)", "DATETIME(6)", "DATETIME"}},
		{"ddlAll", "pb", [4]string{"BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN"}},
		{"ddlAll", "pi", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "pf", [4]string{"DOUBLE PRECISION", "DOUBLE", "DOUBLE", "REAL"}},
		{"ddlAll", "ps", [4]string{"VARCHAR(20)", "VARCHAR(20)", "VARCHAR(20)", "VARCHAR(20)"}},
		{"ddlAll", "pt", [4]string{"TIMESTAMPTZ", "DATETIME(6)", "DATETIME(6)", "DATETIME"}},
		{"ddlAll", "ns", [4]string{"VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)"}},
		{"ddlAll", "ni64", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "ni32", [4]string{"INTEGER", "INTEGER", "INTEGER", "INTEGER"}},
		{"ddlAll", "ni16", [4]string{"SMALLINT", "SMALLINT", "SMALLINT", "SMALLINT"}},
		{"ddlAll", "nbyte", [4]string{"SMALLINT", "SMALLINT", "SMALLINT", "SMALLINT"}},
		{"ddlAll", "nb", [4]string{"BOOLEAN", "BOOLEAN", "BOOLEAN", "BOOLEAN"}},
		{"ddlAll", "nf", [4]string{"DOUBLE PRECISION", "DOUBLE", "DOUBLE", "REAL"}},
		{"ddlAll", "nt", [4]string{"TIMESTAMPTZ", "DATETIME(6)", "DATETIME(6)", "DATETIME"}},
		{"ddlAll", "ng", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAll", "nw", [4]string{"VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)", "VARCHAR(255)"}},
		{"ddlAll", "doc", [4]string{"JSONB", "JSON", "JSON", "TEXT"}},
		{"ddlAll", "obj", [4]string{"JSONB", "JSON", "JSON", "TEXT"}},
		{"ddlAll", "custom", [4]string{"VARCHAR(20)", "VARCHAR(20)", "VARCHAR(20)", "VARCHAR(20)"}},
		// Foreign keys take the type of the key they reference.
		{"ddlAuthor", "mentor_id", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlAuthor", "favorite_book_id", [4]string{"INTEGER", "INTEGER", "INTEGER", "INTEGER"}},
		{"ddlBook", "author_id", [4]string{"BIGINT", "BIGINT", "BIGINT", "BIGINT"}},
		{"ddlBook", "tag_id", [4]string{"UUID", "CHAR(36)", "CHAR(36)", "CHAR(36)"}},
	}
	for _, c := range cases {
		m := reg.byName[c.entity]
		f := m.FieldByColumn(c.column)
		if f == nil {
			t.Fatalf("%s has no column %s", c.entity, c.column)
		}
		for i, d := range dialects {
			got, err := columnType(d, f)
			if err != nil || got != c.want[i] {
				t.Errorf("%s.%s on %s: got %q, %v; want %q", c.entity, c.column, d.Name(), got, err, c.want[i])
			}
		}
	}
}

// TestDDLGolden compares the whole schema of the test entities, created and
// dropped, with testdata/ddl_<dialect>.golden.
func TestDDLGolden(t *testing.T) {
	reg := ddlRegistry(t)
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MySQL, qb.MariaDB, qb.SQLite} {
		t.Run(d.Name(), func(t *testing.T) {
			create, err := createSchemaSQL(d, reg.order)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("-- create\n")
			for _, s := range create {
				b.WriteString(s + ";\n")
			}
			b.WriteString("-- drop\n")
			for _, s := range dropSchemaSQL(d, reg.order) {
				b.WriteString(s + ";\n")
			}
			path := filepath.Join("testdata", "ddl_"+d.Name()+".golden")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("DDL differs from %s (run with -update after checking):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines that differ between want and got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

type ddlScannerNoType struct {
	ID    int64     `db:"id" orm:"pk"`
	Value ddlCustom `db:"value"`
}

// TestDDLCustomScannerNeedsType: a sql.Scanner has no column type the DDL
// can guess; the error names the entity and field and says what to set.
func TestDDLCustomScannerNeedsType(t *testing.T) {
	reg, err := buildRegistry([]any{ddlScannerNoType{}}, nil, SnakeCase{}, ddlGens)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MySQL, qb.MariaDB, qb.SQLite} {
		_, err := createSchemaSQL(d, reg.order)
		var me *MetadataError
		if !errors.As(err, &me) || !errors.Is(err, ErrMetadata) || me.Entity != "ddlScannerNoType" || me.Field != "Value" ||
			!strings.Contains(err.Error(), `orm:"type=`) {
			t.Errorf("%s: got %v", d.Name(), err)
		}
	}
}

type ddlClashA struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"index=idx_name"`
}

func (ddlClashA) TableName() string { return "ddl_clash_a" }

type ddlClashB struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"index=idx_name"`
}

func (ddlClashB) TableName() string { return "ddl_clash_b" }

// TestDDLIndexNameClash: index names are global on PostgreSQL and SQLite, so
// two tables cannot both have an idx_name there; MySQL keeps them per table.
func TestDDLIndexNameClash(t *testing.T) {
	reg, err := buildRegistry([]any{ddlClashA{}, ddlClashB{}}, nil, SnakeCase{}, ddlGens)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*qb.Dialect{qb.Postgres, qb.SQLite} {
		_, err := createSchemaSQL(d, reg.order)
		if !errors.Is(err, ErrMetadata) || !strings.Contains(err.Error(), `"idx_name"`) || !strings.Contains(err.Error(), "ddlClashA") {
			t.Errorf("%s: got %v", d.Name(), err)
		}
	}
	for _, d := range []*qb.Dialect{qb.MySQL, qb.MariaDB} {
		if _, err := createSchemaSQL(d, reg.order); err != nil {
			t.Errorf("%s: %v", d.Name(), err)
		}
	}
}

// TestDDLLongNames: constraint names longer than PostgreSQL and MySQL allow
// are shortened deterministically, and stay distinct.
func TestDDLLongNames(t *testing.T) {
	short := "fk_book_author_id"
	if constraintName(short) != short {
		t.Errorf("short name changed: %s", constraintName(short))
	}
	a := "fk_" + strings.Repeat("very_long_table_name_", 4) + "author_id"
	b := "fk_" + strings.Repeat("very_long_table_name_", 4) + "editor_id"
	ca, cb := constraintName(a), constraintName(b)
	if len(ca) > 63 || len(cb) > 63 || ca == cb || ca != constraintName(a) || !strings.HasPrefix(ca, a[:40]) {
		t.Errorf("got %q and %q", ca, cb)
	}
	u := strings.Repeat("é", 40) // 80 bytes: the cut must not split a rune
	if cu := constraintName(u); len(cu) > 63 || !strings.HasPrefix(cu, strings.Repeat("é", 27)+"_") {
		t.Errorf("got %q", cu)
	}
}

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

// ddlPlaceholders turns the ? of a test query into d's placeholders.
func ddlPlaceholders(d *qb.Dialect, query string) string {
	if d != qb.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestTopoOrder: referenced entities come first, the order is stable, and
// cycles are broken where a nullable foreign key allows it.
func TestTopoOrder(t *testing.T) {
	type edge struct {
		from, to string
		nullable bool
	}
	build := func(names string, edges ...edge) []*EntityMeta {
		byName := map[string]*EntityMeta{}
		var out []*EntityMeta
		for _, n := range strings.Fields(names) {
			m := byName[n]
			if m == nil {
				m = &EntityMeta{Name: n}
				byName[n] = m
			}
			out = append(out, m)
		}
		for _, e := range edges {
			to := byName[e.to]
			if to == nil {
				to = &EntityMeta{Name: e.to} // not in the list
			}
			byName[e.from].Fields = append(byName[e.from].Fields, &FieldMeta{Name: e.to, Ref: to, Nullable: e.nullable})
		}
		return out
	}
	names := func(ms []*EntityMeta) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Name)
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		name  string
		metas []*EntityMeta
		want  string
	}{
		{"no references keep their order", build("A B C"), "A B C"},
		{"referenced first", build("B C A", edge{"B", "C", false}, edge{"A", "C", false}), "C B A"},
		{"earliest ready first", build("D A B C", edge{"D", "C", false}, edge{"A", "B", false}), "B A C D"},
		{"chain", build("A B C", edge{"A", "B", false}, edge{"B", "C", false}), "C B A"},
		{"self-reference ignored", build("T U", edge{"T", "T", false}, edge{"U", "T", false}), "T U"},
		{"unknown entity ignored", build("A B", edge{"A", "Z", false}), "A B"},
		{"duplicates dropped", build("A B A", edge{"A", "B", false}), "B A"},
		{"cycle broken at the nullable side", build("P Q", edge{"P", "Q", false}, edge{"Q", "P", true}), "Q P"},
		{"cycle without nullable: earliest first", build("P Q", edge{"P", "Q", false}, edge{"Q", "P", false}), "P Q"},
		{"a nullable and a required key to the same entity", build("P Q",
			edge{"P", "Q", true}, edge{"P", "Q", false}, edge{"Q", "P", true}), "Q P"},
		{"an entity needing a cycle comes after all of it", build("X A B",
			edge{"X", "A", false}, edge{"A", "B", false}, edge{"B", "A", true}), "B A X"},
		{"a cycle waits for what it references", build("A B C D",
			edge{"A", "B", false}, edge{"B", "C", false}, edge{"C", "A", true}, edge{"C", "D", false}), "D C B A"},
		{"independent entities are not held back by a cycle", build("P Q R",
			edge{"P", "Q", false}, edge{"Q", "P", true}), "Q P R"},
		{"two cycles", build("A B C D",
			edge{"A", "B", true}, edge{"B", "A", false}, edge{"C", "D", false}, edge{"D", "C", true}, edge{"C", "A", false}),
			"A B D C"},
	}
	for _, c := range cases {
		got := names(topoOrder(c.metas))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		if again := names(topoOrder(c.metas)); again != got {
			t.Errorf("%s: not deterministic: %q then %q", c.name, got, again)
		}
	}
	if got := topoOrder(nil); len(got) != 0 {
		t.Errorf("nil: %v", got)
	}

	// The test entities: a book is registered before its author, and author
	// and book reference each other (the author's side is nullable).
	if got := names(topoOrder(ddlRegistry(t).order)); got != "ddlAll ddlTag ddlAuthor ddlBook ddlCounter" {
		t.Errorf("test entities: %s", got)
	}
}
