// The guard process behind `etcdlock lock -- COMMAND` (see CProcessGuard.h).
//
// Written in C because the code between fork() and execve() in a multithreaded process may only
// call async-signal-safe functions: no allocation, no locks, no Swift runtime. Everything after
// fork() here is a plain system call.
#include "CProcessGuard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

// Signals the supervisor sends the group to stop or notify the command: the guard must outlive
// them to report the command's status and to kill the group if the supervisor dies.
static const int guard_ignores[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                    SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};

static int child_exited_write = -1;

static void on_child_exit(int number) {
    (void)number;
    int saved = errno;
    (void)!write(child_exited_write, "c", 1);
    errno = saved;
}

static void set_disposition(int number, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = handler == on_child_exit ? SA_RESTART | SA_NOCLDSTOP : 0;
    sigaction(number, &action, NULL);
}

#if defined(__linux__)
// The kernel's own sigaction layout (x86_64, aarch64), for the signals the C library keeps to
// itself (32 and 33 in glibc: thread cancellation and set*id) and refuses to change. A parent
// that ignored them would otherwise pass that on: an ignored cancellation signal breaks
// pthread_cancel in the command.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};
#endif

static void reset_all_dispositions(void) {
    for (int number = 1; number < NSIG; number++) {
        if (number == SIGKILL || number == SIGSTOP) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        sigemptyset(&action.sa_mask);
        if (sigaction(number, &action, NULL) == 0) continue;
#if defined(__linux__)
        struct kernel_sigaction raw = {SIG_DFL, 0, NULL, 0};
        syscall(SYS_rt_sigaction, number, &raw, NULL, sizeof raw.mask);
#endif
    }
}

static void set_mask(int how, int all) {
    sigset_t set;
    if (all) sigfillset(&set); else sigemptyset(&set);
    sigprocmask(how, &set, NULL);
}

// Closes every descriptor from `lowest` up, except those in `keep` (sorted ascending).
static void close_descriptors(int lowest, const int *keep, int keep_count, int limit) {
    int from = lowest;
    for (int index = 0; index <= keep_count; index++) {
        int to = index < keep_count ? keep[index] - 1 : -1;  // -1: to the end
        if (to != -1 && to < from) { from = keep[index] + 1; continue; }
        int done = 0;
#if defined(__linux__) && defined(SYS_close_range)
        done = syscall(SYS_close_range, (unsigned)from, to == -1 ? ~0U : (unsigned)to, 0) == 0;
#endif
        if (!done) {
            int last = to == -1 ? limit : to;
            for (int fd = from; fd <= last; fd++) close(fd);
        }
        if (index < keep_count) from = keep[index] + 1;
    }
}

// The supervisor's messages: 8-byte deadlines, in milliseconds from when they are read (negative:
// none). Pipe writes of 8 bytes are atomic, so a read never splits one.
static long long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static long long deadline_from(long long remaining) { return remaining < 0 ? -1 : monotonic_ms() + remaining; }

static void kill_group(void) {
    kill(0, SIGKILL);
    _exit(128 + SIGKILL);
}

static void exit_like(int status) {
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
    _exit(125);
}

static void run_guard(int control, const char *path, char *const argv[], char *const envp[], int limit) {
    setpgid(0, 0);
    set_mask(SIG_SETMASK, 1);
    reset_all_dispositions();
    for (unsigned index = 0; index < sizeof guard_ignores / sizeof guard_ignores[0]; index++) {
        set_disposition(guard_ignores[index], SIG_IGN);
    }
    int wake[2];
    if (pipe(wake) != 0) _exit(125);
    for (int index = 0; index < 2; index++) fcntl(wake[index], F_SETFL, O_NONBLOCK);
    child_exited_write = wake[1];
    set_disposition(SIGCHLD, on_child_exit);
    int keep[3] = {control, wake[0], wake[1]};
    for (int i = 0; i < 3; i++)  // sort three numbers
        for (int j = i + 1; j < 3; j++)
            if (keep[j] < keep[i]) { int t = keep[i]; keep[i] = keep[j]; keep[j] = t; }
    close_descriptors(3, keep, 3, limit);

    // Wait for the supervisor's go, the first deadline (it may hand the terminal over first).
    long long message;
    ssize_t got;
    do { got = read(control, &message, sizeof message); } while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof message) _exit(125);
    long long deadline = deadline_from(message);

    pid_t command = fork();
    if (command < 0) _exit(125);
    if (command == 0) {
        // Signals stay blocked until the dispositions are back to default, so a signal sent to
        // the group meanwhile is delivered to the command rather than ignored.
        reset_all_dispositions();
        close_descriptors(3, NULL, 0, limit);
        set_mask(SIG_SETMASK, 0);
        execve(path, argv, envp);
        _exit(errno == ENOENT ? 127 : 126);
    }
    set_mask(SIG_SETMASK, 0);
    for (;;) {
        int status;
        pid_t reaped = waitpid(command, &status, WNOHANG);
        if (reaped == command) exit_like(status);
        if (reaped < 0 && errno != EINTR) _exit(125);
        int timeout = -1;
        if (deadline >= 0) {
            long long left = deadline - monotonic_ms();
            // Past the deadline the supervisor no longer vouches for its lock: nothing may run on.
            if (left <= 0) kill_group();
            timeout = left > 60000 ? 60000 : (int)left;
        }
        struct pollfd watched[2] = {{control, POLLIN, 0}, {wake[0], POLLIN, 0}};
        if (poll(watched, 2, timeout) < 0) continue;
        if (watched[1].revents) {
            char drained[64];
            while (read(wake[0], drained, sizeof drained) > 0) {}
        }
        if (watched[0].revents) {
            long long messages[8];
            got = read(control, messages, sizeof messages);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
                kill_group();  // the supervisor is gone: nothing may outlive its lock
            }
            if (got >= (ssize_t)sizeof message) deadline = deadline_from(messages[got / sizeof message - 1]);
        }
    }
}

int cpg_spawn(const char *path, char *const argv[], char *const envp[], pid_t *guard_pid, int *control_fd) {
    int control[2];
    if (pipe(control) != 0) return errno;
    for (int index = 0; index < 2; index++) fcntl(control[index], F_SETFD, FD_CLOEXEC);
    long open_max = sysconf(_SC_OPEN_MAX);
    int limit = open_max <= 0 || open_max > 65536 ? 65536 : (int)open_max;
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(control[0]);
        close(control[1]);
        return saved;
    }
    if (pid == 0) {
        close(control[1]);
        run_guard(control[0], path, argv, envp, limit);
        _exit(125);
    }
    close(control[0]);
    setpgid(pid, pid);  // also done by the guard: whichever runs first, the group exists after
    *guard_pid = pid;
    *control_fd = control[1];
    return 0;
}

int cpg_extend(int control_fd, long long deadline_ms) {
    ssize_t written;
    do { written = write(control_fd, &deadline_ms, sizeof deadline_ms); } while (written < 0 && errno == EINTR);
    return written == (ssize_t)sizeof deadline_ms ? 0 : -1;
}

int cpg_release(int control_fd, pid_t group, int take_terminal, long long deadline_ms) {
    int handed = 0;
    if (take_terminal && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp()) {
        handed = tcsetpgrp(STDIN_FILENO, group) == 0;
    }
    return cpg_extend(control_fd, deadline_ms) == 0 ? handed : -1;
}

void cpg_reclaim_terminal(void) {
    sigset_t block, previous;
    sigemptyset(&block);
    sigaddset(&block, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &block, &previous);
    tcsetpgrp(STDIN_FILENO, getpgrp());
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

int cpg_become_subreaper(void) {
#if defined(__linux__) && defined(PR_SET_CHILD_SUBREAPER)
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -1;
#else
    return -1;
#endif
}

#if defined(__linux__)
// Reads /proc/PID/stat's state, parent and process group (the name in parentheses may hold
// spaces and parentheses: the fields start after the last ')'). Returns 0 on success.
static int read_stat(const char *pid_text, char *state, pid_t *parent, pid_t *group) {
    char path[64];
    size_t length = strlen(pid_text);
    if (length > 20) return -1;
    memcpy(path, "/proc/", 6);
    memcpy(path + 6, pid_text, length);
    memcpy(path + 6 + length, "/stat", 6);
    int descriptor = open(path, O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) return -1;
    char buffer[1024];
    ssize_t got = read(descriptor, buffer, sizeof buffer - 1);
    close(descriptor);
    if (got <= 0) return -1;
    buffer[got] = 0;
    char *close_paren = strrchr(buffer, ')');
    if (close_paren == NULL) return -1;
    long parent_value = 0, group_value = 0;
    char state_value = 0;
    if (sscanf(close_paren + 1, " %c %ld %ld", &state_value, &parent_value, &group_value) != 3) return -1;
    *state = state_value;
    *parent = (pid_t)parent_value;
    *group = (pid_t)group_value;
    return 0;
}
#endif

int cpg_group_has_live_members(pid_t group, pid_t keep_unreaped) {
#if defined(__linux__)
    DIR *directory = opendir("/proc");
    if (directory == NULL) return -1;
    pid_t self = getpid();
    int live = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        char state;
        pid_t parent, member_group;
        if (read_stat(entry->d_name, &state, &parent, &member_group) != 0 || member_group != group) continue;
        pid_t pid = (pid_t)atol(entry->d_name);
        if (state != 'Z' && state != 'X') {
            live = 1;
        } else if (parent == self && pid != keep_unreaped) {
            int status;
            waitpid(pid, &status, WNOHANG);  // an orphan of the group adopted as subreaper
        }
    }
    closedir(directory);
    return live;
#else
    (void)group;
    (void)keep_unreaped;
    return -1;
#endif
}

int cpg_peek_exit(pid_t pid, int *status) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    if (info.si_pid != pid) return 0;
    *status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    return 1;
}
