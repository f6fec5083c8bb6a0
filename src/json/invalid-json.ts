import { ApiError } from '../errors.js';
import { RepeatedMemberError } from './unique-members.js';

/**
 * The 400 `invalid_json` for what `parseJsonUnique` (or JSON.parse) threw;
 * `subject` starts the message ("The ops batch"). A repeated member also
 * travels as problem members: `member`, `pointer` (to the object repeating
 * it) and `position`.
 */
export function invalidJson(err: unknown, subject: string): ApiError {
  if (err instanceof RepeatedMemberError) {
    const { name, pointer, position } = err.member;
    return new ApiError(400, 'invalid_json', `${subject} is refused: ${err.message}.`, { member: name, pointer, position });
  }
  return new ApiError(400, 'invalid_json', `${subject} is not valid JSON: ${(err as Error).message}`);
}
