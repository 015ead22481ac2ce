package rpm5300sim

import (
	"bytes"
	"testing"
	"time"

	"imagent/drivers/tacho/rpm5300"
)

func TestFrames(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	s := New(Options{Clock: func() time.Time { return t0 }, Seed: 1})
	if v, err := rpm5300.Decode(s.Frame()); err != nil || v < 700 || v > 800 {
		t.Errorf("idle frame: %v %v", v, err)
	}
	for _, tc := range []struct {
		m  Mode
		ok func([]byte) bool
	}{
		{Silent, func(b []byte) bool { return b == nil }},
		{Garbage, func(b []byte) bool { return len(b) == rpm5300.FrameLen && bytes.IndexByte(b, rpm5300.CR) < 0 }},
		{Noisy, func(b []byte) bool { _, err := rpm5300.Decode(b[len(b)-5:]); return len(b) > 5 && err == nil }},
		{BadFrame, func(b []byte) bool { _, err := rpm5300.Decode(b); return err != nil && len(b) == 5 }},
		{Truncated, func(b []byte) bool { return len(b) == 2 && bytes.IndexByte(b, rpm5300.CR) < 0 }},
	} {
		s.SetMode(tc.m)
		if b := s.Frame(); !tc.ok(b) {
			t.Errorf("mode %v: %q", tc.m, b)
		}
		if tc.m.String() == "" {
			t.Error("no name")
		}
	}
}
