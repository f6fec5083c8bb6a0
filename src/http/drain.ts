import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How a drain ended: `cut` requests were still unanswered when their connections had to be ended. */
export interface DrainResult {
  cut: number;
}

/** Graceful stop of one Node HTTP server (see `drainable`). */
export interface Drainable {
  /** Requests received and not yet answered. */
  readonly running: number;
  /**
   * Stops accepting connections, closes idle ones, answers every running
   * request with `Connection: close` (so keep-alive sockets end after their
   * answer), and resolves once no connection is left; at `until` (epoch ms)
   * it ends the connections still open. Calling it again returns the same drain.
   */
  drain(until: number): Promise<DrainResult>;
  /** Ends every connection now; the drain (started if need be) resolves with what was cut. */
  cutAll(): Promise<DrainResult>;
}

interface SocketState {
  /** Requests on this socket not yet answered (more than one only when a client pipelines). */
  active: number;
}

/**
 * Tracks the connections and requests of `server` so that it can stop
 * gracefully: Node's own `server.close()` waits for every keep-alive socket
 * to time out (5 s) even once its last request is answered, and never ends
 * a request that does not finish.
 */
export function drainable(server: Server): Drainable {
  const sockets = new Map<Socket, SocketState>();
  const open = new Set<ServerResponse>();
  let draining = false;
  let closed: Promise<void> | undefined;
  let drained: Promise<DrainResult> | undefined;
  let cut: (() => void) | undefined;

  server.on('connection', (socket: Socket) => {
    sockets.set(socket, { active: 0 });
    socket.once('close', () => sockets.delete(socket));
  });
  // Prepended, so that it runs before the application writes anything.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = sockets.get(req.socket);
    if (state) state.active++;
    open.add(res);
    if (draining) res.setHeader('connection', 'close');
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      open.delete(res);
      if (state) state.active--;
      // An answer whose headers went out before the drain began still said keep-alive.
      if (draining && state?.active === 0) req.socket.end();
    };
    res.once('finish', finished);
    res.once('close', finished);
  });

  const endIdle = (): void => {
    for (const [socket, state] of sockets) if (state.active === 0) socket.destroy();
  };

  const drain = (until: number): Promise<DrainResult> => {
    drained ??= (async () => {
      draining = true;
      closed = new Promise<void>((resolve) => server.close(() => resolve()));
      endIdle();
      for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
      const deadline = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
        cut = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      await Promise.race([closed, deadline]);
      const unanswered = open.size;
      if (sockets.size > 0) {
        for (const socket of sockets.keys()) socket.destroy();
        await closed;
      }
      return { cut: unanswered };
    })();
    return drained;
  };

  return {
    get running() {
      return open.size;
    },
    drain,
    cutAll() {
      const result = drain(Date.now());
      cut?.();
      return result;
    },
  };
}
