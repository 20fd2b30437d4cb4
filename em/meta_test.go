package em

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/qb"
)

var testGens = map[string]func() any{"now": func() any { return time.Now() }}

type tagged struct {
	ID        int64          `db:"id" orm:"pk"`
	Email     string         `db:"mail" orm:"unique,length=120"`
	Name      string         `orm:"index=ix_name_age"`
	Age       *int           `orm:"index=ix_name_age"`
	Bio       sql.NullString `orm:"type=text"`
	Version   int            `orm:"version"`
	CreatedAt time.Time      `orm:"onCreate=now"`
	Doc       map[string]int `orm:"type=json"`
	Skip      string         `orm:"persist=false"`
	Ignored   string         `db:"-"`
	hidden    int
}

type untagged struct {
	ID        int64
	Email     string
	Name      string
	Age       *int
	Bio       sql.NullString
	Version   int
	CreatedAt time.Time
	Doc       map[string]int
	Skip      string
	Ignored   string
	hidden    int
}

func (untagged) TableName() string { return "tagged" }

// TestSchemaMatchesTags: the programmatic schema yields the same metadata as
// the equivalent struct tags.
func TestSchemaMatchesTags(t *testing.T) {
	a, err := buildRegistry([]any{tagged{}}, nil, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSchema[untagged]("tagged").
		Field("ID", FieldDef{Column: "id", PrimaryKey: true}).
		Field("Email", FieldDef{Column: "mail", Unique: "-", Length: 120}).
		Field("Name", FieldDef{Index: "ix_name_age"}).
		Field("Age", FieldDef{Index: "ix_name_age"}).
		Field("Bio", FieldDef{Type: "text"}).
		Field("Version", FieldDef{Version: true}).
		Field("CreatedAt", FieldDef{OnCreate: "now"}).
		Field("Doc", FieldDef{Type: "json"})
	b, err := buildRegistry(nil, []*Schema{s}, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := a.order[0], b.order[0]
	if ma.Table != mb.Table || len(ma.Fields) != len(mb.Fields) || !reflect.DeepEqual(ma.Indexes, mb.Indexes) ||
		ma.PK.Name != mb.PK.Name || ma.Version.Name != mb.Version.Name || ma.flat != mb.flat || ma.jsonN != mb.jsonN {
		t.Fatalf("metadata differs:\n%+v\n%+v", ma, mb)
	}
	for i := range ma.Fields {
		fa, fb := ma.Fields[i], mb.Fields[i]
		if fa.Name != fb.Name || fa.Column != fb.Column || fa.Property != fb.Property || fa.Nullable != fb.Nullable ||
			fa.AutoIncr != fb.AutoIncr || fa.JSON != fb.JSON || fa.PrimaryKey != fb.PrimaryKey || fa.Def != fb.Def || fa.offset != fb.offset {
			t.Errorf("field %d differs:\n%+v\n%+v", i, fa, fb)
		}
	}
	want := []string{"id", "mail", "name", "age", "bio", "version", "created_at", "doc"}
	for i, f := range ma.Fields {
		if f.Column != want[i] {
			t.Errorf("column %d = %q, want %q", i, f.Column, want[i])
		}
	}
	if !ma.PK.AutoIncr || ma.Fields[3].Nullable != true || ma.Fields[2].Nullable || !ma.Fields[4].Nullable {
		t.Errorf("derived options wrong: %+v", ma.Fields)
	}
	if len(ma.Indexes) != 2 || ma.Indexes[1].Name != "ix_name_age" || len(ma.Indexes[1].Columns) != 2 || !ma.Indexes[0].Unique {
		t.Errorf("indexes %+v", ma.Indexes)
	}
}

type noPK struct {
	Name string
}
type badType struct {
	ID int64
	Ch chan int
}
type dupColumn struct {
	ID int64
	A  string `db:"x"`
	B  string `db:"x"`
}
type badOption struct {
	ID int64  `orm:"pk"`
	A  string `orm:"lenght=3"`
}
type badRef struct {
	ID  int64
	Ref int64 `orm:"ref=Missing"`
}
type badGen struct {
	ID int64
	At time.Time `orm:"onCreate=tomorrow"`
}
type ptrPK struct {
	ID *int64 `orm:"pk"`
}
type twoPK struct {
	A int64 `orm:"pk"`
	B int64 `orm:"pk"`
}
type floatPK struct {
	ID float64 `orm:"pk"`
}
type badRefType struct {
	ID int64
	R  Ref[untagged]
}
type collOwner struct {
	ID    int64
	Items Collection[collItem] `orm:"mappedBy=nope"`
}
type collItem struct {
	ID    int64
	Owner Ref[collOwner]
}
type collNoMappedBy struct {
	ID    int64
	Items Collection[collItem]
}
type sameIndexName struct {
	ID int64
	A  string `orm:"unique=ab"`
	B  string `orm:"index=ab"`
}
type setNullNotNull struct {
	ID    int64
	Owner int64 `orm:"ref=setNullNotNull,onDelete=set null"`
}
type badVersion struct {
	ID int64
	V  string `orm:"version"`
}

func TestRelationMetadataErrors(t *testing.T) {
	_, err := buildRegistry([]any{collOwner{}, collItem{}}, nil, SnakeCase{}, testGens)
	var me *MetadataError
	if !errors.As(err, &me) || me.Entity != "collOwner" || me.Field != "Items" || !strings.Contains(me.Reason, "mappedBy=nope names no field of collItem") {
		t.Fatalf("wrong mappedBy: %v", err)
	}
	_, err = buildRegistry([]any{collNoMappedBy{}, collItem{}, collOwner{}}, nil, SnakeCase{}, testGens)
	if !errors.As(err, &me) || me.Field != "Items" || !strings.Contains(me.Reason, "mappedBy") {
		t.Fatalf("missing mappedBy: %v", err)
	}
}

func TestMetadataErrors(t *testing.T) {
	cases := []struct {
		entity any
		field  string
		reason string
		cause  bool // the reason is a cause's message, which the error wraps
	}{
		{noPK{}, "", "no primary key", false},
		{badType{}, "Ch", "unsupported field type chan int", true},
		{dupColumn{}, "B", `column "x" is also the column of field A`, false},
		{badOption{}, "A", `orm tag: unknown option "lenght"`, true},
		{badRef{}, "Ref", "ref=Missing names no registered entity", false},
		{badGen{}, "At", `unknown generator "tomorrow"`, false},
		{ptrPK{}, "ID", "cannot be a pointer", false},
		{twoPK{}, "B", "a second primary key", false},
		{floatPK{}, "ID", "must be an integer, a string, or a value type with MarshalText", false},
		{badVersion{}, "V", "must be an integer", false},
		{badRefType{}, "R", "not a registered entity", false},
		{42, "", "must be a struct", false},
		{sameIndexName{}, "B", `index name "ab" is used by both a unique and a plain index`, false},
		{setNullNotNull{}, "Owner", "onDelete=set null on a NOT NULL column", false},
	}
	for _, c := range cases {
		_, err := buildRegistry([]any{c.entity}, nil, SnakeCase{}, testGens)
		var me *MetadataError
		if !errors.As(err, &me) || !errors.Is(err, ErrMetadata) {
			t.Errorf("%T: want *MetadataError, got %v", c.entity, err)
			continue
		}
		if me.Field != c.field || !strings.Contains(me.Reason, c.reason) || !strings.Contains(err.Error(), me.Entity) {
			t.Errorf("%T: got %q (field %q), want field %q and %q", c.entity, err, me.Field, c.field, c.reason)
		}
		if cause := errors.Unwrap(err); c.cause != (cause != nil) || cause != nil && !strings.HasSuffix(me.Reason, cause.Error()) {
			t.Errorf("%T: Unwrap gives %v, want a cause: %v, whose message ends the reason %q", c.entity, cause, c.cause, me.Reason)
		}
	}
}

type secretive struct {
	ID       int64  `db:"id" orm:"pk"`
	Name     string `db:"name"`
	Password string `db:"password" orm:"hidden"`
}

type withRef struct {
	ID    int64          `db:"id" orm:"pk"`
	Owner Ref[secretive] `db:"owner_id"`
}

func TestMarshalEntityHidesHidden(t *testing.T) {
	reg, err := buildRegistry([]any{secretive{}, withRef{}}, nil, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	o := &ORM{reg: reg}
	got, err := o.MarshalEntity(&secretive{ID: 7, Name: "Ann", Password: "hunter2"})
	if err != nil || string(got) != `{"id":7,"name":"Ann"}` {
		t.Fatalf("got %s, %v", got, err)
	}
	owner := &secretive{ID: 7, Name: "Ann", Password: "x"}
	got, err = o.MarshalEntity(withRef{ID: 1, Owner: RefTo(owner)})
	if err != nil || string(got) != `{"id":1,"owner":{"id":7,"name":"Ann"}}` {
		t.Fatalf("loaded reference: %s, %v", got, err)
	}
	got, err = o.MarshalEntity(&withRef{ID: 2, Owner: Ref[secretive]{id: int64(9)}})
	if err != nil || string(got) != `{"id":2,"owner":9}` {
		t.Fatalf("unloaded reference: %s, %v", got, err)
	}
}

type m2mLeft struct {
	ID    int64
	Right Collection[m2mRight] `orm:"inversedBy=lefts"`
}
type m2mRight struct {
	ID    int64
	Lefts Collection[m2mLeft] `orm:"manyToMany"`
}
type m2mLinked struct {
	ID    int64
	Right Collection[m2mInverse] `orm:"inversedBy=linked"`
}
type m2mInverse struct {
	ID     int64
	Linked Collection[m2mLinked] `orm:"mappedBy=right"`
}
type m2mWrongInverse struct {
	ID    int64
	Right Collection[m2mInverse] `orm:"inversedBy=nothing"`
}
type m2mBoth struct {
	ID    int64
	Right Collection[m2mInverse] `orm:"mappedBy=linked,inversedBy=linked"`
}

// TestManyToManyOwnership: inversedBy links the owning side to its inverse;
// two owning sides, a missing inverse and a collection declaring both roles
// are errors naming both types and fields.
func TestManyToManyOwnership(t *testing.T) {
	r, err := buildRegistry([]any{m2mLinked{}, m2mInverse{}}, nil, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	owning := relationNamed(r.byType[reflect.TypeFor[m2mLinked]()], "right")
	if owning == nil || !owning.Owning || owning.Inverse == nil || owning.Inverse.Name != "Linked" {
		t.Fatalf("inversedBy did not link the sides: %+v", owning)
	}
	for _, c := range []struct {
		entities []any
		entity   string
		field    string
		reason   string
	}{
		{[]any{m2mLeft{}, m2mRight{}}, "m2mLeft", "Right", "both sides claim ownership: m2mLeft.Right and m2mRight.Lefts"},
		{[]any{m2mWrongInverse{}, m2mInverse{}, m2mLinked{}}, "m2mWrongInverse", "Right", "inversedBy=nothing names no collection of m2mInverse"},
		{[]any{m2mBoth{}, m2mInverse{}, m2mLinked{}}, "m2mBoth", "Right", "mappedBy and inversedBy on one collection"},
	} {
		_, err := buildRegistry(c.entities, nil, SnakeCase{}, testGens)
		var me *MetadataError
		if !errors.As(err, &me) || me.Entity != c.entity || me.Field != c.field || !strings.Contains(me.Reason, c.reason) {
			t.Errorf("want %s.%s: %q, got %v", c.entity, c.field, c.reason, err)
		}
	}
}

type o2oOwner struct {
	ID   int64
	Side Ref[o2oSide] `orm:"mappedBy=owner"`
}
type o2oSide struct {
	ID    int64
	Owner Ref[o2oOwner] `orm:"unique"`
}
type o2oMissing struct {
	ID   int64
	Side Ref[o2oSide] `orm:"mappedBy=nothing"`
}
type o2oWrongType struct {
	ID   int64
	Side Ref[o2oSide] `orm:"mappedBy=owner"` // o2oSide.Owner refers to o2oOwner
}

// TestInverseOneToOneMetadata: an em.Ref with mappedBy is the inverse side
// of a one-to-one, with no column; mappedBy must name the owning reference.
func TestInverseOneToOneMetadata(t *testing.T) {
	r, err := buildRegistry([]any{o2oOwner{}, o2oSide{}}, nil, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	m := r.byType[reflect.TypeFor[o2oOwner]()]
	if len(m.Inverses) != 1 || m.Inverses[0].MappedBy == nil || m.Inverses[0].MappedBy.Name != "Owner" || len(m.Fields) != 1 {
		t.Fatalf("inverse side: %+v, fields %d", m.Inverses, len(m.Fields))
	}
	for _, c := range []struct {
		entities []any
		entity   string
		reason   string
	}{
		{[]any{o2oMissing{}, o2oSide{}, o2oOwner{}}, "o2oMissing", "mappedBy=nothing names no field of o2oSide"},
		{[]any{o2oWrongType{}, o2oSide{}, o2oOwner{}}, "o2oWrongType", "o2oSide.Owner must be an em.Ref[o2oWrongType]"},
	} {
		_, err := buildRegistry(c.entities, nil, SnakeCase{}, testGens)
		var me *MetadataError
		if !errors.As(err, &me) || me.Entity != c.entity || me.Field != "Side" || !strings.Contains(me.Reason, c.reason) {
			t.Errorf("want %s.Side: %q, got %v", c.entity, c.reason, err)
		}
	}
}

// hexKey is a text key like bson.ObjectID: an array known by its hex form.
type hexKey [4]byte

func (k hexKey) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(k[:])), nil }
func (k *hexKey) UnmarshalText(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("hexKey: %q is not 8 hex digits", b)
	}
	_, err := hex.Decode(k[:], b)
	return err
}

type textKeyed struct {
	ID   hexKey `orm:"pk"`
	Name string
}

// TestTextKeys: a primary key with MarshalText/UnmarshalText (bson.ObjectID)
// is keyed by its text, accepts its text form as a key, and is refused by
// the SQL schema with an error rather than a panic.
func TestTextKeys(t *testing.T) {
	r, err := buildRegistry([]any{textKeyed{}}, nil, SnakeCase{}, testGens)
	if err != nil {
		t.Fatal(err)
	}
	m := r.byType[reflect.TypeFor[textKeyed]()]
	v := &textKeyed{ID: hexKey{1, 2, 3, 255}}
	byValue := keyOf(m.PK, entityPtr(v))
	byText, ok := keyFromValue(m.PK, "010203ff")
	if !ok || byText != byValue || byValue.s != "010203ff" {
		t.Fatalf("keys %+v / %+v (%v)", byValue, byText, ok)
	}
	if _, ok := keyFromValue(m.PK, "nothex"); ok {
		t.Fatal("a bad text key was accepted")
	}
	if got := byText.value(m.PK); got != (hexKey{1, 2, 3, 255}) {
		t.Fatalf("value %v", got)
	}
	if _, err := createSchemaSQL(qb.Postgres, r.order); !errors.Is(err, ErrMetadata) {
		t.Fatalf("SQL schema of a text key: %v", err)
	}
}

// TestTagOptionsWithParentheses: a comma inside parentheses belongs to the
// option (type=numeric(10,2)).
func TestTagOptionsWithParentheses(t *testing.T) {
	d, err := parseTag("type=NUMERIC(10,2),nullable,default=0")
	if err != nil || d.Type != "NUMERIC(10,2)" || !d.Nullable || d.Default != "0" {
		t.Fatalf("%+v %v", d, err)
	}
}

type trackedByMethod struct {
	ID int64 `db:"id" orm:"pk"`
}

func (trackedByMethod) ChangeTracking() ChangeTracking { return ChangeTrackingExplicit }

type trackedBySchema struct{ ID int64 }

type trackedBadly struct {
	ID int64 `db:"id" orm:"pk"`
}

func (trackedBadly) ChangeTracking() ChangeTracking { return 7 }

// A type's change tracking policy comes from a method or from its schema,
// alike, and takes precedence over Config.ChangeTracking.
func TestChangeTrackingPolicy(t *testing.T) {
	ctx := context.Background()
	o, err := OpenBackend(ctx, nopBackend{}, Config{
		Entities: []any{trackedByMethod{}, tagged{}},
		Schemas:  []*Schema{NewSchema[trackedBySchema]("by_schema").Field("ID", FieldDef{Column: "id", PrimaryKey: true}).ChangeTracking(ChangeTrackingExplicit)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range o.reg.order {
		if want := m.Name != "tagged"; m.explicit != want {
			t.Errorf("%s: explicit %v, want %v", m.Name, m.explicit, want)
		}
	}
	if !o.anyExplicit {
		t.Error("anyExplicit not set")
	}
	o, err = OpenBackend(ctx, nopBackend{}, Config{Entities: []any{tagged{}}, ChangeTracking: ChangeTrackingExplicit})
	if err != nil || !o.reg.order[0].explicit {
		t.Fatalf("Config.ChangeTracking explicit: %v", err)
	}
	_, err = OpenBackend(ctx, nopBackend{}, Config{Entities: []any{trackedBadly{}}})
	var me *MetadataError
	if !errors.As(err, &me) || me.Entity != "trackedBadly" {
		t.Fatalf("an unknown policy on a type: %v", err)
	}
	if _, err = OpenBackend(ctx, nopBackend{}, Config{Entities: []any{tagged{}}, ChangeTracking: 9}); err == nil {
		t.Fatal("an unknown Config.ChangeTracking was accepted")
	}
}

// nopBackend is a Backend that stores nothing: for tests of Open alone.
type nopBackend struct{}

func (nopBackend) Name() string                   { return "nop" }
func (nopBackend) Check([]*EntityMeta) error      { return nil }
func (nopBackend) NewKey(*EntityMeta) (any, bool) { return nil, false }
func (nopBackend) TimePrecision() time.Duration   { return time.Millisecond }
func (nopBackend) Close(context.Context) error    { return nil }
func (nopBackend) Count(context.Context, *EntityMeta, *BackendFilter) (int64, error) {
	return 0, nil
}
func (nopBackend) Find(context.Context, *BackendQuery, func(func(any) error) error) error {
	return nil
}
func (nopBackend) Links(context.Context, *RelationMeta, []any, bool) ([][2]any, error) {
	return nil, nil
}
func (nopBackend) Write(context.Context, []WriteOp) ([]bool, error) { return nil, nil }
