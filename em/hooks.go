package em

import (
	"context"
	"errors"
	"reflect"
)

// Lifecycle hooks: an entity implements any of these on its pointer type and
// the unit of work calls them during Flush, inside the flush's transaction.
// An error returned by a Before hook aborts the flush (it is rolled back and
// the unit of work is left as it was). Calling Flush from a hook returns
// ErrFlushInHook.
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
)

type hookMask uint8

const (
	hookBeforeCreate hookMask = 1 << iota
	hookAfterCreate
	hookBeforeUpdate
	hookAfterUpdate
	hookBeforeDelete
	hookAfterDelete
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
