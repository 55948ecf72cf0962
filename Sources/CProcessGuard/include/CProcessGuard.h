#ifndef CPROCESSGUARD_H
#define CPROCESSGUARD_H

#include <sys/types.h>

/// Starts a guard process that leads a new process group and, once released through
/// `cpg_release`, runs `path` with `argv` and `envp` as its own child in that group.
///
/// The guard ignores the signals a supervisor sends to stop the group (INT, TERM, HUP, QUIT,
/// USR1, USR2, PIPE, TSTP, TTIN, TTOU), so they reach the command; the command starts with an
/// empty signal mask, default dispositions and no open descriptors above 2. The guard exits with
/// the command's status (128 + N when signal N ended it; 125 when it was never released or could
/// not start the command). When the supervisor's end of the control pipe closes (the supervisor
/// exited or was killed, SIGKILL included), the guard kills the whole group with SIGKILL; so it
/// does when the deadline the supervisor last set passes (the supervisor was stopped or frozen
/// and can no longer vouch for its lock).
///
/// Returns 0 and fills `guard_pid` (also the group's ID) and `control_fd` (close-on-exec), or
/// an errno value.
int cpg_spawn(const char *path, char *const argv[], char *const envp[], pid_t *guard_pid, int *control_fd);

/// Lets the guard start the command, which may run `deadline_ms` milliseconds from now unless
/// `cpg_extend` moves the deadline (a negative value: no deadline). With `take_terminal` non-zero,
/// and when standard input is a terminal whose foreground group is the caller's, the group
/// becomes the terminal's foreground group first (so the command can read it and gets the
/// terminal's signals). Returns 1 when the terminal was handed over, 0 when not, -1 on failure.
int cpg_release(int control_fd, pid_t group, int take_terminal, long long deadline_ms);

/// Moves the group's deadline to `deadline_ms` milliseconds from now (negative: none). The guard
/// kills the group with SIGKILL when the deadline passes. Returns 0, or -1 on failure.
int cpg_extend(int control_fd, long long deadline_ms);

/// Makes the caller's process group the terminal's foreground group again (after
/// `cpg_release` handed it over), with SIGTTOU blocked meanwhile.
void cpg_reclaim_terminal(void);

/// Makes this process the reaper of its orphaned descendants (Linux: PR_SET_CHILD_SUBREAPER),
/// so a command's children that outlive it become this process's zombies, reaped at once,
/// rather than lingering until init reaps them. Returns 0, or -1 where unsupported.
int cpg_become_subreaper(void);

/// Whether process group `group` has a member that is not a zombie (1) or not (0), reaping on
/// the way the zombies of the group that are this process's children (orphans adopted as
/// subreaper), except `keep_unreaped`: the group's leader, kept as a zombie so that the group's
/// ID cannot be reused by an unrelated group while it may still be signalled. -1 where the
/// process table cannot be read (not Linux).
int cpg_group_has_live_members(pid_t group, pid_t keep_unreaped);

/// Whether child `pid` has exited, without reaping it (its ID stays taken until it is reaped):
/// 1 and `status` (the exit code, or 128 + N when signal N ended it), 0 while it runs, -1 on error.
int cpg_peek_exit(pid_t pid, int *status);
#endif
