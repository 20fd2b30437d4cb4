package em

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"unsafe"
)

// MarshalEntity returns the JSON object of a registered entity (a *T or T)
// keyed by property names, in field order. Fields tagged orm:"hidden" are left
// out; a reference is its key, or the referenced entity's object when it is
// loaded. It returns ErrUnknownEntity for an unregistered type, or the
// encoding error of a field.
func (o *ORM) MarshalEntity(entity any) ([]byte, error) {
	rv := reflect.ValueOf(entity)
	if !rv.IsValid() {
		return nil, fmt.Errorf("%w: MarshalEntity of nil", ErrUnknownEntity)
	}
	if rv.Kind() == reflect.Struct {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p
	}
	m, p, err := o.entityArg(rv.Interface())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := o.marshalInto(&buf, m, p, map[unsafe.Pointer]bool{}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// marshalInto writes the object of the entity at p; seen stops reference
// cycles (a referenced entity already being written becomes its key).
func (o *ORM) marshalInto(buf *bytes.Buffer, m *EntityMeta, p unsafe.Pointer, seen map[unsafe.Pointer]bool) error {
	seen[p] = true
	defer delete(seen, p)
	buf.WriteByte('{')
	first := true
	for _, f := range m.Fields {
		if f.Def.Hidden {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(f.Property)
		buf.Write(name)
		buf.WriteByte(':')
		if f.isRef {
			h := (*refHeader)(f.ptr(p))
			if h.entity != nil && !seen[h.entity] {
				if err := o.marshalInto(buf, f.Ref, h.entity, seen); err != nil {
					return err
				}
				continue
			}
			b, err := json.Marshal(refBind(f, f.ptr(p)))
			if err != nil {
				return err
			}
			buf.Write(b)
			continue
		}
		b, err := json.Marshal(f.value(p).Interface())
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return nil
}
