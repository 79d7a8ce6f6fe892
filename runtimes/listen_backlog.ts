/**
 * How long a listening socket's accept queue is asked to be, everywhere
 * tableflip calls `listen()`.
 *
 * @module
 */

/**
 * The accept queue asked for: the kernel caps it at `net.core.somaxconn`
 * (4096 by default since Linux 5.4), which is what Go's `net.Listen` uses.
 * Node's default, 511, overflows when thousands of clients reconnect at
 * once after a handover, and each dropped SYN costs its client a 1 s, then
 * 3 s retransmission (bench/storm_bench.mjs). Adopting a socket calls
 * `listen()` on it again, which sets the queue anew: without this every
 * generation after the first would be back at 511 (Bun keeps its own 512).
 * The supervisor holds its sockets with the same queue, so connections that
 * arrive before a generation has adopted a socket are not dropped either.
 */
export const LISTEN_BACKLOG = 65_535;
