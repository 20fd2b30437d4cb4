package em

import (
	"context"
	"errors"
	"fmt"
	"reflect"
)

// Lifecycle hooks: an entity implements any of these on its pointer type and
// the unit of work calls them during Flush, inside the flush's transaction.
// An error returned by a Before or After hook aborts the flush (it is rolled
// back and the unit of work is left as it was). Calling Flush from a hook
// returns ErrFlushInHook.
//
// Because they run inside the transaction, the After hooks of a flush that
// then fails, or whose transaction rolls back later, have run for writes
// that never happened, and run again when the flush is retried (MikroORM's
// semantics too). Work that must follow only what was really committed
// (sending mail, publishing an event) belongs in AfterCommitHook, or in a
// Subscriber's AfterCommit event.
type (
	// BeforeCreateHook runs before the entity is inserted.
	BeforeCreateHook interface {
		BeforeCreate(ctx context.Context, e *EntityManager) error
	}
	// AfterCreateHook runs after the entity is inserted and its key set.
	AfterCreateHook interface {
		AfterCreate(ctx context.Context, e *EntityManager) error
	}
	// BeforeUpdateHook runs before a changed entity is updated.
	BeforeUpdateHook interface {
		BeforeUpdate(ctx context.Context, e *EntityManager) error
	}
	// AfterUpdateHook runs after the entity is updated.
	AfterUpdateHook interface {
		AfterUpdate(ctx context.Context, e *EntityManager) error
	}
	// BeforeDeleteHook runs before the entity is deleted.
	BeforeDeleteHook interface {
		BeforeDelete(ctx context.Context, e *EntityManager) error
	}
	// AfterDeleteHook runs after the entity is deleted.
	AfterDeleteHook interface {
		AfterDelete(ctx context.Context, e *EntityManager) error
	}
	// AfterCommitHook runs once for each write of the entity that was
	// committed: after the COMMIT of the flush's own transaction, or of the
	// Begin/Transactional transaction the flush ran in, and never for a
	// write that was rolled back (a failed flush, a rolled-back transaction
	// or savepoint). op is AfterCreate, AfterUpdate or AfterDelete. It runs
	// with the manager unlocked, so it may read through it; a Flush of the
	// manager from it returns ErrFlushInHook (write through a Fork). Its
	// error cannot undo the commit and is logged at Warn level.
	AfterCommitHook interface {
		AfterCommit(ctx context.Context, op EventKind) error
	}
)

type hookMask uint8

const (
	hookBeforeCreate hookMask = 1 << iota
	hookAfterCreate
	hookBeforeUpdate
	hookAfterUpdate
	hookBeforeDelete
	hookAfterDelete
	hookAfterCommit
)

func hooksOf(t reflect.Type) hookMask {
	p := reflect.PointerTo(t)
	var m hookMask
	for bit, iface := range map[hookMask]reflect.Type{
		hookBeforeCreate: reflect.TypeFor[BeforeCreateHook](),
		hookAfterCreate:  reflect.TypeFor[AfterCreateHook](),
		hookBeforeUpdate: reflect.TypeFor[BeforeUpdateHook](),
		hookAfterUpdate:  reflect.TypeFor[AfterUpdateHook](),
		hookBeforeDelete: reflect.TypeFor[BeforeDeleteHook](),
		hookAfterDelete:  reflect.TypeFor[AfterDeleteHook](),
		hookAfterCommit:  reflect.TypeFor[AfterCommitHook](),
	} {
		if p.Implements(iface) {
			m |= bit
		}
	}
	return m
}

// EventKind names a unit-of-work event delivered to subscribers.
type EventKind uint8

// The events a Subscriber receives.
const (
	BeforeCreate EventKind = iota + 1
	AfterCreate
	BeforeUpdate
	AfterUpdate
	BeforeDelete
	AfterDelete
	BeforeFlush       // once per Flush that has changes, before anything is written
	OnFlush           // after change sets are computed, before writing
	AfterFlush        // after every statement of the flush succeeded (still inside its transaction)
	AfterCommit       // after a transaction committed; never for a failed flush
	AfterRollback     // after a transaction rolled back
	BeforeTransaction // after a transaction began
)

var eventNames = map[EventKind]string{
	BeforeCreate: "BeforeCreate", AfterCreate: "AfterCreate", BeforeUpdate: "BeforeUpdate",
	AfterUpdate: "AfterUpdate", BeforeDelete: "BeforeDelete", AfterDelete: "AfterDelete",
	BeforeFlush: "BeforeFlush", OnFlush: "OnFlush", AfterFlush: "AfterFlush",
	AfterCommit: "AfterCommit", AfterRollback: "AfterRollback", BeforeTransaction: "BeforeTransaction",
}

// String returns the event's name.
func (k EventKind) String() string { return eventNames[k] }

// Event is what a Subscriber receives.
type Event struct {
	Kind    EventKind
	Manager *EntityManager
	Entity  any         // the entity, for entity events; nil for flush and transaction events
	Meta    *EntityMeta // its metadata, for entity events
	Changed []string    // properties written, for update events
}

// Subscriber receives unit-of-work events. A non-nil error from a Before or
// On event aborts the flush; errors from After events of a flush abort it too
// (the transaction is not committed yet); AfterCommit and AfterRollback errors
// are logged only, since the outcome is final by then.
type Subscriber interface {
	HandleEvent(ctx context.Context, ev *Event) error
}

// SubscriberFunc adapts a function to a Subscriber.
type SubscriberFunc func(ctx context.Context, ev *Event) error

// HandleEvent calls f.
// A nil f returns an error.
func (f SubscriberFunc) HandleEvent(ctx context.Context, ev *Event) error {
	if f == nil {
		return errors.New("em: nil SubscriberFunc")
	}
	return f(ctx, ev)
}

// commitRec is a write whose entity has an AfterCommitHook, to call once the
// write is committed.
type commitRec struct {
	obj any
	op  EventKind
}

// noteCommits records the writes of p whose entities want AfterCommit.
func (tx *txState) noteCommits(p *plan) {
	for m, list := range p.inserts {
		if m.hooks&hookAfterCommit != 0 {
			for _, en := range list {
				tx.commits = append(tx.commits, commitRec{en.object(), AfterCreate})
			}
		}
	}
	for _, u := range p.updates {
		if u.en.meta.hooks&hookAfterCommit != 0 {
			tx.commits = append(tx.commits, commitRec{u.en.object(), AfterUpdate})
		}
	}
	for m, list := range p.deletes {
		if m.hooks&hookAfterCommit != 0 {
			for _, en := range list {
				tx.commits = append(tx.commits, commitRec{en.object(), AfterDelete})
			}
		}
	}
}

// afterCommit calls the AfterCommit hooks of committed writes, with e.mu
// released; their errors are logged. The caller holds e.mu.
func (e *EntityManager) afterCommit(ctx context.Context, recs []commitRec) {
	if len(recs) == 0 {
		return
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	ctx = hookContext(ctx, e)
	for _, r := range recs {
		if err := r.obj.(AfterCommitHook).AfterCommit(ctx, r.op); err != nil {
			e.orm.log.WarnContext(ctx, "em: AfterCommit hook failed", "entity", reflect.TypeOf(r.obj).Elem().Name(), "op", r.op.String(), "error", err)
		}
	}
}

// Dispatching hooks and events during a flush.

type hookKey struct{}

// hookContext marks ctx as the context of e's hooks and events, so that a
// Flush of e made with it is ErrFlushInHook rather than a deadlock.
func hookContext(ctx context.Context, e *EntityManager) context.Context {
	return context.WithValue(ctx, hookKey{}, e)
}

func inHookOf(ctx context.Context) *EntityManager {
	e, _ := ctx.Value(hookKey{}).(*EntityManager)
	return e
}

// emitUnlocked delivers an event to the subscribers with e.mu released, so
// that they may use the manager. The caller holds e.mu.
func (e *EntityManager) emitUnlocked(ctx context.Context, ev *Event) error {
	if len(e.orm.cfg.Subscribers) == 0 {
		return nil
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	return e.orm.emit(hookContext(ctx, e), ev)
}

// hooks runs the entity hooks and entity events of the plan, Before or After.
// Hooks run without e.mu held (they may read through the manager) and get a
// context with which Flush of this manager is ErrFlushInHook. ran reports
// whether any hook or subscriber was called (and e.mu released).
func (e *EntityManager) hooks(ctx context.Context, p *plan, before bool) (ran bool, err error) {
	type call struct {
		en     *entry
		kind   EventKind
		fields []*FieldMeta
	}
	var calls []call
	subs := len(e.orm.cfg.Subscribers) > 0
	if before {
		if err := e.emitUnlocked(ctx, &Event{Kind: BeforeFlush, Manager: e}); err != nil {
			return subs, err
		}
	}
	wants := func(en *entry, kind EventKind) bool { return subs || en.meta.hooks&hookBit(kind) != 0 }
	order := e.orm.reg.commit
	for _, m := range order {
		for _, en := range p.inserts[m] {
			if k := pick(before, BeforeCreate, AfterCreate); wants(en, k) {
				calls = append(calls, call{en: en, kind: k})
			}
		}
	}
	for _, u := range p.updates {
		if k := pick(before, BeforeUpdate, AfterUpdate); wants(u.en, k) {
			calls = append(calls, call{en: u.en, kind: k, fields: u.fields})
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		for _, en := range p.deletes[order[i]] {
			if k := pick(before, BeforeDelete, AfterDelete); wants(en, k) {
				calls = append(calls, call{en: en, kind: k})
			}
		}
	}
	if len(calls) == 0 {
		return before && subs, nil
	}
	e.mu.Unlock()
	defer e.mu.Lock()
	ctx = hookContext(ctx, e)
	for _, c := range calls {
		if err := runHook(ctx, e, c.en, c.kind); err != nil {
			return true, fmt.Errorf("em: %s hook of %s: %w", c.kind, c.en.meta.Name, err)
		}
		if len(e.orm.cfg.Subscribers) > 0 {
			ev := &Event{Kind: c.kind, Manager: e, Entity: c.en.object(), Meta: c.en.meta}
			for _, f := range c.fields {
				ev.Changed = append(ev.Changed, f.Property)
			}
			if err := e.orm.emit(ctx, ev); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

func hookBit(k EventKind) hookMask {
	switch k {
	case BeforeCreate:
		return hookBeforeCreate
	case AfterCreate:
		return hookAfterCreate
	case BeforeUpdate:
		return hookBeforeUpdate
	case AfterUpdate:
		return hookAfterUpdate
	case BeforeDelete:
		return hookBeforeDelete
	case AfterDelete:
		return hookAfterDelete
	}
	return 0
}

func pick(before bool, a, b EventKind) EventKind {
	if before {
		return a
	}
	return b
}

func runHook(ctx context.Context, e *EntityManager, en *entry, kind EventKind) error {
	obj := en.object()
	switch kind {
	case BeforeCreate:
		if h, ok := obj.(BeforeCreateHook); ok {
			return h.BeforeCreate(ctx, e)
		}
	case AfterCreate:
		if h, ok := obj.(AfterCreateHook); ok {
			return h.AfterCreate(ctx, e)
		}
	case BeforeUpdate:
		if h, ok := obj.(BeforeUpdateHook); ok {
			return h.BeforeUpdate(ctx, e)
		}
	case AfterUpdate:
		if h, ok := obj.(AfterUpdateHook); ok {
			return h.AfterUpdate(ctx, e)
		}
	case BeforeDelete:
		if h, ok := obj.(BeforeDeleteHook); ok {
			return h.BeforeDelete(ctx, e)
		}
	case AfterDelete:
		if h, ok := obj.(AfterDeleteHook); ok {
			return h.AfterDelete(ctx, e)
		}
	}
	return nil
}
