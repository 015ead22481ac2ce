package uplink

import "time"

// bucket is a token bucket with a deficit: a send is allowed while the balance is not
// negative and then takes its whole cost, so one record larger than a second's budget is
// still sent, and the bucket then stays empty for as long as that record was over. A zero
// rate means unlimited.
type bucket struct {
	rate  float64 // tokens per second; 0: unlimited
	burst float64 // the most the balance can hold
	bal   float64
	last  time.Time
}

func newBucket(rate float64, burst float64, now time.Time) bucket {
	if rate <= 0 {
		return bucket{}
	}
	burst = max(burst, rate/10, 1)
	return bucket{rate: rate, burst: burst, bal: burst, last: now}
}

func (b *bucket) refill(now time.Time) {
	if b.rate <= 0 {
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.bal = min(b.burst, b.bal+d.Seconds()*b.rate)
	}
	b.last = now
}

// wait is how long until a send is allowed (0: now).
func (b *bucket) wait(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	b.refill(now)
	if b.bal >= 0 {
		return 0
	}
	return time.Duration(-b.bal / b.rate * float64(time.Second))
}

// spend takes cost tokens (the balance may go negative).
func (b *bucket) spend(cost float64, now time.Time) {
	if b.rate <= 0 {
		return
	}
	b.refill(now)
	b.bal -= cost
}

// pacer holds the record and byte budgets of the backlog drain.
type pacer struct{ recs, bytes bucket }

func newPacer(o Options, now time.Time) pacer {
	return pacer{
		recs:  newBucket(o.RateRecords, o.RateRecords, now),
		bytes: newBucket(float64(o.RateBytes), float64(o.RateBytes), now),
	}
}

// unlimited reports whether no budget is set.
func (p *pacer) unlimited() bool { return p.recs.rate <= 0 && p.bytes.rate <= 0 }

// wait is how long until the next backlog send is allowed.
func (p *pacer) wait(now time.Time) time.Duration {
	return max(p.recs.wait(now), p.bytes.wait(now))
}

// spend accounts one send of n wire bytes (fresh records spend too, but never wait).
func (p *pacer) spend(n int, now time.Time) {
	p.recs.spend(1, now)
	p.bytes.spend(float64(n), now)
}
