/*
 * proc.h - tjstored's process chores: dropping root after the listeners are
 * bound (STYLE habit 1), and the optional pid file.
 */
#ifndef TJ_NODE_NET_PROC_H
#define TJ_NODE_NET_PROC_H

#include <stdbool.h>
#include <stddef.h>

/* tj_proc_drop_privileges - become `user` (its uid, primary gid and only
 * that group: setgroups, setgid, setuid, in that order), then check that
 * root cannot be regained.  Call after binding, before reading a byte from
 * the network.
 *   user set, running as root:   switch;  -errno / TJ_ENOTFOUND (no such user)
 *   user set, not root:          0 if already that user, else -EPERM
 *   user NULL or "", root:       -EPERM unless allow_root (then 0, logged)
 *   user NULL or "", not root:   0 (nothing to drop)
 * err (errsz bytes, may be NULL) receives a sentence on failure. */
int tj_proc_drop_privileges(const char *user, bool allow_root, char *err, size_t errsz);

/* tj_proc_write_pidfile - write "PID\n" to path (temp file + rename,
 * mode 0644).  0 or -errno. */
int tj_proc_write_pidfile(const char *path);

/* tj_proc_remove_pidfile - unlink path if it holds our pid.  0 or -errno. */
int tj_proc_remove_pidfile(const char *path);

#endif
