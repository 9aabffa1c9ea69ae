/* An SD card on a Pi takes 2-20 ms per fsync; this machine's disk takes well under one. Loaded
 * with LD_PRELOAD by scripts/bench-writes.sh, this makes every fsync/fdatasync of the process
 * take SLOW_FSYNC_MS milliseconds longer, and counts what goes to SQLite's write-ahead log:
 * bytes written to files whose name ends in "-wal" and the number of syncs. The counters are
 * rewritten to the file SLOW_FSYNC_STATS (if set) after every sync, as "<syncs> <wal bytes>",
 * so the benchmark can read them between its runs. Benchmark use only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 4096
/* 0: not looked at yet, 1: a WAL file, 2: something else. Reset when the fd is closed. */
static _Atomic unsigned char fd_kind[MAX_FD];
static atomic_ullong wal_bytes;
static atomic_ullong syncs;
static int stats_fd = -2;

static int is_wal(int fd) {
    if (fd < 0 || fd >= MAX_FD) return 0;
    unsigned char kind = fd_kind[fd];
    if (kind == 0) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        kind = 2;
        if (n > 4) {
            path[n] = 0;
            if (strcmp(path + n - 4, "-wal") == 0) kind = 1;
        }
        fd_kind[fd] = kind;
    }
    return kind == 1;
}

static void report(void) {
    if (stats_fd == -2) {
        const char *file = getenv("SLOW_FSYNC_STATS");
        stats_fd = file ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    }
    if (stats_fd < 0) return;
    char line[64];
    int len = snprintf(line, sizeof line, "%20llu %20llu\n", (unsigned long long)syncs,
                       (unsigned long long)wal_bytes);
    static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
    if (!real_pwrite) real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
    real_pwrite(stats_fd, line, len, 0);
}

static void slow(void) {
    static long ms = -1;
    if (ms < 0) {
        const char *value = getenv("SLOW_FSYNC_MS");
        ms = value ? atol(value) : 0;
    }
    if (ms > 0) {
        struct timespec delay = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&delay, NULL);
    }
    syncs++;
    report();
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
    ssize_t written = real(fd, buf, count, offset);
    if (written > 0 && is_wal(fd)) wal_bytes += (unsigned long long)written;
    return written;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    return pwrite64(fd, buf, count, offset);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "close");
    int result = real(fd);
    if (fd >= 0 && fd < MAX_FD) fd_kind[fd] = 0;
    return result;
}

/* The real call, then the added delay (the data is on disk before the delay starts). */
static int delayed(int result) {
    slow();
    return result;
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    return delayed(real(fd));
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    return delayed(real(fd));
}
