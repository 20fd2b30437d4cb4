package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	mikromongo "github.com/mikrogo/mikro/mongo"
	"github.com/mikrogo/mikro/mongo/internal/rsproxy"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The test server (FerretDB) has no transactions. These tests run it behind
// rsproxy, which tells the driver it talks to a replica-set primary, so that
// the driver sends session transactions, and records the commands. What
// they prove is mikro's side: which writes and reads go in one transaction,
// that it commits or aborts when it should, and what the unit of work looks
// like afterwards. The proxy does not make FerretDB transactional: an
// aborted transaction's writes stay in the database, and where a test needs
// the state a real server leaves, it says so and puts that state there.

// rsServer starts the proxy in front of the test server and returns a
// fresh database reached through it, the proxy, and the same database
// reached directly (to look at or repair what FerretDB holds).
func rsServer(t *testing.T) (*mongo.Database, *rsproxy.Proxy, *mongo.Database) {
	t.Helper()
	direct := server(t)
	u, err := url.Parse(os.Getenv("MIKRO_MONGO_URI"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := rsproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(p.URI()).SetTimeout(20 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Disconnect(context.Background())
		_ = p.Close()
	})
	return client.Database(direct.Name()), p, direct
}

// entityCommands returns the recorded commands that wrote or read entity
// collections (not the sequence collection, not handshakes or commits).
func entityCommands(p *rsproxy.Proxy) []rsproxy.Command {
	var out []rsproxy.Command
	for _, c := range p.Commands() {
		switch c.Name {
		case "insert", "update", "delete", "find", "aggregate", "count":
			if c.Collection != "mikro_sequences" {
				out = append(out, c)
			}
		}
	}
	return out
}

// ended returns the commitTransaction and abortTransaction commands.
func ended(p *rsproxy.Proxy) (commits, aborts []rsproxy.Command) {
	for _, c := range p.Commands() {
		switch c.Name {
		case "commitTransaction":
			commits = append(commits, c)
		case "abortTransaction":
			aborts = append(aborts, c)
		}
	}
	return commits, aborts
}

// oneTransaction checks that cmds all belong to one transaction, started by
// the first, and returns its session and number.
func oneTransaction(t *testing.T, cmds []rsproxy.Command) (string, int64) {
	t.Helper()
	if len(cmds) == 0 {
		t.Fatal("no commands recorded")
	}
	first := cmds[0]
	if first.LSID == "" || !first.HasTxn || !first.StartTransaction {
		t.Fatalf("first command %s does not start a transaction: %+v", first.Name, first)
	}
	for i, c := range cmds {
		if c.LSID != first.LSID || !c.HasTxn || c.TxnNumber != first.TxnNumber {
			t.Fatalf("command %d (%s %s) is not in the transaction (session %s, txn %d): %+v", i, c.Name, c.Collection, first.LSID, first.TxnNumber, c)
		}
		if c.Autocommit == nil || *c.Autocommit {
			t.Fatalf("command %d (%s) has no autocommit:false: %+v", i, c.Name, c)
		}
		if i > 0 && c.StartTransaction {
			t.Fatalf("command %d (%s) starts a second transaction", i, c.Name)
		}
	}
	return first.LSID, first.TxnNumber
}

func endedOnce(t *testing.T, p *rsproxy.Proxy, lsid string, txn int64, commit bool) {
	t.Helper()
	commits, aborts := ended(p)
	want, other := commits, aborts
	if !commit {
		want, other = aborts, commits
	}
	if len(want) != 1 || len(other) != 0 {
		t.Fatalf("want one %s, got %d commits and %d aborts", map[bool]string{true: "commit", false: "abort"}[commit], len(commits), len(aborts))
	}
	if want[0].LSID != lsid || want[0].TxnNumber != txn {
		t.Fatalf("the transaction ended is %s/%d, the writes were in %s/%d", want[0].LSID, want[0].TxnNumber, lsid, txn)
	}
}

func TestFlushRunsInATransactionOnAReplicaSet(t *testing.T) {
	db, p, _ := rsServer(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{})
	e := orm.Fork()

	ann := &Writer{Name: "Ann"}
	ann.Novels.Add(&Novel{Title: "Go", Price: 10}, &Novel{Title: "Rust", Price: 20})
	must(t, e.Persist(ann, &Writer{Name: "Bob"}))
	p.Reset()
	must(t, e.Flush(ctx))
	writes := entityCommands(p)
	if len(writes) < 2 {
		t.Fatalf("flush of two writers and two novels sent %d commands: %+v", len(writes), writes)
	}
	lsid, txn := oneTransaction(t, writes)
	endedOnce(t, p, lsid, txn, true)

	// A flush of one write to one document is atomic without a transaction.
	ann.Rating = 5
	p.Reset()
	must(t, e.Flush(ctx))
	writes = entityCommands(p)
	if len(writes) != 1 || writes[0].Name != "update" || writes[0].StartTransaction || writes[0].Autocommit != nil {
		t.Fatalf("a single update: %+v", writes)
	}
	if commits, aborts := ended(p); len(commits)+len(aborts) != 0 {
		t.Fatalf("a single update committed or aborted a transaction: %d, %d", len(commits), len(aborts))
	}

	// A no-op flush sends nothing at all.
	p.Reset()
	must(t, e.Flush(ctx))
	if cmds := entityCommands(p); len(cmds) != 0 {
		t.Fatalf("no-op flush sent %+v", cmds)
	}
}

func TestFailedFlushOnAReplicaSetIsAllOrNothing(t *testing.T) {
	orm, p, direct := rsORMWithAnn(t)
	ctx := context.Background()

	f := orm.Fork()
	a, b, c := &Writer{Name: "A"}, &Writer{Name: "Ann"}, &Writer{Name: "C"}
	must(t, f.Persist(a, b, c))
	ids := []string{a.ID, b.ID, c.ID}
	p.Reset()
	err := f.Flush(ctx)
	if !errors.Is(err, em.ErrUniqueViolation) {
		t.Fatalf("duplicate name: %v", err)
	}
	lsid, txn := oneTransaction(t, entityCommands(p))
	endedOnce(t, p, lsid, txn, false)
	if got := []string{a.ID, b.ID, c.ID}; got[0] != ids[0] || got[1] != ids[1] || got[2] != ids[2] {
		t.Fatalf("keys changed by the failed flush: %v, were %v", got, ids)
	}

	// A replica set rolled A back with the transaction. FerretDB applied it:
	// remove it, as the server would have, so that what follows sees the
	// state a real server leaves.
	_, err = direct.Collection("writer").DeleteOne(ctx, bson.D{{Key: "name", Value: "A"}})
	must(t, err)

	// Without a transaction the unit of work keeps A as written (see
	// TestFailedFlushIsRetryable); in one, nothing was written, so the retry
	// writes all three again.
	b.Name = "Bea"
	p.Reset()
	must(t, f.Flush(ctx))
	inserted := 0
	for _, cmd := range entityCommands(p) {
		if cmd.Name == "insert" && cmd.Collection == "writer" {
			inserted++
		}
	}
	if inserted == 0 {
		t.Fatal("the retry inserted nothing")
	}
	for _, name := range []string{"A", "Bea", "C"} {
		countNamed(t, direct, name, 1)
	}
}

func TestTransactionalOnAReplicaSet(t *testing.T) {
	orm, p, direct := rsORMWithAnn(t)
	ctx := context.Background()
	e := orm.Fork()

	// Reads and the flush inside Transactional are one transaction.
	p.Reset()
	err := e.Transactional(ctx, func(tx *em.EntityManager) error {
		ann, err := em.FindOneOrFail[Writer](ctx, tx, em.F{"name": "Ann"})
		if err != nil {
			return err
		}
		ann.Rating = 3
		return tx.Persist(&Writer{Name: "Bob"}, &Novel{Title: "Go", Writer: em.RefTo(ann)})
	})
	must(t, err)
	cmds := entityCommands(p)
	if cmds[0].Name != "find" {
		t.Fatalf("first command in Transactional: %+v", cmds[0])
	}
	lsid, txn := oneTransaction(t, cmds)
	endedOnce(t, p, lsid, txn, true)

	// An error rolls back: abort, and the unit of work as before the call.
	p.Reset()
	var carl *Writer
	boom := errors.New("boom")
	err = e.Transactional(ctx, func(tx *em.EntityManager) error {
		carl = &Writer{Name: "Carl"}
		if err := tx.Persist(carl); err != nil {
			return err
		}
		if err := tx.Flush(ctx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Transactional returned %v, want boom", err)
	}
	lsid, txn = oneTransaction(t, entityCommands(p))
	endedOnce(t, p, lsid, txn, false)
	// As on SQL, the rollback discards in memory what was done inside it:
	// Carl, persisted inside, is no longer managed and never written.
	// (A replica set has rolled Carl's insert back; FerretDB has not: do it.)
	_, err = direct.Collection("writer").DeleteOne(ctx, bson.D{{Key: "name", Value: "Carl"}})
	must(t, err)
	if e.IsManaged(carl) {
		t.Fatal("an entity persisted in the rolled-back transaction is still managed")
	}
	must(t, e.Flush(ctx))
	countNamed(t, direct, "Carl", 0)

	// No savepoints: a nested Transactional is refused, not half done.
	err = e.Transactional(ctx, func(tx *em.EntityManager) error {
		return tx.Transactional(ctx, func(*em.EntityManager) error { return nil })
	})
	if !errors.Is(err, em.ErrUnsupported) {
		t.Fatalf("nested Transactional: %v, want ErrUnsupported", err)
	}
}

func TestFailedFlushDoomsAnOpenTransaction(t *testing.T) {
	orm, p, direct := rsORMWithAnn(t)
	ctx := context.Background()

	e := orm.Fork()
	p.Reset()
	must(t, e.Begin(ctx))
	ok := &Writer{Name: "Ok"}
	must(t, e.Persist(ok))
	must(t, e.Flush(ctx))
	dup := &Writer{Name: "Ann"}
	must(t, e.Persist(dup))
	ferr := e.Flush(ctx)
	if !errors.Is(ferr, em.ErrUniqueViolation) {
		t.Fatalf("duplicate in a transaction: %v", ferr)
	}
	// The caller ignores the error and commits: the transaction cannot
	// commit without the failed flush, so it rolls back and says why.
	e.Detach(dup)
	err := e.Commit(ctx)
	if !errors.Is(err, em.ErrUniqueViolation) {
		t.Fatalf("Commit after a failed flush: %v, want the flush's error", err)
	}
	lsid, txn := oneTransaction(t, entityCommands(p))
	endedOnce(t, p, lsid, txn, false)
	if e.InTransaction() {
		t.Fatal("still in the transaction after Commit rolled it back")
	}
	// Back as at Begin: Ok, persisted inside, is forgotten and never
	// written. (FerretDB applied Ok's insert; a replica set has rolled it
	// back: do it.)
	_, err = direct.Collection("writer").DeleteOne(ctx, bson.D{{Key: "name", Value: "Ok"}})
	must(t, err)
	if e.IsManaged(ok) {
		t.Fatal("an entity persisted in the rolled-back transaction is still managed")
	}
	must(t, e.Flush(ctx))
	countNamed(t, direct, "Ok", 0)
	countNamed(t, direct, "Ann", 1)
}

// rsORMWithAnn opens an ORM through the proxy (see rsServer) on a database
// that holds the writer Ann.
func rsORMWithAnn(t *testing.T) (*em.ORM, *rsproxy.Proxy, *mongo.Database) {
	t.Helper()
	db, p, direct := rsServer(t)
	orm := open(t, db, em.Config{})
	writeAnn(t, orm)
	return orm, p, direct
}

// writeAnn stores the writer Ann, whose name later writers collide with.
func writeAnn(t *testing.T, orm *em.ORM) {
	t.Helper()
	e := orm.Fork()
	must(t, e.Persist(&Writer{Name: "Ann"}))
	must(t, e.Flush(context.Background()))
}

func countNamed(t *testing.T, db *mongo.Database, name string, want int64) {
	t.Helper()
	n, err := db.Collection("writer").CountDocuments(context.Background(), bson.D{{Key: "name", Value: name}})
	must(t, err)
	if n != want {
		t.Fatalf("%d writers named %s, want %d", n, name, want)
	}
}

// The same ORM code without the proxy: FerretDB is a standalone server.
func TestStandaloneServerHasNoTransactions(t *testing.T) {
	db := server(t)
	orm, err := mikromongo.Open(context.Background(), db, em.Config{Entities: entities})
	must(t, err)
	err = orm.Fork().Begin(context.Background())
	if !errors.Is(err, em.ErrTransactionsUnavailable) {
		t.Fatalf("Begin on FerretDB: %v", err)
	}
}

// One manager in a transaction used from several goroutines: the driver's
// session is not safe for concurrent use, so the backend serializes the
// calls of a transaction (run under -race).
func TestTransactionFromManyGoroutines(t *testing.T) {
	orm, p, _ := rsORMWithAnn(t)
	ctx := context.Background()
	e := orm.Fork()
	p.Reset()
	must(t, e.Begin(ctx))
	inGoroutines(t, 4, func(g int) error {
		for i := range 5 {
			if _, err := em.Find[Writer](ctx, e, em.F{"name": "Ann"}); err != nil {
				return err
			}
			if _, err := em.Count[Writer](ctx, e, nil); err != nil {
				return err
			}
			if err := e.Persist(&Writer{Name: fmt.Sprintf("w%d-%d", g, i)}); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, e.Commit(ctx))
	lsid, txn := oneTransaction(t, entityCommands(p))
	endedOnce(t, p, lsid, txn, true)
	n, err := em.Count[Writer](ctx, orm.Fork(), nil)
	must(t, err)
	if n != 21 {
		t.Fatalf("%d writers after the commit, want 21", n)
	}
}

// A flush in a transaction while other goroutines read through the same
// manager: the reads' callbacks take the manager's lock, which the flush
// holds while it writes, so the backend must not hold the transaction
// across them.
func TestFlushWhileReadingInATransaction(t *testing.T) {
	orm, _, _ := rsORMWithAnn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := orm.Fork()
	must(t, e.Begin(ctx))
	inGoroutines(t, 3, func(g int) error {
		for i := range 10 {
			if g > 0 {
				if _, err := em.Find[Writer](ctx, e, nil); err != nil {
					return err
				}
				continue
			}
			if err := e.Persist(&Writer{Name: fmt.Sprintf("f%d", i)}); err != nil {
				return err
			}
			if err := e.Flush(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, e.Commit(ctx))
	n, err := em.Count[Writer](ctx, orm.Fork(), nil)
	must(t, err)
	if n != 11 {
		t.Fatalf("%d writers, want 11", n)
	}
}

// inGoroutines runs fn(0) … fn(n-1) at once and fails t with the first
// error any returns.
func inGoroutines(t *testing.T, n int, fn func(g int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Go(func() {
			if err := fn(g); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
