package skmem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseSS: ss output is parsed from another program; whatever it
// prints, the parser returns sockets with sane fields or an error, never
// panics.
func FuzzParseSS(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("ESTAB 0 0 a:1 b:2 skmem:(r,rb)\n"))
	f.Add([]byte("\t skmem:(r0)\nESTAB 0 0 a:1 b:2 ino:1 ino:2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, err := ParseSS(b)
		if err != nil {
			return
		}
		for _, s := range socks {
			if s.State == "" || s.Local == "" || s.Peer == "" || strings.ContainsAny(s.State+s.Local+s.Peer, " \t\n") {
				t.Errorf("socket %+v: state and addresses must be single non-empty fields", s)
			}
			m := s.Mem
			for _, v := range []int64{m.RmemAlloc, m.RcvBuf, m.WmemAlloc, m.SndBuf, m.FwdAlloc, m.WmemQueued, m.Optmem, m.Backlog, m.Drops} {
				if v < 0 {
					t.Errorf("socket %+v: negative skmem field", s)
				}
			}
			if !s.HasMem && m != (Meminfo{}) {
				t.Errorf("socket %+v: skmem values without skmem", s)
			}
		}
	})
}
