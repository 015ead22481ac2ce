package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testEnvelope(t *testing.T, seq int64, bodyBytes int) *Envelope {
	t.Helper()
	body, err := json.Marshal(EventBody{Event: "config_change", Detail: strings.Repeat("x", bodyBytes)})
	if err != nil {
		t.Fatal(err)
	}
	return &Envelope{
		V: Version, ID: NewID(), Seq: seq, Kind: KindEvent, Station: "s1", Lane: "l1",
		Agent: AgentInfo{Version: "test", BootID: "b"},
		Time:  Time{Wall: time.Unix(0, 0).UTC(), MonoMS: 1, Clock: ClockUnsynced},
		Body:  body,
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for _, n := range []int{10, GzipThreshold, 100 << 10} {
		e := testEnvelope(t, 1, n)
		raw, wire, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		gz := len(wire) >= 2 && wire[0] == 0x1f && wire[1] == 0x8b
		if gz != (len(raw) > GzipThreshold) {
			t.Errorf("body %d: raw %d bytes, gzip=%v; want gzip only above %d", n, len(raw), gz, GzipThreshold)
		}
		if !bytes.Equal(Compress(raw), wire) {
			t.Errorf("body %d: Compress(raw) differs from Encode's wire bytes", n)
		}
		got, d, err := Decode(Compress(raw))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raw) || d.ID != e.ID {
			t.Errorf("body %d: Decode(Compress(raw)) did not give raw back", n)
		}
	}
}

func TestDecodeRejectsGzipBomb(t *testing.T) {
	e := testEnvelope(t, 1, MaxPayload+10)
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(Compress(raw)); err == nil {
		t.Fatal("Decode accepted a payload that inflates beyond MaxPayload")
	}
}

func TestHash(t *testing.T) {
	raw := []byte(`{"v":1}`)
	sum := sha256.Sum256(raw)
	if got, want := Hash(raw), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestOfflineStatus(t *testing.T) {
	if got, want := string(OfflineStatus()), `{"v":1,"state":"offline"}`; got != want {
		t.Fatalf("OfflineStatus() = %s, want %s", got, want)
	}
}

func TestDecodeStatusErrors(t *testing.T) {
	for _, in := range []string{
		``, `garbage`, `{"v":2,"state":"online"}`, `{"v":1,"state":"sleeping"}`,
		`{"v":1,"state":"online","extra":1}`,
	} {
		if _, err := DecodeStatus([]byte(in)); err == nil {
			t.Errorf("DecodeStatus(%q) accepted it", in)
		}
	}
}

func TestDecodeAcksErrors(t *testing.T) {
	for _, in := range []string{
		``, `garbage`, `{"v":2,"acks":[]}`, `{"v":1,"acks":[{"id":"a","status":"maybe"}]}`,
		`{"v":1,"acks":[{"status":"stored"}]}`, `{"v":1,"acks":[],"more":true}`,
	} {
		if _, err := DecodeAcks([]byte(in)); err == nil {
			t.Errorf("DecodeAcks(%q) accepted it", in)
		}
	}
}

func TestParseLaneTopic(t *testing.T) {
	for _, c := range []struct {
		in, station, lane, rest string
		ok                      bool
	}{
		{"im/v1/s1/l2/records", "s1", "l2", "records", true},
		{"im/v1/s1/l2/cmd/reply", "s1", "l2", "cmd/reply", true},
		{"im/v1/s1/l2/", "", "", "", false},
		{"im/v1/s1", "", "", "", false},
		{"im/v1//l2/status", "", "", "", false},
		{"im/v2/s1/l2/status", "", "", "", false},
	} {
		tp, rest, err := ParseLaneTopic(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseLaneTopic(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if c.ok && (tp.Station != c.station || tp.Lane != c.lane || rest != c.rest) {
			t.Errorf("ParseLaneTopic(%q) = %+v %q", c.in, tp, rest)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, e, err := Decode(b)
		if err == nil && (e == nil || raw == nil || e.Validate() != nil) {
			t.Fatalf("Decode returned nil error with an invalid result")
		}
	})
}

func TestSealChain(t *testing.T) {
	var prev []byte
	var prevRaw []byte
	for seq := int64(1); seq <= 3; seq++ {
		e := testEnvelope(t, 0, 5)
		raw, err := e.Seal(seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		_, d, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d.Seq != seq {
			t.Errorf("seq = %d, want %d", d.Seq, seq)
		}
		want := ""
		if prevRaw != nil {
			want = Hash(prevRaw)
		}
		if d.PrevHash != want {
			t.Errorf("seq %d: prev_hash = %q, want %q", seq, d.PrevHash, want)
		}
		sum := sha256.Sum256(raw)
		prev, prevRaw = sum[:], raw
	}
	bad := testEnvelope(t, 0, 5)
	bad.Kind = "bogus"
	if _, err := bad.Seal(1, nil); err == nil {
		t.Error("Seal accepted an invalid envelope")
	}
}
