package echo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/echo"
)

func TestSeen(t *testing.T) {
	srv := httptest.NewServer(&echo.Server{})
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/hello?a=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "demo.example"
	req.Header.Set("X-Real-IP", "198.51.100.7")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Port", "443")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got echo.Seen
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	want := echo.Seen{Method: "GET", Path: "/hello?a=1", Host: "demo.example", RemoteAddr: got.RemoteAddr,
		XRealIP: "198.51.100.7", XForwardedFor: "198.51.100.7", XForwardedProto: "https", XForwardedPort: "443"}
	if got != want {
		t.Errorf("got %+v; want %+v", got, want)
	}
	if !strings.HasPrefix(got.RemoteAddr, "127.0.0.1:") {
		t.Errorf("got remote_addr %q; want 127.0.0.1:PORT", got.RemoteAddr)
	}
}

func TestWebSocketEcho(t *testing.T) {
	srv := httptest.NewServer(&echo.Server{ReadLimit: 64 << 10})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+echo.PathWebSocket, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(1 << 20)
	tests := []struct {
		name string
		typ  websocket.MessageType
		data []byte
	}{
		{"text", websocket.MessageText, []byte("hello through the proxy")},
		{"empty", websocket.MessageText, []byte{}},
		{"binary", websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{"large", websocket.MessageBinary, bytes.Repeat([]byte("x"), 60<<10)},
	}
	for _, tt := range tests {
		if err := c.Write(ctx, tt.typ, tt.data); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%s: read: %v", tt.name, err)
		}
		if typ != tt.typ || !bytes.Equal(got, tt.data) {
			t.Errorf("%s: got %v %d bytes; want %v %d bytes", tt.name, typ, len(got), tt.typ, len(tt.data))
		}
	}
	// Over the limit: the app closes the session with 1009.
	if err := c.Write(ctx, websocket.MessageBinary, make([]byte, 65<<10)); err != nil {
		t.Fatalf("write oversized: %v", err)
	}
	_, _, err = c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Errorf("oversized message: got close status %v (%v); want %v", got, err, websocket.StatusMessageTooBig)
	}
}

func BenchmarkEchoRoundTrip(b *testing.B) {
	srv := httptest.NewServer(&echo.Server{})
	defer srv.Close()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+echo.PathWebSocket, nil)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	defer func() { _ = c.CloseNow() }()
	msg := []byte("ping")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
