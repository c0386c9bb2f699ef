package boltstore

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cachedShare answers the share of the file's pages in the page cache.
func cachedShare(t *testing.T, path string) float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pages := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	// x/sys/unix has no mincore(2) for Linux.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&pages[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, p := range pages {
		n += int(p & 1)
	}
	return float64(n) / float64(len(pages))
}

func TestCloseDropsBulkLoadFromCache(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("tmpfs keeps its pages in the page cache")
	}
	path := filepath.Join(dir, "deploytokens.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	loadTokens(t, s, 2000)
	if share := cachedShare(t, path); share < 0.5 {
		t.Skipf("only %.0f%% of the file is cached after writing it; nothing to check", 100*share)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if share := cachedShare(t, path); share > 0.1 {
		t.Errorf("%.0f%% of the file is still cached after Close", 100*share)
	}
}
