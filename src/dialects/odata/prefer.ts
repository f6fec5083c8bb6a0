/** The continue-on-error preference of a `Prefer` header, and how `Preference-Applied` names it. */
export interface ContinueOnError {
  value: boolean;
  /** As the client wrote it, lower-case: `odata.continue-on-error`, `continue-on-error=false`. */
  text: string;
}

/**
 * Finds `odata.continue-on-error` in a `Prefer` header (the `odata.` prefix
 * optional, as OData 4.01 allows; no value means true). An unreadable value
 * is ignored, as RFC 7240 says of preferences a server does not understand.
 */
export function continueOnErrorPreference(prefer: string | undefined): ContinueOnError | undefined {
  if (!prefer) return undefined;
  for (const item of prefer.split(',')) {
    const [token] = item.split(';');
    const m = /^\s*((?:odata\.)?continue-on-error)\s*(?:=\s*"?([^"\s]*)"?)?\s*$/i.exec(token ?? '');
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    const value = m[2]?.toLowerCase();
    if (value === undefined) return { value: true, text: name };
    if (value === 'true' || value === 'false') return { value: value === 'true', text: `${name}=${value}` };
  }
  return undefined;
}
