package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzRespHead checks the fast path's upstream response parser against
// net/http's: whatever it accepts, net/http reads with the same status and
// framing.
func FuzzRespHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		head := b[:end+4]
		var rh respHead
		if parseRespHead(head, &rh, true) != nil {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
		if err != nil {
			t.Fatalf("fast path accepted %q; net/http rejects it: %v", head, err)
		}
		if resp.StatusCode != rh.status {
			t.Fatalf("status: fast %d, net/http %d for %q", rh.status, resp.StatusCode, head)
		}
		if rh.chunked != (len(resp.TransferEncoding) > 0) {
			t.Fatalf("chunked: fast %v, net/http %v for %q", rh.chunked, resp.TransferEncoding, head)
		}
		if !rh.chunked && rh.length >= 0 && resp.ContentLength != rh.length && rh.status >= 200 && rh.status != 204 && rh.status != 304 {
			t.Fatalf("length: fast %d, net/http %d for %q", rh.length, resp.ContentLength, head)
		}
	})
}
