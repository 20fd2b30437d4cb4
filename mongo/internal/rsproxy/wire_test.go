package rsproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// These tests run the proxy against a fake target server that records the
// messages it receives, so they need no MongoDB server.

// fakeTarget is a wire protocol server that sends every message it receives
// to got and answers with whatever reply returns.
type fakeTarget struct {
	ln    net.Listener
	got   chan message
	reply func(m message) []message
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startFake(t *testing.T, reply func(m message) []message) *fakeTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTarget{ln: ln, got: make(chan message, 100), reply: reply}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Go(func() {
				for {
					m, err := readMessage(c)
					if err != nil {
						return
					}
					f.got <- m
					for _, r := range f.reply(m) {
						if _, err := c.Write(r.bytes()); err != nil {
							return
						}
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// next returns the next message the fake target received.
func (f *fakeTarget) next(t *testing.T) message {
	t.Helper()
	select {
	case m := <-f.got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("the target received nothing")
		return message{}
	}
}

// okReply answers every OP_MSG with {ok: 1, n: 1}.
func okReply(m message) []message {
	return []message{{requestID: 7, responseTo: m.requestID, opCode: opMsg, body: opMsgReply(mustDoc(bson.D{{Key: "ok", Value: 1.0}, {Key: "n", Value: int32(1)}}))}}
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustDoc(v any) bson.Raw {
	b, err := bson.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// opMsgWith returns an OP_MSG body with flags, doc as body section and one
// document sequence called seqName holding seq (none if seqName is "").
func opMsgWith(flags uint32, doc bson.Raw, seqName string, seq ...bson.Raw) []byte {
	b := binary.LittleEndian.AppendUint32(nil, flags)
	b = append(append(b, 0), doc...)
	if seqName != "" {
		s := append([]byte(seqName), 0)
		for _, d := range seq {
			s = append(s, d...)
		}
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(4+len(s)))
		b = append(b, s...)
	}
	return b
}

func send(t *testing.T, c net.Conn, m message) {
	t.Helper()
	if _, err := c.Write(m.bytes()); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, c net.Conn) message {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := readMessage(c)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	return m
}

func body(t *testing.T, m message) bson.Raw {
	t.Helper()
	if m.opCode != opMsg {
		t.Fatalf("opCode = %d, want OP_MSG", m.opCode)
	}
	o, err := parseOpMsg(m.body)
	if err != nil {
		t.Fatal(err)
	}
	return o.doc()
}

func keys(t *testing.T, doc bson.Raw) []string {
	t.Helper()
	d, err := elements(doc)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, e := range d {
		ks = append(ks, e.Key)
	}
	return ks
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var uuid = bson.Binary{Subtype: 4, Data: []byte{0: 0xab, 15: 0x01}}

func TestStripsTransactionFieldsAndRecords(t *testing.T) {
	f := startFake(t, okReply)
	p := startProxy(t, f.ln.Addr().String())
	c := dial(t, p)

	cmd := mustDoc(bson.D{
		{Key: "insert", Value: "books"}, {Key: "ordered", Value: true},
		{Key: "lsid", Value: bson.D{{Key: "id", Value: uuid}}},
		{Key: "txnNumber", Value: int64(5)}, {Key: "startTransaction", Value: true},
		{Key: "autocommit", Value: false}, {Key: "readConcern", Value: bson.D{{Key: "level", Value: "snapshot"}}},
		{Key: "recoveryToken", Value: bson.D{{Key: "x", Value: 1}}},
		{Key: "$db", Value: "shop"},
	})
	seq := mustDoc(bson.D{{Key: "_id", Value: 1}})
	// With a checksum, which the proxy drops when it rewrites.
	withSum := append(opMsgWith(flagChecksumPresent, cmd, "documents", seq), 1, 2, 3, 4)
	send(t, c, message{requestID: 41, opCode: opMsg, body: withSum})

	got := f.next(t)
	if got.requestID != 41 {
		t.Errorf("forwarded requestID = %d, want 41", got.requestID)
	}
	want := opMsgWith(0, mustDoc(bson.D{
		{Key: "insert", Value: "books"}, {Key: "ordered", Value: true},
		{Key: "lsid", Value: bson.D{{Key: "id", Value: uuid}}}, {Key: "$db", Value: "shop"},
	}), "documents", seq)
	if !bytes.Equal(got.body, want) {
		t.Errorf("forwarded body = %x, want %x", got.body, want)
	}
	if r := receive(t, c); r.responseTo != 41 || body(t, r).Lookup("n").Int32() != 1 {
		t.Errorf("reply responseTo %d body %s, want the target's reply to 41", r.responseTo, body(t, r))
	}

	// Outside a transaction (retryable write or read), readConcern stays.
	find := mustDoc(bson.D{
		{Key: "find", Value: "books"}, {Key: "readConcern", Value: bson.D{{Key: "level", Value: "majority"}}},
		{Key: "txnNumber", Value: int64(6)}, {Key: "$db", Value: "shop"},
	})
	send(t, c, message{requestID: 42, opCode: opMsg, body: opMsgWith(0, find, "")})
	if ks := keys(t, body(t, f.next(t))); !equal(ks, []string{"find", "readConcern", "$db"}) {
		t.Errorf("forwarded find keys = %v", ks)
	}
	receive(t, c)

	// A command without any of the fields is forwarded byte for byte.
	ping := message{requestID: 43, opCode: opMsg, body: opMsgWith(0, mustDoc(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}), "")}
	send(t, c, ping)
	if got := f.next(t); !bytes.Equal(got.bytes(), ping.bytes()) {
		t.Errorf("ping forwarded as %x, want %x", got.bytes(), ping.bytes())
	}
	receive(t, c)

	f5, f6 := false, int64(6)
	cmds := p.Commands()
	wantCmds := []Command{
		{Name: "insert", DB: "shop", Collection: "books", LSID: "ab000000000000000000000000000001", TxnNumber: 5, HasTxn: true, StartTransaction: true, Autocommit: &f5},
		{Name: "find", DB: "shop", Collection: "books", TxnNumber: f6, HasTxn: true},
		{Name: "ping", DB: "admin"},
	}
	if len(cmds) != len(wantCmds) {
		t.Fatalf("Commands() = %+v, want %+v", cmds, wantCmds)
	}
	for i, w := range wantCmds {
		g := cmds[i]
		if g.Autocommit == nil != (w.Autocommit == nil) || g.Autocommit != nil && *g.Autocommit != *w.Autocommit {
			t.Errorf("command %d Autocommit = %v, want %v", i, g.Autocommit, w.Autocommit)
		}
		g.Autocommit, w.Autocommit = nil, nil
		if g != w {
			t.Errorf("command %d = %+v, want %+v", i, g, w)
		}
	}
	p.Reset()
	if n := len(p.Commands()); n != 0 {
		t.Errorf("after Reset, %d commands", n)
	}
}

func TestCommitAndAbortAnsweredByProxy(t *testing.T) {
	f := startFake(t, okReply)
	p := startProxy(t, f.ln.Addr().String())
	c := dial(t, p)
	for i, name := range []string{"commitTransaction", "abortTransaction"} {
		id := int32(100 + i)
		cmd := mustDoc(bson.D{{Key: name, Value: 1}, {Key: "lsid", Value: bson.D{{Key: "id", Value: uuid}}},
			{Key: "txnNumber", Value: int64(3)}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}})
		send(t, c, message{requestID: id, opCode: opMsg, body: opMsgWith(0, cmd, "")})
		r := receive(t, c)
		if r.responseTo != id {
			t.Errorf("%s: reply responseTo = %d, want %d", name, r.responseTo, id)
		}
		if ok, _ := body(t, r).Lookup("ok").AsFloat64OK(); ok != 1 {
			t.Errorf("%s: reply %s, want ok: 1", name, body(t, r))
		}
	}
	// The target saw neither: the first thing it gets is the ping.
	send(t, c, message{requestID: 200, opCode: opMsg, body: opMsgWith(0, mustDoc(bson.D{{Key: "ping", Value: 1}}), "")})
	if got := f.next(t); got.requestID != 200 {
		t.Errorf("target received request %d (%s), want only the ping", got.requestID, body(t, got))
	}
	cmds := p.Commands()
	if len(cmds) != 3 || cmds[0].Name != "commitTransaction" || cmds[1].Name != "abortTransaction" ||
		cmds[0].TxnNumber != 3 || !cmds[0].HasTxn || cmds[1].LSID == "" {
		t.Errorf("Commands() = %+v", cmds)
	}
}

func TestHelloRewritten(t *testing.T) {
	serverHello := mustDoc(bson.D{
		{Key: "isWritablePrimary", Value: true}, {Key: "maxWireVersion", Value: int32(21)},
		{Key: "topologyVersion", Value: bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(0)}}},
		{Key: "compression", Value: bson.A{"zlib"}}, {Key: "ok", Value: 1.0},
	})
	f := startFake(t, func(m message) []message {
		switch m.opCode {
		case opQuery: // OP_REPLY: flags, cursorID, startingFrom, numberReturned, doc.
			b := make([]byte, 20)
			binary.LittleEndian.PutUint32(b[16:], 1)
			return []message{{requestID: 9, responseTo: m.requestID, opCode: opReply, body: append(b, serverHello...)}}
		case opMsg: // Exhaust style: two replies, the second answering the first.
			return []message{
				{requestID: 10, responseTo: m.requestID, opCode: opMsg, body: opMsgWith(flagMoreToCome, serverHello, "")},
				{requestID: 11, responseTo: 10, opCode: opMsg, body: opMsgWith(0, serverHello, "")},
			}
		}
		return nil
	})
	p := startProxy(t, f.ln.Addr().String())
	c := dial(t, p)
	addr := p.Addr()
	check := func(doc bson.Raw, writable string) {
		t.Helper()
		if v, _ := doc.Lookup(writable).BooleanOK(); !v {
			t.Errorf("%s not true in %s", writable, doc)
		}
		if s, _ := doc.Lookup("setName").StringValueOK(); s != "rs0" {
			t.Errorf("setName = %q in %s", s, doc)
		}
		for _, k := range []string{"primary", "me"} {
			if s, _ := doc.Lookup(k).StringValueOK(); s != addr {
				t.Errorf("%s = %q, want %q", k, s, addr)
			}
		}
		hosts, _ := doc.Lookup("hosts").ArrayOK()
		if vals, _ := hosts.Values(); len(vals) != 1 || vals[0].StringValue() != addr {
			t.Errorf("hosts = %s, want [%q]", hosts, addr)
		}
		if v, ok := doc.Lookup("secondary").BooleanOK(); !ok || v {
			t.Errorf("secondary = %v, %v", v, ok)
		}
		if v, _ := doc.Lookup("logicalSessionTimeoutMinutes").AsInt64OK(); v != 30 {
			t.Errorf("logicalSessionTimeoutMinutes = %d", v)
		}
		for _, k := range []string{"topologyVersion", "compression"} {
			if _, err := doc.LookupErr(k); err == nil {
				t.Errorf("%s kept in %s", k, doc)
			}
		}
		if v, _ := doc.Lookup("maxWireVersion").AsInt64OK(); v != 21 {
			t.Errorf("maxWireVersion = %d, want the target's 21", v)
		}
	}

	// Legacy handshake: OP_QUERY on admin.$cmd, wrapped in $query.
	q := binary.LittleEndian.AppendUint32(nil, 0)
	q = append(q, "admin.$cmd\x00"...)
	q = binary.LittleEndian.AppendUint32(q, 0)
	q = binary.LittleEndian.AppendUint32(q, 0xffffffff)
	q = append(q, mustDoc(bson.D{
		{Key: "$query", Value: bson.D{{Key: "isMaster", Value: 1}, {Key: "compression", Value: bson.A{"zlib"}}}},
		{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "primaryPreferred"}}},
	})...)
	send(t, c, message{requestID: 1, opCode: opQuery, body: q})
	lm, _, err := parseLegacy(opQuery, f.next(t).body)
	if err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, lm.doc.Lookup("$query").Document()); !equal(ks, []string{"isMaster"}) {
		t.Errorf("forwarded isMaster keys = %v, want compression removed", ks)
	}
	r := receive(t, c)
	if r.opCode != opReply || r.responseTo != 1 {
		t.Fatalf("reply opCode %d responseTo %d", r.opCode, r.responseTo)
	}
	rl, _, err := parseLegacy(opReply, r.body)
	if err != nil {
		t.Fatal(err)
	}
	check(rl.doc, "ismaster")

	// OP_MSG hello with an exhaust-style stream of replies.
	send(t, c, message{requestID: 2, opCode: opMsg, body: opMsgWith(0, mustDoc(bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}), "")})
	for _, want := range []int32{2, 10} {
		r := receive(t, c)
		if r.responseTo != want {
			t.Errorf("reply responseTo = %d, want %d", r.responseTo, want)
		}
		check(body(t, r), "isWritablePrimary")
	}
	if n := len(p.Commands()); n != 0 {
		t.Errorf("%d hello commands recorded, want none", n)
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	f := startFake(t, okReply)
	p := startProxy(t, f.ln.Addr().String())
	for _, junk := range [][]byte{
		{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0},                       // length 1
		message{requestID: 1, opCode: opMsg, body: []byte{0, 0, 0, 0, 9}}.bytes(), // unknown section kind
		message{requestID: 1, opCode: opMsg, body: []byte{0, 0, 0, 0}}.bytes(),    // no body section
	} {
		c := dial(t, p)
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("after %x: read error %v, want EOF", junk, err)
		}
	}
	c := dial(t, p)
	send(t, c, message{requestID: 5, opCode: opMsg, body: opMsgWith(0, mustDoc(bson.D{{Key: "ping", Value: 1}}), "")})
	if r := receive(t, c); r.responseTo != 5 {
		t.Errorf("proxy no longer serves: responseTo %d", r.responseTo)
	}

	// An unreachable target closes the client connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	c = dial(t, startProxy(t, dead))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("unreachable target: read error %v, want EOF", err)
	}
}

// TestCloseStopsEverything checks that Close returns while connections are
// open and the target never answers, that every goroutine of the proxy has
// returned by then, and that clients see their connections closed.
func TestCloseStopsEverything(t *testing.T) {
	f := startFake(t, func(message) []message { return nil }) // never answers
	p, err := Start(f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := range 3 {
		c := dial(t, p)
		send(t, c, message{requestID: int32(i), opCode: opMsg, body: opMsgWith(0, mustDoc(bson.D{{Key: "ping", Value: 1}}), "")})
		f.next(t) // the connection is relayed
		clients = append(clients, c)
	}
	idle := dial(t, p) // connected, sends nothing
	clients = append(clients, idle)

	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// Close waited for the proxy's WaitGroup; check it again independently.
	waited := make(chan struct{})
	go func() { p.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Second):
		t.Fatal("proxy goroutines still running after Close")
	}
	if len(p.conns) != 0 {
		t.Errorf("%d connections still tracked", len(p.conns))
	}
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("client read after Close: %v, want the connection closed", err)
		}
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("proxy still accepts connections after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
