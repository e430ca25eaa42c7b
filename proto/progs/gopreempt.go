// Binds and closes 127.0.0.1:0 N times while busy goroutines make the runtime
// send SIGURG (asynchronous preemption); prints how many binds failed and why.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	for i := 0; i < runtime.NumCPU()*2; i++ {
		go func() {
			x := 0
			for {
				x++
			}
		}()
	}
	failed := map[string]int{}
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			failed[err.Error()]++
			continue
		}
		l.Close()
	}
	fmt.Printf("%d binds, failures: %v\n", n, failed)
}
