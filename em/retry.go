package em

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryOptions says how TransactionalRetry runs a transaction again. The
// zero value is 3 attempts, waiting 10ms before the second and doubling
// each time up to 1s.
type RetryOptions struct {
	// Attempts is the most times the callback runs in all (0: 3).
	Attempts int
	// Backoff is the wait before the second attempt (0: 10ms); each later
	// wait doubles, up to MaxBackoff (0: 1s). Each wait is drawn at random
	// between half of it and all of it, so that transactions that failed
	// together do not retry in step.
	Backoff, MaxBackoff time.Duration
}

// TransactionalRetry runs fn in a transaction as Transactional does, each
// attempt on a new fork of e, so that nothing of a failed attempt (managed
// entities, pending changes) reaches the next. When an attempt fails with
// an error whose Retryable() method reports true (ErrDeadlock,
// ErrSerialization: the database asks for the transaction to be run
// again), it waits (see RetryOptions) and tries again, at most
// opts.Attempts times in all; each retry is logged at Warn level with the
// attempt number, the wait and the error.
//
// fn must do all of the transaction's reads and writes through the fork it
// receives, and may run several times; the entities it loads or persists
// are managed by that fork, not by e, whose unit of work is not touched.
// It returns nil once an attempt commits; the error of the last attempt
// when it was not retryable or the attempts ran out; ctx's error when ctx
// ends while waiting; an error when e is inside a transaction (a retry
// must run the whole transaction, so call it outside).
func (e *EntityManager) TransactionalRetry(ctx context.Context, opts RetryOptions, fn func(tx *EntityManager) error) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	if fn == nil {
		return errors.New("em: TransactionalRetry needs a callback")
	}
	if e.InTransaction() {
		return fmt.Errorf("%w: TransactionalRetry inside a transaction cannot run the whole transaction again; call it outside the transaction", ErrUnsupported)
	}
	attempts := opts.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	wait, maxWait := opts.Backoff, opts.MaxBackoff
	if wait <= 0 {
		wait = 10 * time.Millisecond
	}
	if maxWait <= 0 {
		maxWait = time.Second
	}
	for attempt := 1; ; attempt++ {
		err = e.Fork().Transactional(ctx, fn)
		if err == nil || attempt >= attempts || !retryable(err) {
			return err
		}
		d := min(wait, maxWait)
		d = d/2 + rand.N(d/2+1)
		e.orm.log.WarnContext(ctx, "em: transaction failed, running it again",
			"attempt", attempt, "attempts", attempts, "wait", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("em: TransactionalRetry stopped after attempt %d (%w): %w", attempt, err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// retryable reports whether err, or an error it wraps, says the
// transaction may succeed if run again.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}
