package proxy_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/elbguard/elbguard/proxy"
)

// ExampleServer runs the seed's layout on loopback ports and drains it.
func ExampleServer() {
	cfg := proxy.Config{
		Admin:     "127.0.0.1:0",
		AccessLog: proxy.AccessLogConfig{Path: "-", Format: proxy.LogFormatJSON},
		Listeners: []proxy.ListenerConfig{
			{Listen: "127.0.0.1:0", Mode: proxy.ModeRedirect, ProxyProtocol: proxy.ProxyRequired},
			{Listen: "127.0.0.1:0", Mode: proxy.ModeHTTP, ProxyProtocol: proxy.ProxyRequired,
				Upstream: "http://127.0.0.1:8080", TrustedCIDRs: []string{"10.0.0.0/8"}},
		},
	}
	s := proxy.NewServer(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := s.Start(context.Background(), cfg); err != nil {
		slog.Error("start", "error", err)
		return
	}
	// ... serve until SIGTERM (see proxy.Run), then:
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}
