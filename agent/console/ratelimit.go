package console

import (
	"net/netip"
	"sync"
	"time"
)

// Login rate limits. Every attempt costs a token before the password is hashed, so a
// guesser can neither try fast nor make the box burn CPU on PBKDF2. A successful login
// refills the client's bucket. The global bucket caps guessing spread over many addresses;
// while it is empty nobody can log in (a LAN attack then locks the console, not open it).
const (
	ipBurst      = 5
	ipEvery      = 20 * time.Second // one more attempt per client every 20 s
	globalBurst  = 10
	globalEvery  = 6 * time.Second // 10 attempts a minute across all clients
	maxIPBuckets = 4096
)

type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b at one token per every (up to burst) and takes one if it can. It returns
// how long until a token will be there when it cannot.
func (b *bucket) take(now time.Time, burst float64, every time.Duration) (bool, time.Duration) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(burst, b.tokens+float64(el)/float64(every))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(every))
}

// loginLimiter limits login attempts per client address and overall.
type loginLimiter struct {
	now func() time.Time

	mu     sync.Mutex
	perIP  map[netip.Addr]*bucket
	global bucket
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, perIP: map[netip.Addr]*bucket{}}
}

// allow takes a token for one attempt from ip; when it cannot, it says how long to wait.
func (l *loginLimiter) allow(ip netip.Addr) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.perIP[ip]
	if b == nil {
		if len(l.perIP) >= maxIPBuckets {
			l.prune(now)
		}
		b = &bucket{}
		l.perIP[ip] = b
	}
	ok, wait := b.take(now, ipBurst, ipEvery)
	if !ok {
		return false, wait
	}
	if ok, wait := l.global.take(now, globalBurst, globalEvery); !ok {
		b.tokens++ // the client is not to blame for the global limit
		return false, wait
	}
	return true, 0
}

// succeeded refills ip's bucket after a correct password.
func (l *loginLimiter) succeeded(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.perIP, ip)
}

// prune drops the buckets that have refilled completely (they hold no history), and if
// that is not enough, all of them: the global bucket still bounds the rate.
func (l *loginLimiter) prune(now time.Time) {
	for ip, b := range l.perIP {
		if b.tokens+float64(now.Sub(b.last))/float64(ipEvery) >= ipBurst {
			delete(l.perIP, ip)
		}
	}
	if len(l.perIP) >= maxIPBuckets {
		clear(l.perIP)
	}
}
