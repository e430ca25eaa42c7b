// A Go HTTP server as the field guide's first example: listens on ADDR, serves "ok".
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.ListenAndServe(os.Args[1], nil))
}
