package em

import (
	"context"
	"net/http"
)

type ctxKey struct{}

// WithContext returns ctx carrying the entity manager e. The root manager
// resolves to it for calls made with that context (see ORM.EM). A nil ctx
// is taken as context.Background().
func WithContext(ctx context.Context, e *EntityManager) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, ctxKey{}, e)
}

// FromContext returns the entity manager carried by ctx, and false if there
// is none (or ctx is nil).
func FromContext(ctx context.Context) (*EntityManager, bool) {
	if ctx == nil {
		return nil, false
	}
	e, ok := ctx.Value(ctxKey{}).(*EntityManager)
	return e, ok && e != nil
}

// Middleware returns net/http middleware that gives every request a fork of
// the ORM's entity manager in its context: take it out with FromContext, or
// call the root manager with the request's context. A nil next is
// http.DefaultServeMux, as for http.Server.
func (o *ORM) Middleware(next http.Handler) http.Handler {
	if next == nil {
		next = http.DefaultServeMux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithContext(r.Context(), o.Fork())))
	})
}
