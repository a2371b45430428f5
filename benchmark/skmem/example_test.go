package skmem_test

import (
	"fmt"

	"github.com/elbguard/elbguard/benchmark/skmem"
)

func ExampleParseSS() {
	out := "ESTAB 0 0 127.0.0.1:8443 127.0.0.1:50122 ino:7001 sk:1 cgroup:/ <->\n" +
		"\t skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)\n" +
		"ESTAB 1536 0 127.0.0.1:50122 127.0.0.1:8443 ino:7002 sk:2 cgroup:/ <->\n" +
		"\t skmem:(r4352,rb131072,t0,tb2626560,f3840,w0,o0,bl0,d0)\n"
	socks, err := skmem.ParseSS([]byte(out))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range socks {
		fmt.Printf("%s inode %d holds %d bytes (receive buffer limit %d)\n", s.Local, s.Inode, s.Mem.Held(), s.Mem.RcvBuf)
	}
	// Output:
	// 127.0.0.1:8443 inode 7001 holds 0 bytes (receive buffer limit 131072)
	// 127.0.0.1:50122 inode 7002 holds 8192 bytes (receive buffer limit 131072)
}
