package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// These tests record what FerretDB v1.24.2 (SQLite backend) supports, as seen
// through go.mongodb.org/mongo-driver/v2. They assert FerretDB's actual
// behaviour, including where it differs from MongoDB, so an upgrade that
// changes any of it makes them fail.

const runMainEnv = "FERRETDB_SMOKE_RUN_MAIN"

func TestMain(m *testing.M) {
	// Lets TestBinary run this test binary as the ferretdb command.
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newDB starts an in-process server on a free loopback port and returns a
// database on it. Everything is torn down at the end of the test.
func newDB(t *testing.T) *mongo.Database {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := start(ctx, t.TempDir(), "127.0.0.1:0", logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI).SetTimeout(10 * time.Second))
	if err != nil {
		cancel()
		<-srv.Done
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Disconnect(context.Background())
		cancel()
		if err := <-srv.Done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return client.Database("smoke")
}

func asCommandError(t *testing.T, err error) mongo.CommandError {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("want mongo.CommandError, got %T: %v", err, err)
	}
	return ce
}

func wantCommandError(t *testing.T, err error, code int32, name, msg string) {
	t.Helper()
	ce := asCommandError(t, err)
	if ce.Code != code || ce.Name != name || ce.Message != msg {
		t.Fatalf("got CommandError code=%d name=%q msg=%q, want code=%d name=%q msg=%q",
			ce.Code, ce.Name, ce.Message, code, name, msg)
	}
}

func wantWriteError(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 {
		t.Fatalf("want mongo.WriteException with one write error, got %T: %v", err, err)
	}
	if got := we.WriteErrors[0]; got.Code != code || got.Message != msg {
		t.Fatalf("got write error code=%d msg=%q, want code=%d msg=%q", got.Code, got.Message, code, msg)
	}
}

// TestBinary runs the command itself: one URI line on stdout when ready,
// serves, exits 0 on SIGINT and removes its temporary directory.
func TestBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		cmd := exec.Command(exe, "-listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), runMainEnv+"=1", "TMPDIR="+tmp)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		line, err := r.ReadString('\n')
		if err != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("reading URI: %v (stderr: %s)", err, stderr.String())
		}
		t.Logf("ready after %v: %q", time.Since(begin), line)
		uri := strings.TrimSuffix(line, "\n")
		if !regexp.MustCompile(`^mongodb://127\.0\.0\.1:[0-9]+/$`).MatchString(uri) {
			t.Errorf("URI line = %q", line)
		}

		client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		coll := client.Database("bin").Collection("c")
		if _, err := coll.InsertOne(context.Background(), bson.D{{Key: "x", Value: 1}}); err != nil {
			t.Errorf("insert: %v", err)
		}
		_ = client.Disconnect(context.Background())
		if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
			t.Errorf("want 1 temporary data directory while running, got %d", len(entries))
		}

		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r)
		if err := cmd.Wait(); err != nil {
			t.Errorf("exit after %v: %v (stderr: %s)", sig, err, stderr.String())
		}
		if len(rest) != 0 {
			t.Errorf("extra stdout: %q", rest)
		}
		if stderr.Len() != 0 {
			t.Errorf("stderr not quiet: %q", stderr.String())
		}
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("temporary data directory not removed: %v", entries)
		}
	}

	// Errors: one line on stderr, exit code 1.
	cmd := exec.Command(exe, "-listen", "127.0.0.1:bad")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("bad -listen: want exit code 1, got %v", err)
	}
	if s := string(out); !strings.HasPrefix(s, "ferretdb: ") || strings.Count(s, "\n") != 1 {
		t.Errorf("bad -listen: want one line on stderr, got %q", s)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary data directory not removed after error: %v", entries)
	}
}

type item struct {
	ID    bson.ObjectID `bson:"_id,omitempty"`
	Name  string        `bson:"name"`
	Price int64         `bson:"price"`
	Tag   string        `bson:"tag"`
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	coll := newDB(t).Collection("items")

	docs := []any{
		item{Name: "apple", Price: 3, Tag: "fruit"},
		item{Name: "banana", Price: 1, Tag: "fruit"},
		item{Name: "carrot", Price: 2, Tag: "veg"},
		item{Name: "avocado", Price: 5, Tag: "fruit"},
		item{Name: "beet", Price: 4, Tag: "veg"},
	}
	res, err := coll.InsertMany(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.InsertedIDs) != len(docs) {
		t.Fatalf("InsertedIDs = %v", res.InsertedIDs)
	}
	for i, id := range res.InsertedIDs {
		if oid, ok := id.(bson.ObjectID); !ok || oid.IsZero() {
			t.Errorf("InsertedIDs[%d] = %T %v, want non-zero ObjectID", i, id, id)
		}
	}

	find := func(filter any, opts ...options.Lister[options.FindOptions]) []item {
		t.Helper()
		cur, err := coll.Find(ctx, filter, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var out []item
		if err := cur.All(ctx, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	names := func(items []item) string {
		var s []string
		for _, it := range items {
			s = append(s, it.Name)
		}
		return strings.Join(s, ",")
	}
	byName := options.Find().SetSort(bson.D{{Key: "name", Value: 1}})

	if got := names(find(bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: bson.A{"apple", "beet", "nope"}}}}}, byName)); got != "apple,beet" {
		t.Errorf("$in: %s", got)
	}
	// int32 bound against int64 field: numeric types compare across types.
	if got := names(find(bson.D{{Key: "price", Value: bson.D{{Key: "$gt", Value: int32(3)}}}}, byName)); got != "avocado,beet" {
		t.Errorf("$gt: %s", got)
	}
	if got := names(find(bson.D{{Key: "name", Value: bson.D{{Key: "$regex", Value: "^A"}, {Key: "$options", Value: "i"}}}}, byName)); got != "apple,avocado" {
		t.Errorf("$regex: %s", got)
	}
	if got := names(find(bson.D{{Key: "name", Value: bson.Regex{Pattern: "o$"}}}, byName)); got != "avocado" {
		t.Errorf("bson.Regex: %s", got)
	}
	paged := options.Find().SetSort(bson.D{{Key: "tag", Value: 1}, {Key: "price", Value: -1}}).SetSkip(1).SetLimit(3)
	if got := names(find(bson.D{}, paged)); got != "apple,banana,beet" {
		t.Errorf("sort/skip/limit: %s", got)
	}

	// Projection: inclusion; _id is included unless excluded.
	cur, err := coll.Find(ctx, bson.D{{Key: "name", Value: "apple"}},
		options.Find().SetProjection(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 0}}))
	if err != nil {
		t.Fatal(err)
	}
	var projected []bson.D
	if err := cur.All(ctx, &projected); err != nil {
		t.Fatal(err)
	}
	if len(projected) != 1 || len(projected[0]) != 1 || projected[0][0].Key != "name" || projected[0][0].Value != "apple" {
		t.Errorf("projection: %v", projected)
	}
	var excl bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "name", Value: "apple"}},
		options.FindOne().SetProjection(bson.D{{Key: "tag", Value: 0}, {Key: "price", Value: 0}})).Decode(&excl); err != nil {
		t.Fatal(err)
	}
	if _, ok := excl["_id"]; !ok || len(excl) != 2 || excl["name"] != "apple" {
		t.Errorf("exclusion projection: %v", excl)
	}

	n, err := coll.CountDocuments(ctx, bson.D{{Key: "tag", Value: "fruit"}})
	if err != nil || n != 3 {
		t.Errorf("CountDocuments = %d, %v", n, err)
	}
	n, err = coll.CountDocuments(ctx, bson.D{}, options.Count().SetSkip(1).SetLimit(2))
	if err != nil || n != 2 {
		t.Errorf("CountDocuments skip/limit = %d, %v", n, err)
	}
	n, err = coll.EstimatedDocumentCount(ctx)
	if err != nil || n != 5 {
		t.Errorf("EstimatedDocumentCount = %d, %v", n, err)
	}

	// A cursor larger than the first batch (getMore).
	var many []any
	for i := range 250 {
		many = append(many, bson.D{{Key: "i", Value: i}})
	}
	if _, err := coll.Database().Collection("many").InsertMany(ctx, many); err != nil {
		t.Fatal(err)
	}
	cur, err = coll.Database().Collection("many").Find(ctx, bson.D{}, options.Find().SetBatchSize(50))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.M
	if err := cur.All(ctx, &all); err != nil || len(all) != 250 {
		t.Errorf("getMore: %d docs, %v", len(all), err)
	}
}

func TestBulkWrite(t *testing.T) {
	ctx := context.Background()
	coll := newDB(t).Collection("bulk")

	a, b, c := bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID()
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: a}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "a"}, {Key: "tmp", Value: true}},
		bson.D{{Key: "_id", Value: b}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "b"}},
	}); err != nil {
		t.Fatal(err)
	}

	models := []mongo.WriteModel{
		mongo.NewInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: c}, {Key: "version", Value: int64(1)}, {Key: "name", Value: "c"}}),
		// Optimistic-lock update that matches and modifies.
		mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: a}, {Key: "version", Value: int64(1)}}).
			SetUpdate(bson.D{
				{Key: "$set", Value: bson.D{{Key: "version", Value: int64(2)}, {Key: "name", Value: "a2"}}},
				{Key: "$unset", Value: bson.D{{Key: "tmp", Value: ""}}},
			}),
		// Stale version: matches nothing.
		mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: b}, {Key: "version", Value: int64(7)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(8)}}}}),
		// Matches but changes nothing: MongoDB reports it as matched, not modified.
		mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: b}, {Key: "version", Value: int64(1)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "b"}}}}),
		mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: c}}),
		mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: bson.NewObjectID()}}),
	}
	res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.InsertedCount != 1 || res.MatchedCount != 2 || res.ModifiedCount != 1 ||
		res.DeletedCount != 1 || res.UpsertedCount != 0 || !res.Acknowledged {
		t.Errorf("BulkWriteResult = %+v, want inserted=1 matched=2 modified=1 deleted=1 upserted=0", res)
	}

	var got bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: a}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != int64(2) || got["name"] != "a2" {
		t.Errorf("after $set: %v", got)
	}
	if _, ok := got["tmp"]; ok {
		t.Errorf("$unset did not remove tmp: %v", got)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{}); n != 2 {
		t.Errorf("documents after bulk = %d, want 2", n)
	}

	// Single-operation results.
	ur, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: a}, {Key: "version", Value: int64(1)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(3)}}}})
	if err != nil || ur.MatchedCount != 0 || ur.ModifiedCount != 0 {
		t.Errorf("stale UpdateOne = %+v, %v", ur, err)
	}
	ur, err = coll.UpdateOne(ctx, bson.D{{Key: "name", Value: "new"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(1)}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || ur.MatchedCount != 0 || ur.UpsertedCount != 1 || ur.UpsertedID == nil {
		t.Errorf("upsert UpdateOne = %+v, %v", ur, err)
	}
	dr, err := coll.DeleteMany(ctx, bson.D{})
	if err != nil || dr.DeletedCount != 3 {
		t.Errorf("DeleteMany = %+v, %v", dr, err)
	}
}

func TestUniqueIndex(t *testing.T) {
	ctx := context.Background()
	coll := newDB(t).Collection("users")

	names, err := coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")},
		{Keys: bson.D{{Key: "org", Value: 1}, {Key: "login", Value: -1}}, Options: options.Index().SetUnique(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "email_unique,org_1_login_-1" {
		t.Errorf("index names = %v", names)
	}

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "a@x"}}); err != nil {
		t.Fatal(err)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "email", Value: "a@x"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("IsDuplicateKeyError = false for %T: %v", err, err)
	}
	// The message names the collection but not the index or key (MongoDB
	// says "... collection: smoke.users index: email_unique dup key: { ... }").
	wantWriteError(t, err, 11000, "E11000 duplicate key error collection: smoke.users")

	// Compound unique index.
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "b@x"}, {Key: "org", Value: 1}, {Key: "login", Value: "u"}}); err != nil {
		t.Fatal(err)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "email", Value: "c@x"}, {Key: "org", Value: 1}, {Key: "login", Value: "u"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Errorf("compound: IsDuplicateKeyError = false for %v", err)
	}

	// Duplicate in an ordered InsertMany: BulkWriteException, later documents not inserted.
	_, err = coll.InsertMany(ctx, []any{
		bson.D{{Key: "email", Value: "d@x"}},
		bson.D{{Key: "email", Value: "a@x"}},
		bson.D{{Key: "email", Value: "e@x"}},
	})
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 1 || bwe.WriteErrors[0].Code != 11000 {
		t.Fatalf("ordered InsertMany: %T %v", err, err)
	}
	if !mongo.IsDuplicateKeyError(err) {
		t.Errorf("ordered InsertMany: IsDuplicateKeyError = false")
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: bson.D{{Key: "$in", Value: bson.A{"d@x", "e@x"}}}}}); n != 1 {
		t.Errorf("ordered InsertMany inserted %d of d@x/e@x, want 1", n)
	}

	// Numeric types are compared by value in unique indexes, like MongoDB.
	_, err = coll.InsertOne(ctx, bson.D{{Key: "email", Value: "n@x"}, {Key: "org", Value: int64(1)}, {Key: "login", Value: "u"}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Errorf("int64 vs int32 key: IsDuplicateKeyError = false for %v", err)
	}

	// Duplicate _id (always unique).
	_, err = coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 1}}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Errorf("_id: IsDuplicateKeyError = false for %T %v", err, err)
	}

	// Upsert inserting a duplicate: normal duplicate key write error.
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "nomatch", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "a@x"}}}}, options.UpdateOne().SetUpsert(true))
	wantWriteError(t, err, 11000, "E11000 duplicate key error collection: smoke.users")

	// SURPRISE: an update, replace or findAndModify that creates a duplicate
	// gives an InternalError (code 1) wrapping SQLite's UNIQUE constraint
	// error, so mongo.IsDuplicateKeyError is false. The document is unchanged.
	wantInternalUnique := func(what string, err error) {
		t.Helper()
		ce := asCommandError(t, err)
		if ce.Code != 1 || ce.Name != "InternalError" || !strings.Contains(ce.Message, "constraint failed: UNIQUE constraint failed: index 'users_") {
			t.Errorf("%s: got code=%d name=%q msg=%q", what, ce.Code, ce.Name, ce.Message)
		}
		if mongo.IsDuplicateKeyError(err) {
			t.Errorf("%s: IsDuplicateKeyError = true", what)
		}
	}
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "email", Value: "b@x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "a@x"}}}})
	wantInternalUnique("UpdateOne", err)
	_, err = coll.ReplaceOne(ctx, bson.D{{Key: "email", Value: "b@x"}}, bson.D{{Key: "email", Value: "a@x"}})
	wantInternalUnique("ReplaceOne", err)
	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "email", Value: "b@x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "a@x"}}}}).Err()
	wantInternalUnique("FindOneAndUpdate", err)
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: "b@x"}}); n != 1 {
		t.Errorf("b@x changed by failed updates")
	}

	// SURPRISE: documents missing the indexed field do not conflict (MongoDB
	// indexes a missing field as null, so the second one would be a
	// duplicate); explicit nulls do conflict.
	others := coll.Database().Collection("others")
	if _, err := others.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := others.InsertMany(ctx, []any{bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "x", Value: 2}}, bson.D{{Key: "k", Value: nil}}}); err != nil {
		t.Errorf("missing/null keys: %v", err)
	}
	if _, err := others.InsertOne(ctx, bson.D{{Key: "k", Value: nil}}); !mongo.IsDuplicateKeyError(err) {
		t.Errorf("second null key: IsDuplicateKeyError = false for %v", err)
	}

	// Creating a unique index over existing duplicates is also an
	// InternalError (code 1) wrapping SQLite's error, not DuplicateKey (11000).
	dups := coll.Database().Collection("dups")
	if _, err := dups.InsertMany(ctx, []any{bson.D{{Key: "k", Value: 1}}, bson.D{{Key: "k", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	_, err = dups.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "k", Value: 1}}, Options: options.Index().SetUnique(true)})
	if ce := asCommandError(t, err); ce.Code != 1 || ce.Name != "InternalError" || !strings.Contains(ce.Message, "UNIQUE constraint failed") {
		t.Errorf("unique index over duplicates: %v", ce)
	}
}

func TestTransactions(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	coll := db.Collection("tx")

	// hello advertises sessions (logicalSessionTimeoutMinutes), so the driver
	// lets you start sessions and transactions client-side.
	sess, err := db.Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)

	// Plain session use (lsid, no transaction) works.
	if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "s", Value: 0}}); err != nil {
		t.Fatalf("insert with session: %v", err)
	}

	if err := sess.StartTransaction(); err != nil {
		t.Fatalf("StartTransaction: %v", err)
	}
	// The first command in the transaction fails.
	_, err = coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "s", Value: 1}})
	wantCommandError(t, err, 9, "FailedToParse", `insert: unknown field "startTransaction"`)
	if ce := asCommandError(t, err); len(ce.Labels) != 0 {
		t.Errorf("labels = %v, want none (so WithTransaction does not retry)", ce.Labels)
	}
	if mongo.IsDuplicateKeyError(err) || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		t.Errorf("unexpected classification of %v", err)
	}
	wantCommandError(t, sess.CommitTransaction(ctx), 59, "CommandNotFound", "no such command: 'commitTransaction'")

	if err := sess.StartTransaction(); err != nil {
		t.Fatalf("second StartTransaction: %v", err)
	}
	_, _ = coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "s", Value: 2}})
	// AbortTransaction hides the server's CommandNotFound and returns nil.
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Errorf("AbortTransaction: %v", err)
	}

	calls := 0
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		calls++
		return coll.InsertOne(ctx, bson.D{{Key: "s", Value: 3}})
	})
	wantCommandError(t, err, 9, "FailedToParse", `insert: unknown field "startTransaction"`)
	if calls != 1 {
		t.Errorf("WithTransaction callback called %d times", calls)
	}

	// Only the insert outside a transaction took effect.
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("documents = %d, %v; want 1", n, err)
	}
}

func TestAggregate(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	orders := db.Collection("orders")
	if _, err := orders.InsertMany(ctx, []any{
		bson.D{{Key: "user", Value: 1}, {Key: "total", Value: 10}},
		bson.D{{Key: "user", Value: 1}, {Key: "total", Value: 5}},
		bson.D{{Key: "user", Value: 2}, {Key: "total", Value: 7}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("users").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	cur, err := orders.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "total", Value: bson.D{{Key: "$gte", Value: 5}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$user"}, {Key: "sum", Value: bson.D{{Key: "$sum", Value: "$total"}}}, {Key: "n", Value: bson.D{{Key: "$count", Value: bson.D{}}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var groups []struct {
		ID  int `bson:"_id"`
		Sum int `bson:"sum"`
		N   int `bson:"n"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		t.Fatal(err)
	}
	// SURPRISE (bug): with several accumulators only the first one is
	// computed; the others come back as 0 (here n should be 2 and 1).
	if len(groups) != 2 || groups[0].ID != 1 || groups[0].Sum != 15 || groups[0].N != 0 ||
		groups[1].ID != 2 || groups[1].Sum != 7 || groups[1].N != 0 {
		t.Errorf("$group: %+v", groups)
	}
	// Only $sum and $count accumulators exist.
	_, err = orders.Aggregate(ctx, mongo.Pipeline{{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "a", Value: bson.D{{Key: "$avg", Value: "$total"}}}}}}})
	wantCommandError(t, err, 238, "NotImplemented", `$group accumulator "$avg" is not implemented yet`)

	_, err = orders.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "users"}, {Key: "localField", Value: "user"}, {Key: "foreignField", Value: "_id"}, {Key: "as", Value: "u"}}}},
	})
	wantCommandError(t, err, 238, "NotImplemented", "`aggregate` stage \"$lookup\" is not implemented yet")

	_, err = orders.Aggregate(ctx, mongo.Pipeline{{{Key: "$facet", Value: bson.D{{Key: "n", Value: bson.A{bson.D{{Key: "$count", Value: "n"}}}}}}}})
	wantCommandError(t, err, 238, "NotImplemented", "`aggregate` stage \"$facet\" is not implemented yet")

	_, err = orders.Watch(ctx, mongo.Pipeline{})
	wantCommandError(t, err, 238, "NotImplemented", "`aggregate` stage \"$changeStream\" is not implemented yet")
}

// TestSurprises records other differences from MongoDB that matter to an ODM.
func TestSurprises(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	coll := db.Collection("types")

	// Numeric types round-trip exactly and compare across types.
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	oid := bson.NewObjectID()
	res, err := coll.InsertOne(ctx, bson.D{
		{Key: "i32", Value: int32(5)}, {Key: "i64", Value: int64(5)}, {Key: "big", Value: int64(1) << 60},
		{Key: "f", Value: 5.0}, {Key: "t", Value: now}, {Key: "ref", Value: oid}, {Key: "", Value: "empty key"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.InsertedID.(bson.ObjectID); !ok {
		t.Errorf("InsertedID is %T, want bson.ObjectID (generated by the driver)", res.InsertedID)
	}
	var raw bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: res.InsertedID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bson.Type{"i32": bson.TypeInt32, "i64": bson.TypeInt64, "big": bson.TypeInt64, "f": bson.TypeDouble, "t": bson.TypeDateTime, "ref": bson.TypeObjectID, "": bson.TypeString} {
		if got := raw.Lookup(key).Type; got != want {
			t.Errorf("%q: type %v, want %v", key, got, want)
		}
	}
	if got := raw.Lookup("big").Int64(); got != 1<<60 {
		t.Errorf("big = %d", got)
	}
	if got := raw.Lookup("ref").ObjectID(); got != oid {
		t.Errorf("ObjectID %v, want %v", got, oid)
	}
	// BSON datetime is milliseconds: nanoseconds are truncated (same as MongoDB).
	if got := raw.Lookup("t").Time().UTC(); !got.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("time = %v, want %v", got, now.Truncate(time.Millisecond))
	}
	for _, f := range []bson.D{
		{{Key: "i64", Value: int32(5)}}, {{Key: "i32", Value: int64(5)}}, {{Key: "f", Value: int64(5)}}, {{Key: "big", Value: float64(1 << 60)}},
	} {
		if n, err := coll.CountDocuments(ctx, f); err != nil || n != 1 {
			t.Errorf("cross-type match %v: %d, %v", f, n, err)
		}
	}

	// Field names starting with '$' or containing '.' are rejected (code 2, BadValue).
	_, err = coll.InsertOne(ctx, bson.D{{Key: "$bad", Value: 1}})
	wantWriteError(t, err, 2, `invalid key: "$bad" (key must not start with '$' sign)`)
	_, err = coll.InsertOne(ctx, bson.D{{Key: "a.b", Value: 1}})
	wantWriteError(t, err, 2, `invalid key: "a.b" (key must not contain '.' sign)`)
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: bson.A{1}}})
	wantWriteError(t, err, 53, "The '_id' value cannot be of type array")
	_, err = db.Collection("bad$name").InsertOne(ctx, bson.D{})
	wantCommandError(t, err, 73, "InvalidNamespace", "Invalid collection name: bad$name")

	// Decimal128 is not supported: the server drops the connection (it logs a
	// panic "invalid BSON type wirebson.Decimal128"), the driver sees a
	// network error, and nothing is stored.
	_, err = coll.InsertOne(ctx, bson.D{{Key: "dec", Value: bson.NewDecimal128(0, 1)}})
	if !mongo.IsNetworkError(err) {
		t.Errorf("Decimal128 insert: want network error, got %T %v", err, err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "dec", Value: bson.D{{Key: "$exists", Value: true}}}}); n != 0 {
		t.Errorf("Decimal128 document stored")
	}

	// Update operators commonly used by an ODM work.
	ur, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: res.InsertedID}}, bson.D{
		{Key: "$inc", Value: bson.D{{Key: "i32", Value: int32(1)}, {Key: "i64", Value: int64(1)}}},
		{Key: "$push", Value: bson.D{{Key: "arr", Value: 1}}},
		{Key: "$addToSet", Value: bson.D{{Key: "set", Value: "x"}}},
		{Key: "$currentDate", Value: bson.D{{Key: "t", Value: true}}},
		{Key: "$rename", Value: bson.D{{Key: "f", Value: "g"}}},
	})
	if err != nil || ur.ModifiedCount != 1 {
		t.Errorf("update operators: %+v %v", ur, err)
	}
	// ... but the positional '$' operator, pipeline updates and $expr do not.
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "arr", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "arr.$", Value: 2}}}})
	wantWriteError(t, err, 28, "Cannot create field '$' in element {arr: [ 1 ]}")
	_, err = coll.UpdateOne(ctx, bson.D{}, mongo.Pipeline{{{Key: "$set", Value: bson.D{{Key: "q", Value: 1}}}}})
	wantCommandError(t, err, 14, "TypeMismatch", "BSON field 'update.updates.u' is the wrong type 'array', expected type 'object'")
	_, err = coll.Find(ctx, bson.D{{Key: "$expr", Value: bson.D{{Key: "$eq", Value: bson.A{"$i32", 6}}}}})
	wantCommandError(t, err, 238, "NotImplemented", "Invalid $match :: caused by :: The operator $eq is not implemented yet")

	// TTL and partial indexes are not implemented.
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(60)})
	wantCommandError(t, err, 238, "NotImplemented", `Index option "expireAfterSeconds" is not implemented yet`)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "q", Value: 1}}, Options: options.Index().SetPartialFilterExpression(bson.D{{Key: "q", Value: bson.D{{Key: "$exists", Value: true}}}})})
	wantCommandError(t, err, 238, "NotImplemented", `Index option "partialFilterExpression" is not implemented yet`)
}
