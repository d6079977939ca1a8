package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	dir, _ := makeLedger(t, 500, 21)
	before := treeHash(t, dir)
	// A non-loopback address needs --allow-remote.
	r := runCLI(t, nil, "serve", dir, "--addr", "0.0.0.0:0")
	r.must(t, exitUsage)
	if !strings.Contains(r.stderr, "--allow-remote") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	runCLI(t, nil, "serve", t.TempDir(), "--addr", "127.0.0.1:0").must(t, exitError)

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", dir, "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, io.Discard)
	}()
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+/)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		cancel()
		t.Fatalf("serve printed %q", out.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="events">500<`) {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	resp, err = http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	for _, p := range []string{"query?kind=ProposalCreated", "timeline?correlation=x", "trace?id=x&refs=1", "metrics", "verify"} {
		resp, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve exit %d", code)
	}
	sameTree(t, "serve", before, treeHash(t, dir))
}
