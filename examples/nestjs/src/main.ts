import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { omnibus } from '../../../src/adapters/express/index.js'; // in your app: from 'omnibus/express'
import { AppModule } from './app.module.js';
import { authenticate } from './tokens.js';

/**
 * The NestJS app on the Express platform, with Omnibus's batch endpoints in
 * front: the Express instance is made first, the Omnibus middleware mounted
 * on it before Nest adds its body parsers (Omnibus reads batch bodies itself,
 * within its own limit), and Nest builds its routes on that same instance,
 * which is the app every batch operation is dispatched through.
 */
export async function createApp(): Promise<NestExpressApplication> {
  const server = express();
  server.use(omnibus({ authenticate }));
  const app = await NestFactory.create<NestExpressApplication>(AppModule, new ExpressAdapter(server), { logger: ['error', 'warn'] });
  await app.init();
  return app;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const app = await createApp();
  await app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1');
  console.log(`listening on ${await app.getUrl()}`);
}
