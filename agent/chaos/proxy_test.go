package chaos

import (
	"net"
	"sync"
	"testing"
)

// proxy forwards TCP connections to a target until it is told to go silent: then every
// byte in both directions is held back (read and dropped, never answered) and no connection
// is closed or reset — a partition, as seen by both ends. After Heal the silent connections
// are closed (their peers gave up on them long ago) and new ones are forwarded again.
type proxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu     sync.Mutex
	silent bool
	healed chan struct{} // closed by Heal; silenced pipes wait on it without reading
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// hold returns the channel a silenced pipe waits on (nil when not silent).
func (p *proxy) hold() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.silent {
		return nil
	}
	return p.healed
}

func (p *proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *proxy) serve(c net.Conn) {
	defer p.wg.Done()
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	if h := p.hold(); h != nil {
		<-h // a black hole: accepted (the kernel did), never answered
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				break
			}
			if h := p.hold(); h != nil {
				// Dropped, and nothing more is read: the sender's socket buffers fill as
				// they would behind a dead link. No FIN, no RST.
				<-h
				break
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
}

// Silence holds back everything from now on.
func (p *proxy) Silence() {
	p.mu.Lock()
	if !p.silent {
		p.silent, p.healed = true, make(chan struct{})
	}
	p.mu.Unlock()
}

// Heal closes the silenced connections and forwards new ones again.
func (p *proxy) Heal() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	if p.silent {
		close(p.healed)
	}
	p.silent = false
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.ln.Close()
	p.Heal()
	p.wg.Wait()
}
