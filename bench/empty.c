/* The floor of any LD_PRELOAD: a library with one trivial function and nothing
 * else, so bench/run can show how much of the exec cost is preloading itself. */
int portshim_bench_empty(void) { return 0; }
