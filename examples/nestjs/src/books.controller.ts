import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Put, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { batchPrincipal } from '../../../src/adapters/express/index.js'; // in your app: from 'omnibus/express'
import { AuthGuard, type AuthedRequest } from './auth.guard.js';
import { BooksService } from './books.service.js';

@Controller('v1/books')
@UseGuards(AuthGuard)
export class BooksController {
  // @Inject names the dependency, so the app runs under tsx/esbuild too, which emit no decorator metadata.
  constructor(@Inject(BooksService) private readonly books: BooksService) {}

  @Get()
  list(@Req() req: AuthedRequest) {
    return { items: this.books.list(req.principal.tenant) };
  }

  @Get(':id')
  get(@Req() req: AuthedRequest, @Param('id') id: string) {
    const book = this.books.get(req.principal.tenant, id);
    if (!book) throw new NotFoundException(`No book ${id}.`);
    return book;
  }

  @Put(':id')
  put(@Req() req: AuthedRequest, @Param('id') id: string, @Body() fields: Record<string, unknown>, @Res({ passthrough: true }) res: Response) {
    const { book, created } = this.books.put(req.principal.tenant, id, fields ?? {});
    res.status(created ? 201 : 200);
    return book;
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Req() req: AuthedRequest, @Param('id') id: string) {
    if (!this.books.remove(req.principal.tenant, id)) throw new NotFoundException(`No book ${id}.`);
  }
}

@Controller()
export class WhoamiController {
  /** A route that reads the batch principal directly: set inside a batch, undefined outside. */
  @Get('whoami')
  @UseGuards(AuthGuard)
  whoami(@Req() req: AuthedRequest) {
    const principal = batchPrincipal() ?? req.principal;
    return { subject: principal.subject, tenant: principal.tenant, inBatch: batchPrincipal() !== undefined };
  }
}
