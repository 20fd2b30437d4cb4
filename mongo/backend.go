package mongo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// backend implements em.Backend on a MongoDB database.
type backend struct {
	db *mongo.Database
	tx txSupport
	// unique holds the upsert targets (collection and sorted field names)
	// found to have a unique index (see checkUnique).
	uniqueMu sync.Mutex
	unique   map[string]bool
}

func (b *backend) Name() string { return "mongodb" }

func (b *backend) Close(context.Context) error { return nil }

// Check accepts every mapping: integer keys are generated from a sequence
// collection, and many-to-many collections may be declared (shared entity
// types) but fail with em.ErrUnsupported when loaded, filtered or written.
func (b *backend) Check(metas []*em.EntityMeta) error {
	_ = metas // every mapping em accepts can be stored; many-to-many links fail when used (em.ErrUnsupported)
	return nil
}

func (b *backend) NewKey(m *em.EntityMeta) (any, bool) {
	switch {
	case m.PK.Type == objectIDType:
		return bson.NewObjectID(), true
	case objectIDKeys(m):
		return bson.NewObjectID().Hex(), true
	}
	return nil, false
}

// TimePrecision is a millisecond: a BSON date counts milliseconds.
func (b *backend) TimePrecision() time.Duration { return time.Millisecond }

func (b *backend) Find(ctx context.Context, q *em.BackendQuery, each func(decode func(entity any) error) error) error {
	m := q.Meta
	filter, err := compileFilter(m, q.Filter)
	if err != nil {
		return err
	}
	opts := options.Find()
	if len(q.OrderBy) > 0 {
		sort, err := sortOf(m, q.OrderBy)
		if err != nil {
			return err
		}
		opts.SetSort(sort)
	}
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	if q.Offset > 0 {
		opts.SetSkip(int64(q.Offset))
	}
	if len(q.Fields) > 0 {
		proj := bson.D{}
		for _, f := range q.Fields {
			proj = append(proj, bson.E{Key: fieldName(f), Value: 1})
		}
		opts.SetProjection(proj)
	}
	// The transaction is held for each call to the server, not across
	// each: it takes the entity manager's lock, which a Flush holds while
	// it writes in the same transaction.
	tctx, done := inTx(ctx)
	cur, err := b.db.Collection(m.Table).Find(tctx, filter, opts)
	done()
	if err != nil {
		return translate(err, m)
	}
	defer func() {
		_, done := inTx(ctx)
		_ = cur.Close(context.WithoutCancel(ctx))
		done()
	}()
	for {
		_, done := inTx(ctx)
		ok := cur.Next(ctx)
		done()
		if !ok {
			break
		}
		raw := cur.Current
		if err := each(func(entity any) error { return decode(m, raw, entity) }); err != nil {
			return err
		}
	}
	return translate(cur.Err(), m)
}

func (b *backend) Count(ctx context.Context, m *em.EntityMeta, f *em.BackendFilter) (int64, error) {
	filter, err := compileFilter(m, f)
	if err != nil {
		return 0, err
	}
	tctx, done := inTx(ctx)
	defer done()
	n, err := b.db.Collection(m.Table).CountDocuments(tctx, filter)
	return n, translate(err, m)
}

// Write runs ops as ordered bulk writes, one per run of operations on the
// same collection.
func (b *backend) Write(ctx context.Context, ops []em.WriteOp) ([]bool, error) {
	applied := make([]bool, len(ops))
	generated := map[any]bool{}
	// Generated keys first, for every type: a new entity may refer to one
	// inserted after it (a cycle), and its reference is written by key.
	for start := 0; start < len(ops); {
		end := start + 1
		for end < len(ops) && ops[end].Meta == ops[start].Meta {
			end++
		}
		if err := b.assignKeys(ctx, ops[start].Meta, ops[start:end], generated); err != nil {
			return applied, err
		}
		start = end
	}
	for start := 0; start < len(ops); {
		end := start + 1
		for end < len(ops) && ops[end].Meta == ops[start].Meta {
			end++
		}
		err := b.writeRun(ctx, ops[start:end], applied[start:end])
		for try := 0; err != nil && try < 5; try++ {
			// A generated key that collides: two flushes took the same keys
			// from a sequence whose $inc is not atomic (FerretDB's is not;
			// MongoDB's is). Take new keys for the inserts not applied yet
			// and write the rest of the run again.
			i := firstNotApplied(applied[start:end]) + start
			if i >= end || !generated[ops[i].Entity] || !errors.Is(err, em.ErrUniqueViolation) {
				break
			}
			for _, op := range ops[i:end] {
				if generated[op.Entity] {
					_ = op.Meta.PK.Set(op.Entity, int64(0))
				}
			}
			if kerr := b.assignKeys(ctx, ops[i].Meta, ops[i:end], generated); kerr != nil {
				return applied, kerr
			}
			err = b.writeRun(ctx, ops[i:end], applied[i:end])
		}
		if err != nil {
			return applied, err
		}
		start = end
	}
	return applied, nil
}

func (b *backend) writeRun(ctx context.Context, ops []em.WriteOp, applied []bool) error {
	m := ops[0].Meta
	models := make([]mongo.WriteModel, len(ops))
	var extra []mongo.WriteModel // second halves of link writes, after the run
	for i, op := range ops {
		id, err := toBSON(m.PK, m.PK.Value(op.Entity))
		if err != nil {
			return err
		}
		switch op.Kind {
		case em.WriteInsert:
			doc, err := encode(m, op.Entity)
			if err != nil {
				return err
			}
			models[i] = mongo.NewInsertOneModel().SetDocument(doc)
		case em.WriteUpdate:
			update, err := setUnset(op.Fields, func(j int) (any, error) {
				return toBSON(op.Fields[j], op.Fields[j].Value(op.Entity))
			})
			if err != nil {
				return err
			}
			models[i] = mongo.NewUpdateOneModel().SetFilter(keyFilter(m, id, op.Version)).SetUpdate(update)
		case em.WriteDelete:
			models[i] = mongo.NewDeleteOneModel().SetFilter(keyFilter(m, id, op.Version))
		case em.WriteLinks:
			// Links live on the owning document, as an array of item keys:
			// $addToSet and $pull, both harmless when applied twice.
			field := linkField(op.Rel)
			update := bson.D{}
			if len(op.Added) > 0 {
				keys, err := itemKeys(op.Rel, op.Added)
				if err != nil {
					return err
				}
				update = append(update, bson.E{Key: "$addToSet", Value: bson.D{{Key: field, Value: bson.D{{Key: "$each", Value: keys}}}}})
			}
			if len(op.Removed) > 0 {
				keys, err := itemKeys(op.Rel, op.Removed)
				if err != nil {
					return err
				}
				// $pullAll, not $pull with $in: FerretDB ignores the latter
				// without an error.
				pull := bson.D{{Key: "$pullAll", Value: bson.D{{Key: field, Value: keys}}}}
				if len(op.Added) > 0 {
					// One update cannot both add to and pull from a field.
					models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(update)
					extra = append(extra, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(pull))
					continue
				}
				update = pull
			}
			models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(update)
		default:
			return fmt.Errorf("mongo: unknown write kind %d", op.Kind)
		}
	}
	if err := ctx.Err(); err != nil {
		return err // nothing of this run was sent
	}
	wctx := ctx
	if _, ok := ctx.Value(txKey{}).(*transaction); !ok {
		// Without a transaction nothing can be undone, so a write once
		// sent runs to its end: a deadline that cut it off would leave
		// unknown which documents it applied, and the retry would write
		// them twice. The deadline still stops the flush between runs.
		wctx = context.WithoutCancel(ctx)
	}
	tctx, done := inTx(wctx)
	res, err := b.db.Collection(m.Table).BulkWrite(tctx, append(models, extra...), options.BulkWrite().SetOrdered(true))
	done()
	if err != nil {
		var bwe mongo.BulkWriteException
		if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
			// Ordered: everything before the first failing write was applied.
			for i := 0; i < bwe.WriteErrors[0].Index && i < len(applied); i++ {
				applied[i] = true
			}
		}
		return translate(err, m)
	}
	for i := range applied {
		applied[i] = true
	}
	// Updates and deletes that matched nothing: a versioned entity changed
	// or deleted by someone else is an optimistic lock failure.
	var updates, deletes int64
	for _, op := range ops {
		switch op.Kind {
		case em.WriteUpdate, em.WriteLinks:
			updates++
		case em.WriteDelete:
			deletes++
		}
	}
	if res.MatchedCount < updates || res.DeletedCount < deletes {
		return b.findStale(ctx, m, ops, applied, res.MatchedCount == 0, res.DeletedCount == 0)
	}
	return nil
}

// sequences is the collection that holds the last integer key given out
// per collection, for entities with auto-generated integer keys (MongoDB has
// no sequences of its own).
const sequences = "mikro_sequences"

// assignKeys gives the new entities of a run whose integer key is
// generated and still zero their keys: a block reserved with one atomic
// $inc on the collection's sequence. Keys of a failed flush are not reused.
func (b *backend) assignKeys(ctx context.Context, m *em.EntityMeta, ops []em.WriteOp, generated map[any]bool) error {
	if !m.PK.AutoIncr {
		return nil
	}
	var need []any
	for _, op := range ops {
		if op.Kind == em.WriteInsert && isZero(m.PK.Value(op.Entity)) {
			need = append(need, op.Entity)
		}
	}
	if len(need) == 0 {
		return nil
	}
	next, err := b.reserveKeys(ctx, m, len(need))
	if err != nil {
		return err
	}
	for i, ent := range need {
		if err := m.PK.Set(ent, next+int64(i)); err != nil {
			return fmt.Errorf("mongo: %s: key %d: %w", m.Name, next+int64(i), err)
		}
		generated[ent] = true
	}
	return nil
}

func isZero(v any) bool {
	return v == nil || reflect.ValueOf(v).IsZero()
}

// Links reads the links of the owning many-to-many side rel from the
// owners' arrays: of the owners with the given keys, or (byItem) of the
// owners whose array holds one of the given item keys.
func (b *backend) Links(ctx context.Context, rel *em.RelationMeta, keys []any, byItem bool) ([][2]any, error) {
	m := rel.Owner
	field := linkField(rel)
	var filter bson.D
	want := map[string]bool{}
	if byItem {
		ks, err := itemKeys(rel, keys)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			want[fmt.Sprint(k)] = true
		}
		filter = bson.D{{Key: field, Value: bson.D{{Key: "$in", Value: ks}}}}
	} else {
		ks := make(bson.A, 0, len(keys))
		for _, k := range keys {
			x, err := toBSON(m.PK, k)
			if err != nil {
				return nil, err
			}
			ks = append(ks, x)
		}
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ks}}}}
	}
	tctx, done := inTx(ctx)
	defer done()
	cur, err := b.db.Collection(m.Table).Find(tctx, filter, options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
	if err != nil {
		return nil, translate(err, m)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out [][2]any
	for cur.Next(ctx) {
		owner := keyOfRaw(cur.Current.Lookup("_id"))
		arr, ok := cur.Current.Lookup(field).ArrayOK()
		if !ok {
			continue
		}
		vals, _ := arr.Values()
		for _, v := range vals {
			var x any
			_ = v.Unmarshal(&x)
			if byItem && !want[fmt.Sprint(x)] {
				continue
			}
			out = append(out, [2]any{owner, keyOfRaw(v)})
		}
	}
	return out, translate(cur.Err(), m)
}

// linkField is the array field of the owning document that holds the keys
// of a many-to-many collection's items: the property name ("tags").
func linkField(rel *em.RelationMeta) string { return rel.Property }

// itemKeys converts item keys of rel for storage (ObjectIDs for
// ObjectID-keyed items).
func itemKeys(rel *em.RelationMeta, keys []any) (bson.A, error) {
	out := make(bson.A, 0, len(keys))
	for _, k := range keys {
		x, err := toBSON(rel.Target.PK, k)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// keyOfRaw turns a stored key into em's form: ObjectIDs as hex, integers as
// int64.
func keyOfRaw(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeObjectID:
		return v.ObjectID().Hex() // em normalizes it for an ObjectID-typed key
	case bson.TypeInt32:
		return int64(v.Int32())
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeString:
		return v.StringValue()
	}
	var x any
	_ = v.Unmarshal(&x)
	return x
}

func firstNotApplied(applied []bool) int {
	for i, ok := range applied {
		if !ok {
			return i
		}
	}
	return len(applied)
}

// keyFilter selects the stored entity by key and, for a versioned one, by
// the version it must still have.
func keyFilter(m *em.EntityMeta, id, version any) bson.D {
	f := bson.D{{Key: "_id", Value: id}}
	if m.Version != nil && version != nil {
		f = append(f, bson.E{Key: fieldName(m.Version), Value: version})
	}
	return f
}

// findStale finds which versioned updates or deletes of a run matched
// nothing, marks them not applied and returns an *em.OptimisticLockError
// for the first. A bulk write reports how many writes matched, not which:
// a delete matched if its document is gone; an update matched if the
// stored document holds the new version and the values it wrote (when
// another writer reached the same version with other values, ours did
// not apply).
//
// With noneUpdated (noneDeleted) no update (delete) of the run matched,
// which is certain: the stored values do not decide it (concurrent writers
// of the same values, such as two increments of one counter, would look
// applied).
func (b *backend) findStale(ctx context.Context, m *em.EntityMeta, ops []em.WriteOp, applied []bool, noneUpdated, noneDeleted bool) error {
	if m.Version == nil {
		return nil // unversioned writes of rows that are gone are not errors, as in SQL
	}
	var ids bson.A
	for _, op := range ops {
		if op.Kind != em.WriteInsert && op.Version != nil {
			id, _ := toBSON(m.PK, m.PK.Value(op.Entity))
			ids = append(ids, id)
		}
	}
	tctx, done := inTx(ctx)
	defer done()
	cur, err := b.db.Collection(m.Table).Find(tctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return translate(err, m)
	}
	stored := map[string]bson.Raw{}
	for cur.Next(ctx) {
		var id any
		_ = cur.Current.Lookup("_id").Unmarshal(&id)
		stored[fmt.Sprint(id)] = slices.Clone(cur.Current)
	}
	_ = cur.Close(ctx)
	var first error
	for i, op := range ops {
		if op.Kind == em.WriteInsert || op.Version == nil {
			continue
		}
		id, _ := toBSON(m.PK, m.PK.Value(op.Entity))
		doc, exists := stored[fmt.Sprint(id)]
		if op.Kind == em.WriteDelete && !exists && !noneDeleted {
			continue // applied
		}
		if op.Kind == em.WriteUpdate && exists && !noneUpdated && holds(doc, m.Version, op.Entity) && holdsAll(doc, op.Fields, op.Entity) {
			continue // applied
		}
		applied[i] = false
		if first == nil {
			lock := &em.OptimisticLockError{Entity: m.Name, ID: m.PK.Value(op.Entity), ExpectedVersion: op.Version}
			if exists {
				if rv, err := doc.LookupErr(fieldName(m.Version)); err == nil {
					var v any
					_ = rv.Unmarshal(&v)
					lock.ActualVersion = v
				}
			}
			first = lock
		}
	}
	return first
}

func holdsAll(doc bson.Raw, fields []*em.FieldMeta, entity any) bool {
	for _, f := range fields {
		if !holds(doc, f, entity) {
			return false
		}
	}
	return true
}

// holds reports whether the stored document has field f as entity has it.
func holds(doc bson.Raw, f *em.FieldMeta, entity any) bool {
	want, err := toBSON(f, f.Value(entity))
	if err != nil {
		return false
	}
	rv, err := doc.LookupErr(fieldName(f))
	if err != nil || rv.Type == bson.TypeNull {
		return want == nil
	}
	var got any
	if err := rv.Unmarshal(&got); err != nil || want == nil {
		return false
	}
	return normalize(got) == normalize(want)
}

// normalize makes stored and Go values comparable: numbers as float64 or
// int64, times in UTC milliseconds, documents by their extended JSON.
func normalize(v any) any {
	switch x := v.(type) {
	case bson.DateTime:
		return x.Time().UTC().UnixMilli()
	case time.Time:
		return x.UTC().UnixMilli()
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int()
	case rv.CanUint():
		return int64(rv.Uint())
	case rv.CanFloat():
		return rv.Float()
	case rv.Kind() == reflect.String, rv.Kind() == reflect.Bool:
		return v
	}
	if _, b, err := bson.MarshalValue(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

var indexName = regexp.MustCompile(`index: (\S+)`)

// translate turns driver errors into em's typed errors: a duplicate key is
// an *em.DBError matching em.ErrUniqueViolation, a transient transaction
// failure one matching em.ErrSerialization. FerretDB reports a
// duplicate made by an update as an internal error naming the SQLite
// UNIQUE constraint; that is a unique violation too.
func translate(err error, m *em.EntityMeta) error {
	if err == nil {
		return nil
	}
	if hasLabel(err, "TransientTransactionError") {
		// A write conflict with another transaction, or an election: the
		// transaction may succeed if run again.
		return &em.DBError{Kind: em.ErrSerialization, Entity: m.Name, Err: err}
	}
	if mongo.IsDuplicateKeyError(err) || strings.Contains(err.Error(), "UNIQUE constraint failed") {
		dbe := &em.DBError{Kind: em.ErrUniqueViolation, Entity: m.Name, Err: err}
		if sm := indexName.FindStringSubmatch(err.Error()); sm != nil {
			dbe.Constraint = sm[1]
		}
		return dbe
	}
	return fmt.Errorf("mongo: %s: %w", m.Name, err)
}
