package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// commandHelp is what `deploytokens CMD --help` says around the flags:
// the flags alone don't tell a CI author which variables are read or how
// the command ends.
type commandHelp struct {
	usage string // the command line, after "usage: "
	about string // what the command does, a paragraph or two
	env   string // variables read besides the flags' own, one a line
	exit  string // exit codes, one a line
}

// exitUsage is the exit status of a command line that could not be parsed.
const exitUsage = 2

const exitCommon = `  0  done (or --help)
  1  failed; the message says why
  2  bad command line: unknown flag or a flag's value of the wrong kind`

// usageError is a command line that could not be parsed: run prints its
// message once, with a pointer to --help rather than the whole usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError ends run with its status and nothing printed: the status is
// another program's (ci-env --exec), which has said what it had to say.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// newFlagSet answers a flag set that prints nothing itself: parseFlags
// prints help when asked and leaves errors to run, so each is said once.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("deploytokens "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args; on --help it prints h and fs's flags to out and
// answers flag.ErrHelp; a bad flag answers a usageError naming it.
func parseFlags(fs *flag.FlagSet, args []string, h commandHelp, out io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(out, fs, h)
		return err
	}
	if err != nil {
		return usageError{flagMessage(err)}
	}
	return nil
}

func printHelp(w io.Writer, fs *flag.FlagSet, h commandHelp) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", h.usage, strings.TrimSpace(h.about))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags (a flag wins over the variable named with it):\n")
		fs.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s", f.Name)
			if kind != "" {
				fmt.Fprintf(w, " %s", kind)
			}
			fmt.Fprintf(w, "\n        %s", usage)
			switch f.DefValue {
			case "", "0", "false", "0s":
			default:
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	if h.env != "" {
		fmt.Fprintf(w, "\nVariables:\n%s\n", strings.TrimRight(h.env, "\n"))
	}
	fmt.Fprintf(w, "\nExit codes:\n%s\n", strings.TrimRight(h.exit, "\n"))
}

var (
	badValue   = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([A-Za-z0-9-]+): `)
	unknownFlg = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	missingArg = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagMessage rewrites the flag package's errors in the words of this
// command line: --name (DEPLOYTOKENS_NAME), and the kind of value wanted
// instead of "parse error".
func flagMessage(err error) string {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		var c Config
		for _, s := range c.settings() {
			if s.name == m[2] {
				return fmt.Sprintf("--%s (%s): %q is not a valid %s", s.name, envName(s.name), redactIfSecret(s.name, m[1]), kindOf(s.ptr))
			}
		}
		return fmt.Sprintf("--%s: %q is not a valid value", m[2], m[1])
	}
	if m := unknownFlg.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := missingArg.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s needs a value", m[1])
	}
	return msg
}

// bindOnly registers the settings named on fs, as bind does for all.
func (c *Config) bindOnly(fs *flag.FlagSet, names []string) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	c.bind(all)
	for _, n := range names {
		f := all.Lookup(n)
		fs.Var(f.Value, f.Name, f.Usage)
	}
}
