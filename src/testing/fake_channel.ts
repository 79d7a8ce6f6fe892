/**
 * An in-memory stream socket pair: what the fake backend uses for the
 * control socket between a parent and the child it spawned. Bytes written on
 * one end arrive at the other in a later microtask, in order; closing one end
 * is EOF for the other. The ready line, and any line a later protocol
 * version adds, travel over it as text.
 *
 * @module
 */

/** One end of a {@link channelPair}. */
export class ChannelEnd {
  #peer: ChannelEnd | undefined;
  #received = "";
  #closed = false;
  #resolveEof!: () => void;
  readonly #listeners = new Set<(text: string) => void>();

  /** Resolves when the other end closed (EOF), or this end did. Never rejects. */
  readonly eof: Promise<void> = new Promise((resolve) => this.#resolveEof = resolve);

  /** @internal Links two ends; use {@link channelPair}. */
  static link(a: ChannelEnd, b: ChannelEnd): void {
    a.#peer = b;
    b.#peer = a;
  }

  /** Everything this end has received so far. */
  get received(): string {
    return this.#received;
  }

  /** Whether this end is closed, or has seen EOF. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `text` to the other end; `false` (and nothing sent) if either end is closed. */
  write(text: string): boolean {
    const peer = this.#peer;
    if (this.#closed || !peer || peer.#closed) return false;
    queueMicrotask(() => peer.#deliver(text));
    return true;
  }

  /** Calls `listener` with each chunk received from now on; returns a function that stops it. */
  onData(listener: (text: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once `line` has been received (at once if it already was); never rejects. */
  waitFor(line: string): Promise<void> {
    if (this.#received.includes(line)) return Promise.resolve();
    return new Promise((resolve) => {
      const stop = this.onData(() => {
        if (!this.#received.includes(line)) return;
        stop();
        resolve();
      });
    });
  }

  /** Closes this end: the other end sees EOF once what was written before has arrived. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resolveEof();
    const peer = this.#peer;
    if (peer) queueMicrotask(() => peer.#end());
  }

  #deliver(text: string): void {
    if (this.#closed) return;
    this.#received += text;
    for (const listener of [...this.#listeners]) listener(text);
  }

  #end(): void {
    this.#closed = true;
    this.#resolveEof();
  }
}

/** Two connected {@link ChannelEnd}s, like `socketpair(2)`. */
export function channelPair(): [ChannelEnd, ChannelEnd] {
  const a = new ChannelEnd();
  const b = new ChannelEnd();
  ChannelEnd.link(a, b);
  return [a, b];
}
