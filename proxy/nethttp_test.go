package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// readHead runs readRequest on raw as a connection would deliver it.
func readHead(raw string, maxHead int) (*http.Request, rawHead, int) {
	f := &httpConn{}
	f.src.r = strings.NewReader(raw)
	f.br = bufio.NewReaderSize(&f.src, 4096)
	_, _ = f.br.Peek(1)
	return readRequest(f, maxHead)
}

func TestReadRequest(t *testing.T) {
	long := strings.Repeat("a", 40<<10)
	for _, tt := range []struct {
		name   string
		raw    string
		status int // 0: accepted (or, with noRequest, closed without an answer)
		// noRequest: no request came back (the client's bytes ended or
		// the head was refused before parsing finished).
		noRequest   bool
		conflicting bool
		method, uri string
	}{
		{name: "POST with a body", raw: "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", method: "POST", uri: "/p"},
		{name: "bare LF", raw: "GET /lf HTTP/1.1\nHost: a\n\n", method: "GET", uri: "/lf"},
		{name: "HTTP/1.0 without Host", raw: "GET /ten HTTP/1.0\r\n\r\n", method: "GET", uri: "/ten"},
		{name: "HTTP/1.1 without Host", raw: "GET / HTTP/1.1\r\nX: 1\r\n\r\n", status: 400},
		{name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, noRequest: true},
		{name: "invalid Host", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
		{name: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
		{name: "malformed request line", raw: "GET/HTTP/1.1\r\nHost: a\r\n\r\n", status: 400, noRequest: true},
		{name: "head over max_header_bytes", raw: "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", status: 431, noRequest: true},
		{name: "TE other than chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501, noRequest: true},
		{name: "CL and TE", raw: "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			conflicting: true, method: "POST", uri: "/s"},
		{name: "CL and TE, other case, TE first", raw: "POST /s HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n",
			conflicting: true, method: "POST", uri: "/s"},
		{name: "CL in a body is not in the head", raw: "POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n13\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
			method: "POST", uri: "/s"},
		{name: "client went away mid-head", raw: "GET / HTTP/1.1\r\nHost:", noRequest: true},
		{name: "nothing", raw: "", noRequest: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, raw, status := readHead(tt.raw, 32<<10)
			if status != tt.status || (r == nil) != tt.noRequest {
				t.Fatalf("readRequest(%q) = request %v, status %d; want request %v, status %d", tt.raw, r != nil, status, !tt.noRequest, tt.status)
			}
			if r == nil {
				return
			}
			if r.Method != tt.method && tt.method != "" || r.RequestURI != tt.uri && tt.uri != "" {
				t.Errorf("request %s %s; want %s %s", r.Method, r.RequestURI, tt.method, tt.uri)
			}
			if !strings.HasPrefix(tt.raw, string(raw.bytes)) || headEnd(raw.bytes) != len(raw.bytes) {
				t.Errorf("raw head %q is not the head of %q", raw.bytes, tt.raw)
			}
			if got := raw.conflictingFraming(); got != tt.conflicting {
				t.Errorf("conflictingFraming = %v; want %v", got, tt.conflicting)
			}
		})
	}
}

// TestReadRequestKeepsWhatTheClientSent: net/http's parser adds
// Cache-Control to a Pragma: no-cache request; the app receives what the
// client sent.
func TestReadRequestKeepsWhatTheClientSent(t *testing.T) {
	r, _, status := readHead("GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", 32<<10)
	if status != 0 || r == nil {
		t.Fatalf("status %d", status)
	}
	if _, ok := r.Header["Cache-Control"]; ok {
		t.Errorf("Cache-Control %q; want none", r.Header["Cache-Control"])
	}
	r, _, _ = readHead("GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=0\r\n\r\n", 32<<10)
	if got := r.Header["Cache-Control"]; len(got) != 1 || got[0] != "max-age=0" {
		t.Errorf("Cache-Control %q; want the client's", got)
	}
}

// FuzzReadRequest: net/http's parser path never panics, the raw head it
// returns is the head of the input, and the framing rule agrees with a
// plain reading of the head's lines.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Length: 3\n\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
		"GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, raw, _ := readHead(string(b), 4096)
		if r == nil {
			return
		}
		if !bytes.HasPrefix(b, raw.bytes) {
			t.Fatalf("raw head %q is not a prefix of %q", raw.bytes, b)
		}
		cl, te := false, false
		for i, line := range strings.Split(string(raw.bytes), "\n") {
			name, _, ok := strings.Cut(line, ":")
			if i == 0 || !ok {
				continue
			}
			cl = cl || strings.EqualFold(name, "content-length")
			te = te || strings.EqualFold(name, "transfer-encoding")
		}
		if raw.conflictingFraming() != (cl && te) {
			t.Fatalf("conflictingFraming(%q) = %v; the lines say CL %v, TE %v", raw.bytes, raw.conflictingFraming(), cl, te)
		}
	})
}
