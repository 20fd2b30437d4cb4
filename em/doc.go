// Package em is mikro's entity manager: a data mapper with an identity map
// and a unit of work, on PostgreSQL, MySQL/MariaDB and SQLite through
// database/sql (and on MongoDB through the mongo module).
//
// Entities are plain structs. Columns come from the db tag, so an sqlx
// struct works as it is; mapping options come from the orm tag:
//
//	type Author struct {
//		ID      int64     `db:"id" orm:"pk"`                 // auto-increment
//		Name    string    `db:"name" orm:"unique,length=100"`
//		Email   *string   `db:"email"`                       // pointer: nullable
//		Version int       `db:"version" orm:"version"`       // optimistic lock
//		Created time.Time `db:"created" orm:"onCreate=now"`
//	}
//
// Metadata is built and checked once, at Open; nothing reads tags afterwards.
// Rows are scanned straight into the fields of new structs.
//
// # Unit of work
//
// An EntityManager (one per request: ORM.Fork, or the Middleware) tracks
// every entity it loads or is given to Persist. Flush compares each managed
// entity with the snapshot taken when it was loaded or last flushed and
// writes only what changed, in one transaction: multi-row INSERTs per type
// (parents first), one UPDATE per type and set of changed columns, one
// DELETE … IN per type (children first), chunked to the database's parameter
// limit. With nothing changed, Flush runs no statement at all. Comparing
// costs a few nanoseconds per managed entity; a manager that holds many
// entities and changes few can set Config.ChangeTracking to
// ChangeTrackingExplicit, and Flush then compares only the entities passed
// to Persist since the last flush.
//
// If a flush fails, its transaction is rolled back and the unit of work is
// exactly as it was before the call: no keys assigned, no snapshots
// refreshed, removed entities still marked removed. Fix the cause and call
// Flush again, or drop the manager. The same holds for a transaction begun
// with Begin or Transactional that rolls back: every flush inside it is
// undone in memory too.
//
// Generated keys: PostgreSQL, SQLite and MariaDB return them with RETURNING.
// MySQL has no RETURNING; the keys of a multi-row INSERT are taken as
// consecutive from LAST_INSERT_ID(), which InnoDB guarantees for a simple
// INSERT when auto_increment_increment is 1.
//
// # Contexts and caller mistakes
//
// Every call that can reach the database takes a context first. A nil
// context is refused with an error matching ErrNilContext before anything
// reaches the connection pool; pass context.Background() when there is no
// request context. A caller's mistake (a nil or unregistered entity, a
// value of the wrong type, a nil manager, a zero Ref, Collection or
// QueryBuilder) is returned as an error naming what was wrong, never a
// panic.
//
// # Identity map
//
// Each manager holds at most one instance per primary key: two finds of the
// same row return the same pointer, and FindOne by primary key of a managed
// entity answers without a query. A find never overwrites a managed
// entity's values (they may hold unflushed changes) unless FindOptions.Refresh
// is set.
package em
