package em

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

// Upsert inserts entity, or updates the row that has the same values in the
// onConflict properties (a unique key; the primary key if none are given),
// in one statement, outside the unit of work's batch. The entity then is the
// managed instance of its row, its key and values as written; if another
// instance of that row was already managed, the values are copied into it and
// that instance is returned. No lifecycle hook runs (as with the native
// operations).
//
// A new row gets every field, with a UUID or backend key generated and
// onCreate values and a first version (1) set where they are zero; a row
// found by the onConflict properties gets every field but those, the
// primary key and the onCreate fields. A version field is written as the
// entity holds it: an upsert is not an optimistic lock.
//
// On MongoDB the onConflict properties are the filter of an update with
// upsert: true (the other fields of a new document in $setOnInsert), and
// they need a unique index on exactly those fields (mongo.EnsureIndexes
// creates the mapping's); without one the error says so and nothing is
// written.
//
// It returns a *FilterError for an unknown onConflict property, a
// *ValidationError for an entity whose onConflict property is NULL (it
// would never conflict), a *DBError for what the database refused, and an
// error matching ErrUnsupported on a Backend that is not a NativeBackend.
func Upsert[T any](ctx context.Context, e *EntityManager, entity *T, onConflict ...string) (*T, error) {
	out, err := UpsertMany(ctx, e, []*T{entity}, onConflict...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// UpsertMany is Upsert for many entities of one type, in multi-row
// statements (chunked to the parameter limit; on MongoDB one ordered bulk
// write per thousand entities), each followed by one query reading the rows
// back. It returns the managed instances in the order given, or the errors
// of Upsert; entities of chunks written before a failure stay written.
func UpsertMany[T any](ctx context.Context, e *EntityManager, entities []*T, onConflict ...string) ([]*T, error) {
	e, err := e.usable(ctx)
	if err != nil {
		return nil, err
	}
	nb, err := e.orm.nativeBackend("Upsert")
	if err != nil {
		return nil, err
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	if len(entities) == 0 {
		return nil, nil
	}
	target, err := upsertTarget(m, onConflict)
	if err != nil {
		return nil, err
	}
	ptrs := make([]unsafe.Pointer, len(entities))
	for i, v := range entities {
		if v == nil {
			return nil, fmt.Errorf("em: UpsertMany[%s]: nil entity at %d", m.Name, i)
		}
		ptrs[i] = unsafe.Pointer(v)
	}
	if err := e.prepareUpsert(nb, m, ptrs, target); err != nil {
		return nil, err
	}
	fields, updateFields := upsertFields(m, target)
	var ens []*entry
	if nb != nil {
		ens, err = e.upsertBackend(ctx, nb, m, ptrs, target, fields, updateFields)
	} else {
		ens, err = e.upsertSQL(ctx, m, ptrs, target, fields, updateFields)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*T, len(ens))
	for i, en := range ens {
		out[i] = en.object().(*T)
	}
	return out, nil
}

// upsertTarget resolves onConflict to the fields an upsert finds a stored
// twin by: the primary key when none are named.
func upsertTarget(m *EntityMeta, onConflict []string) ([]*FieldMeta, error) {
	var target []*FieldMeta
	for _, name := range onConflict {
		f := m.props[name]
		if f == nil {
			return nil, &FilterError{Entity: m.Name, Property: name, Reason: "no such property (in onConflict)"}
		}
		target = append(target, f)
	}
	if len(target) == 0 {
		target = []*FieldMeta{m.PK}
	}
	return target, nil
}

// upsertFields returns the fields an upsert writes (all but a generated
// key it does not match on) and those it overwrites on a conflict (neither
// the target, the key nor onCreate fields).
func upsertFields(m *EntityMeta, target []*FieldMeta) (fields, update []*FieldMeta) {
	for _, f := range m.Fields {
		if f == m.PK && f.AutoIncr && !containsField(target, f) {
			continue
		}
		fields = append(fields, f)
	}
	for _, f := range fields {
		if !containsField(target, f) && f != m.PK && f.Def.OnCreate == "" {
			update = append(update, f)
		}
	}
	return fields, update
}

// prepareUpsert gives each entity what a new row gets (a UUID or a
// backend's key, onCreate values, a first version) and refuses one whose
// target holds NULL.
func (e *EntityManager) prepareUpsert(nb NativeBackend, m *EntityMeta, ptrs []unsafe.Pointer, target []*FieldMeta) error {
	gens := e.orm.gens
	for i, p := range ptrs {
		if m.PK.UUID && m.PK.isZero(m.PK.ptr(p)) {
			*(*string)(m.PK.ptr(p)) = newUUID()
		} else if nb != nil && m.PK.isZero(m.PK.ptr(p)) {
			if k, ok := nb.NewKey(m); ok {
				if err := m.PK.Set(reflect.NewAt(m.Type, p).Interface(), k); err != nil {
					return fmt.Errorf("em: UpsertMany[%s]: key from %s: %w", m.Name, nb.Name(), err)
				}
			}
		}
		for _, f := range m.Fields {
			if f.Def.OnCreate != "" && f.isZero(f.ptr(p)) {
				_ = assignValue(f.value(p), gens[f.Def.OnCreate]())
			}
			if f.Def.Version && f.isZero(f.ptr(p)) {
				_ = assignValue(f.value(p), 1)
			}
		}
		for _, f := range target {
			if isNull(targetValue(f, p)) {
				return errNoKeyToUpsert(m, f, i, reflect.NewAt(m.Type, p).Interface())
			}
		}
	}
	return nil
}

// upsertSQL writes the entities at ptrs with INSERT … ON CONFLICT (or ON
// DUPLICATE KEY) UPDATE, in statements of as many rows as the parameters
// allow, then reads the rows back by their target so that generated keys
// and what the database kept become the entities' state; it returns their
// entries, managed.
func (e *EntityManager) upsertSQL(ctx context.Context, m *EntityMeta, ptrs []unsafe.Pointer, target, fields, updateFields []*FieldMeta) ([]*entry, error) {
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = f.Column
	}
	update := make([]string, len(updateFields))
	for i, f := range updateFields {
		update[i] = f.Column
	}
	targetCols := make([]string, len(target))
	for i, f := range target {
		targetCols[i] = f.Column
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.conn()
	d := e.orm.dialect
	per := e.rowsPerStatement(len(fields))
	for start := 0; start < len(ptrs); start += per {
		ins := d.InsertInto(m.Table).Columns(cols...).OnConflict(targetCols...)
		for _, p := range ptrs[start:min(start+per, len(ptrs))] {
			row := make([]any, len(fields))
			for i, f := range fields {
				var err error
				if row[i], err = bindValue(f, p); err != nil {
					return nil, err
				}
			}
			ins = ins.Values(row...)
		}
		if len(update) == 0 {
			ins = ins.DoUpdateColumns(targetCols[0])
		} else {
			ins = ins.DoUpdateColumns(update...)
		}
		query, args, err := ins.Build()
		if err != nil {
			return nil, err
		}
		if _, err := e.orm.exec(ctx, q, query, args); err != nil {
			return nil, translateError(err, m.Name)
		}
	}
	out := make([]*entry, len(ptrs))
	for start := 0; start < len(ptrs); start += per {
		if err := e.readBackUpserted(ctx, q, m, ptrs[start:min(start+per, len(ptrs))], start, target, out[start:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readBackUpserted reads the rows of the upserted entities at chunk (the
// first of which is entity number first of the call) by their target
// values, copies each into its entity, and puts the entries in out,
// managed.
func (e *EntityManager) readBackUpserted(ctx context.Context, q querier, m *EntityMeta, chunk []unsafe.Pointer, first int, target []*FieldMeta, out []*entry) error {
	conds := make([]qb.Expr, len(chunk))
	for i, p := range chunk {
		and := make([]qb.Expr, len(target))
		for j, f := range target {
			and[j] = qb.Eq(f.Column, targetValue(f, p))
		}
		conds[i] = qb.And(and...)
	}
	colsAny := make([]any, len(m.Fields))
	for i, f := range m.Fields {
		colsAny[i] = f.Column
	}
	query, args, err := e.orm.dialect.Select(colsAny...).From(m.Table).Where(qb.Or(conds...)).Build()
	if err != nil {
		return err
	}
	rows, err := e.orm.query(ctx, q, query, args)
	if err != nil {
		return translateError(err, m.Name)
	}
	loaded := map[string]unsafe.Pointer{}
	err = e.scanDetached(rows, m, func(p unsafe.Pointer) {
		loaded[targetKey(target, p)] = p
	})
	if err != nil {
		return err
	}
	for i, p := range chunk {
		row, ok := loaded[targetKey(target, p)]
		if !ok {
			return fmt.Errorf("em: UpsertMany[%s]: row %d was not found after the upsert", m.Name, first+i)
		}
		copyStruct(m, p, row)
		out[i] = e.adopt(m, reflect.NewAt(m.Type, p).Interface(), p)
	}
	return nil
}

// adopt makes the entity at p managed with its current values as snapshot,
// or copies them into the instance already managed for its key. The caller
// holds e.mu.
func (e *EntityManager) adopt(m *EntityMeta, obj any, p unsafe.Pointer) *entry {
	if en, ok := e.recOK(p); ok {
		if en.state == stateNew {
			e.pending = removeEntry(e.pending, en)
			en.state = stateManaged
			if !en.inIM {
				e.addIM(en)
			}
		}
		e.noteChange(en)
		e.takeSnapshot(en)
		return en
	}
	if en := e.lookup(m, keyOf(m.PK, p)); en != nil {
		e.noteChange(en)
		copyStruct(m, en.ptr, p)
		e.takeSnapshot(en)
		return en
	}
	return e.registerAttached(m, obj, p)
}

// scanDetached reads full rows of m into fresh structs that are not managed.
func (e *EntityManager) scanDetached(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, m *EntityMeta, each func(p unsafe.Pointer)) error {
	defer rows.Close()
	dest := make([]any, len(m.Fields))
	var fixups []func() error
	for rows.Next() {
		p := reflect.New(m.Type).UnsafePointer()
		fixups = fixups[:0]
		for i, f := range m.Fields {
			dest[i], fixups = scanDest(f, p, fixups)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("em: load %s: %w", m.Name, err)
		}
		for _, fx := range fixups {
			if err := fx(); err != nil {
				return err
			}
		}
		each(p)
	}
	return translateError(rows.Err(), m.Name)
}

// targetValue is the value of an onConflict field of the entity at p, as a
// filter takes it: the referenced key for a reference.
func targetValue(f *FieldMeta, p unsafe.Pointer) any {
	if f.isRef {
		return refBind(f, f.ptr(p))
	}
	return f.value(p).Interface()
}

// targetKey identifies the entity at p by its onConflict fields, to match
// entities with the rows read back.
func targetKey(target []*FieldMeta, p unsafe.Pointer) string {
	s := ""
	for _, f := range target {
		s += fmt.Sprint(targetValue(f, p)) + "\x00"
	}
	return s
}

func containsField(list []*FieldMeta, f *FieldMeta) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}
