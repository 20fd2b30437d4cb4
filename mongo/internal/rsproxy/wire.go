package rsproxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Wire protocol opcodes the proxy looks into. Others are forwarded as is.
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
)

// OP_MSG flag bits.
const (
	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
)

const (
	headerLen = 16
	// maxMessageLen bounds what the proxy reads from either side, so a
	// corrupt length cannot make it allocate without limit. MongoDB's
	// default maxMessageSizeBytes is 48000000.
	maxMessageLen = 64 << 20
)

// message is one wire protocol message: the header fields and the bytes
// after the header.
type message struct {
	requestID  int32
	responseTo int32
	opCode     int32
	body       []byte
}

// readMessage reads one message from r.
func readMessage(r io.Reader) (message, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return message{}, err
	}
	n := int32(binary.LittleEndian.Uint32(hdr[0:]))
	if n < headerLen || n > maxMessageLen {
		return message{}, fmt.Errorf("rsproxy: invalid message length %d", n)
	}
	m := message{
		requestID:  int32(binary.LittleEndian.Uint32(hdr[4:])),
		responseTo: int32(binary.LittleEndian.Uint32(hdr[8:])),
		opCode:     int32(binary.LittleEndian.Uint32(hdr[12:])),
		body:       make([]byte, n-headerLen),
	}
	if _, err := io.ReadFull(r, m.body); err != nil {
		return message{}, err
	}
	return m, nil
}

// bytes encodes m, with messageLength computed from the body.
func (m message) bytes() []byte {
	b := make([]byte, headerLen, headerLen+len(m.body))
	binary.LittleEndian.PutUint32(b[0:], uint32(headerLen+len(m.body)))
	binary.LittleEndian.PutUint32(b[4:], uint32(m.requestID))
	binary.LittleEndian.PutUint32(b[8:], uint32(m.responseTo))
	binary.LittleEndian.PutUint32(b[12:], uint32(m.opCode))
	return append(b, m.body...)
}

// section is one OP_MSG section: its kind byte and the bytes after it.
type section struct {
	kind byte
	data []byte
}

// opMessage is a parsed OP_MSG body. doc is the kind 0 section (the command
// or reply document); the checksum, if any, is not kept.
type opMessage struct {
	flags    uint32
	sections []section
	bodyIdx  int
}

func (o opMessage) doc() bson.Raw { return bson.Raw(o.sections[o.bodyIdx].data) }

// parseOpMsg parses an OP_MSG body (the bytes after the header).
func parseOpMsg(b []byte) (opMessage, error) {
	if len(b) < 5 {
		return opMessage{}, errors.New("rsproxy: OP_MSG too short")
	}
	o := opMessage{flags: binary.LittleEndian.Uint32(b), bodyIdx: -1}
	b = b[4:]
	if o.flags&flagChecksumPresent != 0 {
		if len(b) < 4 {
			return opMessage{}, errors.New("rsproxy: OP_MSG too short for checksum")
		}
		b = b[:len(b)-4]
	}
	for len(b) > 0 {
		if len(b) < 5 {
			return opMessage{}, errors.New("rsproxy: truncated OP_MSG section")
		}
		kind := b[0]
		n := int(int32(binary.LittleEndian.Uint32(b[1:])))
		if n < 5 || n > len(b)-1 {
			return opMessage{}, fmt.Errorf("rsproxy: invalid OP_MSG section length %d", n)
		}
		data := b[1 : 1+n]
		switch kind {
		case 0:
			if o.bodyIdx >= 0 {
				return opMessage{}, errors.New("rsproxy: OP_MSG has two body sections")
			}
			if err := bson.Raw(data).Validate(); err != nil {
				return opMessage{}, fmt.Errorf("rsproxy: OP_MSG body: %w", err)
			}
			o.bodyIdx = len(o.sections)
		case 1:
		default:
			return opMessage{}, fmt.Errorf("rsproxy: unknown OP_MSG section kind %d", kind)
		}
		o.sections = append(o.sections, section{kind: kind, data: data})
		b = b[1+n:]
	}
	if o.bodyIdx < 0 {
		return opMessage{}, errors.New("rsproxy: OP_MSG without body section")
	}
	return o, nil
}

// encode returns the OP_MSG body with doc as the kind 0 section, without a
// checksum (the checksumPresent flag is cleared).
func (o opMessage) encode(doc bson.Raw) []byte {
	b := binary.LittleEndian.AppendUint32(nil, o.flags&^flagChecksumPresent)
	for i, s := range o.sections {
		b = append(b, s.kind)
		if i == o.bodyIdx {
			b = append(b, doc...)
		} else {
			b = append(b, s.data...)
		}
	}
	return b
}

// opMsgReply returns an OP_MSG body holding doc.
func opMsgReply(doc bson.Raw) []byte {
	return opMessage{sections: []section{{kind: 0}}}.encode(doc)
}

// legacyMessage is a parsed OP_QUERY or OP_REPLY body: the fixed fields
// before the first document (prefix), the first document (the query or
// the first reply document) and whatever follows it.
type legacyMessage struct {
	prefix []byte
	doc    bson.Raw
	rest   []byte
}

// parseLegacy parses an OP_QUERY (collName is its fullCollectionName) or
// an OP_REPLY body.
func parseLegacy(opCode int32, b []byte) (m legacyMessage, collName string, err error) {
	var n int
	switch opCode {
	case opQuery:
		// flags, fullCollectionName cstring, numberToSkip, numberToReturn.
		end := -1
		if len(b) > 4 {
			end = bytes.IndexByte(b[4:], 0)
		}
		if end < 0 {
			return legacyMessage{}, "", errors.New("rsproxy: invalid OP_QUERY")
		}
		collName = string(b[4 : 4+end])
		n = 4 + end + 1 + 8
	case opReply:
		// responseFlags, cursorID, startingFrom, numberReturned.
		n = 20
	default:
		return legacyMessage{}, "", fmt.Errorf("rsproxy: opcode %d is not legacy", opCode)
	}
	if len(b) < n+5 {
		return legacyMessage{}, "", fmt.Errorf("rsproxy: opcode %d message too short", opCode)
	}
	doc, rest, ok := readDoc(b[n:])
	if !ok {
		return legacyMessage{}, "", fmt.Errorf("rsproxy: opcode %d: invalid document", opCode)
	}
	return legacyMessage{prefix: b[:n], doc: doc, rest: rest}, collName, nil
}

func (m legacyMessage) encode(doc bson.Raw) []byte {
	b := make([]byte, 0, len(m.prefix)+len(doc)+len(m.rest))
	b = append(b, m.prefix...)
	b = append(b, doc...)
	return append(b, m.rest...)
}

// readDoc splits one valid BSON document off the front of b.
func readDoc(b []byte) (bson.Raw, []byte, bool) {
	if len(b) < 5 {
		return nil, nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return nil, nil, false
	}
	doc := bson.Raw(b[:n])
	if doc.Validate() != nil {
		return nil, nil, false
	}
	return doc, b[n:], true
}
