package main

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampConn is a load generator's TCP connection that reads with recvmsg
// and keeps the kernel's receive time (SO_TIMESTAMPNS) of the data it read
// last. The load generator shares the cores with the servers, so the time
// until its own goroutine is scheduled to read an answer is part of the
// latency it observes; the receive time is when the answer reached this
// machine's socket, which is what a client on another machine would see.
type stampConn struct {
	*net.TCPConn
	raw syscall.RawConn
	oob []byte
	// received is the receive time of the last read, zero until one
	// carried it.
	received time.Time
}

func newStampConn(c net.Conn) (*stampConn, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, errors.New("not a TCP connection")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return &stampConn{TCPConn: tc, raw: raw, oob: make([]byte, unix.CmsgSpace(16))}, nil
}

// Read reads like net.Conn's Read (deadlines included: RawConn.Read waits
// on the same poller) and notes the receive time the kernel attached.
func (s *stampConn) Read(p []byte) (int, error) {
	var n, oobn int
	var rerr error
	err := s.raw.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, s.oob, 0)
			if rerr != unix.EINTR {
				// EAGAIN: wait until the socket is readable.
				return rerr != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	if t, ok := receiveTime(s.oob[:oobn]); ok {
		s.received = t
	}
	return n, nil
}

// receiveTime finds the SCM_TIMESTAMPNS control message in oob.
func receiveTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
