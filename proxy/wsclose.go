package proxy

import (
	"encoding/binary"
	"time"
)

// A WebSocket still open when a drain's shutdown_timeout ends is closed the
// way RFC 6455 asks a server going away to close it: a Close frame with
// status 1001 (going away) to the client, then the closing handshake (the
// client's Close goes on to the app) within tunnelFinTimeout, rather than a
// bare TCP close the client sees as 1006 (abnormal closure). The proxy
// relays the app's frames as bytes; to put a frame of its own on the
// client's stream it must know where the app's frames end. wsFrames follows
// that, and the Close frame is sent only on a frame boundary.

// closeGoingAway is an unmasked (server-to-client) Close frame, status 1001.
var closeGoingAway = []byte{0x88, 0x02, 0x03, 0xe9}

// wsFrames follows the frame boundaries of one direction of a WebSocket:
// the headers byte by byte, payloads by length. Not safe for concurrent use:
// the direction's copy goroutine owns it.
type wsFrames struct {
	hdr    [14]byte // the current frame header, while incomplete
	nh     int      // bytes in hdr
	left   uint64   // payload bytes of the current frame still to come
	broken bool     // bytes went past unseen: boundaries unknown
}

// feed accounts for bytes relayed in this direction.
func (w *wsFrames) feed(p []byte) {
	for len(p) > 0 && !w.broken {
		if w.left > 0 {
			n := uint64(len(p))
			if n > w.left {
				n = w.left
			}
			w.left -= n
			p = p[n:]
			continue
		}
		w.hdr[w.nh] = p[0]
		w.nh++
		p = p[1:]
		if w.nh < 2 {
			continue
		}
		need := 2
		l7 := w.hdr[1] & 0x7f
		switch l7 {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if w.hdr[1]&0x80 != 0 {
			need += 4 // masking key
		}
		if w.nh < need {
			continue
		}
		switch l7 {
		case 126:
			w.left = uint64(binary.BigEndian.Uint16(w.hdr[2:4]))
		case 127:
			w.left = binary.BigEndian.Uint64(w.hdr[2:10])
		default:
			w.left = uint64(l7)
		}
		w.nh = 0
	}
}

// spliceable returns how many of avail bytes may move without being seen:
// the rest of the current payload.
func (w *wsFrames) spliceable(avail int) int {
	if w.broken || w.nh > 0 || w.left == 0 || avail <= 0 {
		return 0
	}
	if uint64(avail) > w.left { //nolint:gosec // avail > 0
		return int(w.left) //nolint:gosec // w.left < avail, an int
	}
	return avail
}

// skip accounts for n payload bytes moved without being seen (n ≤ spliceable).
func (w *wsFrames) skip(n int64) {
	if n < 0 || uint64(n) > w.left {
		w.broken = true
		return
	}
	w.left -= uint64(n)
}

// atBoundary reports whether the bytes relayed so far end a whole frame.
func (w *wsFrames) atBoundary() bool {
	return w != nil && !w.broken && w.nh == 0 && w.left == 0
}

// goAway ends a WebSocket at a drain's deadline: the client-bound copy
// stops reading the app, and sends the 1001 Close frame if it is on a frame
// boundary (sendGoingAway); the handshake then runs out as in any close.
// Tunnels of mode tcp are closed at once.
func (t *tunnel) goAway() {
	if t.splice || t.down == nil {
		t.close()
		return
	}
	t.away.Store(true)
	t.sock.Lock()
	if !t.detached {
		_ = t.up.SetReadDeadline(time.Unix(1, 0))
	}
	t.sock.Unlock()
	t.dirs[1].wake() // parked: the copy resumes to send the Close frame
}

// sendGoingAway runs on the client-bound copy goroutine once it stopped
// for goAway.
func (t *tunnel) sendGoingAway() {
	if !t.down.atBoundary() || t.fc.raw == nil {
		t.close() // mid-frame: a frame of ours would corrupt the stream
		return
	}
	_ = t.fc.raw.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := t.fc.raw.Write(closeGoingAway); err != nil {
		t.close()
		return
	}
}
