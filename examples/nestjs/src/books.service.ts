import { Injectable } from '@nestjs/common';

export interface Book {
  id: string;
  [field: string]: unknown;
}

/** The app's books, per tenant, in memory (a real app has its database here). */
@Injectable()
export class BooksService {
  private readonly byTenant = new Map<string, Map<string, Book>>();

  private books(tenant: string): Map<string, Book> {
    let books = this.byTenant.get(tenant);
    if (!books) this.byTenant.set(tenant, (books = new Map()));
    return books;
  }

  list(tenant: string): Book[] {
    return [...this.books(tenant).values()];
  }

  get(tenant: string, id: string): Book | undefined {
    return this.books(tenant).get(id);
  }

  put(tenant: string, id: string, fields: Record<string, unknown>): { book: Book; created: boolean } {
    const created = !this.books(tenant).has(id);
    const book = { ...fields, id };
    this.books(tenant).set(id, book);
    return { book, created };
  }

  remove(tenant: string, id: string): boolean {
    return this.books(tenant).delete(id);
  }
}
