// Package skmem measures the kernel memory a process tree holds for its TCP
// connections, per socket rather than machine-wide: the socket memory the
// kernel accounts to each of its TCP sockets (`ss -tm`'s skmem), the pipes
// it holds (splice(2) pins a pipe per direction while it moves data), its
// epoll registrations, and the slab objects behind each. The idle-WebSocket
// scenario of `make bench` takes a Snapshot before and after opening N
// connections through a proxy and divides the difference by N.
package skmem

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrParse is wrapped when ss output is not in the shape this package reads.
var ErrParse = errors.New("skmem: unexpected ss output")

// Meminfo is one socket's memory as ss prints it after "skmem:" (the
// kernel's SK_MEMINFO), in bytes; Drops is a packet count.
type Meminfo struct {
	RmemAlloc  int64 `json:"r"`  // r: receive queue, bytes charged (skb truesize)
	RcvBuf     int64 `json:"rb"` // rb: receive buffer limit (SO_RCVBUF, autotuned)
	WmemAlloc  int64 `json:"t"`  // t: sent, in lower layers not yet freed
	SndBuf     int64 `json:"tb"` // tb: send buffer limit (SO_SNDBUF, autotuned)
	FwdAlloc   int64 `json:"f"`  // f: charged to the socket in advance, not yet used
	WmemQueued int64 `json:"w"`  // w: write and retransmit queues, bytes charged
	Optmem     int64 `json:"o"`  // o: option memory (socket filters, ancillary data)
	Backlog    int64 `json:"bl"` // bl: backlog queue (received while the socket was locked)
	Drops      int64 `json:"d"`  // d: packets dropped before reaching the socket
}

// Held is the memory the kernel has allocated to the socket right now: what
// its queues hold, what it has reserved in advance, and its option memory.
// The buffer sizes (rb, tb) are limits, not allocations: an idle socket with
// a 4 MB send buffer limit holds nothing.
func (m Meminfo) Held() int64 {
	return m.RmemAlloc + m.WmemAlloc + m.FwdAlloc + m.WmemQueued + m.Optmem + m.Backlog
}

// Add returns the field-by-field sum of m and o.
func (m Meminfo) Add(o Meminfo) Meminfo {
	return Meminfo{m.RmemAlloc + o.RmemAlloc, m.RcvBuf + o.RcvBuf, m.WmemAlloc + o.WmemAlloc, m.SndBuf + o.SndBuf,
		m.FwdAlloc + o.FwdAlloc, m.WmemQueued + o.WmemQueued, m.Optmem + o.Optmem, m.Backlog + o.Backlog, m.Drops + o.Drops}
}

// Sub returns the field-by-field difference m − o.
func (m Meminfo) Sub(o Meminfo) Meminfo {
	return Meminfo{m.RmemAlloc - o.RmemAlloc, m.RcvBuf - o.RcvBuf, m.WmemAlloc - o.WmemAlloc, m.SndBuf - o.SndBuf,
		m.FwdAlloc - o.FwdAlloc, m.WmemQueued - o.WmemQueued, m.Optmem - o.Optmem, m.Backlog - o.Backlog, m.Drops - o.Drops}
}

// Socket is one TCP socket in `ss -tmean` output.
type Socket struct {
	State string `json:"state"`
	Local string `json:"local"`
	Peer  string `json:"peer"`
	// Inode is the socket's inode number (ss -e "ino:"), which links it to
	// the "socket:[INODE]" entries of /proc/PID/fd; 0 if ss printed none
	// (a socket no process holds, e.g. in TIME-WAIT).
	Inode uint64 `json:"ino"`
	// Mem is the socket's memory; HasMem is false if ss printed no skmem.
	Mem    Meminfo `json:"skmem"`
	HasMem bool    `json:"has_skmem"`
}

// ParseSS reads the output of `ss -tmeanH` (or with a header line, which is
// skipped): one socket per record, a record being a line that starts with
// the state followed by indented continuation lines (ss puts skmem on the
// second line when its output is not a terminal). Fields it does not know
// are ignored; a malformed number is an error.
func ParseSS(b []byte) ([]Socket, error) {
	var out []Socket
	var rec []byte
	flush := func() error {
		if len(bytes.TrimSpace(rec)) == 0 {
			return nil
		}
		s, err := parseRecord(string(rec))
		if err != nil {
			return err
		}
		if s != nil {
			out = append(out, *s)
		}
		rec = rec[:0]
		return nil
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			rec = append(append(rec, ' '), line...)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		rec = append(rec[:0], line...)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseRecord reads one socket's fields; it returns nil for ss's header
// line ("State Recv-Q Send-Q ...").
func parseRecord(rec string) (*Socket, error) {
	f := strings.Fields(rec)
	if len(f) > 0 && f[0] == "State" {
		return nil, nil
	}
	// State Recv-Q Send-Q Local Peer, then optional fields.
	if len(f) < 5 {
		return nil, fmt.Errorf("%w: record %q has %d fields; want at least 5", ErrParse, clip(rec), len(f))
	}
	for _, q := range f[1:3] {
		if _, err := strconv.ParseUint(q, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: record %q: queue %q is not a number", ErrParse, clip(rec), q)
		}
	}
	s := &Socket{State: f[0], Local: f[3], Peer: f[4]}
	for _, tok := range f[5:] {
		switch {
		case strings.HasPrefix(tok, "ino:"):
			n, err := strconv.ParseUint(tok[len("ino:"):], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: record %q: %q", ErrParse, clip(rec), tok)
			}
			s.Inode = n
		case strings.HasPrefix(tok, "skmem:("):
			m, err := parseMeminfo(tok)
			if err != nil {
				return nil, fmt.Errorf("record %q: %w", clip(rec), err)
			}
			s.Mem, s.HasMem = m, true
		}
	}
	return s, nil
}

// parseMeminfo reads "skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)".
// Older ss versions print fewer fields (no bl, no d); unknown names are
// ignored, so that a newer kernel's additions do not break the bench.
func parseMeminfo(tok string) (Meminfo, error) {
	var m Meminfo
	body, ok := strings.CutPrefix(tok, "skmem:(")
	if !ok {
		return m, fmt.Errorf("%w: %q is not skmem:(...)", ErrParse, tok)
	}
	body, ok = strings.CutSuffix(body, ")")
	if !ok {
		return m, fmt.Errorf("%w: %q has no closing parenthesis", ErrParse, tok)
	}
	for item := range strings.SplitSeq(body, ",") {
		i := strings.IndexFunc(item, func(r rune) bool { return r >= '0' && r <= '9' })
		if i <= 0 {
			return m, fmt.Errorf("%w: skmem item %q is not NAME followed by a number", ErrParse, item)
		}
		v, err := strconv.ParseInt(item[i:], 10, 64)
		if err != nil || v < 0 {
			return m, fmt.Errorf("%w: skmem item %q is not NAME followed by a number", ErrParse, item)
		}
		switch item[:i] {
		case "r":
			m.RmemAlloc = v
		case "rb":
			m.RcvBuf = v
		case "t":
			m.WmemAlloc = v
		case "tb":
			m.SndBuf = v
		case "f":
			m.FwdAlloc = v
		case "w":
			m.WmemQueued = v
		case "o":
			m.Optmem = v
		case "bl":
			m.Backlog = v
		case "d":
			m.Drops = v
		}
	}
	return m, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
