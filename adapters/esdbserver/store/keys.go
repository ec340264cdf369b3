package store

import (
	"encoding/binary"
)

// Key layout. One keyspace per prefix byte:
//
//	l <position:8>                 → encoded Record            (the log, $all order)
//	s <len(stream)> <stream> <rev:8> → position                 (stream index)
//	h <stream>                      → head: last revision, flags
//	v                               → format version
const (
	prefixLog    = 'l'
	prefixStream = 's'
	prefixHead   = 'h'
)

var keyFormatVersion = []byte("v")

func logKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func logKeyPosition(k []byte) uint64 { return binary.BigEndian.Uint64(k[1:]) }

// streamPrefix is unique per stream: the length prefix keeps "a" from being a
// prefix of "ab".
func streamPrefix(stream string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(stream)+8)
	k = append(k, prefixStream)
	k = binary.AppendUvarint(k, uint64(len(stream)))
	return append(k, stream...)
}

func streamKey(stream string, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), rev)
}

func streamKeyRevision(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

func headKey(stream string) []byte {
	return append([]byte{prefixHead}, stream...)
}

func encodePosition(pos uint64) []byte { return binary.BigEndian.AppendUint64(nil, pos) }

func decodePosition(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// upperBound is the smallest key greater than every key with the prefix.
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
