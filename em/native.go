package em

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// The native operations and upserts on a NativeBackend: what em does
// around the backend's own writes (see NativeBackend).

// nativeBackend returns the backend that runs the native operations and
// upserts, nil when em runs them as SQL statements, or an error matching
// ErrUnsupported naming what when the backend has no such capability.
func (o *ORM) nativeBackend(what string) (NativeBackend, error) {
	if o.backend == nil {
		return nil, nil
	}
	if nb, ok := o.backend.(NativeBackend); ok {
		return nb, nil
	}
	return nil, o.unsupported(what)
}

// backendUpsertChunk is how many entities one Upsert call of a backend
// writes, and one Find reads back.
const backendUpsertChunk = 1000

// nativeValues resolves data (property or Go field names to values) for a
// NativeBackend: the fields in name order, each value converted to its
// field's type as FieldMeta.Value returns it, nil for NULL. A NULL in a
// field that is not nullable is refused as the database would refuse it.
func (e *EntityManager) nativeValues(m *EntityMeta, what string, data map[string]any) ([]*FieldMeta, []any, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	scratch := reflect.New(m.Type).Interface()
	fields := make([]*FieldMeta, 0, len(keys))
	values := make([]any, 0, len(keys))
	for _, k := range keys {
		f := m.props[k]
		if f == nil {
			return nil, nil, &FilterError{Entity: m.Name, Property: k, Reason: "no such property"}
		}
		for _, g := range fields {
			if g == f {
				return nil, nil, &FilterError{Entity: m.Name, Property: k, Reason: "given twice (by property and by Go field name)"}
			}
		}
		var val any
		if v := data[k]; v != nil {
			if err := f.Set(scratch, v); err != nil {
				return nil, nil, fmt.Errorf("em: %s[%s]: value %v (%T) for %s: %w", what, m.Name, v, v, f.Property, err)
			}
			val = f.Value(scratch)
		}
		if isNull(val) {
			val = nil
			if !f.Nullable {
				return nil, nil, e.notNull(m, f, what, "sets it to NULL")
			}
		}
		fields = append(fields, f)
		values = append(values, val)
	}
	return fields, values, nil
}

// notNull is the error of a NULL written into a field that is not
// nullable, as a database with a schema would report it.
func (e *EntityManager) notNull(m *EntityMeta, f *FieldMeta, what, how string) error {
	return &DBError{Kind: ErrNotNullViolation, Entity: m.Name, Constraint: f.Column,
		Err: fmt.Errorf("%s %s %s.%s, which is not nullable (%s has no schema to refuse or default it: em does)", what, how, m.Name, f.Property, e.orm.backend.Name())}
}

// isNull reports whether v stands for NULL: nil, or a nil pointer, map or
// slice.
func isNull(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// nativeInsertBackend is NativeInsert on a NativeBackend. Every field that
// is not nullable needs a value, as in a table whose columns are NOT NULL:
// the key may be left out only where it is generated (an auto-increment
// integer, or a key the backend makes with NewKey), and a SQL default of
// the mapping cannot be evaluated by a backend.
func (e *EntityManager) nativeInsertBackend(ctx context.Context, b NativeBackend, m *EntityMeta, data map[string]any) (any, error) {
	fields, values, err := e.nativeValues(m, "NativeInsert", data)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Fields {
		if f.Nullable || containsField(fields, f) {
			continue
		}
		if f == m.PK {
			if k, ok := b.NewKey(m); ok {
				fields, values = append(fields, f), append(values, k)
				continue
			}
			if f.AutoIncr {
				continue // the backend generates it
			}
		}
		if f.Def.Default != "" {
			return nil, fmt.Errorf("%w: NativeInsert[%s] gives %s no value, and %s cannot evaluate its SQL default %q: give it one", ErrUnsupported, m.Name, f.Property, b.Name(), f.Def.Default)
		}
		return nil, e.notNull(m, f, "NativeInsert", "gives no value to")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	key, err := b.Insert(e.backendCtx(ctx), m, fields, values)
	e.orm.logBackend(ctx, "INSERT INTO "+m.Table, start, err)
	if err != nil {
		return nil, err
	}
	// The key in the key field's own type, as SQL scans it.
	scratch := reflect.New(m.Type).Interface()
	if err := m.PK.Set(scratch, key); err != nil {
		return nil, fmt.Errorf("em: NativeInsert[%s]: key %v from %s: %w", m.Name, key, b.Name(), err)
	}
	return m.PK.Get(scratch), nil
}

// nativeUpdateBackend is NativeUpdate on a NativeBackend.
func (e *EntityManager) nativeUpdateBackend(ctx context.Context, b NativeBackend, m *EntityMeta, filter any, data map[string]any) (int64, error) {
	fields, values, err := e.nativeValues(m, "NativeUpdate", data)
	if err != nil {
		return 0, err
	}
	if len(fields) == 0 {
		return 0, fmt.Errorf("em: NativeUpdate[%s]: no properties to set", m.Name)
	}
	f, err := e.backendFilter(ctx, m, filter)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cols := make([]string, len(fields))
	for i, fl := range fields {
		cols[i] = fl.Column
	}
	start := time.Now()
	n, err := b.UpdateWhere(e.backendCtx(ctx), m, f, fields, values)
	e.orm.logBackend(ctx, "UPDATE "+m.Table+" SET "+strings.Join(cols, ", "), start, err)
	return n, err
}

// nativeDeleteBackend is NativeDelete on a NativeBackend.
func (e *EntityManager) nativeDeleteBackend(ctx context.Context, b NativeBackend, m *EntityMeta, filter any) (int64, error) {
	f, err := e.backendFilter(ctx, m, filter)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	start := time.Now()
	n, err := b.DeleteWhere(e.backendCtx(ctx), m, f)
	e.orm.logBackend(ctx, "DELETE FROM "+m.Table, start, err)
	return n, err
}

// upsertBackend is the write and read-back of UpsertMany on a
// NativeBackend, chunk by chunk: the backend writes, a find by the
// conflict keys reads the stored entities, and each becomes the managed
// instance of its key as on SQL (adopt).
func (e *EntityManager) upsertBackend(ctx context.Context, b NativeBackend, m *EntityMeta, entities []unsafe.Pointer, target, fields, update []*FieldMeta) ([]*entry, error) {
	out := make([]*entry, 0, len(entities))
	bctx := e.backendCtx(ctx)
	for start := 0; start < len(entities); start += backendUpsertChunk {
		chunk := entities[start:min(start+backendUpsertChunk, len(entities))]
		objs := make([]any, len(chunk))
		for i, p := range chunk {
			objs[i] = reflect.NewAt(m.Type, p).Interface()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		err := b.Upsert(bctx, &BackendUpsert{Meta: m, Entities: objs, Target: target, Insert: fields, Update: update})
		e.orm.logBackend(ctx, "INSERT INTO "+m.Table+" ON CONFLICT DO UPDATE", t0, err)
		if err != nil {
			return nil, err
		}
		// Read back by the conflict keys: the generated keys, and what the
		// store kept of an entity it found, become the entities' state.
		var filter F
		if len(target) == 1 {
			keys := make([]any, len(chunk))
			for i, p := range chunk {
				keys[i] = targetValue(target[0], p)
			}
			filter = F{target[0].Property: keys}
		} else {
			ors := make([]F, len(chunk))
			for i, p := range chunk {
				and := make(F, len(target))
				for _, f := range target {
					and[f.Property] = targetValue(f, p)
				}
				ors[i] = and
			}
			filter = F{"$or": ors}
		}
		parsed, err := e.backendFilter(ctx, m, filter)
		if err != nil {
			return nil, err
		}
		loaded := map[string]unsafe.Pointer{}
		t0 = time.Now()
		err = b.Find(bctx, &BackendQuery{Meta: m, Filter: parsed}, func(decode func(entity any) error) error {
			p := reflect.New(m.Type).UnsafePointer()
			if err := decode(reflect.NewAt(m.Type, p).Interface()); err != nil {
				return fmt.Errorf("em: load %s: %w", m.Name, err)
			}
			loaded[targetKey(target, p)] = p
			return nil
		})
		e.orm.logBackend(ctx, "SELECT FROM "+m.Table, t0, err)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		for i, p := range chunk {
			row, ok := loaded[targetKey(target, p)]
			if !ok {
				e.mu.Unlock()
				return nil, fmt.Errorf("em: UpsertMany[%s]: entity %d was not found after the upsert", m.Name, start+i)
			}
			copyStruct(m, p, row)
			out = append(out, e.adopt(m, reflect.NewAt(m.Type, p).Interface(), p))
		}
		e.mu.Unlock()
	}
	return out, nil
}

// errNoKeyToUpsert is the error of an entity whose onConflict property is
// NULL: NULL matches no stored row, so the upsert would always insert and
// could not find the row it wrote.
func errNoKeyToUpsert(m *EntityMeta, f *FieldMeta, i int, entity any) error {
	return &ValidationError{Entity: m.Name, Field: f.Name, Value: m.PK.Get(entity),
		Reason: fmt.Sprintf("UpsertMany: entity %d has no value in onConflict property %s (NULL matches no stored row)", i, f.Property)}
}
