// The supervised Go HTTP server of bench/supervise: listens on the address given
// (port 0: the kernel picks), prints "port P", and answers every GET with "ok".
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.Serve(l, nil))
}
