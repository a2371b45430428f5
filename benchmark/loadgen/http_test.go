package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantStatus int
		wantKeep   bool
		wantRest   string // what must remain unread: the next response
		wantErr    bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", 200, true, "NEXT", false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\nNEXT", 200, true, "NEXT", false},
		{"connection close", "HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 301, false, "", false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nxNEXT", 200, true, "NEXT", false},
		{"http/1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, false, "", false},
		{"no length reads to EOF", "HTTP/1.1 200 OK\r\n\r\nbody until close", 200, false, "", false},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, true, "NEXT", false},
		{"garbage status", "SSH-2.0-OpenSSH\r\n", 0, false, "", true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, false, "", true},
		{"header without colon", "HTTP/1.1 200 OK\r\nbogus\r\n\r\n", 200, false, "", true},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			status, keep, err := ReadResponse(br)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ReadResponse error = %v; want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if status != tt.wantStatus || keep != tt.wantKeep {
				t.Errorf("ReadResponse = %d, keep %v; want %d, keep %v", status, keep, tt.wantStatus, tt.wantKeep)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.wantRest {
				t.Errorf("left unread %q; want %q", rest, tt.wantRest)
			}
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	f.Add("HTTP/1.0 301 Moved\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 64)
		status, _, err := ReadResponse(br)
		if err == nil && (status < 0 || status > 999) {
			t.Errorf("status %d out of range with no error", status)
		}
	})
}

// proxyServer serves handler behind a listener that requires a PROXY
// header, as the proxies under benchmark do, and records the last client
// address it decoded.
func proxyServer(t *testing.T, handler http.Handler) (addr string, clients <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	seen := make(chan string, 1024)
	pl := &proxyproto.Listener{Listener: ln, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
		return proxyproto.REQUIRE, nil
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		select {
		case seen <- host:
		default:
		}
		handler.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(pl) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), seen
}

func TestKeepAliveAndChurnSendPROXYHeaders(t *testing.T) {
	for _, version := range []int{1, 2} {
		addr, clients := proxyServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok")
		}))
		d := &Dialer{Addr: addr, Proxy: version}
		ka := KeepAlive(context.Background(), d, HTTP{}, 2, time.Second) // long enough for a worker started late
		if err := ka.Err(); err != nil {
			t.Fatalf("v%d KeepAlive: %v", version, err)
		}
		if len(ka.Latencies) != int(ka.Ops) || ka.Percentile(0.5) <= 0 {
			t.Errorf("v%d KeepAlive: %d latencies for %d ops, p50 %v; want one per op, p50 > 0", version, len(ka.Latencies), ka.Ops, ka.Percentile(0.5))
		}
		ch := Churn(context.Background(), d, HTTP{}, 2, time.Second)
		if err := ch.Err(); err != nil {
			t.Fatalf("v%d Churn: %v", version, err)
		}
		if got := <-clients; got != DefaultClient.String() {
			t.Errorf("v%d: server saw client %q; want %q from the PROXY header", version, got, DefaultClient)
		}
	}
}

func TestKeepAliveCountsWrongStatus(t *testing.T) {
	addr, _ := proxyServer(t, http.NotFoundHandler())
	res := KeepAlive(context.Background(), &Dialer{Addr: addr, Proxy: 1}, HTTP{}, 1, time.Second)
	if res.Ops != 0 || res.Errors == 0 || !errors.Is(res.FirstError, ErrStatus) {
		t.Errorf("against a 404 server: ops %d, errors %d, first %v; want 0 ops and ErrStatus", res.Ops, res.Errors, res.FirstError)
	}
	if err := res.Err(); err == nil {
		t.Errorf("Err() = nil; want the run rejected")
	}
}

func TestDialerRejectsUnknownVersion(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	d := &Dialer{Addr: srv.Listener.Addr().String(), Proxy: 3}
	if c, err := d.Dial(context.Background()); err == nil {
		c.Close()
		t.Errorf("Dial with PROXY version 3: got nil error; want one")
	}
}

func BenchmarkReadResponse(b *testing.B) {
	resp := "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 128\r\n\r\n" + strings.Repeat("x", 128)
	r := strings.NewReader(resp)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(resp)
		br.Reset(r)
		if _, _, err := ReadResponse(br); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRequestWithBody(t *testing.T) {
	for _, tt := range []struct {
		name string
		req  HTTP
		want string
	}{
		{"GET", HTTP{Path: "/a"}, "GET /a HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: elbguard-benchmark\r\nAccept: */*\r\n\r\n"},
		{"POST", HTTP{Path: "/upload", Body: []byte("abc")}, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: elbguard-benchmark\r\n" +
			"Accept: */*\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nabc"},
	} {
		if got := string(tt.req.request(false)); got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestHoldKeepAlive(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr error
	}{
		{name: "kept alive, timed twice", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }},
		{name: "wrong status", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }, wantErr: ErrStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := proxyServer(t, tt.handler)
			idle, err := HoldKeepAlive(context.Background(), &Dialer{Addr: addr, Proxy: 1}, HTTP{}, 20, 4)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("HoldKeepAlive: %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("HoldKeepAlive: %v", err)
			}
			defer idle.Close()
			if idle.Len() != 20 {
				t.Fatalf("held %d connections; want 20", idle.Len())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for range 2 { // the same connections carry the next requests
				ds, err := idle.RequestTimed(ctx)
				if err != nil || len(ds) != 20 || ds[0] <= 0 {
					t.Fatalf("RequestTimed: %d durations, %v; want 20 positive", len(ds), err)
				}
			}
		})
	}
}

// TestSourceAddrSpread: the spread source addresses are distinct loopback
// addresses, never a network or broadcast-looking .0 or .255 last octet.
func TestSourceAddrSpread(t *testing.T) {
	seen := map[string]bool{}
	for k := range uint32(70000) {
		a := sourceAddr(k)
		ip4 := a.IP.To4()
		if ip4 == nil || ip4[0] != 127 || ip4[3] == 0 || ip4[3] == 255 {
			t.Fatalf("source %d: %v", k, a.IP)
		}
		if seen[a.IP.String()] {
			t.Fatalf("source %d: %v given twice", k, a.IP)
		}
		seen[a.IP.String()] = true
	}
}
