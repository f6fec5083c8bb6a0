import { FORMAT, refusal } from './errors.js';

/**
 * What a `lid` stands for: the resource an earlier `add` created. Its id is
 * known before anything runs when the client chose it (`data.id`), and
 * otherwise only once that add has run: then it is a reference to the
 * add's answer, resolved by the engine from the parsed record (never from
 * text), so whatever the server assigned can only ever fill one id.
 */
export type LocalIdentity =
  | { kind: 'known'; id: string }
  | { kind: 'created'; /** The engine's id of the add that creates it. */ operation: string; index: number };

/**
 * The lids of one document, by type: JSON:API 1.1 has a `lid` identify a
 * resource "by type locally within the document", so `people`/`p1` and
 * `articles`/`p1` are two resources. A lid is introduced by an `add` and
 * stands for that resource in the operations after it only.
 */
export class LocalIds {
  private readonly byType = new Map<string, Map<string, LocalIdentity>>();

  /** An add introduces `lid` for `type`; a lid already introduced for that type is 400 `duplicate_id`. */
  introduce(type: string, lid: string, identity: LocalIdentity, at: string): void {
    let lids = this.byType.get(type);
    if (!lids) this.byType.set(type, (lids = new Map()));
    if (lids.has(lid)) {
      throw refusal(400, 'duplicate_id', at, `${FORMAT}: the lid ${JSON.stringify(lid)} of type ${JSON.stringify(type)} (at ${at}) is introduced by more than one add.`);
    }
    lids.set(lid, identity);
  }

  /** What `lid` of `type` stands for; a lid no earlier add of that type introduced is 400 `invalid_dependency`. */
  resolve(type: string, lid: string, at: string): LocalIdentity {
    const identity = this.byType.get(type)?.get(lid);
    if (identity) return identity;
    throw refusal(
      400,
      'invalid_dependency',
      at,
      `${FORMAT}: the lid ${JSON.stringify(lid)} of type ${JSON.stringify(type)} (at ${at}) was introduced by no earlier add of that type; a lid stands only for a resource an earlier operation added.`,
    );
  }
}
