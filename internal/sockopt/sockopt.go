// Package sockopt switches TCP sockets into blocking mode, for code that
// serves or sends one request at a time per connection (the load
// balancer's HTTP listeners, the benchmarks' light client).
//
// A Go socket is non-blocking: a read that finds no data parks the
// goroutine, and the runtime's network poller wakes it when data arrives.
// That hop (park, epoll, wake, reschedule) happens for every request and,
// with one client at a time, is much of the time a request spends beyond
// the socket calls themselves. A socket in blocking mode skips it: the
// thread sleeps in read(2) and the kernel wakes it directly. The price is
// a thread per waiting connection, so a server gives blocking mode to only
// a few connections (Slots); the others stay on the poller, which is what
// serves many connections well.
//
// A read blocked in the kernel is not interrupted by Close (which then
// waits for it), nor by Go's deadlines: connections in blocking mode carry
// SO_RCVTIMEO as their idle timeout, and are shut down before they are
// closed from another goroutine (CloseNow).
package sockopt

import (
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// Slots counts the connections of one server in blocking mode.
type Slots struct{ n atomic.Int32 }

// Take reports whether one more connection may use blocking mode (as many
// as there are CPUs), and takes the slot if so.
func (s *Slots) Take() bool {
	limit := int32(runtime.GOMAXPROCS(0))
	for {
		n := s.n.Load()
		if n >= limit {
			return false
		}
		if s.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives a slot back.
func (s *Slots) Release() { s.n.Add(-1) }

// InUse is the number of slots taken.
func (s *Slots) InUse() int { return int(s.n.Load()) }

// SetBlocking switches a TCP connection between blocking and non-blocking
// mode; it reports whether it could (other connections, such as TLS ones,
// stay as they are). In blocking mode a read waits at most timeout (0: no
// limit) before failing with a timeout.
func SetBlocking(c net.Conn, blocking bool, timeout time.Duration) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if blocking && timeout > 0 {
			tv := syscall.NsecToTimeval(timeout.Nanoseconds())
			if serr = syscall.SetsockoptTimeval(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); serr != nil {
				return
			}
		}
		serr = syscall.SetNonblock(int(fd), !blocking)
	})
	return err == nil && serr == nil
}

// CloseNow closes a connection that another goroutine may be reading in
// blocking mode: shutting the socket down first wakes that reader, which
// Close alone would wait for.
func CloseNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
		}
	}
	c.Close()
}
