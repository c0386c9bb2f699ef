package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/deploytokens/deploytokens/tokens"
)

// statusHints say what a refusal of the variables usually means for a job.
var statusHints = map[int]string{
	http.StatusUnauthorized: " (DEPLOYTOKENS_TOKEN is not a live personal access token)",
	http.StatusForbidden:    " (the token's user needs at least the developer role in the project)",
	http.StatusNotFound:     " (no such project, or the token's user is not a member of it)",
}

// hint says what a refusal usually means, unless the server's message
// already says it (a 403 for the token's scopes, not the user's role).
func hint(status int, message string) string {
	if strings.HasPrefix(message, "insufficient_scope") {
		return ""
	}
	return statusHints[status]
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var ciEnvHelp = commandHelp{
	usage: "deploytokens ci-env [flags]\n       deploytokens ci-env [flags] --exec -- command [args...]",
	about: `Fetches a CI job's variables (CI_REGISTRY, CI_DEPLOY_USER, CI_DEPLOY_PASSWORD,
CI_JOB_TOKEN and the rest) for a project from a deploytokens server.

Without --exec it prints them as export lines, in dotenv form. Assign them on
a line of their own, so that under set -e a failure stops the job:
    vars=$(deploytokens ci-env)
    eval "$vars"
(eval "$(deploytokens ci-env)" and "... && eval" hide the failure: the
status of eval, not of ci-env, is what the shell checks.)

With --exec it runs the command with the variables added to its environment,
and exits with the command's status; nothing is printed.`,
	env: `  DEPLOYTOKENS_TOKEN  personal access token of the job's user (required); with
                      the api scope (read_api gets no CI_DEPLOY_PASSWORD); read
                      from the environment only, so it shows in no process list
  DEPLOYTOKENS_URL    default of --url
  CI_PROJECT_PATH     default of --project (GitLab CI sets it)`,
	exit: `  0  the variables were printed (or --help)
  1  they could not be fetched: the message says why (bad token, no access,
     no such project, server unreachable)
  2  bad command line
  N  with --exec: the command's own status (128+signal when a signal ended it;
     127 when it could not be started)`,
}

// cmdCIEnv prints a CI job's variables as export lines, or runs a command
// with them in its environment; the PAT comes from DEPLOYTOKENS_TOKEN.
func cmdCIEnv(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ci-env")
	server := fs.String("url", getenv("DEPLOYTOKENS_URL"), "URL of the deploytokens server (DEPLOYTOKENS_URL)")
	project := fs.String("project", getenv("CI_PROJECT_PATH"), "project path or id (CI_PROJECT_PATH)")
	execute := fs.Bool("exec", false, "run the command after -- with the variables in its environment, instead of printing them")
	if err := parseFlags(fs, args, ciEnvHelp, stdout); err != nil {
		return err
	}
	command := fs.Args()
	switch {
	case *execute && len(command) == 0:
		return usageError{"--exec needs a command: ci-env --exec -- command [args...]"}
	case !*execute && len(command) > 0:
		return usageError{fmt.Sprintf("unexpected argument %q (to run a command, give --exec -- command)", command[0])}
	}
	token := getenv("DEPLOYTOKENS_TOKEN")
	var errs []error
	if *server == "" {
		errs = append(errs, errors.New("--url (DEPLOYTOKENS_URL) is missing"))
	}
	if *project == "" {
		errs = append(errs, errors.New("--project (CI_PROJECT_PATH) is missing"))
	}
	if token == "" {
		errs = append(errs, errors.New("DEPLOYTOKENS_TOKEN (a personal access token with api; read_api gets no CI_DEPLOY_PASSWORD) is missing"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The request's bound, not the command's: --exec runs as long as it does.
	reqCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(*server, "/") + "/api/v4/projects/" + url.PathEscape(*project) + "/ci/variables"
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	req.Header.Set("PRIVATE-TOKEN", token)
	// No redirects: Go would carry PRIVATE-TOKEN to wherever they lead.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var m struct {
			Message string `json:"message"`
		}
		json.Unmarshal(body, &m)
		return fmt.Errorf("%s answered %s: %s%s", *server, resp.Status, m.Message, hint(resp.StatusCode, m.Message))
	}
	var vars []tokens.CIVariable
	if err := json.Unmarshal(body, &vars); err != nil {
		return fmt.Errorf("%s answered something that is not a variable list: %w", *server, err)
	}
	for _, v := range vars {
		// The output is eval'd: a key is a shell name or the answer is refused.
		if !shellName.MatchString(v.Key) {
			return fmt.Errorf("%s answered a variable named %q, which is not a shell name", *server, v.Key)
		}
	}
	if w := resp.Header.Get("X-Deploy-Token-Warning"); w != "" {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *execute {
		return execWith(ctx, command, vars, stdout, stderr)
	}
	_, err = io.WriteString(stdout, tokens.Dotenv(vars, "export "))
	return err
}
