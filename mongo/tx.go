package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// txSupport is what the server said about transactions, asked once.
type txSupport struct {
	mu     sync.Mutex
	probed bool
	ok     bool
	why    string // when not ok: what the server is
}

// Begin starts a session transaction when the server has transactions (a
// replica set member or a mongos); otherwise it returns an error matching
// em.ErrTransactionsUnavailable. The server is asked once per ORM.
func (b *backend) Begin(ctx context.Context) (em.BackendTx, error) {
	ok, why, err := b.transactions(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the MongoDB server is %s; transactions need a replica set or a sharded cluster", em.ErrTransactionsUnavailable, why)
	}
	sess, err := b.db.Client().StartSession()
	if err != nil {
		return nil, fmt.Errorf("mongo: start session: %w", err)
	}
	if err := sess.StartTransaction(); err != nil {
		sess.EndSession(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mongo: start transaction: %w", err)
	}
	return &transaction{sess: sess}, nil
}

// transactions asks the server (hello) whether it runs transactions, once:
// a replica set member from wire version 7 (MongoDB 4.0), a mongos from 8
// (4.2), and only with sessions. A failed question is asked again next time.
func (b *backend) transactions(ctx context.Context) (ok bool, why string, err error) {
	t := &b.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.probed {
		return t.ok, t.why, nil
	}
	var hello struct {
		SetName  string `bson:"setName"`
		Msg      string `bson:"msg"`
		MaxWire  int64  `bson:"maxWireVersion"`
		Sessions *int64 `bson:"logicalSessionTimeoutMinutes"`
	}
	if err := b.db.Client().Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return false, "", fmt.Errorf("mongo: ask the server about transactions (hello): %w", err)
	}
	switch {
	case hello.Sessions == nil:
		t.why = "without sessions"
	case hello.SetName != "" && hello.MaxWire >= 7:
		t.ok = true
	case hello.Msg == "isdbgrid" && hello.MaxWire >= 8:
		t.ok = true
	case hello.SetName != "" || hello.Msg == "isdbgrid":
		t.why = fmt.Sprintf("too old (wire version %d)", hello.MaxWire)
	default:
		t.why = "a standalone server"
	}
	t.probed = true
	return t.ok, t.why, nil
}

// txKey carries the session of an open transaction in a context (see
// transaction.Bind). It is mikro's own key, not the driver's session
// context, so that the backend chooses which calls join the transaction:
// key reservations in mikro_sequences stay outside it, as SQL sequences
// do, so that concurrent flushes do not conflict on the sequence document.
type txKey struct{}

// inTx returns ctx as the driver's session context of the transaction ctx
// carries, holding the transaction until done is called; outside a
// transaction it returns ctx itself. A driver session is not safe for
// concurrent use, and one entity manager may be used from several
// goroutines: the calls of a transaction take turns.
func inTx(ctx context.Context) (_ context.Context, done func()) {
	if t, ok := ctx.Value(txKey{}).(*transaction); ok {
		t.mu.Lock()
		return mongo.NewSessionContext(ctx, t.sess), t.mu.Unlock
	}
	return ctx, func() {}
}

// transaction is an open session transaction: em.BackendTx.
type transaction struct {
	mu   sync.Mutex // held by each call that uses sess (see inTx)
	sess *mongo.Session
}

func (t *transaction) Bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, txKey{}, t)
}

// commitTries bounds the attempts to commit when the server cannot say
// whether a commit happened (UnknownTransactionCommitResult): committing
// again is safe, and is what the MongoDB documentation prescribes.
const commitTries = 3

func (t *transaction) Commit(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.sess.EndSession(context.WithoutCancel(ctx))
	var err error
	for try := 0; try < commitTries; try++ {
		err = t.sess.CommitTransaction(ctx)
		if err == nil || !hasLabel(err, "UnknownTransactionCommitResult") || ctx.Err() != nil {
			break
		}
	}
	return txError(err, "commit")
}

func (t *transaction) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer t.sess.EndSession(ctx)
	return txError(t.sess.AbortTransaction(ctx), "abort")
}

func hasLabel(err error, label string) bool {
	var le mongo.LabeledError
	return errors.As(err, &le) && le.HasErrorLabel(label)
}

// txError translates an error of a transaction's commit or abort: a
// transient failure (a write conflict, an election) is an *em.DBError
// matching em.ErrSerialization, which Retryable reports as worth running
// the transaction again; a commit whose outcome the server could not tell
// matches em.ErrCommitUnknown.
func txError(err error, what string) error {
	if err == nil {
		return nil
	}
	if hasLabel(err, "TransientTransactionError") {
		return &em.DBError{Kind: em.ErrSerialization, Err: err}
	}
	if what == "commit" && hasLabel(err, "UnknownTransactionCommitResult") {
		// Asked again commitTries times: the outcome stays unknown, and the
		// entity manager keeps the unit of work as committed.
		return fmt.Errorf("%w: mongo: commit transaction: %w", em.ErrCommitUnknown, err)
	}
	return fmt.Errorf("mongo: %s transaction: %w", what, err)
}
