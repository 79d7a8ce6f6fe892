/**
 * Linux constants for the libc calls (x86_64 and aarch64 agree on each).
 *
 * @module
 */

/** `fcntl` commands. */
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
/** The close-on-exec bit of `F_GETFD`/`F_SETFD`. */
export const FD_CLOEXEC = 1;
/** `open`/`fcntl` status flags (same value on x86_64 and aarch64). */
export const O_NONBLOCK = 0o4000;
/** `open` access mode. */
export const O_RDWR = 2;
/** `open`/`dup3` flag (same value on x86_64 and aarch64). */
export const O_CLOEXEC = 0o2000000;
/** `epoll_ctl` operations. */
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
/** Address families. */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** `socket` types, and the flag that makes the new fd close-on-exec. */
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = O_CLOEXEC;
/** `send` flag: fail with EAGAIN rather than block when the receiver's queue is full. */
export const MSG_DONTWAIT = 0x40;
/** `clock_gettime` clock: CLOCK_MONOTONIC. */
export const CLOCK_MONOTONIC = 1;
/** `sizeof(struct sockaddr_un)`: a 2-byte family and a 108-byte `sun_path`. */
export const SOCKADDR_UN_SIZE = 110;
/** Option levels and TCP options. */
export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const TCP_DEFER_ACCEPT = 9;
