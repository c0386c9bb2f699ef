package main

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestAdminHomeCallsWork: root signs in to the web pages with the admin
// token, lands on the help for a first project, and the API calls shown
// there, pasted with the token in place of <token>, create the group and
// the project.
func TestAdminHomeCallsWork(t *testing.T) {
	s := startServer(t, nil)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	form := get("/users/sign_in")
	m := regexp.MustCompile(`name="authenticity_token" value="([^"]*)"`).FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page:\n%s", form)
	}
	resp, err := c.PostForm(s.URL+"/users/sign_in", url.Values{"username": {"root"}, "password": {s.AdminToken}, "authenticity_token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	home := get("/")
	pre := regexp.MustCompile(`(?s)<pre id="admin-create"><code>(.*?)</code></pre>`).FindStringSubmatch(home)
	if pre == nil {
		t.Fatalf("root's first page shows no API calls:\n%s", home)
	}
	script := strings.ReplaceAll(html.UnescapeString(pre[1]), "<token>", s.AdminToken)
	cmd := exec.Command("bash", "-ec", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the calls shown failed: %v\n%s", err, out)
	}
	s.mustAPI(t, 200, "GET", "/projects/tanuki%2Fapp", s.AdminToken, nil, nil)
	s.mustAPI(t, 200, "GET", "/groups/tanuki", s.AdminToken, nil, nil)
	if strings.Contains(get("/"), `id="admin-start"`) {
		t.Error("the first-project help still shows once a project exists")
	}
}
