// Package rsproxy is a test helper: a TCP proxy between the MongoDB Go driver
// and a MongoDB wire protocol server that is not a replica set (FerretDB v1),
// which makes the driver believe it talks to the primary of a one-member
// replica set named "rs0", so that the driver uses session transactions, and
// records the commands the driver sends, so that tests can check the
// transaction protocol (lsid, txnNumber, startTransaction, autocommit,
// commitTransaction, abortTransaction).
//
// The proxy does NOT provide transactional semantics. The transaction fields
// are removed before a command is forwarded, the server applies every write
// immediately, commitTransaction and abortTransaction are answered {ok: 1}
// by the proxy without reaching the server, and an abort undoes nothing.
// It only lets tests see the protocol.
//
// What the proxy changes:
//   - Replies to hello, isMaster and ismaster (the handshake and the
//     monitoring checks, in OP_QUERY or OP_MSG) claim a writable primary of
//     replica set "rs0" whose only host is the proxy's address. Their
//     topologyVersion is removed, so the driver polls instead of streaming
//     hello, and their compression is removed, so that no compression is
//     negotiated (the request's compression list is removed as well).
//   - Commands lose txnNumber, autocommit, startTransaction and
//     recoveryToken, and, when they are part of a transaction (they carry
//     autocommit or startTransaction), readConcern: FerretDB v1 rejects
//     these fields on some commands (e.g. insert) with FailedToParse.
//
// Everything else, including OP_COMPRESSED and any message the proxy does not
// understand, is forwarded unchanged. A message that claims to be OP_MSG or
// OP_QUERY but cannot be parsed closes the connection.
package rsproxy

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ReplicaSet is the replica set name that the proxy reports.
const ReplicaSet = "rs0"

// dialTimeout bounds how long the proxy tries to reach the target for one
// client connection.
const dialTimeout = 5 * time.Second

// Command is one command that a client sent through the proxy, as the client
// sent it (before the proxy removed any field).
type Command struct {
	// Name is the first key of the command document, e.g. "insert",
	// "find" or "commitTransaction".
	Name string
	// DB is the command's $db field.
	DB string
	// Collection is the value of the first key when it is a string (for
	// most CRUD commands the collection name), else "".
	Collection string
	// LSID is the session id (the lsid.id UUID) in lower-case hex, or ""
	// when the command has no lsid.
	LSID string
	// TxnNumber is the command's txnNumber; it is meaningful only when
	// HasTxn is true.
	TxnNumber int64
	// HasTxn reports whether the command has a txnNumber field. The driver
	// sends it on commands in a transaction and on retryable writes.
	HasTxn bool
	// StartTransaction reports whether the command has startTransaction:
	// true.
	StartTransaction bool
	// Autocommit is the command's autocommit field, or nil when it has
	// none. The driver sends autocommit: false on commands in a
	// transaction.
	Autocommit *bool
}

// Proxy is a running proxy. Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // canceled by Close, to stop dials
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Int32 // requestID of the replies the proxy makes up

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	cmds   []Command

	unknownCommits atomic.Bool // see FailCommitsUnknown
}

// FailCommitsUnknown makes the proxy answer every commitTransaction, while
// on is true, with an error labelled UnknownTransactionCommitResult (what a
// server says when it cannot tell whether a commit happened, e.g. after a
// failover during the commit).
func (p *Proxy) FailCommitsUnknown(on bool) { p.unknownCommits.Store(on) }

// Start listens on 127.0.0.1:0 and forwards every client connection to
// target, the "host:port" of a MongoDB wire protocol server. The target is
// dialed once for each client connection; when that fails, the client
// connection is closed. Call Close when done.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ln: ln, target: target, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	p.nextID.Store(1 << 30)
	p.wg.Go(p.accept)
	return p, nil
}

// Addr returns the address the proxy listens on, "127.0.0.1:NNNN". It is
// also the replica set member address that the proxy reports.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URI returns a connection string for the proxy,
// "mongodb://127.0.0.1:NNNN/?replicaSet=rs0": the driver discovers the
// replica set, finds the proxy as its primary and allows transactions and
// retryable writes. "mongodb://" + Addr() + "/?directConnection=true" works
// as well.
func (p *Proxy) URI() string {
	return "mongodb://" + p.Addr() + "/?replicaSet=" + ReplicaSet
}

// Commands returns a copy of the commands recorded so far, in the order they
// arrived, across all connections. The handshake and monitoring commands
// (hello, isMaster, ismaster) are not recorded.
func (p *Proxy) Commands() []Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Command, len(p.cmds))
	copy(out, p.cmds)
	return out
}

// Reset forgets the commands recorded so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = nil
}

// Close stops listening, closes all connections and waits until all the
// proxy's goroutines have returned. Closing a closed proxy returns nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed, or broken beyond what a test helper repairs
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// track registers c so that Close closes it; it reports false when the
// proxy is already closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *Proxy) record(c Command) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, c)
}

// serve relays between one client connection and its own server connection
// until either side closes.
func (p *Proxy) serve(client net.Conn) {
	defer p.untrack(client)
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)

	c := &conn{p: p, client: client, server: server, hellos: map[int32]string{}}
	p.wg.Go(func() {
		c.fromServer()
		client.Close()
		server.Close()
	})
	c.fromClient()
	client.Close()
	server.Close()
}

// conn is one relayed client connection.
type conn struct {
	p      *Proxy
	client net.Conn
	server net.Conn

	writeMu sync.Mutex // serializes writes to client

	mu     sync.Mutex
	hellos map[int32]string // requestID of pending hello requests → command name
}

func (c *conn) writeClient(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.client.Write(b)
	return err
}

func (c *conn) expectHello(requestID int32, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hellos[requestID] = name
}

func (c *conn) takeHello(responseTo int32) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.hellos[responseTo]
	delete(c.hellos, responseTo)
	return name, ok
}

func (c *conn) fromClient() {
	for {
		m, err := readMessage(c.client)
		if err != nil {
			return
		}
		toServer, toClient, err := c.request(m)
		if err != nil {
			return
		}
		if toClient != nil {
			if err := c.writeClient(toClient); err != nil {
				return
			}
		}
		if toServer != nil {
			if _, err := c.server.Write(toServer); err != nil {
				return
			}
		}
	}
}

func (c *conn) fromServer() {
	for {
		m, err := readMessage(c.server)
		if err != nil {
			return
		}
		out := m.bytes()
		if name, ok := c.takeHello(m.responseTo); ok {
			if out, err = c.helloReply(m, name); err != nil {
				return
			}
		}
		if err := c.writeClient(out); err != nil {
			return
		}
	}
}

// request handles one message from the client and returns what to send to
// the server and what to answer the client directly (either may be nil).
func (c *conn) request(m message) (toServer, toClient []byte, err error) {
	switch m.opCode {
	case opMsg:
		o, err := parseOpMsg(m.body)
		if err != nil {
			return nil, nil, err
		}
		doc := o.doc()
		name := firstKey(doc)
		var drop func(string) bool
		if isHello(name) {
			c.expectHello(m.requestID, name)
			drop = func(k string) bool { return k == "compression" }
		} else {
			c.p.record(parseCommand(doc))
			if name == "commitTransaction" || name == "abortTransaction" {
				if o.flags&flagMoreToCome != 0 {
					return nil, nil, nil
				}
				ok, _ := bson.Marshal(bson.D{{Key: "ok", Value: 1.0}})
				if name == "commitTransaction" && c.p.unknownCommits.Load() {
					ok, _ = bson.Marshal(bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "rsproxy: commit outcome unknown"},
						{Key: "code", Value: int32(50)}, {Key: "codeName", Value: "MaxTimeMSExpired"},
						{Key: "errorLabels", Value: bson.A{"UnknownTransactionCommitResult"}}})
				}
				reply := message{requestID: c.p.nextID.Add(1), responseTo: m.requestID, opCode: opMsg, body: opMsgReply(ok)}
				return nil, reply.bytes(), nil
			}
			drop = txnFields(doc)
		}
		newDoc, changed, err := without(doc, drop)
		if err != nil {
			return nil, nil, err
		}
		if changed || o.flags&flagChecksumPresent != 0 {
			m.body = o.encode(newDoc)
		}
		return m.bytes(), nil, nil

	case opQuery:
		lm, coll, err := parseLegacy(opQuery, m.body)
		if err != nil {
			return nil, nil, err
		}
		if !strings.HasSuffix(coll, ".$cmd") {
			return m.bytes(), nil, nil
		}
		// A command with a read preference is wrapped: {$query: cmd, ...}.
		cmd, wrapped := lm.doc, false
		if v, err := lm.doc.LookupErr("$query"); err == nil {
			if d, ok := v.DocumentOK(); ok {
				cmd, wrapped = d, true
			}
		}
		name := firstKey(cmd)
		if !isHello(name) {
			return m.bytes(), nil, nil
		}
		c.expectHello(m.requestID, name)
		newCmd, changed, err := without(cmd, func(k string) bool { return k == "compression" })
		if err != nil || !changed {
			return m.bytes(), nil, err
		}
		newDoc := newCmd
		if wrapped {
			d, err := elements(lm.doc)
			if err != nil {
				return nil, nil, err
			}
			for i := range d {
				if d[i].Key == "$query" {
					d[i].Value = newCmd
				}
			}
			if newDoc, err = bson.Marshal(d); err != nil {
				return nil, nil, err
			}
		}
		m.body = lm.encode(newDoc)
		return m.bytes(), nil, nil
	}
	return m.bytes(), nil, nil
}

// helloReply rewrites the server's reply m to a hello request called name.
func (c *conn) helloReply(m message, name string) ([]byte, error) {
	switch m.opCode {
	case opMsg:
		o, err := parseOpMsg(m.body)
		if err != nil {
			return nil, err
		}
		if o.flags&flagMoreToCome != 0 {
			// Exhaust: the next reply answers this one.
			c.expectHello(m.requestID, name)
		}
		doc, err := primaryHello(o.doc(), name, c.p.Addr())
		if err != nil {
			return nil, err
		}
		m.body = o.encode(doc)
	case opReply:
		lm, _, err := parseLegacy(opReply, m.body)
		if err != nil {
			return nil, err
		}
		doc, err := primaryHello(lm.doc, name, c.p.Addr())
		if err != nil {
			return nil, err
		}
		m.body = lm.encode(doc)
	}
	return m.bytes(), nil
}

// helloOverrides are the hello reply fields that primaryHello replaces or
// removes.
var helloOverrides = map[string]bool{
	"isWritablePrimary": true, "ismaster": true, "secondary": true,
	"setName": true, "setVersion": true, "hosts": true, "primary": true, "me": true,
	"topologyVersion": true, "compression": true,
}

// primaryHello returns the hello reply doc rewritten to describe the primary
// of replica set ReplicaSet whose only member is addr. name is the request's
// command name: the legacy names get ismaster, hello gets isWritablePrimary.
func primaryHello(doc bson.Raw, name, addr string) (bson.Raw, error) {
	d, err := elements(doc)
	if err != nil {
		return nil, err
	}
	out := bson.D{}
	hasTimeout := false
	for _, e := range d {
		hasTimeout = hasTimeout || e.Key == "logicalSessionTimeoutMinutes"
		if !helloOverrides[e.Key] {
			out = append(out, e)
		}
	}
	writable := "isWritablePrimary"
	if name != "hello" {
		writable = "ismaster"
	}
	out = append(out,
		bson.E{Key: writable, Value: true},
		bson.E{Key: "secondary", Value: false},
		bson.E{Key: "setName", Value: ReplicaSet},
		bson.E{Key: "setVersion", Value: int32(1)},
		bson.E{Key: "hosts", Value: bson.A{addr}},
		bson.E{Key: "primary", Value: addr},
		bson.E{Key: "me", Value: addr},
	)
	if !hasTimeout {
		// Without it the driver uses no sessions at all.
		out = append(out, bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(30)})
	}
	return bson.Marshal(out)
}

func isHello(name string) bool {
	return name == "hello" || name == "isMaster" || name == "ismaster"
}

// txnFields returns which fields of cmd to remove before forwarding it.
func txnFields(cmd bson.Raw) func(string) bool {
	_, err1 := cmd.LookupErr("autocommit")
	_, err2 := cmd.LookupErr("startTransaction")
	inTxn := err1 == nil || err2 == nil
	return func(k string) bool {
		switch k {
		case "txnNumber", "autocommit", "startTransaction", "recoveryToken":
			return true
		case "readConcern":
			return inTxn
		}
		return false
	}
}

// parseCommand describes the command document doc.
func parseCommand(doc bson.Raw) Command {
	var c Command
	d, _ := elements(doc) // doc was validated
	for i, e := range d {
		v := e.Value.(bson.RawValue)
		if i == 0 {
			c.Name = e.Key
			c.Collection, _ = v.StringValueOK()
		}
		switch e.Key {
		case "$db":
			c.DB, _ = v.StringValueOK()
		case "lsid":
			if lsid, ok := v.DocumentOK(); ok {
				if _, id, ok := lsid.Lookup("id").BinaryOK(); ok {
					c.LSID = hex.EncodeToString(id)
				}
			}
		case "txnNumber":
			c.TxnNumber, c.HasTxn = v.AsInt64OK()
		case "startTransaction":
			c.StartTransaction, _ = v.BooleanOK()
		case "autocommit":
			if b, ok := v.BooleanOK(); ok {
				c.Autocommit = &b
			}
		}
	}
	return c
}

func firstKey(doc bson.Raw) string {
	e, err := doc.IndexErr(0)
	if err != nil {
		return ""
	}
	return e.Key()
}

// elements returns the top-level fields of doc, each value a bson.RawValue,
// so that marshaling them again keeps them byte for byte.
func elements(doc bson.Raw) (bson.D, error) {
	els, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	d := make(bson.D, 0, len(els))
	for _, e := range els {
		d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
	}
	return d, nil
}

// without returns doc without the top-level fields for which drop reports
// true, and whether any was removed.
func without(doc bson.Raw, drop func(string) bool) (bson.Raw, bool, error) {
	d, err := elements(doc)
	if err != nil {
		return nil, false, err
	}
	kept := d[:0]
	for _, e := range d {
		if !drop(e.Key) {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(d) {
		return doc, false, nil
	}
	out, err := bson.Marshal(kept)
	return out, true, err
}
