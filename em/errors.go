package em

import (
	"errors"
	"fmt"
)

// This file holds every error of package em: the sentinels a caller tests
// with errors.Is, the typed errors that carry the entity, field and value
// involved, and the package's own unexported ones. (TestErrorsInOneFile
// keeps it so.)

// Sentinel errors. Every typed error of this package matches one of them with
// errors.Is, and carries the entity, field and value involved.
var (
	// ErrMetadata: an entity's mapping is wrong (found at Open).
	ErrMetadata = errors.New("em: invalid entity metadata")
	// ErrNotFound: FindOneOrFail found no row.
	ErrNotFound = errors.New("em: entity not found")
	// ErrUnknownEntity: a type that was not registered with Open.
	ErrUnknownEntity = errors.New("em: unknown entity type")
	// ErrInvalidFilter: a filter names an unknown property or operator.
	ErrInvalidFilter = errors.New("em: invalid filter")
	// ErrOptimisticLock: a versioned entity changed in the database since it was loaded.
	ErrOptimisticLock = errors.New("em: optimistic lock failed")
	// ErrGlobalContext: request work on the root entity manager without AllowGlobalContext.
	ErrGlobalContext = errors.New("em: the root entity manager is not for request work; use Fork()")
	// ErrFlushInHook: Flush of a manager called from one of its lifecycle hooks
	// or event handlers, with the context the hook was given.
	ErrFlushInHook = errors.New("em: Flush called from inside a hook")
	// ErrNotManaged: an operation that needs a managed entity got a detached or new one.
	ErrNotManaged = errors.New("em: entity is not managed")
	// ErrNoTransaction: a pessimistic lock was asked for outside a transaction,
	// or Commit/Rollback without Begin.
	ErrNoTransaction = errors.New("em: no transaction")
	// ErrValidation: an entity cannot be written as it is, or a call's
	// arguments are wrong (*ValidationError).
	ErrValidation = errors.New("em: invalid entity")
	// ErrClosed: the ORM was closed.
	ErrClosed = errors.New("em: closed")
	// ErrSQLiteForeignKeys: Open found foreign key enforcement off on a
	// SQLite database (PRAGMA foreign_keys = 0); see the package doc.
	ErrSQLiteForeignKeys = errors.New("em: SQLite foreign keys are off")
	// ErrNilContext: a call that takes a context got nil. Nothing was sent
	// to the database; pass context.Background() (or context.TODO()) when
	// there is no request context.
	ErrNilContext = errors.New("em: nil context.Context (pass context.Background() when there is no request context)")

	// ErrUniqueViolation and the errors below are database errors translated
	// from any driver; the *DBError wraps the driver's error.
	ErrUniqueViolation     = errors.New("em: unique constraint violated")
	ErrForeignKeyViolation = errors.New("em: foreign key constraint violated")
	ErrNotNullViolation    = errors.New("em: not-null constraint violated")
	ErrDeadlock            = errors.New("em: deadlock detected")
	ErrSerialization       = errors.New("em: serialization failure")
	ErrLockTimeout         = errors.New("em: lock wait timeout")

	// ErrUnsupported: a call the entity manager's backend cannot serve
	// (SQL features on MongoDB).
	ErrUnsupported = errors.New("em: not supported by this backend")
	// ErrTransactionsUnavailable: Begin or Transactional on a backend or
	// server without transactions (MongoDB without a replica set).
	ErrTransactionsUnavailable = errors.New("em: transactions are not available on this server")

	// ErrNotInitialized: the items of a collection that has not been loaded
	// were read. Load it with Collection.Init, or populate it in the find
	// (FindOptions.Populate) — never an empty list by mistake.
	ErrNotInitialized = errors.New("em: collection not initialized")
	// ErrNotLoaded: a reference whose entity has not been loaded was read with
	// Get. Load it (Ref.Load), or populate it in the find (FindOptions.Populate).
	ErrNotLoaded = errors.New("em: reference not loaded")

	// ErrCommitUnknown: the connection failed while COMMIT was on its way, and
	// the store could not tell whether the transaction committed. The unit of
	// work is left as if it had (keys assigned, snapshots taken), so flushing
	// again cannot write its rows twice; reload what the transaction wrote
	// (a fresh fork) before retrying it. On PostgreSQL the outcome is asked of
	// the server, and this error means even that failed.
	ErrCommitUnknown = errors.New("em: the transaction's commit outcome is unknown; reload before retrying")
	// ErrTransactionDead matches the error of every call in a transaction that
	// can no longer go on (a deadlock, a serialization failure, a lost
	// connection, a savepoint that could not be rolled back): the error also
	// matches the one that ended it. Roll the transaction back (Rollback, or
	// return the error from Transactional) and run it again on fresh state.
	ErrTransactionDead = errors.New("em: the transaction is dead; roll it back")
)

// Unexported sentinels: caller mistakes that need no errors.Is of their own.
var (
	// errNilManager is returned for a call on, or with, a nil *EntityManager.
	errNilManager = errors.New("em: nil *EntityManager (get one from ORM.Fork)")
	// errZeroQB is the error of a QueryBuilder not made by QB.
	errZeroQB = errors.New("em: a QueryBuilder needs em.QB to make it")
)

// MetadataError reports a mapping problem of one entity field, found at Open.
type MetadataError struct {
	Entity string // Go type name
	Field  string // Go field name, "" for the entity as a whole
	Reason string
	Err    error // the cause, when there is one (an orm tag that does not parse, a field type em cannot store)
}

// Error describes the problem, naming what it concerns.
func (e *MetadataError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("em: entity %s: %s", e.Entity, e.Reason)
	}
	return fmt.Sprintf("em: entity %s, field %s: %s", e.Entity, e.Field, e.Reason)
}

// Is reports whether target is ErrMetadata.
func (e *MetadataError) Is(target error) bool { return target == ErrMetadata }

// Unwrap returns the cause, nil when there is none.
func (e *MetadataError) Unwrap() error { return e.Err }

// metadataError is the *MetadataError of entity and field whose Reason is
// fmt.Errorf(format, args...); a cause given with %w becomes its Err.
func metadataError(entity, field, format string, args ...any) *MetadataError {
	reason := fmt.Errorf(format, args...)
	return &MetadataError{Entity: entity, Field: field, Reason: reason.Error(), Err: errors.Unwrap(reason)}
}

// NotFoundError is returned by FindOneOrFail when no entity matches.
type NotFoundError struct {
	Entity string
	Filter any // the filter or primary key that matched nothing
}

// Error describes the problem, naming what it concerns.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("em: %s not found (%v)", e.Entity, e.Filter)
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// FilterError reports an unknown property or operator, or a value of the
// wrong shape, in a filter. No query runs.
type FilterError struct {
	Entity   string
	Property string
	Operator string // "" when the property itself is the problem
	Reason   string
}

// Error describes the problem, naming what it concerns.
func (e *FilterError) Error() string {
	if e.Operator != "" {
		return fmt.Sprintf("em: filter on %s.%s: operator %s: %s", e.Entity, e.Property, e.Operator, e.Reason)
	}
	return fmt.Sprintf("em: filter on %s: property %q: %s", e.Entity, e.Property, e.Reason)
}

// Is reports whether target is ErrInvalidFilter.
func (e *FilterError) Is(target error) bool { return target == ErrInvalidFilter }

// OptimisticLockError reports that a versioned entity was changed or deleted
// by someone else since it was loaded. The whole flush was rolled back.
type OptimisticLockError struct {
	Entity          string
	ID              any // primary key
	ExpectedVersion any // the version the entity was loaded with
	ActualVersion   any // the version now in the database, nil if the row is gone
}

// Error describes the problem, naming what it concerns.
func (e *OptimisticLockError) Error() string {
	if e.ActualVersion == nil {
		return fmt.Sprintf("em: optimistic lock failed: %s %v was deleted (expected version %v)", e.Entity, e.ID, e.ExpectedVersion)
	}
	return fmt.Sprintf("em: optimistic lock failed: %s %v has version %v, expected %v", e.Entity, e.ID, e.ActualVersion, e.ExpectedVersion)
}

// Is reports whether target is ErrOptimisticLock.
func (e *OptimisticLockError) Is(target error) bool { return target == ErrOptimisticLock }

// DBError is a database error translated into a kind a caller can test with
// errors.Is (ErrUniqueViolation, ErrForeignKeyViolation, ErrNotNullViolation,
// ErrDeadlock, ErrSerialization, ErrLockTimeout) whatever the driver. It wraps
// the driver's own error, so errors.As still reaches *pgconn.PgError and the
// like.
type DBError struct {
	Kind       error  // one of the sentinels above
	Entity     string // the entity being written, when known
	Constraint string // the constraint or index name, when the driver says
	Err        error  // the driver's error
}

// Error describes the problem, naming what it concerns.
func (e *DBError) Error() string {
	s := "em: database error"
	if e.Kind != nil {
		s = e.Kind.Error()
	}
	if e.Entity != "" {
		s += " (" + e.Entity + ")"
	}
	if e.Constraint != "" {
		s += " [" + e.Constraint + "]"
	}
	if e.Err == nil {
		return s
	}
	return s + ": " + e.Err.Error()
}

// Is reports whether target is the error's kind.
func (e *DBError) Is(target error) bool { return target == e.Kind }

// Unwrap returns the driver's error.
func (e *DBError) Unwrap() error { return e.Err }

// Retryable reports whether the transaction may succeed if run again
// (deadlocks and serialization failures).
func (e *DBError) Retryable() bool { return e.Kind == ErrDeadlock || e.Kind == ErrSerialization }

// ValidationError reports an entity that cannot be written as it is, found
// before any statement runs, or a call refused for its arguments before it
// did anything (Op names the call).
type ValidationError struct {
	// Op is the call refused for its arguments ("Find[Book]",
	// "EntityRepository[Book].FindOne"); "" when an entity is invalid.
	Op     string
	Entity string
	Field  string // the entity's field; with Op, the refused parameter
	Value  any    // the primary key of the entity, when it has one; with Op, what was passed
	Reason string
}

// Error describes the problem, naming the entity and field, or the call.
func (e *ValidationError) Error() string {
	if e.Op != "" {
		return fmt.Sprintf("em: %s: %s", e.Op, e.Reason)
	}
	return fmt.Sprintf("em: %s %v, field %s: %s", e.Entity, e.Value, e.Field, e.Reason)
}

// Is reports whether target is ErrValidation.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// txDeadError is what every call in a dead transaction returns. It
// matches the original error with errors.Is/As.
type txDeadError struct {
	Cause error // the statement's error that ended the transaction
}

// Error says what happened and what to do.
func (e *txDeadError) Error() string {
	return "em: the transaction is dead and must be rolled back (Rollback, or retry the whole transaction): an earlier statement in it failed: " + e.Cause.Error()
}

// Unwrap returns the error that ended the transaction.
func (e *txDeadError) Unwrap() error { return e.Cause }

// Is reports whether target is ErrTransactionDead.
func (e *txDeadError) Is(target error) bool { return target == ErrTransactionDead }

// staleBatch is the error of a versioned write whose affected-row count
// was short: some entity of chunk was changed or deleted by another writer.
// Flush turns it into an *OptimisticLockError after the rollback
// (resolveStale).
type staleBatch struct {
	m     *EntityMeta
	chunk []*entry
}

func (s *staleBatch) Error() string {
	return fmt.Sprintf("em: optimistic lock failed: a %s of a batch of %d was changed or deleted by another writer", s.m.Name, len(s.chunk))
}

func (s *staleBatch) Is(target error) bool { return target == ErrOptimisticLock }
