package em

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/qb"
)

var ddlGens = map[string]func() any{"now": func() any { return time.Now() }}

// ddlOpaque is a sql.Scanner and driver.Valuer the DDL has no column type
// for: it needs orm:"type=…". (The test only builds DDL; nothing is read
// into it.)
type ddlOpaque struct{ s string }

func (c *ddlOpaque) Scan(src any) error          { c.s = fmt.Sprint(src); return nil }
func (c ddlOpaque) Value() (driver.Value, error) { return c.s, nil }

type ddlScannerNoType struct {
	ID    int64     `db:"id" orm:"pk"`
	Value ddlOpaque `db:"value"`
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
}
