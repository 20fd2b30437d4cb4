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
// # Writes outside the unit of work
//
// NativeInsert, NativeUpdate and NativeDelete write rows directly, by
// property names and the filters of Find, and return the new key or the
// number of rows affected; nothing is managed and no hook runs. Upsert and
// UpsertMany insert an entity or update the row with the same onConflict
// values (a unique key, or the primary key) and make the entity the
// managed instance of its row, with the row's values and generated key; an
// instance of that row already managed gets the values and is returned.
// They work alike on every store, MongoDB included (insertOne,
// updateMany, deleteMany, and updates with upsert: true whose filter is
// the onConflict values, which need a unique index there; see the mongo
// package). A Backend other than MongoDB's runs them if it implements
// NativeBackend, and returns ErrUnsupported otherwise.
//
// # Failures and rollbacks: the contract
//
// These hold on PostgreSQL, MySQL/MariaDB and SQLite, and on MongoDB where
// the server has transactions (a replica set or mongos); the model-based
// test in emtest checks them after every step of random operation
// sequences with injected faults.
//
// A Flush that fails (the database refused a statement, a hook failed, the
// context ended, the connection died) leaves the unit of work exactly as it
// was before the call: the same entities managed, in the same states (new,
// managed, removed), with the same field values and snapshots, no generated
// keys assigned. Outside a transaction nothing of it is in the database;
// inside one, its writes are undone by a savepoint and the transaction goes
// on. Fix the cause and call Flush again: each intended row is written
// once. A versioned update or delete of several rows runs in a transaction
// even where a single statement would otherwise run alone, so that an
// *OptimisticLockError (which names the entity that was really stale)
// leaves every row of the batch unwritten.
//
// A transaction that rolls back (Transactional's callback returned an error
// or panicked, Rollback was called, or Commit failed) discards in memory
// what was done inside it: entities persisted or first loaded inside are no
// longer managed, and entities managed before it get back the field values,
// snapshots, collections and new/removed state they had when it began,
// changes made to them inside included. Nothing of it is written by a later
// flush. A nested Transactional runs in a savepoint; if it fails, the same
// happens to its own part only, and the outer transaction goes on.
// Detach and Clear inside a transaction are not undone.
//
// After a deadlock, a serialization failure, a lost connection, a context
// that ended while a statement ran, or a savepoint that could not be rolled
// back, the transaction is dead on every dialect: the server has rolled it
// back (or em can no longer tell what it holds), so every later call in it
// (Find, Count, Flush, QB, a nested Transactional, Commit) returns an error
// matching both ErrTransactionDead and the error that ended it, and nothing
// is ever sent in autocommit mode on its connection. Commit then rolls back
// and returns that error; Rollback succeeds; the unit of work is put back
// as the rollback contract says. Deadlocks and serialization failures are
// Retryable(): TransactionalRetry runs a transaction's callback again on a
// new fork, with jittered exponential backoff, each retry logged at Warn
// level. That is the documented way to run transactions under SERIALIZABLE
// isolation, or on distributed SQL engines that ask clients to retry
// (SQLSTATE 40001).
//
// A COMMIT is never reported as "nothing happened" when it may have
// happened. It is sent with a context the caller's deadline cannot
// interrupt (a context already done before it rolls back instead, with the
// context's error: the outcome is known). If the connection fails during
// it, PostgreSQL is asked for the outcome (txid_current() read before the
// COMMIT of a transaction that wrote, txid_status() after): committed is a
// success, aborted a rollback. Where the outcome cannot be learnt (MySQL,
// MariaDB, SQLite, or PostgreSQL unreachable) the error matches
// ErrCommitUnknown and the unit of work is left as if the commit succeeded,
// so a retry cannot write the rows twice: reload (a new fork) before
// deciding what to write again. For the same reason a flush of one
// statement, which otherwise runs alone without BEGIN and COMMIT, runs in a
// transaction when its context can end (ctx.Done() is not nil): a deadline
// that cut an autocommit statement off as it completed would leave its
// outcome unknown.
//
// On a store without transactions (MongoDB standalone, FerretDB) Begin and
// Transactional return an error matching ErrTransactionsUnavailable, and a
// flush of several writes is not all or nothing: the writes the server
// applied before a failure stay applied and their entities are marked
// persisted; the rest stays pending, so a retry writes each remaining
// document once.
//
// Generated keys: PostgreSQL, SQLite and MariaDB return them with RETURNING.
// MySQL has no RETURNING; the keys of a multi-row INSERT are taken as
// consecutive from LAST_INSERT_ID(), which InnoDB guarantees for a simple
// INSERT when auto_increment_increment is 1.
//
// # SQLite
//
// Foreign keys: SQLite enforces them only on connections that turn them on
// (PRAGMA foreign_keys), and without them the schema's ON DELETE CASCADE
// leaves pivot rows behind their owner. Open with Driver and DSN adds
// _pragma=foreign_keys(1) (modernc.org/sqlite; _foreign_keys=1 for driver
// "sqlite3", mattn/go-sqlite3) to the DSN, so that every connection of the
// pool has them, unless the DSN already says something about foreign keys.
// A pool passed as Config.DB cannot be changed that way (a PRAGMA run by em
// would reach one of its connections, not those it opens later), so Open
// reads PRAGMA foreign_keys and, if it is off, returns an error matching
// ErrSQLiteForeignKeys that says how to turn it on in the DSN.
//
// Times: SQLite has no time type; a time is text, compared as text. em
// binds every time.Time (and *time.Time, and a driver.Valuer whose value
// is a time.Time, such as sql.NullTime) as UTC text in the form of
// SQLite's own functions, 'YYYY-MM-DD HH:MM:SS' as datetime() and
// CURRENT_TIMESTAMP write it, followed by the fraction of a second only
// when there is one ('2021-01-01 00:00:00.25'), whichever way the ORM was
// opened. Range filters, equality and ORDER BY therefore agree with rows
// that other programs (the sqlite3 shell, another driver) wrote in that
// form, and date(), strftime() and the other functions read what em
// wrote. (The driver's own _time_format options do not do this: "sqlite"
// appends the zone, '…00:00:00+00:00', which is not equal, as text, to the
// same instant without it; "datetime" drops the fraction; the default is
// Go's time.String.) Text in another form, with 'T', 'Z', a zone or a
// different number of fractional digits, is read correctly but compared as
// text, so keep one form in a column that is filtered on. Times bound
// directly on ORM.DB() are the driver's business, not em's.
//
// Reading, a time.Time or *time.Time field accepts what the driver gives
// for a column declared DATETIME, DATE or TIMESTAMP and the text of any
// column, in every form SQLite's date functions accept
// (YYYY-MM-DD[( |T)HH:MM[:SS[.fff…]]][Z|±HH:MM]) and in time.String's form
// (which earlier versions stored), and always holds the instant in UTC:
// '2021-01-01 08:00:00+02:00' reads as 06:00 UTC, and text without a zone
// is taken as UTC.
//
// # Reading values
//
// Every read path (finds, populate with either strategy, refresh) scans a
// column into a field through the same destination, so a value converts
// the same way everywhere: with database/sql the conversions of Rows.Scan
// (a number into a string field, text into a number, 0/1 into a bool), on
// native pgx those of pgx.
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
