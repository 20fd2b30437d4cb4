package emtest

import (
	"database/sql"
	"encoding/json"
	"time"
)

// Kind is a named string type, as a status field would be.
type Kind string

// AllKinds has a field of every type and column option the entity manager
// maps: every Go kind, pointers, sql.Null types, JSON, explicit types,
// lengths, defaults, unique and composite indexes, a nullable reference
// with an ON DELETE action. The schema tools check it (no noisy diffs).
type AllKinds struct {
	ID        int64            `db:"id" orm:"pk"`
	B         bool             `db:"b" orm:"default=false"`
	I8        int8             `db:"i8"`
	I16       int16            `db:"i16"`
	I32       int32            `db:"i32" orm:"default=7"`
	I         int              `db:"i" orm:"index=ix_all_kinds_pair"`
	U16       uint16           `db:"u16"`
	U32       uint32           `db:"u32"`
	F32       float32          `db:"f32"`
	F64       float64          `db:"f64"`
	S         string           `db:"s" orm:"length=40,unique,index=ix_all_kinds_pair"`
	Text      string           `db:"text" orm:"type=TEXT"`
	Num       string           `db:"num" orm:"type=NUMERIC(10,2)"`
	K         Kind             `db:"k" orm:"length=10,default='new'"`
	Bytes     []byte           `db:"bytes"`
	T         time.Time        `db:"t"`
	PS        *string          `db:"ps" orm:"length=20"`
	PI        *int64           `db:"pi"`
	PT        *time.Time       `db:"pt"`
	NS        sql.NullString   `db:"ns"`
	NI        sql.NullInt64    `db:"ni"`
	NF        sql.NullFloat64  `db:"nf"`
	NB        sql.NullBool     `db:"nb"`
	NT        sql.NullTime     `db:"nt"`
	Doc       []string         `db:"doc" orm:"type=json"`
	Nested    *struct{ A int } `db:"nested" orm:"type=json"`
	NullStr   string           `db:"null_str" orm:"nullable"`
	Raw       json.RawMessage  `db:"raw"`
	Version   int              `db:"version" orm:"version"`
	CreatedAt time.Time        `db:"created_at" orm:"onCreate=now"`
	AuthorID  *int64           `db:"author_id" orm:"ref=Author,onDelete=set null"`
}

// TableName is the table of AllKinds.
func (AllKinds) TableName() string { return "em_all_kinds" }

// SchemaEntities are Entities and AllKinds: the model the schema tools
// check.
var SchemaEntities = append(append([]any{}, Entities...), AllKinds{})
