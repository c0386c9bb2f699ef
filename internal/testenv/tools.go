package testenv

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// The pinned external tools the end-to-end tests drive. The Makefile's
// `tools` target installs the same package@version pairs into bin/tools, so
// a prebuilt binary is found here and never rebuilt.
const (
	// RegistryPackage is the CNCF distribution registry's main package.
	RegistryPackage = "github.com/distribution/distribution/v3/cmd/registry"
	// RegistryVersion is the pinned version of RegistryPackage.
	RegistryVersion = "v3.1.2"
	// CranePackage is go-containerregistry's crane command.
	CranePackage = "github.com/google/go-containerregistry/cmd/crane"
	// CraneVersion is the pinned version of CranePackage; it matches the
	// go-containerregistry library version in go.mod.
	CraneVersion = "v0.22.1"
)

// ToolsDir is where pinned tools are installed, relative to the module root.
const ToolsDir = "bin/tools"

type pinnedTool struct {
	pkg, version string
}

// pinnedTools maps the names Tool accepts to what they are built from. The
// binary's name is the last element of the package path, as go install
// names it.
var pinnedTools = map[string]pinnedTool{
	"registry": {RegistryPackage, RegistryVersion},
	"crane":    {CranePackage, CraneVersion},
}

// toolMu serialises builds inside one test binary; the file lock in
// installTool serialises them between test binaries that go test runs in
// parallel.
var toolMu sync.Mutex

// Tool answers the path of the pinned tool name ("registry" or "crane"),
// installing it into <module root>/bin/tools with `go install pkg@version`
// the first time any test on this machine asks for it. A binary already there
// is reused only when its embedded build info names the pinned version, so
// changing a pin rebuilds it. The test fails when the tool cannot be built.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	pin, ok := pinnedTools[name]
	if !ok {
		tb.Fatalf("testenv: no pinned tool named %q", name)
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	dir := filepath.Join(root, filepath.FromSlash(ToolsDir))
	bin := filepath.Join(dir, name)

	toolMu.Lock()
	defer toolMu.Unlock()
	if isPinnedBinary(bin, pin) {
		return bin
	}
	if err := installTool(dir, name, pin, tb.Logf); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return bin
}

// isPinnedBinary reports whether path is a Go binary built from pin.
func isPinnedBinary(path string, pin pinnedTool) bool {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return false
	}
	return info.Path == pin.pkg && info.Main.Version == pin.version
}

// installTool builds pin into dir/name. It holds an exclusive lock on
// dir/.lock so that test binaries running in parallel build once, and it
// installs into a private directory and renames the result, so no process
// ever runs a half-written binary.
func installTool(dir, name string, pin pinnedTool, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create tools dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("open tools lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock tools dir: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too

	bin := filepath.Join(dir, name)
	if isPinnedBinary(bin, pin) { // another process built it while we waited
		return nil
	}
	logf("testenv: building %s@%s into %s (once per machine; `make tools` does it ahead)", pin.pkg, pin.version, dir)
	tmp, err := os.MkdirTemp(dir, ".build-"+name+"-")
	if err != nil {
		return fmt.Errorf("create build dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	goBin, err := goCommand()
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "install", pin.pkg+"@"+pin.version)
	// Run outside the module so its go.mod and any -mod flag play no part:
	// pkg@version builds with the tool's own go.mod, as `make tools` does.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install %s@%s: %w\n%s", pin.pkg, pin.version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
		return fmt.Errorf("install %s: %w", name, err)
	}
	if !isPinnedBinary(bin, pin) {
		return fmt.Errorf("built %s does not carry the build info of %s@%s", bin, pin.pkg, pin.version)
	}
	return nil
}

// goCommand answers the go command to build with: the one on PATH, or the
// one of the toolchain running the test.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // fallback when PATH has no go
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("no go command on PATH to build the pinned tools with")
	}
	return p, nil
}

// moduleRoot answers the nearest directory at or above the working directory
// (a package directory while go test runs) that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
