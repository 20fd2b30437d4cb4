package em

import (
	"context"
	"reflect"
	"strings"
	"unsafe"
)

// Populate loads the entities that entities (a slice of *T, or one *T, all
// managed by e) refer to along the given property paths, as FindOptions.Populate
// does for a find. Already loaded references cost nothing; managed ones are
// filled from the identity map without a query.
func (e *EntityManager) Populate(ctx context.Context, entities any, paths ...string) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(entities)
	var ptrs []unsafe.Pointer
	var t reflect.Type
	switch {
	case rv.Kind() == reflect.Slice:
		for i := range rv.Len() {
			el := rv.Index(i)
			if el.Kind() != reflect.Pointer || el.IsNil() {
				continue
			}
			t = el.Type().Elem()
			ptrs = append(ptrs, el.UnsafePointer())
		}
	case rv.Kind() == reflect.Pointer && !rv.IsNil():
		t = rv.Type().Elem()
		ptrs = append(ptrs, rv.UnsafePointer())
	default:
		return &FilterError{Entity: "?", Reason: "Populate needs a *T or a []*T of an entity type"}
	}
	if len(ptrs) == 0 {
		return nil
	}
	m, err := e.orm.metaFor(t)
	if err != nil {
		return err
	}
	return e.populate(ctx, m, ptrs, paths)
}

// populate resolves each path on the entities at ptrs (all of type m).
func (e *EntityManager) populate(ctx context.Context, m *EntityMeta, ptrs []unsafe.Pointer, paths []string) error {
	// Group the paths by their first property: "author", "author.publisher"
	// load authors once and go on with "publisher" on them.
	next := map[*FieldMeta][]string{}
	var order []*FieldMeta
	add := func(f *FieldMeta, rest string) {
		if _, seen := next[f]; !seen {
			order = append(order, f)
			next[f] = nil
		}
		if rest != "" {
			next[f] = append(next[f], rest)
		}
	}
	for _, path := range paths {
		head, rest, _ := strings.Cut(path, ".")
		if head == "*" {
			for _, f := range m.Fields {
				if f.isRef {
					add(f, rest)
				}
			}
			continue
		}
		f := m.props[head]
		if f == nil || !f.isRef {
			return &FilterError{Entity: m.Name, Property: head, Reason: "no such reference to populate"}
		}
		add(f, rest)
	}
	for _, f := range order {
		targets, err := e.loadRefs(ctx, f, ptrs)
		if err != nil {
			return err
		}
		if len(next[f]) > 0 && len(targets) > 0 {
			if err := e.populate(ctx, f.Ref, targets, next[f]); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadRefs fills the reference field f of every entity at ptrs: from the
// identity map where it can, with one query per chunk of keys otherwise. It
// returns the referenced entities, once each.
func (e *EntityManager) loadRefs(ctx context.Context, f *FieldMeta, ptrs []unsafe.Pointer) ([]unsafe.Pointer, error) {
	target := f.Ref
	fill := func() (missing []any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		seen := map[pkKey]bool{}
		for _, p := range ptrs {
			h := (*refHeader)(f.ptr(p))
			if h.entity != nil || h.id == nil {
				continue
			}
			k, ok := keyFromValue(target.PK, h.id)
			if !ok {
				continue
			}
			if en := e.lookup(target, k); en != nil && en.state != stateRemoved {
				h.entity = en.ptr
			} else if !seen[k] {
				seen[k] = true
				missing = append(missing, h.id)
			}
		}
		return missing
	}
	missing := fill()
	per := e.rowsPerStatement(1)
	for start := 0; start < len(missing); start += per {
		chunk := missing[start:min(start+per, len(missing))]
		if err := e.find(ctx, target.Type, F{target.PK.Property: F{"$in": chunk}}, FindOptions{}, func(any) {}); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		fill() // now from the identity map; rows that are gone stay unloaded
	}
	var out []unsafe.Pointer
	seen := map[unsafe.Pointer]bool{}
	for _, p := range ptrs {
		if h := (*refHeader)(f.ptr(p)); h.entity != nil && !seen[h.entity] {
			seen[h.entity] = true
			out = append(out, h.entity)
		}
	}
	return out, nil
}
