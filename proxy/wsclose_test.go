package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsFrame builds one frame: FIN+opcode 2, the payload length in its
// shortest form, a masking key when masked.
func wsFrame(n int, masked bool) []byte {
	b := []byte{0x82}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 1, 2, 3, 4)
	}
	return append(b, bytes.Repeat([]byte{'x'}, n)...)
}

func TestWSFramesBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
	}{
		{"empty payload", [][]byte{wsFrame(0, false)}},
		{"small", [][]byte{wsFrame(5, false), wsFrame(125, false)}},
		{"16-bit length", [][]byte{wsFrame(126, false), wsFrame(300, false)}},
		{"64-bit length", [][]byte{wsFrame(70000, false)}},
		{"masked (client to server)", [][]byte{wsFrame(3, true), wsFrame(200, true), wsFrame(66000, true)}},
		{"close frame", [][]byte{closeGoingAway}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := bytes.Join(tt.frames, nil)
			for _, chunk := range []int{1, 2, 3, 7, 4096, len(stream)} {
				var w wsFrames
				ends := map[int]bool{}
				off := 0
				for _, f := range tt.frames {
					off += len(f)
					ends[off] = true
				}
				for i := 0; i < len(stream); i += chunk {
					j := min(i+chunk, len(stream))
					w.feed(stream[i:j])
					if got, want := w.atBoundary(), ends[j]; got != want {
						t.Fatalf("chunk %d, after %d bytes: atBoundary %v; want %v", chunk, j, got, want)
					}
				}
			}
		})
	}
}

// The bulk path moves payload bytes unseen (spliceable, skip): the
// boundaries must come out the same as when every byte is fed.
func TestWSFramesSkip(t *testing.T) {
	stream := bytes.Join([][]byte{wsFrame(70000, false), wsFrame(10, false), wsFrame(300, false)}, nil)
	var w wsFrames
	w.feed(stream[:100])
	n := w.spliceable(1 << 20)
	if n != 70000-(100-10) {
		t.Fatalf("spliceable = %d; want the rest of the payload, %d", n, 70000-90)
	}
	w.skip(int64(n))
	if !w.atBoundary() {
		t.Fatalf("after the payload: not at a boundary")
	}
	if got := w.spliceable(10); got != 0 {
		t.Errorf("spliceable at a header = %d; want 0", got)
	}
	w.feed(stream[100+n:])
	if !w.atBoundary() {
		t.Errorf("after the whole stream: not at a boundary")
	}
	w.skip(5)
	if !w.broken || w.atBoundary() {
		t.Errorf("skip past the payload: broken %v; want broken", w.broken)
	}
}

// FuzzWSFrames: how the bytes are split never changes where frames end.
func FuzzWSFrames(f *testing.F) {
	f.Add(wsFrame(5, false), uint8(1))
	f.Add(bytes.Join([][]byte{wsFrame(126, true), wsFrame(0, false)}, nil), uint8(3))
	f.Add([]byte{0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var whole, split wsFrames
		whole.feed(data)
		c := int(chunk%16) + 1
		for i := 0; i < len(data); i += c {
			split.feed(data[i:min(i+c, len(data))])
		}
		if whole != split {
			t.Fatalf("whole %+v; split by %d %+v", whole, c, split)
		}
	})
}

// A WebSocket still open at the drain's deadline gets a Close frame with
// status 1001 (going away), not a reset; the app sees the client's Close.
func TestDrainClosesWebSocketGoingAway(t *testing.T) {
	for _, tc := range []struct{ idle, park time.Duration }{{0, 0}, {time.Minute, 0}, {0, testParkAfter}, {time.Minute, testParkAfter}} {
		idle, park := tc.idle, tc.park
		t.Run("tunnel_idle_timeout="+idle.String()+",park_after="+park.String(), func(t *testing.T) {
			be, _ := echoServer(t)
			s, addrs := startServer(t, appConfig(be.URL, func(l *ListenerConfig) { l.TunnelIdleTimeout, l.ParkAfter = idle, &park }))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws://"+addrs[0]+"/ws", &websocket.DialOptions{HTTPClient: proxyDialer("198.51.100.7:4000")})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer func() { _ = c.CloseNow() }()
			// A message larger than the pump's buffer crosses the bulk path.
			big := bytes.Repeat([]byte{'b'}, 300<<10)
			c.SetReadLimit(1 << 20)
			for _, msg := range [][]byte{[]byte("hello"), big, []byte("again")} {
				if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
					t.Fatalf("write: %v", err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
				}
			}
			if park > 0 {
				// The frame tracker's state survives parking: the Close
				// frame still goes on a boundary.
				waitParked(t, s, 2, 5*time.Second)
			}
			readErr := make(chan error, 1)
			go func() {
				_, _, err := c.Read(ctx) // answers the Close frame, as clients do
				readErr <- err
			}()
			sctx, scancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer scancel()
			start := time.Now()
			if err := s.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("shutdown: %v; want the deadline reported", err)
			}
			if d := time.Since(start); d > tunnelFinTimeout+2*time.Second {
				t.Errorf("shutdown took %v; want the closing handshake to end it well before %v", d, tunnelFinTimeout+2*time.Second)
			}
			err = <-readErr
			if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
				t.Errorf("client read: %v (status %d); want a Close frame with 1001 going away", err, got)
			}
		})
	}
}
