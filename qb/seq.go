package qb

import "sync/atomic"

// seq is an append-only list that builders hold by value. Appending never
// changes what another builder sees: the first builder to extend a shared
// backing array claims the free slots (an atomic compare-and-swap on the
// array's claimed length); any other builder extending from the same point
// copies. So a chain of calls appends in place in amortized O(1), and two
// variants derived from one base never write into each other's items.
type seq[T any] struct {
	s       []T
	claimed *atomic.Int64 // how many slots of s's backing array are in use; nil until it is grown once
}

func (q seq[T]) add(v ...T) seq[T] {
	n := len(q.s)
	if q.claimed != nil && n+len(v) <= cap(q.s) && q.claimed.CompareAndSwap(int64(n), int64(n+len(v))) {
		return seq[T]{s: append(q.s, v...), claimed: q.claimed}
	}
	if n == 0 {
		// First items: an exact copy, no room to grow (most lists are set once).
		s := make([]T, len(v))
		copy(s, v)
		return seq[T]{s: s}
	}
	s := make([]T, n+len(v), max(2*(n+len(v)), 8))
	copy(s, q.s)
	copy(s[n:], v)
	c := new(atomic.Int64)
	c.Store(int64(len(s)))
	return seq[T]{s: s, claimed: c}
}

// set replaces the list with a copy of v.
func (q seq[T]) set(v ...T) seq[T] { return seq[T]{}.add(v...) }
