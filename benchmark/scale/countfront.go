package scale

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/elbguard/elbguard/internal/awscount"
)

// countFront is a reverse proxy in front of moto_server that counts the
// Query-protocol API calls passing through it by action. The SDK
// middleware (internal/awscount) counts elbguard's calls in-process; this
// counts a process we cannot instrument, Cloud Custodian, in an extra run
// that is not timed.
type countFront struct {
	URL string

	mu    sync.Mutex
	calls map[string]int
	srv   *http.Server
}

// credentialScope finds the service in a SigV4 Authorization header:
// "Credential=AKID/20261127/us-east-1/elasticloadbalancing/aws4_request".
var credentialScope = regexp.MustCompile(`Credential=[^/]+/[^/]+/[^/]+/([^/]+)/`)

// queryKey names a call "service:Action", with the short service names of
// awscount.Key: the action comes from the X-Amz-Target header (JSON
// protocol, "ResourceGroupsTaggingAPI_20170126.GetResources") or from the
// Action parameter (Query protocol: ELB, STS).
func queryKey(authorization, target string, form url.Values) string {
	svc := "unknown"
	if m := credentialScope.FindStringSubmatch(authorization); m != nil {
		svc = m[1]
	}
	switch {
	case svc == "elasticloadbalancing" && form.Get("Version") == "2015-12-01":
		svc = "elbv2"
	case svc == "elasticloadbalancing":
		svc = "elb"
	}
	action := form.Get("Action")
	if _, op, ok := strings.Cut(target, "."); ok && action == "" {
		action = op
	}
	if action == "" {
		action = "unknown"
	}
	return svc + ":" + action
}

func startCountFront(target string) (*countFront, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse moto URL %q: %w", target, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the counting front: %w", err)
	}
	f := &countFront{URL: "http://" + ln.Addr().String(), calls: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if len(form) == 0 {
			form = r.URL.Query()
		}
		key := queryKey(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Target"), form)
		f.mu.Lock()
		f.calls[key]++
		f.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() {
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.mu.Lock()
			f.calls["front:serve-error"]++
			f.mu.Unlock()
		}
	}()
	return f, nil
}

// Calls returns the counts so far, with the number of mutating ones.
func (f *countFront) Calls(what string) Calls {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := Calls{What: what, ByAction: map[string]int{}}
	for k, n := range f.calls {
		c.ByAction[k] = n
		if awscount.IsMutating(k) {
			c.Writes += n
		}
	}
	return c
}

func (f *countFront) Close() { _ = f.srv.Close() }
