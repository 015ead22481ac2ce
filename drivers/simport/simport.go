// Package simport exposes a device simulator on a pseudo-terminal, so the agent (or any
// serial program) talks to it through a real tty exactly as it would to hardware.
package simport

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// PTY is the master side of a pseudo-terminal. The simulator reads and writes Master;
// a driver opens SlavePath with go.bug.st/serial.
type PTY struct {
	Master    *os.File // supports read deadlines; Close unblocks a pending Read
	SlavePath string   // e.g. /dev/pts/7
}

// Open allocates a pseudo-terminal and puts its slave side in raw mode at once, so bytes
// the simulator writes before the driver opens the port are not mangled by the line
// discipline (toolchain.md §3).
//
// The master is opened non-blocking through /dev/ptmx directly: creack/pty's blocking
// master ignores read deadlines.
func Open() (*PTY, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("simport: open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("simport: unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("simport: ptsname: %w", err)
	}
	path := fmt.Sprintf("/dev/pts/%d", n)
	if err := makeRaw(path); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &PTY{Master: os.NewFile(uintptr(fd), "/dev/ptmx"), SlavePath: path}, nil
}

// Close closes the master; the slave path disappears and a driver reading it gets an error.
func (p *PTY) Close() error { return p.Master.Close() }

func makeRaw(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("simport: open slave %s: %w", path, err)
	}
	defer unix.Close(fd)
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("simport: tcgets: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("simport: tcsets: %w", err)
	}
	return nil
}
