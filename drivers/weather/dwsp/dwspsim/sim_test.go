package dwspsim

import (
	"bytes"
	"errors"
	"testing"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
	"imagent/drivers/weather/dwsp"
)

func TestReply(t *testing.T) {
	s := New(Options{Weather: Fixed(Conditions{TempC: 23.4, RHpct: 48.7, PressureKPa: 101.32})})
	req := []byte{0x01, 0x04, 0x00, 0x00, 0x00, 0x03, 0xb0, 0x0b}
	want := []byte{0x01, 0x04, 0x06, 0x27, 0x94, 0x00, 0xea, 0x01, 0xe7, 0x37, 0xb7} // testdata/read_dwspt5.trace
	if got := s.Reply(req); !bytes.Equal(got, want) {
		t.Errorf("Reply = % x, want % x", got, want)
	}
	r := dwsp.DWSPT5.Request(1, modbus.ReadInput)
	for _, tc := range []struct {
		m    Mode
		want error
	}{{BadCRC, drivers.ErrChecksum}, {Exception, drivers.ErrNAK}, {Busy, drivers.ErrBusy}, {WrongSlave, drivers.ErrFrame},
		{Garbage, drivers.ErrChecksum}, {Truncated, drivers.ErrChecksum}} { // the codec checks the CRC first
		s.SetMode(tc.m)
		if _, err := dwsp.DecodeReply(s.Reply(req), r, dwsp.DWSPT5); !errors.Is(err, tc.want) {
			t.Errorf("%v: %v, want %v", tc.m, err, tc.want)
		}
	}
	s.SetMode(SensorFault)
	v, err := dwsp.DecodeReply(s.Reply(req), r, dwsp.DWSPT5)
	if err != nil || dwsp.DefaultLimits.Check(v) == nil {
		t.Errorf("sensor fault: %+v, %v", v, err)
	}
	s.SetMode(Silent)
	if got := s.Reply(req); got != nil {
		t.Errorf("silent: % x", got)
	}
	s.SetMode(Normal)
	other := modbus.AppendCRC([]byte{2, 4, 0, 0, 0, 3})
	if got := s.Reply(other); got != nil {
		t.Errorf("answered slave 2: % x", got)
	}
	write := modbus.AppendCRC([]byte{1, 6, 0, 0, 0, 3})
	if _, err := dwsp.DecodeReply(s.Reply(write), modbus.Write(1, 0, 3), dwsp.DWSPT5); !errors.Is(err, drivers.ErrNAK) {
		t.Errorf("write: %v, want exception 01", err)
	}
	if got := s.Reply(req[:7]); got != nil {
		t.Errorf("short request answered: % x", got)
	}
	if n := s.Requests(); n != 10 {
		t.Errorf("Requests = %d, want 10", n)
	}
}
