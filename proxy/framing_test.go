package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
)

// verdicts feeds stream to a fresh tracker in pieces of size step (0: at
// once) and takes one verdict per head it queued.
func verdicts(stream []byte, step int) ([]bool, bool) {
	t := newFramingTracker()
	if step <= 0 {
		step = len(stream) + 1
	}
	for b := stream; len(b) > 0; {
		n := min(step, len(b))
		t.Write(b[:n])
		b = b[n:]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.verdicts), t.lost
}

func TestFramingTracker(t *testing.T) {
	both := "POST /both HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	tests := []struct {
		name   string
		stream string
		want   []bool
		lost   bool
	}{
		{"one GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []bool{false}, false},
		{"both framings", both, []bool{true}, false},
		{"both, TE first", "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n", []bool{true}, false},
		{"behind a body that looks like a head", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\nGET /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n\r\n" + both,
			[]bool{false, true}, false},
		{"behind a chunked body with trailers", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" + both,
			[]bool{false, true}, false},
		{"bare LF lines", "GET / HTTP/1.1\nHost: a\nContent-Length: 2\nTransfer-Encoding: chunked\n\n0\n\n", []bool{true}, false},
		{"obs-fold hides TE in a value", "POST / HTTP/1.1\r\nX-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nabcd", []bool{false}, false},
		{"OPTIONS * takes no verdict", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" + both, []bool{true}, false},
		{"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + both, []bool{false}, true},
		{"long Content-Length line", "POST / HTTP/1.1\r\nContent-Length:" + string(bytes.Repeat([]byte(" "), 300)) + "1\r\n\r\nx", nil, true},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 7} {
			got, lost := verdicts([]byte(tt.stream), step)
			if !slices.Equal(got, tt.want) || lost != tt.lost {
				t.Errorf("%s (pieces of %d): verdicts %v, lost %v; want %v, lost %v", tt.name, step, got, lost, tt.want, tt.lost)
			}
		}
	}
	tr := newFramingTracker()
	if !tr.conflicting() {
		t.Errorf("conflicting() with no verdict = false; want true (it cannot vouch)")
	}
}

// FuzzFramingTracker: the verdicts never depend on how the bytes arrive,
// and while the tracker keeps track it sees as many heads as net/http
// reads requests (it stays in step with the server).
func FuzzFramingTracker(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		whole, lostWhole := verdicts(stream, 0)
		split, lostSplit := verdicts(stream, int(step)+1)
		if !slices.Equal(whole, split) || lostWhole != lostSplit {
			t.Fatalf("verdicts depend on segmentation: %v/%v at once, %v/%v in pieces of %d", whole, lostWhole, split, lostSplit, step+1)
		}
		if lostWhole {
			return
		}
		br := bufio.NewReader(bytes.NewReader(stream))
		n := 0
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
			if req.Method == "OPTIONS" && req.RequestURI == "*" {
				continue
			}
			n++
		}
		if n > len(whole) {
			t.Fatalf("net/http read %d requests from %q; the tracker queued %d verdicts", n, stream, len(whole))
		}
	})
}
