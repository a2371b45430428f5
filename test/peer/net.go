package peer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// Free ports are drawn below the kernel's ephemeral range (32768-60999 by
// default), so that no outgoing connection of a test takes a port between
// the check and the bind, and never twice in one process: two listeners of
// one test were given the same port by the kernel's port-0 choice.
const (
	freePortLow  = 20000
	freePortHigh = 32768
)

var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that this process was not given before.
func FreePort() (int, error) {
	givenMu.Lock()
	defer givenMu.Unlock()
	var lc net.ListenConfig
	for range 200 {
		p := freePortLow + rand.IntN(freePortHigh-freePortLow) //nolint:gosec // a test port, not a secret
		if given[p] {
			continue
		}
		l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("find a free port: none free of 200 tried in %d-%d", freePortLow, freePortHigh-1)
}

// FreeAddr returns "127.0.0.1:PORT" for a free port.
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// WaitTCP waits until addr accepts TCP connections or ctx ends.
func WaitTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %w)", addr, ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
