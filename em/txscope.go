package em

import (
	"reflect"
	"slices"
	"unsafe"
)

// txScope is what a transaction or a savepoint must put back in memory when
// it rolls back: the unit of work as it was when the scope began.
//
// Entities the manager came to know inside the scope (persisted, loaded,
// merged) are forgotten; entities it knew before get back the field values,
// snapshots, collections and new/removed state they had at the start. The
// flushes inside the scope are undone by the undo log from undo on (their
// snapshots and keys); the rest is recorded here when the scope opens:
// a copy of every entity that differed from its snapshot then (a clean one
// is put back from its snapshot) and of every new one, and the collections
// of every entity that has any. Opening a scope costs one comparison of
// each managed entity, as a flush with nothing to write does.
type txScope struct {
	// flushOnly: the transaction Flush began for itself; a rollback of it
	// is the failed flush's restore (pend and rem only are recorded).
	flushOnly bool
	undo      undoMark
	reg       int // len(txState.registered) at the start
	pend      []*entry
	rem       []*entry
	saved     map[*entry]unsafe.Pointer // struct copies (*meta.Type)
	colls     []savedColl
}

// savedColl is one collection as it was, its slices copied.
type savedColl struct {
	h *collHeader
	c collHeader
}

// openScope records the unit of work for a rollback of the scope about to
// begin in tx. The caller holds e.mu.
func (e *EntityManager) openScope(tx *txState) *txScope {
	s := &txScope{
		undo: tx.mark(),
		reg:  len(tx.registered),
		pend: slices.Clone(e.pending),
		rem:  slices.Clone(e.removed),
	}
	save := func(en *entry) {
		if s.saved == nil {
			s.saved = map[*entry]unsafe.Pointer{}
		}
		c := reflect.New(en.meta.Type).UnsafePointer()
		copyStruct(en.meta, c, en.ptr)
		s.saved[en] = c
	}
	var buf []*FieldMeta
	visit := func(en *entry) {
		if en.state == 0 || e.rec(en.ptr) != en {
			return // detached
		}
		if len(en.meta.Relations) > 0 {
			s.saveColls(en)
		}
		if en.snap == nil {
			save(en)
			return
		}
		if en.meta.flat && en.meta.size > 0 && memEqual(en.ptr, en.snap, en.meta.size) {
			return
		}
		if buf = en.changed(buf[:0]); len(buf) > 0 {
			save(en)
		}
	}
	e.eachManaged(visit)
	for _, en := range e.pending {
		visit(en)
	}
	return s
}

// saveColls records the collections of en.
func (s *txScope) saveColls(en *entry) {
	for _, rel := range en.meta.Relations {
		h := (*collHeader)(unsafe.Add(en.ptr, rel.offset))
		c := *h
		c.items, c.added, c.removed = slices.Clone(h.items), slices.Clone(h.added), slices.Clone(h.removed)
		s.colls = append(s.colls, savedColl{h: h, c: c})
	}
}

// rollbackScope puts the unit of work back as it was when s began (see
// txScope). The caller holds e.mu and has rolled back the database side.
func (e *EntityManager) rollbackScope(tx *txState, s *txScope) {
	if s.flushOnly {
		e.restore(tx, s.undo, s.pend, s.rem)
		return
	}
	e.replayUndo(tx, s.undo)
	// Forget what the scope brought in, newest first.
	for i := len(tx.registered) - 1; i >= s.reg; i-- {
		if en := tx.registered[i]; en.state != 0 && e.rec(en.ptr) == en {
			e.forget(en)
		}
	}
	clear(tx.registered[s.reg:])
	tx.registered = tx.registered[:s.reg]

	inPend := make(map[*entry]bool, len(s.pend))
	for _, en := range s.pend {
		inPend[en] = true
	}
	inRem := make(map[*entry]bool, len(s.rem))
	for _, en := range s.rem {
		inRem[en] = true
	}
	restoreFields := func(en *entry) {
		src := s.saved[en]
		if src == nil {
			src = en.snap
		}
		if src == nil {
			return
		}
		m := en.meta
		if m.flat && m.size > 0 {
			if !memEqual(en.ptr, src, m.size) {
				copyStruct(m, en.ptr, src)
			}
			return
		}
		for _, f := range m.Fields {
			if f.eq != nil && f.eq(f.ptr(en.ptr), f.ptr(src)) {
				// Unchanged: a reference keeps the entity it holds (the
				// snapshot holds only its key).
				continue
			}
			f.value(en.ptr).Set(f.value(src))
			if f.deep != nil {
				f.deep(f.ptr(en.ptr), f.ptr(src))
			}
			if f.isRef {
				e.bindManagedRef(f, en.ptr)
			}
		}
	}
	e.eachManaged(func(en *entry) {
		if en.state == 0 || e.rec(en.ptr) != en {
			return // detached
		}
		restoreFields(en)
		switch {
		case inRem[en]:
			en.state = stateRemoved
		case en.state == stateRemoved:
			en.state = stateManaged // removed inside the scope, not flushed
		}
	})
	for _, en := range s.pend {
		if en.state != 0 && e.rec(en.ptr) == en {
			restoreFields(en)
		}
	}
	for _, sc := range s.colls {
		*sc.h = sc.c
	}
	keep := func(list []*entry, st entryState) []*entry {
		var out []*entry
		for _, en := range list {
			if e.rec(en.ptr) == en && en.state == st {
				out = append(out, en)
			}
		}
		return out
	}
	e.pending = keep(s.pend, stateNew)
	e.removed = keep(s.rem, stateRemoved)
}

// noteChange records, inside a transaction, the state of a managed entity
// that a find or an upsert is about to overwrite together with its
// snapshot, so that a rollback puts both back. The caller holds e.mu.
func (e *EntityManager) noteChange(en *entry) {
	if e.tx != nil && en.snap != nil {
		e.tx.remember(en)
	}
}

// noteRegistered records that en became known to the manager inside its
// transaction, to be forgotten if that rolls back. The caller holds e.mu.
func (e *EntityManager) noteRegistered(en *entry) {
	if e.tx != nil {
		e.tx.registered = append(e.tx.registered, en)
	}
}

// bindManagedRef points reference f of the entity at p, which a snapshot
// gave back holding only a key, at the entity of that key when this manager
// manages it: a reference to a managed entity is a loaded one, as it was
// before the snapshot was copied back. The caller holds e.mu.
func (e *EntityManager) bindManagedRef(f *FieldMeta, p unsafe.Pointer) {
	h := (*refHeader)(f.ptr(p))
	if h.entity != nil || h.id == nil || isInverseMark(h.id) || f.Ref == nil {
		return
	}
	k, ok := keyFromValue(f.Ref.PK, h.id)
	if !ok {
		return
	}
	if t := e.lookup(f.Ref, k); t != nil && t.state != 0 {
		h.entity, h.id = t.ptr, nil
	}
}
