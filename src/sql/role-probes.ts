/**
 * A client's questions about roles pointed at the engine's answers that leave other users' logins out
 * (engine/role-probes.ts): each call of a function that takes or gives a role — `pg_get_userbyid(…)`,
 * `pg_catalog.has_table_privilege(…)`, … — goes to kinesql's version of the same name, and each use of the
 * regrole type goes through kinesql's checked role reference: a cast `x::regrole` (any spelling: `CAST(x AS
 * regrole)`, `regrole 'x'`, `pg_catalog.regrole`, arrays) becomes `x::text::kinesql.role_reference::regrole`, and
 * the type anywhere else (a column definition list, a PREPARE's parameters) becomes the checked reference.
 *
 * Calls are found by the function's own name in the parse tree, whatever schema the client qualifies it with or
 * how it quotes it, as the gate finds denied functions; clients cannot create functions, casts or types, and
 * nothing they may call runs SQL given as text (engine-side functions run what they were created with), so the
 * client's text is the only way in.
 */
import { ROLE_PROBE_FUNCTIONS, ROLE_REFERENCE_DOMAIN, roleProbeFunction } from '../engine/role-probes.js';
import type { ParsedStatement } from './parse.js';
import { stringsOf, walk, type NodeFields } from './parse-tree.js';
import type { ByteEdit } from './splice.js';
import type { Token } from './tokens.js';

const WRAPPED = new Set(ROLE_PROBE_FUNCTIONS);
const MAYBE = new RegExp(['regrole', ...ROLE_PROBE_FUNCTIONS.filter((name) => !name.includes('regrole'))].join('|'), 'i');
/** The regrole type, by the name PostgreSQL keeps it under, and its array type. */
const REGROLE_NAMES = new Set(['regrole', '_regrole']);

const unquoted = (token: Token | undefined): string | undefined => {
  if (token === undefined) return undefined;
  return token.text.startsWith('"') ? token.text.slice(1, -1).replace(/""/g, '"') : token.text.toLowerCase();
};

/** The edits that point a statement string's role questions at the engine's answers (none when it asks none). */
export function roleProbeEdits(sql: string, statements: readonly ParsedStatement[], scan: () => readonly Token[]): ByteEdit[] {
  if (!MAYBE.test(sql)) return [];
  const tokens = scan();
  const tokenAt = new Map(tokens.map((token, index) => [token.start, index]));
  const edits: ByteEdit[] = [];
  const casts = new WeakSet<NodeFields<'TypeName'>>();
  walk(
    statements.map((statement) => statement.node),
    undefined,
    {
      FuncCall: (call) => {
        const names = stringsOf(call.funcname);
        const name = names.at(-1);
        if (name === undefined || !WRAPPED.has(name) || call.location === undefined) return undefined;
        const first = tokenAt.get(call.location);
        const last = first === undefined ? undefined : first + 2 * (names.length - 1);
        if (last === undefined || unquoted(tokens[last]) !== name) return undefined;
        edits.push({ start: tokens[first!]!.start, end: tokens[last]!.end, text: roleProbeFunction(name) });
        return undefined;
      },
      TypeCast: (cast) => {
        const type = cast.typeName === undefined ? undefined : regroleSpan(cast.typeName, tokens, tokenAt);
        if (type === undefined) return undefined;
        casts.add(cast.typeName!);
        const checked = `${ROLE_REFERENCE_DOMAIN}${type.array}::pg_catalog.regrole${type.array}`;
        const at = cast.location === undefined ? undefined : tokenAt.get(cast.location);
        const keyword = at === undefined ? undefined : tokens[at]?.text.toLowerCase();
        if (keyword === '::') {
          edits.push({ start: tokens[type.first]!.start, end: tokens[type.last]!.end, text: `pg_catalog.text::${checked}` });
        } else if (keyword === 'cast' && tokens[type.last + 1]?.text === ')') {
          edits.push({ start: tokens[type.first]!.start, end: tokens[type.last + 1]!.end, text: `pg_catalog.text)::${checked}` });
        } else {
          // A typed literal, `regrole 'bob'`: the literal follows the type's name.
          const literal = tokens[type.last + 1];
          if (literal === undefined) return undefined;
          edits.push({ start: tokens[type.first]!.start, end: tokens[type.last]!.end, text: 'pg_catalog.text' });
          edits.push({ start: literal.end, end: literal.end, text: `::${checked}` });
        }
        return undefined;
      },
      TypeName: (typeName) => {
        if (casts.has(typeName)) return undefined;
        const type = regroleSpan(typeName, tokens, tokenAt);
        if (type !== undefined) edits.push({ start: tokens[type.first]!.start, end: tokens[type.last]!.end, text: `${ROLE_REFERENCE_DOMAIN}${type.array}` });
        return undefined;
      },
    },
  );
  return edits;
}

/**
 * Where a type name that names regrole (or its array) is written, as token indexes from its first name to its
 * last array bound, and the array suffix it needs; undefined for any other type.
 */
function regroleSpan(
  typeName: NodeFields<'TypeName'>,
  tokens: readonly Token[],
  tokenAt: ReadonlyMap<number, number>,
): { first: number; last: number; array: string } | undefined {
  const names = stringsOf(typeName.names);
  const name = names.at(-1);
  if (name === undefined || !REGROLE_NAMES.has(name) || typeName.location === undefined) return undefined;
  const first = tokenAt.get(typeName.location);
  if (first === undefined) return undefined;
  let last = first + 2 * (names.length - 1);
  if (unquoted(tokens[last]) !== name) return undefined;
  const bounds = typeName.arrayBounds?.length ?? 0;
  for (let bound = 0; bound < bounds; bound++) {
    const next = tokens[last + 1];
    if (next?.text.toLowerCase() === 'array') {
      last++;
      if (tokens[last + 1]?.text !== '[') continue;
    } else if (next?.text !== '[') {
      break;
    }
    last++;
    while (last < tokens.length - 1 && tokens[last]!.text !== ']') last++;
  }
  return { first, last, array: name === '_regrole' || bounds > 0 ? '[]' : '' };
}
