package mongo

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// objectIDKeys reports whether m's string primary key is stored as an
// ObjectID: neither orm:"uuid" nor orm:"assigned".
func objectIDKeys(m *em.EntityMeta) bool {
	if m.PK.Type == objectIDType {
		return true
	}
	return m.PK.Type.Kind() == reflect.String && !m.PK.UUID && m.PK.Def.Generation == em.GenerateAuto
}

var objectIDType = reflect.TypeFor[bson.ObjectID]()

// fieldName is the document field of f: _id for the primary key.
func fieldName(f *em.FieldMeta) string {
	if f.PrimaryKey {
		return "_id"
	}
	return f.Column
}

// isKeyField reports whether f holds keys of an ObjectID-keyed entity:
// its primary key, or a reference to one.
func isKeyField(f *em.FieldMeta) bool {
	if f.PrimaryKey {
		return objectIDKeys(f.Owner())
	}
	return f.Ref != nil && objectIDKeys(f.Ref)
}

// toBSON converts a field value for storage or comparison: keys of
// ObjectID-keyed entities to ObjectIDs, driver.Valuer values (sql.Null*)
// to what they hold. A key that is not valid hex is an error naming it.
func toBSON(f *em.FieldMeta, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if isKeyField(f) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return nil, nil
			}
			id, err := bson.ObjectIDFromHex(x)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %q is not an ObjectID in hex", f.Owner().Name, f.Name, x)
			}
			return id, nil
		case bson.ObjectID:
			return x, nil
		}
	}
	if vr, ok := v.(driver.Valuer); ok {
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, nil
		}
		return vr.Value()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, nil
		}
		return toBSON(f, rv.Elem().Interface())
	case reflect.Map, reflect.Slice:
		if rv.IsNil() {
			return nil, nil // NULL: left out, or $unset
		}
	}
	return v, nil
}

// encode returns the document of entity: every field that is not nil.
func encode(m *em.EntityMeta, entity any) (bson.D, error) {
	doc := make(bson.D, 0, len(m.Fields))
	for _, f := range m.Fields {
		v, err := toBSON(f, f.Value(entity))
		if err != nil {
			return nil, err
		}
		if v != nil {
			doc = append(doc, bson.E{Key: fieldName(f), Value: v})
		}
	}
	return doc, nil
}

var scannerType = reflect.TypeFor[sql.Scanner]()

// decode fills entity from a stored document; fields the document lacks
// keep their zero value.
func decode(m *em.EntityMeta, raw bson.Raw, entity any) error {
	for _, f := range m.Fields {
		rv, err := raw.LookupErr(fieldName(f))
		if err != nil || rv.Type == bson.TypeNull || rv.Type == bson.TypeUndefined {
			continue
		}
		if err := decodeField(f, rv, entity); err != nil {
			return fmt.Errorf("%s.%s: %w", m.Name, f.Name, err)
		}
	}
	return nil
}

func decodeField(f *em.FieldMeta, rv bson.RawValue, entity any) error {
	if f.IsReference() || f.Ref != nil && rv.Type == bson.TypeObjectID {
		var key any
		switch rv.Type {
		case bson.TypeObjectID:
			key = rv.ObjectID().Hex()
		default:
			if err := rv.Unmarshal(&key); err != nil {
				return err
			}
		}
		return f.Set(entity, key)
	}
	if f.PrimaryKey && rv.Type == bson.TypeObjectID && f.Type != objectIDType {
		return f.Set(entity, rv.ObjectID().Hex())
	}
	addr := f.Addr(entity)
	if reflect.PointerTo(f.Type).Implements(scannerType) {
		var v any
		if err := rv.Unmarshal(&v); err != nil {
			return err
		}
		if t, ok := v.(bson.DateTime); ok {
			v = t.Time().UTC()
		}
		return addr.(sql.Scanner).Scan(v)
	}
	return rv.Unmarshal(addr)
}
