package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/deploytokens/deploytokens/tokens"
)

// execWith runs command with vars added to this process's environment and
// answers its exit status as an exitError. A child, not syscall.Exec: the
// same code runs on every OS a CI runner has, and in-process in tests. The
// signals a runner sends to cancel a job are passed on, so the command
// stops as it would have without ci-env in front.
func execWith(ctx context.Context, command []string, vars []tokens.CIVariable, stdout, stderr io.Writer) error {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = os.Environ()
	for _, v := range vars {
		cmd.Env = append(cmd.Env, v.Key+"="+v.Value) // later wins, as in env(1)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	// Caught before the command starts: a signal between its start and
	// Notify would end ci-env and leave the command running.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "deploytokens ci-env: %v\n", err)
		return exitError(127) // as a shell answers a command it cannot run
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			cmd.Process.Signal(sig)
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			ctx = context.Background() // once
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return exitError(128 + int(ws.Signal()))
				}
				return exitError(ee.ExitCode())
			}
			if err != nil {
				return err
			}
			return nil
		}
	}
}
