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

// Find is [Find] for T.
func (r EntityRepository[T]) Find(ctx context.Context, filter any, opts ...FindOptions) ([]*T, error) {
	return Find[T](ctx, r.e, filter, opts...)
}

// FindAll is [FindAll] for T.
func (r EntityRepository[T]) FindAll(ctx context.Context, opts ...FindOptions) ([]*T, error) {
	return FindAll[T](ctx, r.e, opts...)
}

// FindOne is [FindOne] for T.
func (r EntityRepository[T]) FindOne(ctx context.Context, filter any, opts ...FindOptions) (*T, error) {
	return FindOne[T](ctx, r.e, filter, opts...)
}

// FindOneOrFail is [FindOneOrFail] for T.
func (r EntityRepository[T]) FindOneOrFail(ctx context.Context, filter any, opts ...FindOptions) (*T, error) {
	return FindOneOrFail[T](ctx, r.e, filter, opts...)
}

// FindAndCount is [FindAndCount] for T.
func (r EntityRepository[T]) FindAndCount(ctx context.Context, filter any, opts ...FindOptions) ([]*T, int64, error) {
	return FindAndCount[T](ctx, r.e, filter, opts...)
}

// Count is [Count] for T.
func (r EntityRepository[T]) Count(ctx context.Context, filter any) (int64, error) {
	return Count[T](ctx, r.e, filter)
}

// Create is [Create] for T.
func (r EntityRepository[T]) Create(data any) (*T, error) { return Create[T](r.e, data) }
