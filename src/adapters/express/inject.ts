import type { IncomingMessage, ServerResponse } from 'node:http';
import inject, { type InjectOptions } from 'light-my-request';
import type { Injection } from '../shared.js';

/** An Express application (or anything called like one): `express()`, a Nest app's `getHttpAdapter().getInstance()`. */
export type ExpressApp = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => unknown;

/**
 * Injects an operation into the Express app with light-my-request's fake
 * request and response.
 *
 * The app is wrapped, never passed to light-my-request directly: given an
 * Express app, light-my-request re-parents Express's shared request and
 * response prototypes onto its own classes, for good, and real HTTP requests
 * served by the same process then fail (fastify/light-my-request#333 was
 * reverted). Instead each fake request and response gets light-my-request's
 * methods as own properties, which survive Express swapping their prototypes
 * for its own.
 */
export function expressInjector(app: ExpressApp) {
  const dispatch = (req: IncomingMessage, res: ServerResponse) => {
    pinPrototype(req);
    pinPrototype(res);
    app(req, res);
  };
  return (injection: Injection) => inject(dispatch, injection as InjectOptions);
}

const pinned = new WeakMap<object, PropertyDescriptorMap>();

/** Copies the methods of `obj`'s own class (light-my-request's Request or Response) onto `obj` itself. */
function pinPrototype(obj: object): void {
  const proto = Object.getPrototypeOf(obj) as object;
  let descriptors = pinned.get(proto);
  if (!descriptors) {
    const { constructor: _constructor, ...methods } = Object.getOwnPropertyDescriptors(proto);
    descriptors = methods;
    pinned.set(proto, descriptors);
  }
  Object.defineProperties(obj, descriptors);
}
