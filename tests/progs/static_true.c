/* Exits 0; linked with -static so that LD_PRELOAD cannot reach it (portshim-run tests). */
int main(void) { return 0; }
