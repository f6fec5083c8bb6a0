import { ForbiddenException, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { batchPrincipal, type Principal } from '../../../src/adapters/express/index.js'; // in your app: from 'omnibus/express'
import { authenticate, bearer } from './tokens.js';

export type AuthedRequest = Request & { principal: Principal };

/** Who the guard let through, in order (the test reads it to see the guard run once per operation). */
export const guardLog: string[] = [];

/**
 * The app's own guard, unchanged by batching: inside a batch operation the
 * principal is the batch's, from `batchPrincipal()` (trusted in-process
 * context; Omnibus strips credential headers from operations); otherwise the
 * request's own bearer token. Writes need the `write` scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const principal = batchPrincipal() ?? authenticate(bearer(req.headers.authorization));
    if (!principal) throw new UnauthorizedException('A valid token is required.');
    guardLog.push(principal.subject);
    if (req.method !== 'GET' && !principal.scopes.has('write')) throw new ForbiddenException('This token may only read.');
    req.principal = principal;
    return true;
  }
}
