package mqttutil

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	var maxSeen time.Duration
	for n := 0; n < 200; n++ {
		d := b.Next()
		ceil := b.Min << (min(n, 10) + 1)
		if ceil > b.Max {
			ceil = b.Max
		}
		if d < b.Min || d > ceil {
			t.Fatalf("delay %d = %v, want within [%v, %v]", n, d, b.Min, ceil)
		}
		maxSeen = max(maxSeen, d)
	}
	if maxSeen < b.Max/2 {
		t.Errorf("after 200 attempts the longest delay was %v; backoff does not grow towards %v", maxSeen, b.Max)
	}
	b.Reset()
	if d := b.Next(); d > 2*b.Min {
		t.Errorf("after Reset the delay is %v, want <= %v", d, 2*b.Min)
	}
	// Jitter: the delays at the cap are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Next()] = true
	}
	if len(seen) < 5 {
		t.Errorf("only %d distinct delays in 20: no jitter", len(seen))
	}
	for range 50 {
		if d := b.Longest(); d > b.Max || d < b.Max*3/4 {
			t.Fatalf("Longest() = %v, want within [%v, %v]", d, b.Max*3/4, b.Max)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("connect: %w : %w", packets.ErrorRefusedBadUsernameOrPassword, errors.New("x")), ClassAuth},
		{fmt.Errorf("connect: %w", packets.ErrorRefusedNotAuthorised), ClassAuth},
		{fmt.Errorf("connect: %w", packets.ErrorRefusedIDRejected), ClassRefused},
		{fmt.Errorf("connect: %w: %w", ErrTLSRefused, io.EOF), ClassAuth},
		{fmt.Errorf("network Error : %w", x509.UnknownAuthorityError{}), ClassAuth},
		{errors.New("network Error : remote error: tls: bad certificate"), ClassAuth},
		{fmt.Errorf("network Error : %w", syscall.ECONNREFUSED), ClassNetwork},
		{fmt.Errorf("connect: %w", packets.ErrorRefusedServerUnavailable), ClassNetwork},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
