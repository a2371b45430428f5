package proxy

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"
	"time"
)

var sampleEntry = entry{
	listener: ":81", client: netip.MustParseAddr("203.0.113.7"),
	start: time.Date(2026, 11, 27, 1, 2, 3, 456000000, time.UTC), duration: 1500 * time.Microsecond,
	method: "GET", uri: "/a?b=\"c\"", proto: "HTTP/1.1", host: "example.com", status: 200, bytes: 1234,
	referer: "", userAgent: "curl/8.0 \x01",
}

func TestAccessLogFormats(t *testing.T) {
	ws := sampleEntry
	ws.tunnel, ws.status, ws.bytes, ws.bytesIn, ws.duration = true, 101, 10, 20, 2500*time.Millisecond
	proxied := sampleEntry
	proxied.upstream = 1234 * time.Microsecond
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		// nginx's combined, then $request_time $upstream_response_time ("-": the app was not asked).
		{"combined, answered by the proxy", appendCombined(nil, &sampleEntry), `203.0.113.7 - - [27/Nov/2026:01:02:03 +0000] "GET /a?b=\x22c\x22 HTTP/1.1" 200 1234 "-" "curl/8.0 \x01" 0.002 -` + "\n"},
		{"combined, proxied", appendCombined(nil, &proxied), `203.0.113.7 - - [27/Nov/2026:01:02:03 +0000] "GET /a?b=\x22c\x22 HTTP/1.1" 200 1234 "-" "curl/8.0 \x01" 0.002 0.001` + "\n"},
		{"combined websocket", appendCombined(nil, &ws), `203.0.113.7 - - [27/Nov/2026:01:02:03 +0000] "GET /a?b=\x22c\x22 HTTP/1.1" 101 10 "-" "curl/8.0 \x01" 2.500 - ws_bytes_in=20 ws_bytes_out=10 ws_duration=2.500` + "\n"},
		{"json proxied", appendJSON(nil, &proxied), `{"time":"2026-11-27T01:02:03.456Z","listener":":81","client":"203.0.113.7","method":"GET","uri":"/a?b=\"c\"","proto":"HTTP/1.1","host":"example.com","status":200,"bytes_sent":1234,"duration_ms":1.500,"upstream_ms":1.234,"referer":"","user_agent":"curl/8.0 \u0001"}` + "\n"},
		{"json", appendJSON(nil, &sampleEntry), `{"time":"2026-11-27T01:02:03.456Z","listener":":81","client":"203.0.113.7","method":"GET","uri":"/a?b=\"c\"","proto":"HTTP/1.1","host":"example.com","status":200,"bytes_sent":1234,"duration_ms":1.500,"referer":"","user_agent":"curl/8.0 \u0001"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
		})
	}
	var v map[string]any
	if err := json.Unmarshal(appendJSON(nil, &ws), &v); err != nil {
		t.Errorf("json line does not parse: %v", err)
	}
}

func TestAccessLogFile(t *testing.T) {
	path := t.TempDir() + "/a.log"
	a, err := OpenAccessLog(AccessLogConfig{Path: path, Format: LogFormatCombined, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.Write(&sampleEntry)
	want := string(appendCombined(nil, &sampleEntry))
	b, _ := os.ReadFile(path)
	for deadline := time.Now().Add(5 * time.Second); string(b) != want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the periodic flush, however late it runs
		b, _ = os.ReadFile(path)
	}
	if string(b) != want {
		t.Errorf("file after flush interval = %q", b)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAccessLogCombined(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendCombined(buf[:0], &sampleEntry)
	}
}

func BenchmarkAccessLogJSON(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSON(buf[:0], &sampleEntry)
	}
}

func TestAppendSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"}, {1500 * time.Microsecond, "0.002"}, {1234 * time.Microsecond, "0.001"},
		{999600 * time.Microsecond, "1.000"}, {12345 * time.Millisecond, "12.345"}, {2500 * time.Millisecond, "2.500"},
	}
	for _, tt := range tests {
		if got := string(appendSeconds(nil, tt.d)); got != tt.want {
			t.Errorf("appendSeconds(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
