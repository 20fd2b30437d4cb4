package em

import "context"

// EntityRepository is the entity manager seen through one entity type, for
// code that works with a single type: repo.Find(ctx, filter) instead of
// em.Find[T](ctx, e, filter).
type EntityRepository[T any] struct {
	e *EntityManager
}

// Repo returns the repository of T on e.
func Repo[T any](e *EntityManager) EntityRepository[T] { return EntityRepository[T]{e: e} }

// Manager returns the entity manager the repository works on.
func (r EntityRepository[T]) Manager() *EntityManager { return r.e }

// Find is [Find] for T, with its errors.
func (r EntityRepository[T]) Find(ctx context.Context, filter any, opts ...FindOptions) ([]*T, error) {
	return findList[T](ctx, r.e, filter, "EntityRepository[%s].Find", opts)
}

// FindAll is [FindAll] for T, with its errors.
func (r EntityRepository[T]) FindAll(ctx context.Context, opts ...FindOptions) ([]*T, error) {
	return findList[T](ctx, r.e, nil, "EntityRepository[%s].FindAll", opts)
}

// FindOne is [FindOne] for T, with its errors.
func (r EntityRepository[T]) FindOne(ctx context.Context, filter any, opts ...FindOptions) (*T, error) {
	return findOne[T](ctx, r.e, filter, "EntityRepository[%s].FindOne", opts)
}

// FindOneOrFail is [FindOneOrFail] for T, with its errors.
func (r EntityRepository[T]) FindOneOrFail(ctx context.Context, filter any, opts ...FindOptions) (*T, error) {
	return findOneOrFail[T](ctx, r.e, filter, "EntityRepository[%s].FindOneOrFail", opts)
}

// FindAndCount is [FindAndCount] for T, with its errors.
func (r EntityRepository[T]) FindAndCount(ctx context.Context, filter any, opts ...FindOptions) ([]*T, int64, error) {
	return findAndCount[T](ctx, r.e, filter, "EntityRepository[%s].FindAndCount", opts)
}

// Count is [Count] for T.
func (r EntityRepository[T]) Count(ctx context.Context, filter any) (int64, error) {
	return Count[T](ctx, r.e, filter)
}

// Create is [Create] for T.
func (r EntityRepository[T]) Create(data any) (*T, error) { return Create[T](r.e, data) }
