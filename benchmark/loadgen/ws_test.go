package loadgen

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/benchmark/backend"
)

func TestWebSocketScenariosThroughPROXYHeader(t *testing.T) {
	addr, _ := proxyServer(t, backend.Handler(slog.New(slog.DiscardHandler)))
	d := &Dialer{Addr: addr, Proxy: 2}
	ctx := context.Background()

	echo := WSEcho(ctx, d, "ws://app.example.com"+backend.PathEcho, 64, 2, time.Second)
	if err := echo.Err(); err != nil {
		t.Fatalf("WSEcho: %v", err)
	}
	if echo.Percentile(0.99) <= 0 {
		t.Errorf("WSEcho p99 = %v; want > 0", echo.Percentile(0.99))
	}

	bulk := WSBulk(ctx, d, "ws://app.example.com"+backend.PathBulk, 1, time.Second)
	if err := bulk.Err(); err != nil {
		t.Fatalf("WSBulk: %v", err)
	}
	if bulk.Bytes != bulk.Ops*backend.BulkMessage {
		t.Errorf("WSBulk: %d bytes in %d messages; want %d each", bulk.Bytes, bulk.Ops, backend.BulkMessage)
	}

	idle, err := HoldIdle(ctx, d, "ws://app.example.com"+backend.PathEcho, 20, 4)
	if err != nil {
		t.Fatalf("HoldIdle: %v", err)
	}
	if idle.Len() != 20 {
		t.Errorf("HoldIdle opened %d; want 20", idle.Len())
	}
	// The per-dial timeouts have passed their cancel by now: the
	// connections must still be open and working.
	time.Sleep(50 * time.Millisecond)
	for i, c := range idle.conns {
		if err := c.Write(ctx, websocket.MessageText, []byte("still there?")); err != nil {
			t.Fatalf("idle connection %d: write: %v", i, err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != "still there?" {
			t.Fatalf("idle connection %d: echo = %q, %v; want the message back", i, got, err)
		}
	}
	if ds, err := idle.EchoTimed(ctx, []byte("timed")); err != nil || len(ds) != 20 || ds[19] <= 0 {
		t.Fatalf("EchoTimed: %d round trips, %v; want 20 positive", len(ds), err)
	}
	// Larger than a proxy's 64 KiB copy buffer, as the idle scenario sends.
	if err := idle.Echo(ctx, bytes.Repeat([]byte("x"), 70000)); err != nil {
		t.Fatalf("Echo: %v", err)
	}
	idle.Close()
	if idle.Len() != 0 {
		t.Errorf("after Close, Len() = %d; want 0", idle.Len())
	}
}

func TestHoldIdleFailsAndCleansUp(t *testing.T) {
	addr, _ := proxyServer(t, backend.Handler(slog.New(slog.DiscardHandler)))
	d := &Dialer{Addr: addr, Proxy: 1}
	if _, err := HoldIdle(context.Background(), d, "ws://app.example.com/not-a-websocket", 5, 2); err == nil {
		t.Errorf("HoldIdle on a plain HTTP path: got nil error; want the failed upgrade")
	}
}
