package em

import (
	"context"
	"encoding"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// Ref is a many-to-one reference to a T, the owning side of the relation: the
// entity's table holds the referenced primary key in a column. A Ref holds
// the key and, once loaded, the entity; it never queries by itself. The zero
// Ref refers to nothing (NULL).
//
//	type Book struct {
//		ID     int64          `db:"id" orm:"pk"`
//		Author em.Ref[Author] `db:"author_id"`
//	}
type Ref[T any] struct {
	id     any // the key, normalized: int64 for integer keys, string for string keys; nil for none
	entity *T
}

// refHeader is the memory layout of every Ref[T].
type refHeader struct {
	id     any
	entity unsafe.Pointer
}

func (Ref[T]) refTarget() reflect.Type { return reflect.TypeFor[T]() }

type refField interface{ refTarget() reflect.Type }

var refFieldType = reflect.TypeFor[refField]()

// RefTo returns a reference to entity, which may be new: its key is taken
// when the referencing entity is written, after entity is inserted. Persist
// (and Flush) of the referencing entity persists a new entity it refers to —
// one the manager does not track and whose primary key is empty; an
// untracked entity with its key set is taken as an existing row.
func RefTo[T any](entity *T) Ref[T] {
	if entity == nil {
		return Ref[T]{}
	}
	return Ref[T]{entity: entity}
}

// IsSet reports whether the reference refers to an entity. On the inverse
// side of a one-to-one that is not loaded yet it is false: whether a row
// refers back is unknown until Load or populate.
func (r Ref[T]) IsSet() bool { return r.entity != nil || (r.id != nil && !isInverseMark(r.id)) }

// IsLoaded reports whether the referenced entity is in the reference.
func (r Ref[T]) IsLoaded() bool { return r.entity != nil }

// ID returns the referenced primary key without a query: the key the
// reference was loaded or made with, or the current key of its entity (zero
// for an entity not inserted yet). It is nil for an unset reference.
func (r Ref[T]) ID() any {
	if r.entity != nil {
		if m := metaOfType(reflect.TypeFor[T]()); m != nil {
			return m.PK.Get(r.entity)
		}
	}
	if isInverseMark(r.id) {
		return nil // the inverse side of a one-to-one knows no key until loaded
	}
	return r.id
}

// Get returns the referenced entity, or an error matching ErrNotLoaded when
// it has not been loaded (nil and no error for an unset reference).
func (r Ref[T]) Get() (*T, error) {
	if r.entity != nil || r.id == nil {
		return r.entity, nil
	}
	if mk, ok := r.id.(inverseMark); ok {
		return nil, fmt.Errorf("%w: %s.%s, the inverse side of a one-to-one (call Load, or populate %q in the find)", ErrNotLoaded, mk.rel.Owner.Name, mk.rel.Name, mk.rel.Property)
	}
	return nil, fmt.Errorf("%w: %s %v (call Load, or populate it in the find)", ErrNotLoaded, reflect.TypeFor[T]().Name(), r.id)
}

// Load returns the referenced entity, loading it through e if the
// reference does not hold it yet (no query when e already manages it). It
// returns a *NotFoundError if the row is gone.
func (r *Ref[T]) Load(ctx context.Context, e *EntityManager) (*T, error) {
	if ctx == nil {
		return nil, ErrNilContext
	}
	if r == nil {
		return nil, fmt.Errorf("em: Load on a nil *Ref[%s]", reflect.TypeFor[T]().Name())
	}
	if r.entity != nil || r.id == nil {
		return r.entity, nil
	}
	if mk, ok := r.id.(inverseMark); ok {
		// The inverse side of a one-to-one: find the row whose reference
		// points to the owner.
		k := keyOf(mk.rel.Owner.PK, mk.owner).value(mk.rel.Owner.PK)
		v, err := FindOne[T](ctx, e, F{mk.rel.MappedBy.Property: k})
		if err != nil {
			return nil, err
		}
		r.id, r.entity = nil, v
		if v != nil {
			if h := (*refHeader)(mk.rel.MappedBy.ptr(unsafe.Pointer(v))); h.entity == nil {
				h.entity = mk.owner
			}
		}
		return v, nil
	}
	if u, err := e.usable(ctx); err == nil && u.orm.cfg.BatchFetch > 1 {
		if m, err := u.orm.metaFor(reflect.TypeFor[T]()); err == nil {
			if err := u.batchFetch(ctx, m, r.id); err != nil {
				return nil, err
			}
		}
	}
	v, err := FindOneOrFail[T](ctx, e, r.id)
	if err != nil {
		return nil, err
	}
	r.entity = v
	return v, nil
}

// GetReference returns a reference to the T with primary key id without a
// query; if e manages that entity the reference holds it already.
func GetReference[T any](e *EntityManager, id any) (Ref[T], error) {
	if e.invalid() {
		return Ref[T]{}, errNilManager
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return Ref[T]{}, err
	}
	k, ok := keyFromValue(m.PK, id)
	if !ok {
		return Ref[T]{}, &FilterError{Entity: m.Name, Property: m.PK.Property, Reason: fmt.Sprintf("%T is not a key of %s", id, m.Name)}
	}
	r := Ref[T]{id: k.value(m.PK)}
	e.mu.Lock()
	defer e.mu.Unlock()
	if en := e.lookup(m, k); en != nil && en.state != stateRemoved {
		r.entity = en.object().(*T)
	}
	return r, nil
}

// value is the normalized key as stored in a Ref.
func (k pkKey) value(pk *FieldMeta) any {
	switch kindClass(pk.Type) {
	case "int":
		return k.i
	case "text":
		p := reflect.New(pk.Type)
		_ = p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k.s))
		return p.Elem().Interface()
	}
	return k.s
}

// refKey is the key a reference field at p refers to; ok is false for none.
func refKey(f *FieldMeta, p unsafe.Pointer) (pkKey, bool) {
	h := (*refHeader)(p)
	if h.entity != nil {
		return keyOf(f.Ref.PK, h.entity), true
	}
	if h.id == nil {
		return pkKey{}, false
	}
	return keyFromValue(f.Ref.PK, h.id)
}

func refEq(f *FieldMeta) func(a, b unsafe.Pointer) bool {
	return func(a, b unsafe.Pointer) bool {
		ka, oka := refKey(f, a)
		kb, okb := refKey(f, b)
		return oka == okb && ka == kb
	}
}

// refBind is the value bound for a reference field: the referenced key, or
// NULL.
func refBind(f *FieldMeta, p unsafe.Pointer) any {
	k, ok := refKey(f, p)
	if !ok {
		return nil
	}
	return k.value(f.Ref.PK)
}

// setRef points the reference at p to what v names: a Ref of the right
// type, a pointer to the referenced entity, a key, or nil for none.
func setRef(f *FieldMeta, p unsafe.Pointer, v any) error {
	h := (*refHeader)(p)
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid():
		h.id, h.entity = nil, nil
	case rv.Type() == f.Type:
		reflect.NewAt(f.Type, p).Elem().Set(rv)
	case rv.Kind() == reflect.Pointer && rv.Type().Elem() == f.Ref.Type:
		if rv.IsNil() {
			h.id, h.entity = nil, nil
		} else {
			h.id, h.entity = nil, rv.UnsafePointer()
		}
	default:
		k, ok := keyFromValue(f.Ref.PK, v)
		if !ok {
			return fmt.Errorf("%T cannot name a %s (want a Ref, a *%s or a key)", v, f.Ref.Name, f.Ref.Name)
		}
		h.id, h.entity = k.value(f.Ref.PK), nil
	}
	return nil
}

// refHolder scans a foreign key column.
type refHolder struct{ v any }

func (h *refHolder) Scan(v any) error {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	h.v = v
	return nil
}

// metaRegistry lets Ref.ID find the metadata of T without an entity manager:
// every Open registers its entity types (a type registered by two ORMs keeps
// the first; key fields agree anyway).
var (
	metaMu       sync.RWMutex
	metaRegistry = struct {
		m map[reflect.Type]*EntityMeta
	}{m: map[reflect.Type]*EntityMeta{}}
)

func registerMetas(ms []*EntityMeta) {
	metaMu.Lock()
	defer metaMu.Unlock()
	for _, m := range ms {
		if _, ok := metaRegistry.m[m.Type]; !ok {
			metaRegistry.m[m.Type] = m
		}
	}
}

func metaOfType(t reflect.Type) *EntityMeta {
	metaMu.RLock()
	defer metaMu.RUnlock()
	return metaRegistry.m[t]
}

// batchFetch loads the entity of m with key id, unless it is managed, in one
// query with up to Config.BatchFetch-1 other entities of m that references
// of managed entities name without holding, and binds those references to
// the entities now managed. Keys whose rows are gone stay unbound.
func (e *EntityManager) batchFetch(ctx context.Context, m *EntityMeta, id any) error {
	k0, ok := keyFromValue(m.PK, id)
	if !ok {
		return nil // FindOneOrFail reports the bad key
	}
	type site struct {
		f *FieldMeta
		p unsafe.Pointer
	}
	var (
		keys  []any
		sites []site
	)
	e.mu.Lock()
	if e.lookup(m, k0) == nil {
		keys = append(keys, k0.value(m.PK))
		seen := map[pkKey]bool{k0: true}
		e.eachManaged(func(en *entry) {
			if en.state != stateManaged {
				return
			}
			for _, f := range en.meta.Fields {
				if !f.isRef || f.Ref != m {
					continue
				}
				h := (*refHeader)(f.ptr(en.ptr))
				if h.entity != nil || h.id == nil {
					continue
				}
				k, ok := keyFromValue(m.PK, h.id)
				if !ok {
					continue
				}
				if !seen[k] && e.lookup(m, k) == nil {
					if len(keys) >= e.orm.cfg.BatchFetch {
						continue
					}
					seen[k] = true
					keys = append(keys, k.value(m.PK))
				}
				sites = append(sites, site{f, en.ptr})
			}
		})
	}
	e.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	if err := e.find(ctx, m.Type, F{m.PK.Property: F{"$in": keys}}, FindOptions{}, func(any) {}); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range sites {
		h := (*refHeader)(s.f.ptr(s.p))
		if h.entity != nil || h.id == nil {
			continue
		}
		if k, ok := keyFromValue(m.PK, h.id); ok {
			if en := e.lookup(m, k); en != nil && en.state != stateRemoved {
				h.entity = en.ptr
			}
		}
	}
	return nil
}

// inverseMark is what the inverse side of a one-to-one holds, in place of a
// key, while not loaded: the relation and the owner, for Load to query by.
type inverseMark struct {
	rel   *RelationMeta
	owner unsafe.Pointer
}

func isInverseMark(id any) bool { _, ok := id.(inverseMark); return ok }

// markInverses sets the inverse one-to-one sides of a just loaded entity at
// p to "not loaded".
func markInverses(m *EntityMeta, p unsafe.Pointer) {
	for _, rel := range m.Inverses {
		h := (*refHeader)(unsafe.Add(p, rel.offset))
		h.id, h.entity = inverseMark{rel: rel, owner: p}, nil
	}
}

// bindInverse points the inverse side rel of owner at t, and t's owning
// reference at owner where it holds no entity yet.
func bindInverse(rel *RelationMeta, owner, t unsafe.Pointer) {
	h := (*refHeader)(unsafe.Add(owner, rel.offset))
	h.id, h.entity = nil, t
	if oh := (*refHeader)(rel.MappedBy.ptr(t)); oh.entity == nil {
		oh.entity = owner
	}
}
