// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
import net from "node:net";

/** Resolves with a port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
