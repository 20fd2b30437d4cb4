package rsproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
)

// These tests run the MongoDB driver through the proxy against the test
// server named by MIKRO_MONGO_URI (FerretDB, see tools/ferretdb).

// proxied starts a proxy in front of the test server and returns it and a
// fresh collection reached through it with a client connected to uri(p).
// It skips when MIKRO_MONGO_URI is unset, except under CI=true.
func proxied(t *testing.T, uri func(*Proxy) string, opts ...*options.ClientOptions) (*Proxy, *mongo.Collection) {
	t.Helper()
	target := os.Getenv("MIKRO_MONGO_URI")
	if target == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MIKRO_MONGO_URI is not set, and CI=true needs every server (.ci/run starts FerretDB)")
		}
		t.Skip("MIKRO_MONGO_URI is not set; skipping (run tools/ferretdb and set it)")
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("MIKRO_MONGO_URI %q: want mongodb://host:port/ (%v)", target, err)
	}
	p := startProxy(t, u.Host)
	opts = append([]*options.ClientOptions{options.Client().ApplyURI(uri(p)).SetTimeout(20 * time.Second)}, opts...)
	client, err := mongo.Connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := client.Database("rsproxy_test_" + hex.EncodeToString(b))
	t.Cleanup(func() {
		_ = db.Drop(context.Background())
		_ = client.Disconnect(context.Background())
	})
	return p, db.Collection("c")
}

func defaultURI(p *Proxy) string { return p.URI() }

func directURI(p *Proxy) string { return "mongodb://" + p.Addr() + "/?directConnection=true" }

// count returns how many documents coll holds.
func count(t *testing.T, coll *mongo.Collection) int64 {
	t.Helper()
	n, err := coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDriverCRUDAndRetryableWrites(t *testing.T) {
	// compressors: the proxy must keep compression from being negotiated.
	p, coll := proxied(t, func(p *Proxy) string { return p.URI() + "&compressors=zstd,zlib,snappy" })
	ctx := context.Background()

	var hello bson.M
	if err := coll.Database().RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		t.Fatal(err)
	}
	if hello["setName"] != "rs0" || hello["primary"] != p.Addr() || hello["isWritablePrimary"] != true {
		t.Errorf("hello through the proxy = %v", hello)
	}

	p.Reset()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 2}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	var got bson.M
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["x"] != "b" || got["y"] != int32(2) {
		t.Errorf("found %v", got)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, coll); n != 0 {
		t.Errorf("%d documents after delete", n)
	}

	// The driver takes the proxy for a replica set, so the writes are
	// retryable writes: they carry lsid and txnNumber, but no transaction.
	writes := map[string]bool{"insert": true, "update": true, "findAndModify": true, "delete": true}
	seen := 0
	for _, c := range p.Commands() {
		if c.LSID == "" {
			t.Errorf("%s without lsid", c.Name)
		}
		if c.StartTransaction || c.Autocommit != nil {
			t.Errorf("%s has transaction fields: %+v", c.Name, c)
		}
		if writes[c.Name] {
			seen++
			if !c.HasTxn || c.Collection != "c" {
				t.Errorf("retryable %s: %+v, want a txnNumber", c.Name, c)
			}
		} else if c.HasTxn {
			t.Errorf("%s has txnNumber %d", c.Name, c.TxnNumber)
		}
	}
	if seen != len(writes) {
		t.Errorf("saw %d of the %d writes in %+v", seen, len(writes), p.Commands())
	}
}

// runTransaction inserts two documents in a session transaction and ends it
// with commit or abort, and returns the recorded commands.
func runTransaction(t *testing.T, p *Proxy, coll *mongo.Collection, commit bool, opts ...options.Lister[options.TransactionOptions]) []Command {
	t.Helper()
	ctx := context.Background()
	sess, err := coll.Database().Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	p.Reset()
	if err := sess.StartTransaction(opts...); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	for i := range 2 {
		if _, err := coll.InsertOne(sctx, bson.D{{Key: "i", Value: i}}); err != nil {
			t.Fatalf("insert %d in transaction: %v", i, err)
		}
	}
	if commit {
		err = sess.CommitTransaction(sctx)
	} else {
		err = sess.AbortTransaction(sctx)
	}
	if err != nil {
		t.Fatalf("ending the transaction (commit %v): %v", commit, err)
	}
	return p.Commands()
}

// checkTransaction asserts the recorded commands of runTransaction: two
// inserts and then end, all with one lsid and txnNumber.
func checkTransaction(t *testing.T, cmds []Command, end string) {
	t.Helper()
	if len(cmds) != 3 {
		t.Fatalf("recorded %+v, want insert, insert, %s", cmds, end)
	}
	first := cmds[0]
	if first.LSID == "" || !first.HasTxn {
		t.Fatalf("first insert %+v: want lsid and txnNumber", first)
	}
	for i, c := range cmds {
		name := "insert"
		if i == 2 {
			name = end
		}
		if c.Name != name || c.LSID != first.LSID || !c.HasTxn || c.TxnNumber != first.TxnNumber {
			t.Errorf("command %d = %+v, want %s with lsid %s txnNumber %d", i, c, name, first.LSID, first.TxnNumber)
		}
		if c.StartTransaction != (i == 0) {
			t.Errorf("command %d (%s): startTransaction %v", i, c.Name, c.StartTransaction)
		}
		if c.Autocommit == nil || *c.Autocommit {
			t.Errorf("command %d (%s): autocommit %v, want false", i, c.Name, c.Autocommit)
		}
	}
	if cmds[0].DB != cmds[1].DB || cmds[0].Collection != "c" || cmds[2].DB != "admin" {
		t.Errorf("databases/collections: %+v", cmds)
	}
}

func TestDriverTransactionCommit(t *testing.T) {
	for name, uri := range map[string]func(*Proxy) string{"replicaSet": defaultURI, "directConnection": directURI} {
		t.Run(name, func(t *testing.T) {
			p, coll := proxied(t, uri)
			checkTransaction(t, runTransaction(t, p, coll, true), "commitTransaction")
			if n := count(t, coll); n != 2 {
				t.Errorf("%d documents after commit, want 2", n)
			}
			// A second transaction on a new session gets a new lsid; the
			// session's next transaction would get txnNumber+1.
			again := runTransaction(t, p, coll, true)
			checkTransaction(t, again, "commitTransaction")
		})
	}
}

func TestDriverTransactionAbort(t *testing.T) {
	p, coll := proxied(t, defaultURI)
	cmds := runTransaction(t, p, coll, false)
	checkTransaction(t, cmds, "abortTransaction")
	for _, c := range cmds {
		if c.Name == "commitTransaction" {
			t.Errorf("commitTransaction recorded after abort: %+v", cmds)
		}
	}
	// No transactional semantics: the aborted inserts were applied.
	if n := count(t, coll); n != 2 {
		t.Errorf("%d documents after abort, want 2 (the proxy cannot undo)", n)
	}
}

func TestDriverTransactionWithReadConcernAndRead(t *testing.T) {
	p, coll := proxied(t, defaultURI)
	ctx := context.Background()
	sess, err := coll.Database().Client().StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	p.Reset()
	// The snapshot read concern goes on the first command, an insert, which
	// FerretDB rejects with readConcern unless the proxy removes it.
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			return nil, err
		}
		return nil, coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Err()
	}, options.Transaction().SetReadConcern(readconcern.Snapshot()))
	if err != nil {
		t.Fatal(err)
	}
	cmds := p.Commands()
	if len(cmds) != 3 || cmds[0].Name != "insert" || cmds[1].Name != "find" || cmds[2].Name != "commitTransaction" {
		t.Fatalf("recorded %+v, want insert, find, commitTransaction", cmds)
	}
	for _, c := range cmds {
		if c.LSID != cmds[0].LSID || !c.HasTxn || c.TxnNumber != cmds[0].TxnNumber {
			t.Errorf("%+v not in the transaction of %+v", c, cmds[0])
		}
	}
}

// TestDriverMonitoringSeesPrimary checks the monitoring connection: after
// the legacy OP_QUERY handshake the driver polls with OP_MSG hello, and
// every heartbeat, polled rather than streamed, shows the replica set primary.
func TestDriverMonitoringSeesPrimary(t *testing.T) {
	beats := make(chan *event.ServerHeartbeatSucceededEvent, 100)
	failed := make(chan error, 100)
	monitor := &event.ServerMonitor{
		ServerHeartbeatSucceeded: func(e *event.ServerHeartbeatSucceededEvent) {
			select {
			case beats <- e:
			default:
			}
		},
		ServerHeartbeatFailed: func(e *event.ServerHeartbeatFailedEvent) {
			select {
			case failed <- e.Failure:
			default:
			}
		},
	}
	// "stream" would be used if the reply had a topologyVersion.
	opts := options.Client().SetHeartbeatInterval(500 * time.Millisecond).SetServerMonitor(monitor).SetServerMonitoringMode("stream")
	p, coll := proxied(t, defaultURI, opts)
	if err := coll.Database().Client().Ping(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
	for i := range 3 {
		select {
		case e := <-beats:
			if e.Reply.Kind != "RSPrimary" || e.Reply.SetName != "rs0" || e.Awaited {
				t.Errorf("heartbeat %d: kind %q set %q awaited %v", i, e.Reply.Kind, e.Reply.SetName, e.Awaited)
			}
		case err := <-failed:
			t.Fatalf("heartbeat failed: %v", err)
		case <-timeout:
			t.Fatalf("only %d heartbeats", i)
		}
	}
	checkTransaction(t, runTransaction(t, p, coll, true), "commitTransaction")
}
