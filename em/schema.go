package em

import (
	"fmt"
	"reflect"
)

// Schema declares the mapping of an entity in code, for types that cannot be
// tagged (generated code, types from another package). Only the fields it
// names are persisted. It yields the same metadata as the equivalent tags.
//
//	em.NewSchema[Book]("books").
//		Field("ID", em.FieldDef{PrimaryKey: true}).
//		Field("Title", em.FieldDef{Length: 200, Index: "-"})
type Schema struct {
	typ         reflect.Type
	table       string
	fields      map[string]FieldDef
	tracking    ChangeTracking
	trackingSet bool
	err         error
}

// NewSchema starts the schema of entity type T stored in table ("" uses the
// naming strategy or a TableName method).
func NewSchema[T any](table string) *Schema {
	t := reflect.TypeFor[T]()
	s := &Schema{typ: t, table: table, fields: map[string]FieldDef{}}
	if t.Kind() != reflect.Struct {
		s.err = &MetadataError{Entity: t.String(), Reason: "a schema's type must be a struct"}
	}
	return s
}

// ChangeTracking sets the change tracking policy of the type, over
// Config.ChangeTracking: the schema's counterpart of a ChangeTracking
// method on the type. An unknown policy is an error reported at Open.
func (s *Schema) ChangeTracking(p ChangeTracking) *Schema {
	s.tracking, s.trackingSet = p, true
	return s
}

// Field maps the Go field name with def. Mapping a field twice is an error
// reported at Open.
func (s *Schema) Field(name string, def FieldDef) *Schema {
	if _, dup := s.fields[name]; dup && s.err == nil {
		s.err = &MetadataError{Entity: s.typ.Name(), Field: name, Reason: fmt.Sprintf("field %s mapped twice in the schema", name)}
	}
	s.fields[name] = def
	return s
}
