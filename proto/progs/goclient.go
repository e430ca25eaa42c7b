// Request loop: N sequential GETs to URL, each on a new connection; prints requests per second.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[2])
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		r, err := c.Get(os.Args[1])
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	fmt.Printf("%.0f req/s\n", float64(n)/time.Since(t0).Seconds())
}
