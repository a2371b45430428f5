package skmem

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestParseSSGolden parses captured and hand-shaped ss outputs (testdata/*.txt)
// and compares with testdata/*.golden.json.
func TestParseSSGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.txt (%v)", err)
	}
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSS(b)
			if err != nil {
				t.Fatalf("ParseSS: %v", err)
			}
			js, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, ".txt") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(js, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (go test -update writes it): %v", err)
			}
			if string(js)+"\n" != string(want) {
				t.Errorf("ParseSS(%s) =\n%s\nwant\n%s", in, js, want)
			}
		})
	}
}

func TestParseSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Socket
		wantErr bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "header only", in: "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n", want: nil},
		{name: "no skmem", in: "ESTAB 0 0 1.2.3.4:1 5.6.7.8:2 ino:5\n",
			want: []Socket{{State: "ESTAB", Local: "1.2.3.4:1", Peer: "5.6.7.8:2", Inode: 5}}},
		{name: "continuation with tabs and spaces", in: "ESTAB 0 0 a:1 b:2 ino:9\n  \t skmem:(r1,rb2,t3,tb4,f5,w6,o7,bl8,d9)\n",
			want: []Socket{{State: "ESTAB", Local: "a:1", Peer: "b:2", Inode: 9, HasMem: true,
				Mem: Meminfo{RmemAlloc: 1, RcvBuf: 2, WmemAlloc: 3, SndBuf: 4, FwdAlloc: 5, WmemQueued: 6, Optmem: 7, Backlog: 8, Drops: 9}}}},
		{name: "too few fields", in: "ESTAB 0 0 a:1\n", wantErr: true},
		{name: "queue not a number", in: "ESTAB x 0 a:1 b:2\n", wantErr: true},
		{name: "bad inode", in: "ESTAB 0 0 a:1 b:2 ino:x\n", wantErr: true},
		{name: "skmem unclosed", in: "ESTAB 0 0 a:1 b:2 skmem:(r0,rb1\n", wantErr: true},
		{name: "skmem item without a name", in: "ESTAB 0 0 a:1 b:2 skmem:(0)\n", wantErr: true},
		{name: "skmem item without a number", in: "ESTAB 0 0 a:1 b:2 skmem:(r)\n", wantErr: true},
		{name: "skmem empty", in: "ESTAB 0 0 a:1 b:2 skmem:()\n", wantErr: true},
		{name: "skmem overflow", in: "ESTAB 0 0 a:1 b:2 skmem:(r99999999999999999999)\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSS([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrParse) {
					t.Errorf("ParseSS(%q) error = %v; want ErrParse", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSS(%q): %v", tt.in, err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Errorf("ParseSS(%q) = %s; want %s", tt.in, gj, wj)
			}
		})
	}
}

func TestMeminfoHeld(t *testing.T) {
	m := Meminfo{RmemAlloc: 1, RcvBuf: 1 << 20, WmemAlloc: 2, SndBuf: 1 << 22, FwdAlloc: 4, WmemQueued: 8, Optmem: 16, Backlog: 32, Drops: 64}
	if got, want := m.Held(), int64(1+2+4+8+16+32); got != want {
		t.Errorf("Held() = %d; want %d (buffer limits and drops are not memory)", got, want)
	}
	if got := m.Add(m).Sub(m); got != m {
		t.Errorf("m + m − m = %+v; want %+v", got, m)
	}
}
