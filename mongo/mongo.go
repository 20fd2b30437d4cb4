// Package mongo runs mikro's entity manager on MongoDB: the same entity
// structs, metadata, identity map, unit of work, hooks, references,
// collections and select-in populate as on SQL, through em's own functions
// (em.Find, em.FindOne, e.Persist, e.Flush …). Only opening differs:
//
//	client, err := mongo.Connect(options.Client().ApplyURI(uri)) // the driver's
//	orm, err := mikromongo.Open(ctx, client.Database("app"), em.Config{Entities: …})
//	e := orm.Fork()
//	books, err := em.Find[Book](ctx, e, em.F{"price": em.Gt(10)})
//
// # Mapping
//
// A collection per entity, named like the SQL table (naming strategy or a
// TableName method); a field per column, named like the column. The
// primary key is stored as _id. A string key that is neither orm:"uuid"
// nor orm:"assigned" is an ObjectID: Persist gives a new entity a fresh one
// (its hex form in the struct, the ObjectID in the document), and
// references to such entities are stored as ObjectIDs too. An integer key
// that is not orm:"assigned" is taken from a sequence collection
// (mikro_sequences; see below), as SQL takes it from an identity column.
// Nil pointers and NULL
// values are left out of documents (a missing field reads as the zero
// value, and matches a nil filter value). JSON fields (orm:"type=json") are
// stored as BSON documents and arrays.
//
// # Writes, transactions and failures
//
// Flush writes one ordered BulkWrite per run of operations on the same
// collection: inserts, then $set/$unset of the changed fields of updates
// ({_id, version} filters for versioned entities; no match is an
// *em.OptimisticLockError), then many-to-many links, then deletes.
// Integer keys that are not assigned come from a sequence collection
// (mikro_sequences), reserved in one $inc per collection and flush,
// outside any transaction (like SQL sequences, so that concurrent flushes
// do not conflict on the sequence; a key of a rolled-back flush is not
// reused).
//
// A many-to-many collection is stored on the owning document as an array of
// the items' keys, under the collection's property name ("tags"); links are
// added with $addToSet and removed with $pullAll, so applying them twice is
// harmless. Deleting an owner deletes its links with it; deleting an item
// leaves its key in owners' arrays, where loading skips it.
//
// On a server with transactions (a replica set member, MongoDB 4.0 and
// later, or a mongos, 4.2 and later; the server is asked once, with hello),
// a Flush runs in a session transaction, as on SQL (except a flush of a
// single write with no hooks or subscribers, atomic on its own):
// it commits all of its writes or none, and on failure the unit of work is
// exactly as before the call. Begin, Commit, Rollback and Transactional
// hold a session transaction open around the manager's reads and flushes.
// There are no savepoints: Transactional inside a transaction returns an
// error matching em.ErrUnsupported, and a Flush that fails inside a
// transaction dooms it (the unit of work goes back to before that flush;
// Commit then rolls back and returns the flush's error). A write conflict
// or an election during a transaction is an *em.DBError matching
// em.ErrSerialization, whose Retryable method says to run the transaction
// again. A commit whose outcome the server could not report is retried,
// at most three times.
//
// On a server without transactions (a standalone server, FerretDB), a
// flush that fails leaves the writes before the failing one in the
// database, and the unit of work agrees with the database: the entities
// whose writes were applied are managed with their new state, the failing
// one and those after it are as before the flush, so Flush can be called
// again once the cause is fixed. Transactional and Begin return an error
// matching em.ErrTransactionsUnavailable.
//
// A duplicate key is an *em.DBError matching em.ErrUniqueViolation.
//
// # Native operations and upserts
//
// em.NativeInsert is one insertOne of the fields given (values converted
// to the fields' types, NULLs left out), with a generated key as Flush
// makes one (an ObjectID, or the next integer of mikro_sequences); it
// returns the key. em.NativeUpdate is one updateMany ($set, $unset for
// NULL) and returns the number of documents matched; em.NativeDelete is
// one deleteMany and returns the number deleted. Their filters are those
// of em.Find. MongoDB has no schema, so the entity manager refuses NULL,
// or no value at all in NativeInsert, for a field that is not nullable,
// with an *em.DBError matching em.ErrNotNullViolation as a NOT NULL column
// would; a field left to a SQL default (orm:"default=…") and a change of
// the primary key (_id is immutable) are errors matching
// em.ErrUnsupported that name the entity and the field.
//
// em.Upsert and em.UpsertMany write one ordered bulk write of updates with
// upsert: true per thousand entities, then read the documents back by
// their onConflict values. The filter of each is the entity's onConflict
// values; $set and $unset store the fields an update overwrites (all but
// the onConflict ones, the key and the onCreate ones), $setOnInsert the
// others of a new document (with a key reserved from mikro_sequences for
// an integer key; a key reserved for an entity that was found is not used
// again). The onConflict fields other than the key need a unique index of
// exactly those fields in the collection, so that one document is found
// and concurrent upserts cannot store two: declare it in the mapping
// (orm:"unique") and create it with EnsureIndexes; without one, Upsert
// writes nothing and returns an *em.FilterError that says so. The upserted
// entities are then managed as on SQL.
//
// # Not supported (yet)
//
// The joined populate strategy, pessimistic locks, savepoints (see
// above), and the calls that are SQL by nature (QB, the SQL schema
// generator) return errors matching em.ErrUnsupported. Per-owner populate
// limits read every item of the owners and keep the first ones.
package mongo

import (
	"context"
	"errors"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Open opens an ORM whose entity managers store entities in db. The
// client stays the caller's: close it after the ORM. It returns a
// *em.MetadataError for a mapping MongoDB cannot store.
func Open(ctx context.Context, db *mongo.Database, cfg em.Config) (*em.ORM, error) {
	if db == nil {
		return nil, errors.New("mongo: Open needs a database")
	}
	return em.OpenBackend(ctx, &backend{db: db}, cfg)
}

// EnsureIndexes creates the unique and plain indexes of every entity of
// orm (an ORM opened with Open), under their metadata names; indexes that
// exist already are left as they are. It is the MongoDB counterpart of the
// SQL schema generator.
func EnsureIndexes(ctx context.Context, orm *em.ORM) error {
	if ctx == nil {
		return em.ErrNilContext
	}
	if orm == nil {
		return errors.New("mongo: EnsureIndexes needs an ORM opened by mongo.Open, got nil")
	}
	b, ok := orm.Backend().(*backend)
	if !ok {
		return errors.New("mongo: EnsureIndexes needs an ORM opened by mongo.Open")
	}
	for _, m := range orm.Metas() {
		var models []mongo.IndexModel
		for _, ix := range m.Indexes {
			keys := bson.D{}
			for _, c := range ix.Columns {
				keys = append(keys, bson.E{Key: c, Value: 1})
			}
			models = append(models, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(ix.Name).SetUnique(ix.Unique)})
		}
		if len(models) == 0 {
			continue
		}
		if _, err := b.db.Collection(m.Table).Indexes().CreateMany(ctx, models); err != nil {
			return translate(err, m)
		}
	}
	return nil
}

// Drop drops the collections of every entity of orm: for tests.
func Drop(ctx context.Context, orm *em.ORM) error {
	if ctx == nil {
		return em.ErrNilContext
	}
	if orm == nil {
		return errors.New("mongo: Drop needs an ORM opened by mongo.Open, got nil")
	}
	b, ok := orm.Backend().(*backend)
	if !ok {
		return errors.New("mongo: Drop needs an ORM opened by mongo.Open")
	}
	for _, m := range orm.Metas() {
		if err := b.db.Collection(m.Table).Drop(ctx); err != nil {
			return translate(err, m)
		}
	}
	return nil
}
