package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ForContainers lets the client run containers, not only move images:
// the runtime is runc when it is installed (crun refuses hybrid cgroup
// hierarchies such as the test machines'), every container gets explicit
// open-file and process limits (podman's defaults ask for more than such a
// sandbox allows), and networks, podman-compose's included, are kept in
// the client's own directory. A real host needs none of this; it is set
// here once, through CONTAINERS_CONF, rather than on every command.
func (p *PodmanClient) ForContainers() *PodmanClient {
	p.tb.Helper()
	nets := filepath.Join(p.dir, "networks")
	if err := os.MkdirAll(nets, 0o700); err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	engine := []string{`events_logger = "none"`, `cgroup_manager = "cgroupfs"`}
	if _, err := exec.LookPath("runc"); err == nil {
		engine = append(engine, `runtime = "runc"`)
	}
	conf := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n\n[engine]\n%s\n\n[network]\nnetwork_config_dir = %q\n",
		strings.Join(engine, "\n"), nets)
	if err := os.WriteFile(filepath.Join(p.dir, "containers.conf"), []byte(conf), 0o600); err != nil {
		p.tb.Fatalf("testenv: %v", err)
	}
	return p
}
