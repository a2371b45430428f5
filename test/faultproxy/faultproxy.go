// Package faultproxy is a fault-injecting HTTP reverse proxy for the AWS
// Query-protocol APIs elbguard calls (Classic ELB 2012-06-01 and ELBv2
// 2015-12-01). It sits between the AWS SDK and a backend such as
// moto_server and, per action (the Action form field of the POST body) and
// optionally per API version, answers with throttling, HTTP 500, a
// connection reset or a delay instead of, or before, forwarding. It counts
// every request by action and whether it was forwarded, runs hooks when an
// action is first seen (to change the backend mid-run), and lets a test
// emulate an AWS behaviour the backend lacks with an Interceptor.
//
// The integration tests use it to prove that the enforcer loses nothing
// under faults; it is safe for concurrent use.
package faultproxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"
)

// maxBody bounds the request body read to find the action.
const maxBody = 8 << 20

// defaultDelay is a Delay fault's wait when Rule.Delay is zero.
const defaultDelay = 100 * time.Millisecond

// Interceptor handles a request in the proxy's place: it may answer itself
// (see WriteError) or call forward to send the request to the backend.
// form holds the parsed request body.
type Interceptor func(w http.ResponseWriter, r *http.Request, form url.Values, forward http.Handler)

// Proxy forwards AWS Query-protocol requests to a backend, injecting faults.
// Create it with New.
type Proxy struct {
	rp *httputil.ReverseProxy

	mu        sync.Mutex
	rules     []*rule
	rnd       *rand.Rand
	hooks     map[string]*hookSet
	intercept map[string]Interceptor
	stats     map[string]*ActionStats
	buckets   *buckets // emulated AWS token buckets (SetBuckets); nil: none
}

// New returns a proxy to the backend at target ("http://127.0.0.1:5000")
// with no rules. seed seeds the source of Rule.Probability draws.
func New(target string, seed uint64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: backend URL %q: %w", target, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: backend URL %q: want scheme://host:port", target)
	}
	p := &Proxy{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // keep the Host the SDK signed
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			WriteError(w, status, "Receiver", "BadGateway", fmt.Sprintf("faultproxy: forward: %v", err))
		},
	}
	p.Reset()
	return p, nil
}

// SetRules replaces the rules (their match counters start at zero).
func (p *Proxy) SetRules(rules ...Rule) error {
	rs := make([]*rule, 0, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return err
		}
		rs = append(rs, &rule{Rule: r})
	}
	p.mu.Lock()
	p.rules = rs
	p.mu.Unlock()
	return nil
}

// hookSet is the hooks of one action, run once.
type hookSet struct {
	once  sync.Once
	hooks []func(action string)
}

// OnFirst runs hook when action is next seen, once, before anything else
// happens to that request; other requests for the action wait for it. A hook
// that deletes a load balancer thus makes that very request find it gone.
// Hooks added after the action was seen wait for its next first sighting
// (after Reset).
func (p *Proxy) OnFirst(action string, hook func(action string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hs := p.hooks[action]
	if hs == nil {
		hs = &hookSet{}
		p.hooks[action] = hs
	}
	hs.hooks = append(hs.hooks, hook)
}

// Intercept hands every request for action that no rule faults (or that a
// Delay rule has delayed) to f instead of forwarding it.
func (p *Proxy) Intercept(action string, f Interceptor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intercept[action] = f
}

// Reset drops every rule, hook, interceptor, emulated bucket and count.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	p.hooks = map[string]*hookSet{}
	p.intercept = map[string]Interceptor{}
	p.stats = map[string]*ActionStats{}
	p.buckets = nil
}

// Stats returns a copy of the counts since the last Reset.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Stats{}
	for k, a := range p.stats {
		c := *a
		c.Faults = map[string]int{}
		for f, n := range a.Faults {
			c.Faults[f] = n
		}
		out[k] = c
	}
	return out
}

// ServeHTTP reads the action, runs first-seen hooks, then intercepts,
// faults or forwards the request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		WriteError(w, http.StatusBadRequest, "Sender", "MalformedQueryString", fmt.Sprintf("faultproxy: read body: %v", err))
		return
	}
	form, _ := url.ParseQuery(string(body))
	if r.URL.RawQuery != "" { // Query protocol also allows GET-style parameters
		q, _ := url.ParseQuery(r.URL.RawQuery)
		for k, v := range q {
			form[k] = append(form[k], v...)
		}
	}
	action, version := form.Get("Action"), form.Get("Version")
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	key := Key(version, action)
	p.mu.Lock()
	st := p.stats[key]
	if st == nil {
		st = &ActionStats{Faults: map[string]int{}}
		p.stats[key] = st
	}
	st.Requests++
	hs := p.hooks[action]
	var hooks []func(string)
	if hs != nil {
		hooks = slices.Clone(hs.hooks)
	}
	p.mu.Unlock()
	if hs != nil {
		hs.once.Do(func() {
			for _, h := range hooks {
				h(action)
			}
		})
	}

	p.mu.Lock()
	var fault *rule
	for _, ru := range p.rules {
		if ru.matches(action, version, form) && ru.fire(p.rnd.Float64) {
			fault = ru
			break
		}
	}
	icpt := p.intercept[action]
	throttled := false
	if fault == nil && p.buckets != nil {
		k, mutate := bucketKey(r, version, action)
		throttled = !p.buckets.take(k, mutate)
	}
	switch {
	case throttled:
		st.Faults[FaultBucket]++
	case fault != nil:
		st.Faults[fault.Kind.String()]++
	case icpt != nil:
		st.Faults["intercepted"]++
	}
	p.mu.Unlock()
	if throttled {
		WriteError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
		return
	}

	forward := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		st.Forwarded++
		p.mu.Unlock()
		p.rp.ServeHTTP(w, r)
	}))
	if icpt != nil {
		next := forward
		forward = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { icpt(w, r, form, next) })
	}
	if fault == nil {
		forward.ServeHTTP(w, r)
		return
	}
	switch fault.Kind {
	case Throttle:
		WriteError(w, http.StatusBadRequest, "Sender", cmp.Or(fault.Code, "Throttling"), "Rate exceeded")
	case InternalError:
		WriteError(w, http.StatusInternalServerError, "Receiver", cmp.Or(fault.Code, "InternalFailure"), "faultproxy: injected internal failure")
	case Reset:
		reset(w)
	case Delay:
		d := fault.Delay
		if d == 0 {
			d = defaultDelay
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			forward.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}
}

// reset closes the client connection with SO_LINGER 0 (a TCP RST), or
// answers 500 when the connection cannot be hijacked (HTTP/2).
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "Receiver", "InternalFailure", fmt.Sprintf("faultproxy: hijack for reset: %v", err))
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// WriteError answers with a Query-protocol error document, as both ELB APIs
// do: <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>.
func WriteError(w http.ResponseWriter, status int, typ, code, message string) {
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	doc := struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}{Error: errorBody{Type: typ, Code: code, Message: message}, RequestID: "faultproxy-00000000"}
	b, err := xml.Marshal(doc)
	if err != nil { // cannot happen: the document has only strings
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", doc.RequestID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
