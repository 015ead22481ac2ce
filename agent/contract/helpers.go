package contract

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Compressor compresses wire payloads like Compress, reusing its gzip state (a flate
// compressor allocates about a megabyte of tables; a drain compresses thousands of records).
// A Compressor is not safe for concurrent use; the zero value is ready.
type Compressor struct {
	zw  *gzip.Writer
	buf bytes.Buffer
}

// Compress returns the wire form of raw (see the function Compress) in a new slice.
func (c *Compressor) Compress(raw []byte) []byte {
	if len(raw) <= GzipThreshold {
		return raw
	}
	c.buf.Reset()
	if c.zw == nil {
		zw, err := gzip.NewWriterLevel(&c.buf, GzipLevel)
		if err != nil {
			return raw // cannot happen with a valid level; raw JSON is valid on the wire too
		}
		c.zw = zw
	} else {
		c.zw.Reset(&c.buf)
	}
	if _, err := c.zw.Write(raw); err != nil {
		return raw
	}
	if err := c.zw.Close(); err != nil {
		return raw
	}
	return bytes.Clone(c.buf.Bytes())
}

// Compress returns the wire form of an envelope's raw JSON bytes: raw itself when it is at
// most GzipThreshold bytes long, its gzip otherwise. Decode reverses it by the gzip magic.
func Compress(raw []byte) []byte {
	if len(raw) <= GzipThreshold {
		return raw
	}
	var b bytes.Buffer
	b.Grow(len(raw) / 4)
	zw, err := gzip.NewWriterLevel(&b, GzipLevel)
	if err != nil {
		return raw // cannot happen with a valid level; raw JSON is valid on the wire too
	}
	if _, err := zw.Write(raw); err != nil {
		return raw
	}
	if err := zw.Close(); err != nil {
		return raw
	}
	return b.Bytes()
}

// Hash is the hash-chain link of an envelope: the hex sha256 of its exact raw JSON bytes.
// The next envelope of the same agent carries it as PrevHash.
func Hash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:])
}

// NewID returns a new record id: a random (version 4) UUID in its canonical text form.
// It does not depend on the wall clock, which may read 1970 on a box without an RTC.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// StatusFilter is the subscription a platform uses for every lane's status.
const StatusFilter = "im/v1/+/+/status"

// States of the status message.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// OfflineStatus is the payload of the agent's last will and of the status it publishes when it
// shuts down cleanly: {"v":1,"state":"offline"}.
func OfflineStatus() []byte {
	b, _ := EncodeStatus(&Status{V: Version, State: StateOffline}) // cannot fail: plain fields
	return b
}

// EncodeStatus marshals a status message.
func EncodeStatus(s *Status) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("contract: encode status: %w", err)
	}
	return b, nil
}

// DecodeStatus parses and checks a status message.
func DecodeStatus(b []byte) (*Status, error) {
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("contract: status message too large")
	}
	s := new(Status)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("contract: decode status: %w", err)
	}
	if s.V != Version {
		return nil, fmt.Errorf("contract: status v = %d, want %d", s.V, Version)
	}
	if s.State != StateOnline && s.State != StateOffline {
		return nil, fmt.Errorf("contract: unknown status state %q", s.State)
	}
	return s, nil
}

// EncodeAcks marshals an acks message.
func EncodeAcks(a *Acks) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("contract: encode acks: %w", err)
	}
	return b, nil
}

// ParseLaneTopic returns the station and lane of any v1 lane topic (records, acks, status,
// live, ...) and the rest of the topic after the lane ("records", "status", "cmd/reply").
func ParseLaneTopic(topic string) (Topics, string, error) {
	const pre = "im/v1/"
	if len(topic) <= len(pre) || topic[:len(pre)] != pre {
		return Topics{}, "", fmt.Errorf("contract: not a v1 topic: %q", topic)
	}
	rest := topic[len(pre):]
	var parts [3]string
	for i := 0; i < 2; i++ {
		j := strings.IndexByte(rest, '/')
		if j <= 0 {
			return Topics{}, "", fmt.Errorf("contract: not a v1 lane topic: %q", topic)
		}
		parts[i], rest = rest[:j], rest[j+1:]
	}
	if rest == "" {
		return Topics{}, "", fmt.Errorf("contract: not a v1 lane topic: %q", topic)
	}
	parts[2] = rest
	return Topics{Station: parts[0], Lane: parts[1]}, parts[2], nil
}

// Seal completes e as the record with number seq whose predecessor's raw bytes hash to
// prevHash (nil for the first record): it sets Seq and PrevHash, validates e and returns
// the raw JSON bytes the outbox stores and the chain covers. It fits buffer.Outbox.Append:
//
//	ob.Append(ctx, kind, func(seq int64, prev []byte) (string, []byte, error) {
//		raw, err := e.Seal(seq, prev)
//		return e.ID, raw, err
//	})
func (e *Envelope) Seal(seq int64, prevHash []byte) ([]byte, error) {
	e.Seq = seq
	e.PrevHash = hex.EncodeToString(prevHash)
	if err := e.Validate(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("contract: seal: %w", err)
	}
	return raw, nil
}
