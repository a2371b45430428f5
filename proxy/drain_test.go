package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// A connection accepted before the drain that has not sent its request yet
// (the load balancer opened it to send one) is served once, with
// Connection: close, instead of being closed under the client.
func TestDrainServesConnectionsNotYetRequested(t *testing.T) {
	be, _ := backend(t)
	s, addrs := startServer(t, appConfig(be.URL, nil))
	c, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Accepted by the proxy before the drain starts.
	for deadline := time.Now().Add(2 * time.Second); metricValue(t, s, "elbguard_proxy_connections_active", nil) < 1; {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		drained <- s.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // the drain has begun
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(cat(v1Header("203.0.113.9:1", "10.0.0.1:81"), get("/late", "x"))); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request on a connection accepted before the drain: %v; want it served", err)
	}
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-drained; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
