package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzFastHead checks that whatever the fast path accepts, net/http parses
// to the same method, target and Host: the strict subset never disagrees
// with the full parser (no smuggling between the two paths); and that the
// head the app receives is the same bytes whichever parser read it.
func FuzzFastHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /x?y HTTP/1.1\r\nHost: a:80\r\nConnection: close\r\nX-Forwarded-For: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nhost: a\r\nHost: b\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]evil.com\r\nX_User: u\r\nTrue-Client-IP: 1\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		head := b[:end+4]
		var h fastHead
		if parseFastHead(head, &h, headerRules{}) != nil {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path accepted %q; net/http rejects it: %v", head, err)
		}
		if req.Method != string(head[h.method.start:h.method.end]) || req.RequestURI != string(head[h.target.start:h.target.end]) ||
			req.Host != string(head[h.host.start:h.host.end]) || req.ContentLength > 0 || len(req.TransferEncoding) > 0 {
			t.Fatalf("fast path and net/http disagree on %q: %s %s host %q", head, req.Method, req.RequestURI, req.Host)
		}
		for _, k := range h.fwd[:h.nfwd] {
			if name, _, ok := strings.Cut(string(head[k.start:k.end]), ":"); !ok || dropRequestHeader(name, headerRules{}) {
				t.Fatalf("fast path forwards %q", head[k.start:k.end])
			}
			line := strings.ToLower(string(head[k.start:k.end]))
			for _, bad := range []string{"x-forwarded-", "forwarded:", "x-real-ip:", "connection:", "content-length:", "transfer-encoding:", "upgrade:", "keep-alive:"} {
				if strings.HasPrefix(line, bad) {
					t.Fatalf("fast path forwards %q", line)
				}
			}
		}
		if got, want := parsedHead(t, head), fastHeadOut(head, &h); got != want {
			t.Fatalf("the app would receive different heads for %q:\nfast path: %q\nnet/http:  %q", head, want, got)
		}
	})
}

var fuzzState = func() *listenerState {
	u, _ := url.Parse("http://127.0.0.1:8080/base/")
	return &listenerState{upstream: u, upstreamBase: true, protoVal: []string{"https"}, cfg: ListenerConfig{Mode: ModeHTTP}}
}()

var fuzzConn = &frontConn{clientInfo: clientInfo{xff: []string{"203.0.113.7"}, port: []string{"443"}}}

// fastHeadOut is the upstream head the fast path writes for head.
func fastHeadOut(head []byte, h *fastHead) string {
	f := &httpConn{fc: fuzzConn, head: *h}
	var up []byte
	if h.upgrade.end != 0 {
		up = trimOWS(head[h.upgrade.start:h.upgrade.end])
	}
	return string((&listener{}).fastRequest(f, head, fuzzState, up))
}

// parsedHead is the upstream head serveParsed writes for head.
func parsedHead(t *testing.T, head []byte) string {
	f := &httpConn{fc: fuzzConn}
	f.src.r = bytes.NewReader(head)
	f.br = bufio.NewReader(&f.src)
	r, _, bad := readRequest(f, DefaultMaxHeaderBytes)
	if r == nil || bad != 0 {
		t.Fatalf("fast path accepted %q; serveParsed refuses it (%d)", head, bad)
	}
	up := ""
	if len(r.Header["Upgrade"]) == 1 && webSocketUpgrade(r.Method, r.ProtoAtLeast(1, 1), hasTokenIn(r.Header["Connection"], "upgrade"), r.Header["Upgrade"][0]) {
		up = trimOWS(r.Header["Upgrade"][0])
	}
	return string((&listener{}).parsedRequest(f, r, requestTarget(r), fuzzState, up, noBodyFraming))
}

func BenchmarkFastHead(b *testing.B) {
	head := []byte("GET /path/to/page?query=1 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive\r\n\r\n")
	var h fastHead
	b.ReportAllocs()
	for b.Loop() {
		if err := parseFastHead(head, &h, headerRules{}); err != nil {
			b.Fatal(err)
		}
	}
}
