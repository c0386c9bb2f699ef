package boltstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
	"github.com/deploytokens/deploytokens/tokens/boltstore"
	"github.com/deploytokens/deploytokens/tokens/storetest"
)

var _ storetest.Dumper = (*boltstore.Store)(nil)

// crashEnv makes the test binary a writer that the crash test kills.
const crashEnv = "BOLTSTORE_CRASH_WRITER_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokens.Store {
		return open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
	})
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "deploytokens.db")
	s := open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode %v, want 0600", mode)
	}

	t.Run("second opener fails", func(t *testing.T) {
		second, err := boltstore.Open(path)
		if err == nil {
			_ = second.Close()
			t.Fatal("a second Open of an open store succeeded")
		}
		if !strings.Contains(err.Error(), "another process") {
			t.Errorf("error %q does not say another process has the file", err)
		}
	})
	t.Run("closed store is unavailable", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(t.Context()); !errors.Is(err, tokens.ErrUnavailable) {
			t.Errorf("Ping after Close: %v, want ErrUnavailable", err)
		}
	})
}

// TestOpenSyncsCommits checks every commit is fsynced: an acknowledged
// write must survive power loss, not just the death of the process (which
// TestAcknowledgedWritesSurviveKill covers, and the page cache would pass).
func TestOpenSyncsCommits(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "deploytokens.db"))
	if s.NoSync() {
		t.Fatal("the store was opened with NoSync set")
	}
}

// TestAcknowledgedWritesSurviveKill kills a writing process with SIGKILL and
// checks that every write it acknowledged is in the file afterwards.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploytokens.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start writer: %v", err)
	}

	// Kill the writer while it writes, then keep every acknowledgement it
	// printed before dying.
	const killAfter = 40
	acked := map[int64]string{}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		id, name, err := parseAck(lines.Text())
		if err != nil {
			t.Fatal(err)
		}
		acked[id] = name
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill writer: %v", err)
			}
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("writer did not die of SIGKILL: %v (acknowledged %d writes)", err, len(acked))
	}

	s := open(t, path)
	for id, name := range acked {
		u, err := s.User(t.Context(), id)
		if err != nil {
			t.Errorf("acknowledged user %d: %v", id, err)
			continue
		}
		if u.Username != name {
			t.Errorf("user %d is %q, want %q", id, u.Username, name)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("all %d acknowledged writes survived", len(acked))
}

func parseAck(line string) (int64, string, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ok" {
		return 0, "", fmt.Errorf("writer printed %q", line)
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	return id, f[2], err
}

// crashWriter creates users until it is killed, acknowledging each one on
// stdout after CreateUser returned.
func crashWriter(path string) {
	s, err := boltstore.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	deadline := time.Now().Add(time.Minute) // never outlive a broken parent for long
	for i := 0; time.Now().Before(deadline); i++ {
		u := tokens.User{Username: fmt.Sprintf("user-%d", i), CreatedAt: time.Now()}
		if err := s.CreateUser(context.Background(), &u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ok %d %s\n", u.ID, u.Username)
	}
	os.Exit(3)
}

func TestDeadPathsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "migrate.db")
	storetest.RunDeadPathsMigration(t,
		func(t *testing.T) tokens.Store { return open(t, path) },
		func(t *testing.T, s tokens.Store) tokens.Store { s.Close(); return open(t, path) })
}
