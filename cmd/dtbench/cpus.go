package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxCPU bounds the CPU numbers -server-cpus accepts (a cpu_set_t holds
// 1024).
const maxCPU = 1023

// parseCPUList parses a taskset CPU list: numbers and ranges separated by
// commas, such as "0", "0,2" or "0-3".
func parseCPUList(s string) (unix.CPUSet, error) {
	var set unix.CPUSet
	for f := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(f), "-")
		a, err := cpuNumber(lo)
		if err != nil {
			return set, err
		}
		b := a
		if isRange {
			if b, err = cpuNumber(hi); err != nil {
				return set, err
			}
			if b < a {
				return set, fmt.Errorf("%q is not a range from low to high", f)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			set.Set(cpu)
		}
	}
	return set, nil
}

func cpuNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxCPU {
		return 0, fmt.Errorf("%q is not a CPU number between 0 and %d", s, maxCPU)
	}
	return n, nil
}

// onlineCPUs answers the CPUs this machine has online, whatever dtbench's
// own affinity.
func onlineCPUs() (unix.CPUSet, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return unix.CPUSet{}, err
	}
	return parseCPUList(strings.TrimSpace(string(b)))
}

// checkServerCPUs accepts list when every CPU in it is online and none is
// one dtbench itself may run on: the point of pinning is that the load
// generator never takes a core from the servers, nor they from it.
func checkServerCPUs(list string) error {
	want, err := parseCPUList(list)
	if err != nil {
		return err
	}
	online, err := onlineCPUs()
	if err != nil {
		return fmt.Errorf("reading the online CPUs: %w", err)
	}
	var own unix.CPUSet
	if err := unix.SchedGetaffinity(0, &own); err != nil {
		return fmt.Errorf("reading dtbench's own CPUs: %w", err)
	}
	return checkCPUs(list, want, online, own)
}

func checkCPUs(list string, want, online, own unix.CPUSet) error {
	for cpu := range maxCPU + 1 {
		switch {
		case !want.IsSet(cpu):
		case !online.IsSet(cpu):
			return fmt.Errorf("CPU %d is not online", cpu)
		case own.IsSet(cpu):
			return fmt.Errorf("dtbench itself may run on CPU %d, so the load generator would share it with the servers; "+
				"run dtbench on the other CPUs: taskset -c <others> go run ./cmd/dtbench -server-cpus %s", cpu, list)
		}
	}
	return nil
}

// pinned answers how to run bin with args on cpus: through taskset, which
// sets the affinity and execs bin in the same process, or as it is when
// cpus is empty.
func pinned(cpus, bin string, args []string) (string, []string) {
	if cpus == "" {
		return bin, args
	}
	return "taskset", append([]string{"--cpu-list", cpus, bin}, args...)
}
