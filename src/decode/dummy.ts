import type { MessageDefinition } from '../catalog/definition.js';
import type { MessageDecoder } from './decoder.js';

/** The `dummy` decoder: reads nothing; every message is valid and mapped fields are NULL. */
export function createDummyDecoder(message: MessageDefinition): MessageDecoder {
  const count = message.fields.length;
  return { decode: () => ({ values: new Array<string | null>(count).fill(null), valid: true }) };
}
