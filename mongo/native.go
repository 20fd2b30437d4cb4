package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The native operations and upserts (em.NativeBackend): insertOne,
// updateMany and deleteMany with filters compiled as for finds, and
// updates with upsert: true.

var _ em.NativeBackend = (*backend)(nil)

// keyTries bounds the writes of documents with generated integer keys
// that collide with stored ones (see Write): each try takes new keys.
const keyTries = 5

// writeCtx is the context of a write that bypasses the unit of work: ctx
// inside a transaction; outside one, ctx without its cancellation, once
// it is checked, so that a write once sent runs to its end (a deadline
// that cut off an updateMany or an ordered bulk write would leave unknown
// what it applied).
func writeCtx(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Value(txKey{}).(*transaction); ok {
		return ctx, nil
	}
	return context.WithoutCancel(ctx), nil
}

// reserveKeys reserves n consecutive integer keys of m's collection in the
// sequence collection and returns the first.
func (b *backend) reserveKeys(ctx context.Context, m *em.EntityMeta, n int) (int64, error) {
	var seq struct {
		Last int64 `bson:"last"`
	}
	reserve := func() error {
		return b.db.Collection(sequences).FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: m.Table}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "last", Value: int64(n)}}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&seq)
	}
	err := reserve()
	if err != nil && mongo.IsDuplicateKeyError(err) {
		// Two first reservations raced to create the sequence: the loser's
		// upsert collided with the winner's; the document exists now.
		err = reserve()
	}
	if err != nil {
		return 0, translate(err, m)
	}
	return seq.Last - int64(n) + 1, nil
}

// Insert stores one document of the given fields (NULLs left out), with a
// key from the sequence collection when fields lack the key.
func (b *backend) Insert(ctx context.Context, m *em.EntityMeta, fields []*em.FieldMeta, values []any) (any, error) {
	doc := bson.D{}
	var key any
	for i, f := range fields {
		v, err := toBSON(f, values[i])
		if err != nil {
			return nil, fmt.Errorf("mongo: NativeInsert of %s: %w", m.Name, err)
		}
		if f == m.PK {
			key = values[i]
		}
		if v != nil {
			doc = append(doc, bson.E{Key: fieldName(f), Value: v})
		}
	}
	if key == nil && !m.PK.AutoIncr {
		return nil, fmt.Errorf("mongo: NativeInsert of %s needs a value for the key %s", m.Name, m.PK.Property)
	}
	wctx, err := writeCtx(ctx)
	if err != nil {
		return nil, err
	}
	generate := key == nil
	for try := 0; ; try++ {
		d := doc
		if generate {
			next, err := b.reserveKeys(ctx, m, 1)
			if err != nil {
				return nil, err
			}
			key = next
			d = append(bson.D{{Key: "_id", Value: next}}, doc...)
		}
		tctx, done := inTx(wctx)
		_, err := b.db.Collection(m.Table).InsertOne(tctx, d)
		done()
		err = translate(err, m)
		if err == nil {
			return key, nil
		}
		// A generated key that collides (see Write): take another.
		if !generate || !errors.Is(err, em.ErrUniqueViolation) || try+1 == keyTries {
			return nil, err
		}
	}
}

// setUnset is the update document that stores values in fields: $set, and
// $unset for NULL.
func setUnset(fields []*em.FieldMeta, value func(i int) (any, error)) (bson.D, error) {
	set, unset := bson.D{}, bson.D{}
	for i, f := range fields {
		v, err := value(i)
		if err != nil {
			return nil, err
		}
		if v == nil {
			unset = append(unset, bson.E{Key: fieldName(f), Value: ""})
		} else {
			set = append(set, bson.E{Key: fieldName(f), Value: v})
		}
	}
	update := bson.D{}
	if len(set) > 0 {
		update = append(update, bson.E{Key: "$set", Value: set})
	}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	return update, nil
}

// UpdateWhere is one updateMany; it returns the number of documents the
// filter matched.
func (b *backend) UpdateWhere(ctx context.Context, m *em.EntityMeta, f *em.BackendFilter, fields []*em.FieldMeta, values []any) (int64, error) {
	for _, fl := range fields {
		if fl.PrimaryKey {
			return 0, fmt.Errorf("%w: NativeUpdate of %s.%s: MongoDB cannot change a document's _id (insert a new document and delete the old one)", em.ErrUnsupported, m.Name, fl.Property)
		}
	}
	filter, err := compileFilter(m, f)
	if err != nil {
		return 0, err
	}
	update, err := setUnset(fields, func(i int) (any, error) {
		v, err := toBSON(fields[i], values[i])
		if err != nil {
			return nil, fmt.Errorf("mongo: NativeUpdate of %s: %w", m.Name, err)
		}
		return v, nil
	})
	if err != nil {
		return 0, err
	}
	wctx, err := writeCtx(ctx)
	if err != nil {
		return 0, err
	}
	tctx, done := inTx(wctx)
	defer done()
	res, err := b.db.Collection(m.Table).UpdateMany(tctx, filter, update)
	if err != nil {
		return 0, translate(err, m)
	}
	return res.MatchedCount, nil
}

// DeleteWhere is one deleteMany.
func (b *backend) DeleteWhere(ctx context.Context, m *em.EntityMeta, f *em.BackendFilter) (int64, error) {
	filter, err := compileFilter(m, f)
	if err != nil {
		return 0, err
	}
	wctx, err := writeCtx(ctx)
	if err != nil {
		return 0, err
	}
	tctx, done := inTx(wctx)
	defer done()
	res, err := b.db.Collection(m.Table).DeleteMany(tctx, filter)
	if err != nil {
		return 0, translate(err, m)
	}
	return res.DeletedCount, nil
}

// Upsert writes one ordered bulk write of updates with upsert: true, one
// per entity: the filter is the entity's values of u.Target, $set and
// $unset store u.Update, $setOnInsert the other fields of u.Insert (and a
// key reserved from the sequence collection when the key is generated and
// not in u.Insert; a key of an entity that was found is not used again).
// u.Target must be the key or have a unique index of its own (see
// checkUnique).
func (b *backend) Upsert(ctx context.Context, u *em.BackendUpsert) error {
	m := u.Meta
	if err := b.checkUnique(ctx, m, u.Target); err != nil {
		return err
	}
	generate := m.PK.AutoIncr && !slices.Contains(u.Insert, m.PK)
	wctx, err := writeCtx(ctx)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		var first int64
		if generate {
			if first, err = b.reserveKeys(ctx, m, len(u.Entities)); err != nil {
				return err
			}
		}
		models := make([]mongo.WriteModel, len(u.Entities))
		for i, ent := range u.Entities {
			filter := bson.D{}
			for _, f := range u.Target {
				v, err := toBSON(f, f.Value(ent))
				if err != nil {
					return fmt.Errorf("mongo: Upsert of %s: %w", m.Name, err)
				}
				filter = append(filter, bson.E{Key: fieldName(f), Value: v})
			}
			update, err := setUnset(u.Update, func(i int) (any, error) { return toBSON(u.Update[i], u.Update[i].Value(ent)) })
			if err != nil {
				return fmt.Errorf("mongo: Upsert of %s: %w", m.Name, err)
			}
			onInsert := bson.D{}
			if generate {
				onInsert = append(onInsert, bson.E{Key: "_id", Value: first + int64(i)})
			}
			for _, f := range u.Insert {
				if slices.Contains(u.Update, f) {
					continue
				}
				v, err := toBSON(f, f.Value(ent))
				if err != nil {
					return fmt.Errorf("mongo: Upsert of %s: %w", m.Name, err)
				}
				if v != nil {
					onInsert = append(onInsert, bson.E{Key: fieldName(f), Value: v})
				}
			}
			if len(onInsert) > 0 {
				update = append(update, bson.E{Key: "$setOnInsert", Value: onInsert})
			}
			models[i] = mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update).SetUpsert(true)
		}
		tctx, done := inTx(wctx)
		_, err := b.db.Collection(m.Table).BulkWrite(tctx, models, options.BulkWrite().SetOrdered(true))
		done()
		err = translate(err, m)
		if err == nil {
			return nil
		}
		// A generated key that collides (see Write): every upsert may run
		// again, with new keys; those already applied find their documents.
		if !generate || !errors.Is(err, em.ErrUniqueViolation) || try+1 == keyTries {
			return err
		}
	}
}

// checkUnique makes sure that target finds at most one document: the key,
// or fields with a unique index of exactly those fields in the collection
// (asked of the server once per ORM and collection; listIndexes runs
// outside any transaction, which may not run it). Without one, concurrent
// upserts could store two documents with the same values, and an upsert
// could update any of several, so none is written and the error says what
// to do.
func (b *backend) checkUnique(ctx context.Context, m *em.EntityMeta, target []*em.FieldMeta) error {
	if len(target) == 1 && target[0].PrimaryKey {
		return nil
	}
	names := make([]string, len(target))
	props := make([]string, len(target))
	for i, f := range target {
		names[i], props[i] = fieldName(f), f.Property
	}
	slices.Sort(names)
	cacheKey := m.Table + "\x00" + strings.Join(names, "\x00")
	b.uniqueMu.Lock()
	known := b.unique[cacheKey]
	b.uniqueMu.Unlock()
	if known {
		return nil
	}
	specs, err := b.db.Collection(m.Table).Indexes().ListSpecifications(ctx)
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code == 26 { // NamespaceNotFound: no collection, no index
		specs, err = nil, nil
	}
	if err != nil {
		return translate(err, m)
	}
	for _, s := range specs {
		if s.Unique == nil || !*s.Unique {
			continue
		}
		elems, err := s.KeysDocument.Elements()
		if err != nil {
			continue
		}
		keys := make([]string, len(elems))
		for i, e := range elems {
			keys[i] = e.Key()
		}
		slices.Sort(keys)
		if slices.Equal(keys, names) {
			b.uniqueMu.Lock()
			if b.unique == nil {
				b.unique = map[string]bool{}
			}
			b.unique[cacheKey] = true
			b.uniqueMu.Unlock()
			return nil
		}
	}
	what := "declare a unique index on them in the mapping (orm:\"unique\" on one field, orm:\"unique=name\" on each of several) and create it with mongo.EnsureIndexes"
	for _, ix := range m.Indexes {
		cols := slices.Clone(ix.Columns)
		slices.Sort(cols)
		if ix.Unique && slices.Equal(cols, names) {
			what = fmt.Sprintf("the mapping declares the unique index %s, but the collection %s does not have it: create it with mongo.EnsureIndexes", ix.Name, m.Table)
		}
	}
	return &em.FilterError{Entity: m.Name, Property: strings.Join(props, ", "),
		Reason: "onConflict on MongoDB needs a unique index on exactly these fields, which find the document to update; " + what}
}
