package testenv

import (
	"syscall"
)

// Pause stops the server with SIGSTOP: its port still accepts connections
// (the kernel completes the handshake) but nothing is answered, as with a
// hung Redis or a partitioned network. It is resumed when the test ends.
func (s *RedisServer) Pause() {
	s.tb.Helper()
	s.signal(syscall.SIGSTOP)
	s.tb.Cleanup(s.Resume)
}

// Resume continues a paused server (SIGCONT).
func (s *RedisServer) Resume() { s.signal(syscall.SIGCONT) }

// Kill ends the server with SIGKILL, as a crash would: no shutdown, nothing
// flushed beyond what appendfsync always already wrote. Start brings it
// back on the same port and data.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *RedisServer) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		if err := s.cmd.Process.Signal(sig); err != nil {
			s.tb.Errorf("testenv: signal %v to redis-server: %v", sig, err)
		}
	}
}
