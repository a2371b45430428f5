package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
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

// FuzzCopyChunked checks the relay of a chunked answer against net/http's
// reading of it (the client's): whatever copyChunked relays without error
// is a prefix of what the app sent, and a client reads it as one complete
// message with the same payload; a trailer line that is not CRLF-ended
// field is refused, never relayed.
func FuzzCopyChunked(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"2;ext=1\r\nok\r\n0\r\nX-T: v\r\n\r\n",
		"0\r\nX\n\r\n",
		"0\r\nX-T: 1\r\r\n\r\n",
		"0\r\nX-T: 1\n\r\n",
		"2\r\nok\r\n0\r\n\r\nHTTP/1.1 302 Found\r\n\r\n",
		"ffffffffffffffff1\r\nx\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"5 ;x\r\nhello\r\n0\r\n\r\n",
		"00000000000000000\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		payload, written, err := copyChunked(bw, bufio.NewReader(bytes.NewReader(b)))
		_ = bw.Flush()
		if int64(out.Len()) != written {
			t.Fatalf("written %d; the writer got %d bytes", written, out.Len())
		}
		if !bytes.HasPrefix(b, out.Bytes()) {
			t.Fatalf("relayed %q, not a prefix of the app's %q", out.Bytes(), b)
		}
		if err != nil {
			return
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(io.MultiReader(
			strings.NewReader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), bytes.NewReader(out.Bytes()))), nil)
		if rerr != nil {
			t.Fatalf("client cannot read the relayed head: %v", rerr)
		}
		body, rerr := io.ReadAll(resp.Body)
		if rerr != nil || int64(len(body)) != payload {
			t.Fatalf("relayed %q (payload %d); the client reads %d bytes, %v", out.Bytes(), payload, len(body), rerr)
		}
	})
}
