package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

// cmdCIEnv prints a CI job's variables as export lines for
// eval "$(deploytokens ci-env ...)"; the PAT comes from DEPLOYTOKENS_TOKEN.
func cmdCIEnv(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploytokens ci-env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("url", getenv("DEPLOYTOKENS_URL"), "URL of the deploytokens server (DEPLOYTOKENS_URL)")
	project := fs.String("project", getenv("CI_PROJECT_PATH"), "project path or id (CI_PROJECT_PATH)")
	if err := fs.Parse(args); err != nil {
		return err
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
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(*server, "/") + "/api/v4/projects/" + url.PathEscape(*project) + "/ci/variables"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
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
	_, err = io.WriteString(stdout, tokens.Dotenv(vars, "export "))
	return err
}
