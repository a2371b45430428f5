package proxy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// TestCanonicalOrder: the fast path orders header names exactly as sorting
// net/http's canonical keys does, including where a byte order differs
// from a case-insensitive one ('_' sorts between upper and lower case).
func TestCanonicalOrder(t *testing.T) {
	names := []string{"x-b", "X-a", "_x", "Ax", "accept", "ACCEPT-language", "x_y", "Xa", "x-A-b", "content-type", "A"}
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = textproto.CanonicalMIMEHeaderKey(n)
	}
	slices.Sort(want)
	got := slices.Clone(names)
	slices.SortStableFunc(got, func(a, b string) int { return compareCanonical([]byte(a), []byte(b)) })
	for i := range got {
		var canon []byte
		for j := range len(got[i]) {
			canon = append(canon, canonicalByte(got[i], j))
		}
		got[i] = string(canon)
	}
	if !slices.Equal(got, want) {
		t.Errorf("fast path order %q; net/http's %q", got, want)
	}
}

// TestRequestHeadForms: one head, written from the fast path's spans and
// from net/http's map, is the same bytes.
func TestRequestHeadForms(t *testing.T) {
	for _, raw := range []string{
		"GET /a HTTP/1.1\r\nHost: app\r\nx-b: 2\r\nX-A:  1 \r\nx-b: 3\r\nAccept: */*\r\n\r\n",
		"HEAD /h?q HTTP/1.1\r\nhost: app:80\r\nCookie: a=1\r\ncookie: b=2\r\nUser-Agent: t\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key: k\r\n\r\n",
	} {
		var h fastHead
		if err := parseFastHead([]byte(raw), &h, headerRules{}); err != nil {
			t.Fatalf("parseFastHead(%q): %v", raw, err)
		}
		fast, parsed := fastHeadOut([]byte(raw), &h), parsedHead(t, []byte(raw))
		if fast != parsed {
			t.Errorf("%q:\nfast path %q\nnet/http  %q", raw, fast, parsed)
		}
		if !strings.HasPrefix(fast, strings.SplitN(raw, " ", 2)[0]+" /base/") || strings.Contains(fast, "6.6.6.6") {
			t.Errorf("%q: head %q", raw, fast)
		}
	}
}

// TestRequestTail: the proxy's own fields come after the client's, the
// body's framing last.
func TestRequestTail(t *testing.T) {
	for _, tt := range []struct {
		body bodyFraming
		up   string
		want string
	}{
		{noBodyFraming, "", "X-Forwarded-For: 203.0.113.7\r\nX-Real-Ip: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\r\n"},
		{bodyFraming{length: 0}, "", "X-Forwarded-Port: 443\r\nContent-Length: 0\r\n\r\n"},
		{bodyFraming{length: -1, chunked: true}, "", "X-Forwarded-Port: 443\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{noBodyFraming, "websocket", "X-Forwarded-Port: 443\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
	} {
		got := string(appendRequestTail(nil, fuzzState, fuzzConn, tt.up, tt.body))
		if !strings.HasSuffix(got, tt.want) {
			t.Errorf("appendRequestTail(%+v, %q) = %q; want it to end with %q", tt.body, tt.up, got, tt.want)
		}
	}
	if got := string(appendRequestLine(nil, http.MethodOptions, "*", fuzzState)); got != "OPTIONS * HTTP/1.1\r\n" {
		t.Errorf("OPTIONS * under a base path: %q", got)
	}
}
