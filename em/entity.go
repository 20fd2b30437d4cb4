package em

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/mikrogo/mikro/qb"
)

// Create makes a new T from data and persists it; the recommended way to
// make entities. data is a map of property names to values (converted to the
// field types), or a T or *T whose values are copied. It returns a
// *FilterError for an unknown property and an error for a value that does not
// fit its field.
func Create[T any](e *EntityManager, data any) (*T, error) {
	if e.invalid() {
		return nil, errNilManager
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	v := new(T)
	switch d := data.(type) {
	case T:
		*v = d
	case *T:
		if d != nil {
			*v = *d
		}
	case map[string]any:
		if err := assignMap(m, v, d); err != nil {
			return nil, err
		}
	case nil:
	default:
		return nil, fmt.Errorf("em: Create[%s]: data must be a map, a %s or a *%s, not %T", m.Name, m.Name, m.Name, data)
	}
	if err := e.Persist(v); err != nil {
		return nil, err
	}
	return v, nil
}

// Assign sets properties of entity from data (property names to values),
// converting numeric kinds. The changes are written at the next Flush if the
// entity is managed (with ChangeTrackingExplicit, Assign marks it as Persist
// does). It returns a *FilterError for an unknown property.
func (e *EntityManager) Assign(entity any, data map[string]any) error {
	if e.invalid() {
		return errNilManager
	}
	m, p, err := e.orm.entityArg(entity)
	if err != nil {
		return err
	}
	if err := assignMap(m, entity, data); err != nil {
		return err
	}
	if m.explicit {
		e.mu.Lock()
		if en, ok := e.recOK(p); ok {
			e.mark(en)
		}
		e.mu.Unlock()
	}
	return nil
}

func assignMap(m *EntityMeta, entity any, data map[string]any) error {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := m.props[k]
		if f == nil {
			return &FilterError{Entity: m.Name, Property: k, Reason: "no such property"}
		}
		if err := f.Set(entity, data[k]); err != nil {
			return err // names the entity and property
		}
	}
	return nil
}

// Merge attaches a detached entity (for example one decoded from a request)
// to the manager as managed and unchanged: its current values are taken as
// what the database holds. If an instance with the same primary key is
// already managed, the entity's stored fields are copied into that instance
// (so they are flushed as changes, under ChangeTrackingExplicit too; its
// loaded collections stay as they are) and the managed instance is returned.
func Merge[T any](e *EntityManager, entity *T) (*T, error) {
	e, err := e.resolve(nil)
	if err != nil {
		return nil, err
	}
	m, p, err := e.orm.entityArg(entity)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.recOK(p); ok {
		return en.object().(*T), nil
	}
	if m.PK.isZero(m.PK.ptr(p)) {
		return nil, fmt.Errorf("%w: Merge of a %s without a primary key (use Persist for new entities)", ErrNotManaged, m.Name)
	}
	if en := e.lookup(m, keyOf(m.PK, p)); en != nil {
		// The stored fields only: the managed instance keeps its loaded
		// collections and inverse references, which a detached entity
		// cannot know.
		for _, f := range m.Fields {
			f.value(en.ptr).Set(f.value(p))
			if f.deep != nil {
				f.deep(f.ptr(en.ptr), f.ptr(p))
			}
		}
		e.mark(en) // changes to flush, under ChangeTrackingExplicit too
		return en.object().(*T), nil
	}
	e.registerAttached(m, entity, p)
	return entity, nil
}

// Refresh reloads a managed entity from the database, overwriting its
// values and snapshot (unflushed changes are lost). It returns a
// *NotFoundError if the row is gone, ErrNotManaged for an entity the manager
// does not track.
func (e *EntityManager) Refresh(ctx context.Context, entity any) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	m, p, err := e.orm.entityArg(entity)
	if err != nil {
		return err
	}
	e.mu.Lock()
	en, ok := e.recOK(p)
	e.mu.Unlock()
	if !ok || en.state == stateNew {
		return fmt.Errorf("%w: Refresh of a %s that was never loaded or flushed", ErrNotManaged, m.Name)
	}
	pk := m.PK.Get(entity)
	found := false
	err = e.find(ctx, m.Type, F{m.PK.Property: pk}, FindOptions{Refresh: true}, func(any) { found = true })
	if err != nil {
		return err
	}
	if !found {
		return &NotFoundError{Entity: m.Name, Filter: pk}
	}
	e.mu.Lock()
	en.setLoaded(nil)
	e.mu.Unlock()
	return nil
}

// columnsOf maps a data map of property names to column names and values.
func columnsOf(m *EntityMeta, data map[string]any) ([]string, []any, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cols := make([]string, len(keys))
	vals := make([]any, len(keys))
	for i, k := range keys {
		f := m.props[k]
		if f == nil {
			return nil, nil, &FilterError{Entity: m.Name, Property: k, Reason: "no such property"}
		}
		cols[i], vals[i] = f.Column, data[k]
		if f.isRef {
			vals[i] = refArg(f, data[k])
		}
	}
	return cols, vals, nil
}

// NativeInsert inserts one row of T from data (property names to values)
// directly, bypassing the unit of work: no entity is made or managed and no
// hook runs. It returns the row's primary key, in the key field's type, as
// the database reports it (the generated one for an auto-increment key; on
// MySQL, which has no RETURNING, the one in data for a key that is not
// generated, nil if data has none).
//
// On MongoDB the document holds the given fields only (and a generated
// key: from the sequence collection for an integer key, a new ObjectID for
// an ObjectID key); values are converted to the fields' types, and a field
// that is not nullable must be given a value, as a NOT NULL column must
// (an error matching ErrNotNullViolation otherwise).
//
// It returns a *FilterError for an unknown property, a *DBError for what
// the database refused, and an error matching ErrUnsupported on a Backend
// that is not a NativeBackend.
func NativeInsert[T any](ctx context.Context, e *EntityManager, data map[string]any) (any, error) {
	e, err := e.usable(ctx)
	if err != nil {
		return nil, err
	}
	nb, err := e.orm.nativeBackend("NativeInsert")
	if err != nil {
		return nil, err
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	if nb != nil {
		return e.nativeInsertBackend(ctx, nb, m, data)
	}
	cols, vals, err := columnsOf(m, data)
	if err != nil {
		return nil, err
	}
	d := e.orm.dialect
	q := d.InsertInto(m.Table)
	if len(cols) == 0 {
		q = q.DefaultValues()
	} else {
		q = q.Columns(cols...).Values(vals...)
	}
	returning := d.Has(qb.FeatureReturningInsert)
	if returning {
		q = q.Returning(m.PK.Column)
	}
	query, args, err := q.Build()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !returning {
		res, err := e.orm.exec(ctx, e.conn(), query, args)
		if err != nil {
			return nil, translateError(err, m.Name)
		}
		if id, err := res.LastInsertId(); err == nil && m.PK.AutoIncr {
			return id, nil
		}
		return data[m.PK.Property], nil
	}
	rows, err := e.orm.query(ctx, e.conn(), query, args)
	if err != nil {
		return nil, translateError(err, m.Name)
	}
	defer rows.Close()
	pk := reflect.New(m.PK.Type)
	if rows.Next() {
		if err := rows.Scan(pk.Interface()); err != nil {
			return nil, err
		}
	}
	return pk.Elem().Interface(), translateError(rows.Err(), m.Name)
}

// NativeUpdate sets data (property names to values) on every row of T
// matching filter (an em.F or a primary key value, as for Find), bypassing
// the unit of work (managed entities are not changed, no hook runs, no
// version or onUpdate field is set unless data sets it), and returns the
// number of rows affected: on PostgreSQL, SQLite and MongoDB the rows the
// filter matched, on MySQL and MariaDB those whose values changed.
//
// On MongoDB it is one updateMany ($set, and $unset for NULL), with the
// values converted to the fields' types; NULL in a field that is not
// nullable is refused as ErrNotNullViolation, and the primary key (_id)
// cannot be changed (an error matching ErrUnsupported).
//
// It returns a *FilterError for an unknown property or a bad filter, a
// *DBError for what the database refused, and an error matching
// ErrUnsupported on a Backend that is not a NativeBackend.
func NativeUpdate[T any](ctx context.Context, e *EntityManager, filter any, data map[string]any) (int64, error) {
	e, m, nb, err := nativeScope[T](ctx, e, "NativeUpdate")
	if err != nil {
		return 0, err
	}
	if nb != nil {
		return e.nativeUpdateBackend(ctx, nb, m, filter, data)
	}
	where, err := compileFilter(e.orm.dialect, m, filter)
	if err != nil {
		return 0, err
	}
	cols, vals, err := columnsOf(m, data)
	if err != nil {
		return 0, err
	}
	q := e.orm.dialect.Update(m.Table)
	for i := range cols {
		q = q.Set(cols[i], vals[i])
	}
	if where != nil {
		q = q.Where(where)
	}
	return e.execNative(ctx, m, q)
}

// NativeDelete deletes every row of T matching filter (an em.F or a
// primary key value, as for Find; nil deletes every row), bypassing the
// unit of work (managed entities stay managed, no hook runs), and returns
// the number of rows deleted; on MongoDB it is one deleteMany. It returns
// a *FilterError for a bad filter, a *DBError for what the database
// refused, and an error matching ErrUnsupported on a Backend that is not a
// NativeBackend.
func NativeDelete[T any](ctx context.Context, e *EntityManager, filter any) (int64, error) {
	e, m, nb, err := nativeScope[T](ctx, e, "NativeDelete")
	if err != nil {
		return 0, err
	}
	if nb != nil {
		return e.nativeDeleteBackend(ctx, nb, m, filter)
	}
	where, err := compileFilter(e.orm.dialect, m, filter)
	if err != nil {
		return 0, err
	}
	q := e.orm.dialect.DeleteFrom(m.Table)
	if where != nil {
		q = q.Where(where)
	}
	return e.execNative(ctx, m, q)
}

// nativeScope resolves the manager, T's metadata and the NativeBackend of
// a native operation (nil on SQL): the common start of NativeUpdate and
// NativeDelete.
func nativeScope[T any](ctx context.Context, e *EntityManager, what string) (*EntityManager, *EntityMeta, NativeBackend, error) {
	e, err := e.usable(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	nb, err := e.orm.nativeBackend(what)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, nil, nil, err
	}
	return e, m, nb, nil
}

func (e *EntityManager) execNative(ctx context.Context, m *EntityMeta, q interface {
	Build() (string, []any, error)
}) (int64, error) {
	query, args, err := q.Build()
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	res, err := e.orm.exec(ctx, e.conn(), query, args)
	if err != nil {
		return 0, translateError(err, m.Name)
	}
	return res.RowsAffected()
}
