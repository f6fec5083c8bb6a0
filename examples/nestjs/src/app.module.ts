import { Module } from '@nestjs/common';
import { AuthGuard } from './auth.guard.js';
import { BooksController, WhoamiController } from './books.controller.js';
import { BooksService } from './books.service.js';

@Module({
  controllers: [BooksController, WhoamiController],
  providers: [BooksService, AuthGuard],
})
export class AppModule {}
