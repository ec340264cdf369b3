package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record is one event as stored in the log: a user event, or a system record
// such as $metadata or $streamDeleted.
type Record struct {
	// Position is the record's place in $all: a byte offset into the log,
	// strictly increasing. Commit and prepare positions are both this value.
	Position uint64
	Stream   string
	Revision uint64
	ID       [16]byte
	Type     string
	// JSON reports a content type of exactly application/json; anything else
	// reads back as application/octet-stream.
	JSON bool
	// Created is the commit time in 100 ns ticks since the Unix epoch, the
	// unit the EventStoreDB protocol uses.
	Created  int64
	Metadata []byte
	Data     []byte
}

// recordFormat is the first byte of every encoded record; bump it (and teach
// decodeRecord the old one) when the layout changes.
const recordFormat = 1

const flagJSON = 1

// recordOverhead makes positions look like byte offsets of a log with a small
// frame header per record, as on a real node; only monotonicity matters.
const recordOverhead = 16

func (r *Record) encode(buf []byte) []byte {
	buf = append(buf, recordFormat)
	buf = appendBytes(buf, []byte(r.Stream))
	buf = binary.AppendUvarint(buf, r.Revision)
	buf = append(buf, r.ID[:]...)
	buf = appendBytes(buf, []byte(r.Type))
	var flags byte
	if r.JSON {
		flags |= flagJSON
	}
	buf = append(buf, flags)
	buf = binary.AppendVarint(buf, r.Created)
	buf = appendBytes(buf, r.Metadata)
	buf = appendBytes(buf, r.Data)
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

var errCorruptRecord = errors.New("corrupt record")

// decodeRecord decodes a stored record. The returned record copies nothing:
// Metadata and Data alias buf, so callers copy before buf is reused.
func decodeRecord(position uint64, buf []byte) (Record, error) {
	d := decoder{buf: buf}
	if v := d.byte(); v != recordFormat {
		return Record{}, fmt.Errorf("%w at position %d: unknown record format %d", errCorruptRecord, position, v)
	}
	r := Record{Position: position}
	r.Stream = string(d.bytes())
	r.Revision = d.uvarint()
	copy(r.ID[:], d.fixed(16))
	r.Type = string(d.bytes())
	r.JSON = d.byte()&flagJSON != 0
	r.Created = d.varint()
	r.Metadata = d.bytes()
	r.Data = d.bytes()
	if d.err != nil {
		return Record{}, fmt.Errorf("%w at position %d: %v", errCorruptRecord, position, d.err)
	}
	return r, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New("truncated " + what)
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("byte")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) fixed(n int) []byte {
	if len(d.buf) < n {
		d.fail("fixed field")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("length-prefixed field")
		return nil
	}
	return d.fixed(int(n))
}

// clone returns a record whose byte slices no longer alias storage buffers.
func (r Record) clone() Record {
	r.Metadata = cloneBytes(r.Metadata)
	r.Data = cloneBytes(r.Data)
	return r
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
