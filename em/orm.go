package em

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// Config configures Open. Zero values are the documented defaults.
type Config struct {
	// DB is an open pool of any database/sql driver (pgx's stdlib,
	// go-sql-driver/mysql, modernc.org/sqlite, …). If nil, Open opens
	// Driver with DSN and closes it again on Close. On SQLite, Open turns
	// foreign keys on in a DSN it opens and refuses a DB that has them off
	// (ErrSQLiteForeignKeys; see "SQLite" in the package doc).
	DB     *sql.DB
	Driver string // database/sql driver name for DSN: "pgx", "mysql", "sqlite"
	DSN    string

	// Dialect is the SQL dialect. Required with DB; with Driver it defaults to
	// the driver's dialect ("pgx"/"postgres" → Postgres, "mysql" → MySQL,
	// "sqlite"/"sqlite3" → SQLite). Use qb.MariaDB for MariaDB: it has
	// RETURNING, which flushes use.
	Dialect *qb.Dialect

	// Entities lists the entity types: a value or a nil pointer of each,
	// e.g. []any{(*User)(nil), Post{}}.
	Entities []any
	// Schemas declares entities in code instead of tags.
	Schemas []*Schema
	// Naming turns Go names into table and column names; SnakeCase by default.
	Naming NamingStrategy

	// BatchSize is the largest number of rows one INSERT or UPDATE statement
	// of a flush carries (default 300); each statement also stays under the
	// database's parameter limit.
	BatchSize int

	// Logger receives warnings, and with Debug every query with its
	// parameters and duration at level Debug. Default: slog.Default().
	Logger *slog.Logger
	// Debug logs every query ("em: query", with its parameters, duration
	// and error) at level Debug on Logger. Without a Logger, the queries
	// are printed to standard error at any level, so that Debug alone shows
	// them (slog.Default() would drop Debug records); warnings still go to
	// slog.Default().
	Debug bool

	// Generators adds value generators for orm:"onCreate=…"/"onUpdate=…";
	// "now" is built in: the current UTC time, truncated to the precision
	// the store keeps (microseconds on SQL, milliseconds on MongoDB: see
	// Backend.TimePrecision), so that it reads back as it was generated.
	Generators map[string]func() any

	// Subscribers receive unit-of-work and transaction events.
	Subscribers []Subscriber

	// PopulateStrategy is the default of FindOptions.Strategy: SelectIn
	// unless set to Joined.
	PopulateStrategy PopulateStrategy

	// BatchFetch, above 1, makes Ref.Load batch: loading a referenced entity
	// that is not managed also loads, in the same query, up to BatchFetch-1
	// other entities of its type that managed entities refer to without
	// holding, and binds those references (Hibernate's batch fetching; the
	// dataloader of MikroORM). A loop of Loads over many entities then costs
	// one query per BatchFetch references instead of one each. Off (0) by
	// default: each Load reads one row.
	BatchFetch int

	// ChangeTracking is how Flush finds the changes of managed entities:
	// by comparing every one with its snapshot (ChangeTrackingImplicit, the
	// default) or only those passed to Persist since the last flush
	// (ChangeTrackingExplicit). An entity type's own policy (see
	// ChangeTracking) takes precedence.
	ChangeTracking ChangeTracking

	// AllowGlobalContext lets the root entity manager (ORM.EM) do request
	// work. Off by default: use a fork per request or unit of work.
	AllowGlobalContext bool
}

// ChangeTracking is a policy for finding the changes of managed entities
// (Doctrine's change tracking policies). Config.ChangeTracking sets it for
// every entity type; a type can choose its own with a method
//
//	func (Event) ChangeTracking() em.ChangeTracking { return em.ChangeTrackingExplicit }
//
// or Schema.ChangeTracking.
type ChangeTracking uint8

const (
	// ChangeTrackingImplicit: Flush compares every managed entity with its
	// snapshot, so a change to any field of any managed entity is written.
	// A flush costs a few nanoseconds per managed entity (a byte comparison
	// for entities of plain fields), dirty or not.
	ChangeTrackingImplicit ChangeTracking = iota
	// ChangeTrackingExplicit: Flush compares only the managed entities
	// passed to Persist (or Assign, or Merge onto them) since the last
	// successful flush, and
	// cascades persist from those only; the changes of any other managed
	// entity, its collections included, are not written until it is
	// persisted. A flush then costs in proportion to the entities marked,
	// not to those managed: for managers that hold many entities and
	// change few (Doctrine's DEFERRED_EXPLICIT).
	ChangeTrackingExplicit
)

// ORM is an opened mapper: the metadata of every entity, the connection pool
// and the root entity manager. It is safe for concurrent use; the entity
// managers it makes are not meant to be shared between requests.
type ORM struct {
	cfg     Config
	db      *sql.DB // nil when running on another connection type (pgx)
	conn    dbconn.DB
	backend Backend // nil: SQL through conn
	ownDB   bool
	sqlite  bool // times are bound as SQLite text (sqliteArgs)
	dialect *qb.Dialect
	reg     *registry
	log     *slog.Logger // warnings
	qlog    *slog.Logger // queries, under Config.Debug
	gens    map[string]func() any
	root    *EntityManager
	closed  atomic.Bool
	// anyExplicit: some entity type is under ChangeTrackingExplicit, so
	// not every managed entity is in EntityManager.tracked.
	anyExplicit bool

	// insertCache holds the text of multi-row INSERTs by shape: the same
	// columns and row count give the same SQL, so flushes build it once.
	insertCache sync.Map // insertShape → string
	// maxPacket is the server's max_allowed_packet on MySQL and MariaDB, 0
	// until read (see packetBudget).
	maxPacket atomic.Int64
}

type insertShape struct {
	m         *EntityMeta
	cols      string
	rows      int
	returning bool
}

// insertSQL returns the INSERT of rows rows into cols of m (DEFAULT VALUES
// for no columns), with RETURNING of the key if asked, built by qb once per
// shape.
func (o *ORM) insertSQL(m *EntityMeta, cols []string, rows int, returning bool) (string, error) {
	key := insertShape{m: m, cols: strings.Join(cols, "\x00"), rows: rows, returning: returning}
	if s, ok := o.insertCache.Load(key); ok {
		return s.(string), nil
	}
	q := o.dialect.InsertInto(m.Table)
	if len(cols) == 0 {
		q = q.DefaultValues()
	} else {
		q = q.Columns(cols...)
		row := make([]any, len(cols))
		for range rows {
			q = q.Values(row...)
		}
	}
	if returning {
		q = q.Returning(m.PK.Column)
	}
	s, _, err := q.Build()
	if err != nil {
		return "", err
	}
	o.insertCache.Store(key, s)
	return s, nil
}

// applyTracking sets the change tracking policy in force for every entity
// type: its own, or Config.ChangeTracking.
func (o *ORM) applyTracking() {
	for _, m := range o.reg.order {
		p := o.cfg.ChangeTracking
		if m.trackingSet {
			p = m.tracking
		}
		m.explicit = p == ChangeTrackingExplicit
		o.anyExplicit = o.anyExplicit || m.explicit
	}
}

// sqlTimePrecision is the finest time the SQL stores keep as em declares
// them: microseconds, those of TIMESTAMPTZ and DATETIME(6) (baseType).
// SQLite's text keeps any fraction and is held to the same, so that a time
// reads back alike on every SQL database.
const sqlTimePrecision = time.Microsecond

// check refuses settings that are out of range, before anything is opened.
func (c *Config) check() error {
	if c.ChangeTracking > ChangeTrackingExplicit {
		return fmt.Errorf("em: Config.ChangeTracking %d is not a ChangeTracking policy", c.ChangeTracking)
	}
	for i, s := range c.Subscribers {
		if f, isFunc := s.(SubscriberFunc); s == nil || isFunc && f == nil {
			return fmt.Errorf("em: Config.Subscribers[%d] is nil", i)
		}
	}
	return nil
}

// Open builds and validates the metadata of every entity and connects. It
// returns a *MetadataError (errors.Is ErrMetadata) naming the entity and field
// of the first mapping problem, or the connection error.
func Open(ctx context.Context, cfg Config) (*ORM, error) {
	return open(ctx, nil, cfg)
}

// OpenConn is Open on a connection that is not a database/sql pool: one of a
// driver module such as em/pgxdriver, or a program's own implementation or
// wrapper of package dbconn. Config.DB, Driver and DSN are ignored;
// Config.Dialect is required. It returns the errors Open returns, and one
// when conn is nil.
func OpenConn(ctx context.Context, conn dbconn.DB, cfg Config) (*ORM, error) {
	if conn == nil {
		return nil, errors.New("em: OpenConn needs a connection")
	}
	if cfg.Dialect == nil {
		return nil, errors.New("em: OpenConn needs Config.Dialect")
	}
	cfg.DB, cfg.Driver, cfg.DSN = nil, "", ""
	return open(ctx, conn, cfg)
}

func open(ctx context.Context, conn dbconn.DB, cfg Config) (*ORM, error) {
	if ctx == nil {
		return nil, ErrNilContext
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	o := &ORM{cfg: cfg, db: cfg.DB, conn: conn, dialect: cfg.Dialect}
	o.log, o.qlog = loggers(cfg)
	if cfg.Naming == nil {
		o.cfg.Naming = SnakeCase{}
	}
	if cfg.BatchSize <= 0 {
		o.cfg.BatchSize = 300
	}
	gens, err := generators(cfg.Generators, sqlTimePrecision)
	if err != nil {
		return nil, err
	}
	o.gens = gens
	if o.dialect == nil {
		switch strings.ToLower(cfg.Driver) {
		case "pgx", "postgres", "postgresql":
			o.dialect = qb.Postgres
		case "mysql":
			o.dialect = qb.MySQL
		case "sqlite", "sqlite3":
			o.dialect = qb.SQLite
		default:
			return nil, fmt.Errorf("em: Config.Dialect is required (driver %q has no known dialect)", cfg.Driver)
		}
	}
	reg, err := buildRegistry(cfg.Entities, cfg.Schemas, o.cfg.Naming, o.gens)
	if err != nil {
		return nil, err
	}
	o.reg = reg
	o.applyTracking()
	if o.conn == nil && o.db == nil {
		if cfg.Driver == "" || cfg.DSN == "" {
			return nil, errors.New("em: Config needs DB, or Driver and DSN")
		}
		dsn := cfg.DSN
		if o.dialect == qb.SQLite {
			dsn = sqliteDSN(cfg.Driver, dsn)
		}
		db, err := sql.Open(cfg.Driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("em: open %s: %w", cfg.Driver, err)
		}
		o.db, o.ownDB = db, true
		if o.dialect == qb.SQLite && strings.Contains(cfg.DSN, ":memory:") {
			// Every connection to :memory: is a different database: keep one.
			db.SetMaxOpenConns(1)
		}
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("em: connect %s: %w", cfg.Driver, err)
		}
	}
	if o.conn == nil {
		o.conn = dbconn.SQL(o.db)
	}
	if o.dialect == qb.SQLite {
		if err := checkSQLiteForeignKeys(ctx, o.conn); err != nil {
			if o.ownDB {
				_ = o.conn.Close()
			}
			return nil, err
		}
		o.sqlite = true
		reg.useSQLiteTimes()
	}
	for _, m := range reg.order {
		cols := make([]any, len(m.Fields))
		for i, f := range m.Fields {
			cols[i] = f.Column
		}
		m.columnList = cols
		if m.byPKSQL, _, err = o.dialect.Select(cols...).From(m.Table).Where(qb.Eq(m.PK.Column, 0)).Limit(1).Build(); err != nil {
			return nil, err
		}
	}
	o.root = newManager(o, true)
	return o, nil
}

// Close closes the connection pool if Open opened it.
func (o *ORM) Close() error {
	if o.closed.Swap(true) {
		return nil
	}
	if o.backend != nil {
		return o.backend.Close(context.Background())
	}
	if o.ownDB {
		return o.conn.Close()
	}
	return nil
}

// DB returns the database/sql pool the ORM runs on, or nil when it runs on
// another connection type (em/pgxdriver).
func (o *ORM) DB() *sql.DB { return o.db }

// Dialect returns the SQL dialect.
func (o *ORM) Dialect() *qb.Dialect { return o.dialect }

// EM returns the root entity manager. It refuses request work (ErrGlobalContext)
// unless Config.AllowGlobalContext is set or the context carries a fork (see
// Middleware); use Fork for a unit of work of your own.
func (o *ORM) EM() *EntityManager { return o.root }

// Fork returns a new entity manager with an empty identity map and unit of
// work, on the same connection pool.
func (o *ORM) Fork() *EntityManager { return newManager(o, false) }

// Meta returns the metadata of the entity type of v (a value or pointer), or
// an error matching ErrUnknownEntity.
func (o *ORM) Meta(v any) (*EntityMeta, error) { return o.metaOf(v) }

// Metas returns the metadata of every entity, in registration order.
func (o *ORM) Metas() []*EntityMeta { return append([]*EntityMeta(nil), o.reg.order...) }

// querier is what runs statements: the pool or a transaction.
type querier = dbconn.Querier

// loggers returns the logger of warnings and the logger of queries for cfg:
// Config.Logger for both, or slog.Default() for warnings and, under Debug,
// a handler printing queries to standard error whatever their level.
func loggers(cfg Config) (warn, queries *slog.Logger) {
	if cfg.Logger != nil {
		return cfg.Logger, cfg.Logger
	}
	warn = slog.Default()
	if !cfg.Debug {
		return warn, warn
	}
	return warn, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logQuery logs a statement in debug mode.
func (o *ORM) logQuery(ctx context.Context, query string, args []any, start time.Time, err error) {
	if !o.cfg.Debug {
		return
	}
	attrs := []slog.Attr{slog.String("sql", query), slog.Any("args", args), slog.Duration("took", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	o.qlog.LogAttrs(ctx, slog.LevelDebug, "em: query", attrs...)
}

func (o *ORM) exec(ctx context.Context, q querier, query string, args []any) (dbconn.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing is sent, or logged, for a context already done
	}
	var start time.Time
	if o.cfg.Debug {
		start = time.Now()
	}
	if o.sqlite {
		args = sqliteArgs(args)
	}
	res, err := q.Exec(ctx, query, args)
	o.logQuery(ctx, query, args, start, err)
	return res, err
}

func (o *ORM) query(ctx context.Context, q querier, query string, args []any) (dbconn.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing is sent, or logged, for a context already done
	}
	var start time.Time
	if o.cfg.Debug {
		start = time.Now()
	}
	if o.sqlite {
		args = sqliteArgs(args)
	}
	rows, err := q.Query(ctx, query, args)
	o.logQuery(ctx, query, args, start, err)
	return rows, err
}

func (o *ORM) emit(ctx context.Context, ev *Event) error {
	for _, s := range o.cfg.Subscribers {
		if err := s.HandleEvent(ctx, ev); err != nil {
			return fmt.Errorf("em: %s subscriber: %w", ev.Kind, err)
		}
	}
	return nil
}
